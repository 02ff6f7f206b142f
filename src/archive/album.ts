/**
 * The subscriber's web album: server-rendered HTML, no script, one small
 * stylesheet inline, laid out for a phone screen first (a single column
 * that widens into a grid). Everything the subscriber sent us is escaped;
 * the parts themselves are served from their own URLs with nosniff and a
 * sandboxing CSP (see node.ts), never inlined as HTML.
 */
import sharp from 'sharp';
import type { ArchivedMessage } from '../store/db2.js';

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const STYLE = `
  :root { color-scheme: light dark; font-family: system-ui, sans-serif; }
  body { margin: 0; padding: 0 12px 24px; max-width: 960px; margin-inline: auto; line-height: 1.4; }
  header { padding: 12px 0; border-bottom: 1px solid #8884; margin-bottom: 12px; }
  h1 { font-size: 1.3rem; margin: 0; }
  ol.messages { list-style: none; padding: 0; margin: 0; display: grid; gap: 12px; grid-template-columns: repeat(auto-fill, minmax(260px, 1fr)); }
  li.message { border: 1px solid #8884; border-radius: 10px; padding: 10px; overflow-wrap: anywhere; }
  li.message a { color: inherit; text-decoration: none; display: block; }
  .thumbs { display: flex; gap: 6px; flex-wrap: wrap; margin: 6px 0; }
  .thumbs img { width: 96px; height: 96px; object-fit: cover; border-radius: 6px; background: #8882; }
  .meta { font-size: .85rem; opacity: .8; }
  .text { white-space: pre-wrap; margin: 6px 0; }
  .geo { font-size: .85rem; }
  .part { margin: 12px 0; }
  .part img { max-width: 100%; height: auto; border-radius: 6px; }
  .dropped { font-size: .85rem; opacity: .8; }
  nav { margin-top: 16px; }
`;

export function page(title: string, body: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="robots" content="noindex">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
${body}
</body>
</html>
`;
}

/** The one page every bad, expired or revoked link gets: it says nothing about why. */
export function invalidLinkPage(): string {
  return page('Link not valid', '<header><h1>This link is not valid.</h1></header>');
}

function mediaTypeOf(contentType: string): string {
  return (contentType.split(';')[0] ?? '').trim().toLowerCase();
}

/** Images sharp can make a thumbnail of. */
export function isThumbnailable(contentType: string): boolean {
  return ['image/jpeg', 'image/png', 'image/gif', 'image/webp', 'image/tiff', 'image/avif'].includes(mediaTypeOf(contentType));
}

/** A small JPEG, rotated by its EXIF orientation, at most 240×240. */
export async function makeThumbnail(data: Buffer): Promise<Buffer> {
  return sharp(data, { limitInputPixels: 40_000_000 }).rotate().resize({ width: 240, height: 240, fit: 'inside', withoutEnlargement: true }).jpeg({ quality: 70 }).toBuffer();
}

function formatDate(d: Date | undefined): string {
  return d ? d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC') : 'date unknown';
}

function geolocationHtml(m: ArchivedMessage): string {
  const g = m.additional.geolocation;
  if (!g) return '';
  const label = g.label !== undefined ? `${escapeHtml(g.label)} ` : '';
  return `<div class="geo">Location: ${label}<span class="coords">${g.lat.toFixed(5)}, ${g.lon.toFixed(5)}</span>${g.source !== undefined ? ` <span class="meta">(${escapeHtml(g.source)})</span>` : ''}</div>`;
}

/** A line naming the parts a card shows no preview of (audio, video, other files). */
function others(m: ArchivedMessage): string {
  const types = m.parts.map((p) => mediaTypeOf(p.contentType)).filter((t) => !t.startsWith('image/') && !t.startsWith('text/') && t !== 'application/smil');
  return types.length ? `<div class="meta attachments">Also: ${types.map(escapeHtml).join(', ')}</div>` : '';
}

export interface AlbumEntry {
  message: ArchivedMessage;
  /** The first text part, already decoded and shortened. */
  text?: string;
}

/** The list page: newest first, one card per message. `base` is `/album/<token>`. */
export function albumPage(base: string, address: string, entries: AlbumEntry[], olderHref?: string): string {
  const items = entries
    .map(({ message: m, text }) => {
      const thumbs = m.parts
        .filter((p) => isThumbnailable(p.contentType))
        .slice(0, 4)
        .map((p) => `<img src="${base}/m/${encodeURIComponent(m.archiveId)}/thumbs/${p.index}" alt="image ${p.index + 1}" loading="lazy" width="96" height="96">`)
        .join('');
      return `<li class="message" data-archive-id="${escapeHtml(m.archiveId)}"><a href="${base}/m/${encodeURIComponent(m.archiveId)}">
<div class="meta"><span class="sender">${escapeHtml(m.sender)}</span> · <time datetime="${(m.date ?? m.receivedAt).toISOString()}">${formatDate(m.date ?? m.receivedAt)}</time></div>
<div class="subject"><strong>${escapeHtml(m.subject ?? '(no subject)')}</strong></div>
${thumbs ? `<div class="thumbs">${thumbs}</div>` : ''}${others(m)}${text !== undefined ? `<div class="text">${escapeHtml(text)}</div>` : ''}${geolocationHtml(m)}
</a></li>`;
    })
    .join('\n');
  const body = `<header><h1>Archive of ${escapeHtml(address)}</h1><div class="meta">${entries.length === 0 ? 'No archived messages yet.' : 'Newest first.'}</div></header>
<ol class="messages">
${items}
</ol>
${olderHref ? `<nav><a href="${olderHref}">Older messages</a></nav>` : ''}`;
  return page(`Archive of ${address}`, body);
}

/** One message with all its parts. `texts` maps a part index to its decoded text. */
export function messagePage(base: string, m: ArchivedMessage, texts: ReadonlyMap<number, string>): string {
  const href = (i: number): string => `${base}/m/${encodeURIComponent(m.archiveId)}/parts/${i}`;
  const parts = m.parts
    .map((p) => {
      const type = mediaTypeOf(p.contentType);
      const name = escapeHtml(p.contentLocation ?? p.contentId ?? `part ${p.index + 1}`);
      const download = `<div class="meta"><a href="${href(p.index)}" download>${name}</a> · ${escapeHtml(type)} · ${p.size} octets</div>`;
      if (type.startsWith('image/')) return `<div class="part"><img src="${href(p.index)}" alt="${name}">${download}</div>`;
      if (texts.has(p.index) && type === 'text/plain') return `<div class="part"><div class="text">${escapeHtml(texts.get(p.index)!)}</div>${download}</div>`;
      if (type.startsWith('audio/')) return `<div class="part"><audio controls preload="none" src="${href(p.index)}"></audio>${download}</div>`;
      if (type.startsWith('video/')) return `<div class="part"><video controls preload="none" src="${href(p.index)}" style="max-width:100%"></video>${download}</div>`;
      return `<div class="part">${download}</div>`;
    })
    .join('\n');
  const dropped = m.dropped.length
    ? `<div class="dropped">Not archived by your plan: <ul>${m.dropped.map((d) => `<li>${escapeHtml(mediaTypeOf(d.contentType))} — ${escapeHtml(d.reason)}</li>`).join('')}</ul></div>`
    : '';
  const notice = m.additional.notice !== undefined ? `<p class="notice">${escapeHtml(m.additional.notice)}</p>` : '';
  const body = `<header><h1>${escapeHtml(m.subject ?? '(no subject)')}</h1>
<div class="meta">From <span class="sender">${escapeHtml(m.sender)}</span> · <time>${formatDate(m.date ?? m.receivedAt)}</time></div>${geolocationHtml(m)}</header>
${notice}${parts}
${dropped}
<nav><a href="${base}">All messages</a></nav>`;
  return page(m.subject ?? 'Archived message', body);
}

export function confirmPage(archived: ArchivedMessage | undefined, id: string): string {
  if (!archived) {
    return page('Not archived', `<header><h1>Not archived</h1></header><p>The message ${escapeHtml(id)} is not in your archive (yet). If it just arrived, try again in a minute.</p>`);
  }
  return page(
    'Archived',
    `<header><h1>Archived ✔</h1></header><p class="confirmed">The message from <span class="sender">${escapeHtml(archived.sender)}</span>${
      archived.subject !== undefined ? ` “${escapeHtml(archived.subject)}”` : ''
    } is archived since ${formatDate(archived.receivedAt)}.</p>`,
  );
}

export function signupPage(plans: readonly string[], defaultPlan: string, result?: { ok: boolean; message: string; albumUrl?: string }): string {
  const options = plans.map((p) => `<option${p === defaultPlan ? ' selected' : ''}>${escapeHtml(p)}</option>`).join('');
  const outcome = result
    ? `<p class="${result.ok ? 'ok' : 'error'}">${escapeHtml(result.message)}</p>${result.albumUrl ? `<p>Your album: <a href="${escapeHtml(result.albumUrl)}">${escapeHtml(result.albumUrl)}</a></p>` : ''}`
    : '';
  return page(
    'Archive sign-up',
    `<header><h1>Keep your MMS forever</h1></header>${outcome}
<form method="post" action="/signup">
<p><label>Your number <input name="address" type="tel" required placeholder="+15550001111" autocomplete="tel"></label></p>
<p><label>Plan <select name="plan">${options}</select></label></p>
<p><button type="submit">Subscribe</button></p>
</form>`,
  );
}
