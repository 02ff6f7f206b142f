import type { Attachment, ParsedMail } from 'mailparser';
import { formatMimeType, parseMimeType } from '../../mmsc/convert.js';
import type { StoredPart } from '../../mmsc/model.js';
import { mimeLeaves } from './mime-check.js';

/**
 * A parsed mail as MMS content (DESIGN.md step 1, MM3/MM4 ingest): the
 * text body becomes a text/plain part in UTF-8 (whatever the mail's
 * charset), the HTML body is reduced to that text or kept as a part beside
 * it (config), attachments and inline images become parts with their
 * bytes untouched and their Content-ID, and a SMIL presentation is made
 * when the mail brings none, so a terminal can lay the message out.
 */

export type HtmlMode = 'text' | 'part';

export interface MailContent {
  /** Top-level type: `multipart/related; start="<smil>"; type="application/smil"`. */
  contentType: string;
  parts: StoredPart[];
}

const SAFE_NAME = /[^A-Za-z0-9._-]+/g;
const EXTENSION: Record<string, string> = {
  'image/jpeg': 'jpg',
  'image/png': 'png',
  'image/gif': 'gif',
  'image/vnd.wap.wbmp': 'wbmp',
  'audio/amr': 'amr',
  'audio/mpeg': 'mp3',
  'video/3gpp': '3gp',
  'video/mp4': 'mp4',
  'text/plain': 'txt',
  'text/html': 'html',
  'text/x-vcard': 'vcf',
  'text/vcard': 'vcf',
};

function xmlAttr(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
}

/** Content-Locations unique within the message, safe in a SMIL src. */
class Names {
  private readonly used = new Set<string>();
  take(wanted: string | undefined, mediaType: string, fallback: string): string {
    const ext = EXTENSION[mediaType] ?? 'bin';
    let base = (wanted ?? '').replace(SAFE_NAME, '_').replace(/^[._]+/, '').slice(0, 60);
    if (!base) base = `${fallback}.${ext}`;
    let name = base;
    for (let i = 2; this.used.has(name.toLowerCase()); i++) {
      const dot = base.lastIndexOf('.');
      name = dot > 0 ? `${base.slice(0, dot)}-${i}${base.slice(dot)}` : `${base}-${i}`;
    }
    this.used.add(name.toLowerCase());
    return name;
  }
}

function attachmentType(a: Attachment): string {
  const mediaType = a.contentType.toLowerCase();
  const header = a.headers.get('content-type');
  const params: Record<string, string> = {};
  // Text attachments keep their own charset: their bytes are stored as sent.
  if (header && typeof header === 'object' && 'params' in header) {
    const charset = (header.params as Record<string, string>).charset;
    if (charset && mediaType.startsWith('text/')) params.charset = charset;
  }
  if (a.filename) params.name = a.filename;
  return formatMimeType(mediaType, params);
}

function smilElement(mediaType: string): string {
  if (mediaType.startsWith('image/')) return 'img';
  if (mediaType.startsWith('audio/')) return 'audio';
  if (mediaType.startsWith('video/')) return 'video';
  if (mediaType.startsWith('text/')) return 'text';
  return 'ref';
}

/**
 * One slide per picture, sound or video (in mail order), the text on the
 * first slide, in the two regions every MMS terminal knows (OMA MMS CONF
 * §8.1: Image above Text).
 */
export function generateSmil(parts: readonly StoredPart[]): string {
  const media = parts.filter((p) => !p.contentType.startsWith('text/'));
  const texts = parts.filter((p) => p.contentType.startsWith('text/plain'));
  const slides: string[] = [];
  const count = Math.max(media.length, texts.length > 0 ? 1 : 0);
  for (let i = 0; i < count; i++) {
    const items: string[] = [];
    const m = media[i];
    if (m) {
      const el = smilElement(m.contentType.split(';')[0]!);
      items.push(`<${el} src="${xmlAttr(m.contentLocation!)}"${el === 'img' || el === 'video' ? ' region="Image"' : ''}/>`);
    }
    if (i === 0) for (const t of texts) items.push(`<text src="${xmlAttr(t.contentLocation!)}" region="Text"/>`);
    slides.push(`<par dur="5000ms">${items.join('')}</par>`);
  }
  return (
    '<smil><head><layout><root-layout/>' +
    '<region id="Image" top="0" left="0" height="70%" width="100%" fit="meet"/>' +
    '<region id="Text" top="70%" left="0" height="30%" width="100%" fit="scroll"/>' +
    `</layout></head><body>${slides.join('')}</body></smil>`
  );
}

/** Throws when the mail has nothing to deliver (no text, no HTML, no attachment). */
export class EmptyMail extends Error {
  readonly code = 'SMTP_EMPTY_MAIL';
}

/** The MMS parts of a parsed mail, SMIL first (its Content-ID `<smil>` is the `start`). */
export function contentFromMail(mail: ParsedMail, html: HtmlMode): MailContent {
  const names = new Names();
  const body: StoredPart[] = [];
  let smil: StoredPart | undefined;
  // mailparser derives `text` from the HTML when the mail has no text/plain part.
  // CRLF is the mail's line ending on the wire, not the author's: the MMS text gets LF.
  const text = (mail.text ?? '').replace(/\r\n/g, '\n').replace(/\s+$/, '');
  if (text !== '') body.push({ contentType: 'text/plain; charset=utf-8', contentLocation: names.take(undefined, 'text/plain', 'text'), data: Buffer.from(text, 'utf8') });
  if (html === 'part' && typeof mail.html === 'string' && mail.html !== '') {
    body.push({ contentType: 'text/html; charset=utf-8', contentLocation: names.take(undefined, 'text/html', 'body'), data: Buffer.from(mail.html, 'utf8') });
  }
  let n = 0;
  for (const a of mail.attachments) {
    const mediaType = a.contentType.toLowerCase();
    n++;
    const part: StoredPart = { contentType: attachmentType(a), contentLocation: names.take(a.filename, mediaType, `part${n}`), data: a.content };
    if (a.cid) part.contentId = a.cid;
    if (mediaType === 'application/smil' && !smil) smil = part;
    else body.push(part);
  }
  if (body.length === 0) throw new EmptyMail('the mail has neither text nor attachments');
  if (!smil) {
    smil = { contentType: 'application/smil', contentLocation: names.take('presentation.smil', 'application/smil', 'presentation'), data: Buffer.from(generateSmil(body), 'utf8') };
  }
  const used = new Set(body.map((p) => p.contentId).filter((c): c is string => c !== undefined));
  let smilId = smil.contentId ?? 'smil';
  while (used.has(smilId)) smilId = `${smilId}_`;
  smil.contentId = smilId;
  return {
    contentType: formatMimeType('multipart/related', { start: `<${smilId}>`, type: 'application/smil' }),
    parts: [smil, ...body],
  };
}

const KEPT_LEAF_PARAMS = ['charset', 'name'];
const KEPT_ROOT_PARAMS = ['start', 'type'];

function keep(params: Record<string, string>, names: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of names) if (params[n] !== undefined) out[n] = params[n]!;
  return out;
}

/**
 * The MM of an MM4_forward.REQ exactly as the peer sent it: every MIME
 * leaf a part, bytes as sent (only the transfer encoding undone), Content-ID
 * and Content-Location kept, no SMIL added, no text re-encoded — the
 * originator's MMS-C already made it an MM (TS 23.140 §8.4.1).
 */
export function contentFromMm4(mail: Buffer): MailContent {
  const { contentType, leaves } = mimeLeaves(mail);
  const parts = leaves.map((leaf) => {
    const { mediaType, params } = parseMimeType(leaf.contentType);
    const part: StoredPart = { contentType: formatMimeType(mediaType, keep(params, KEPT_LEAF_PARAMS)), data: leaf.data };
    const cid = leaf.headers.get('content-id')?.trim().replace(/^<|>$/g, '');
    if (cid) part.contentId = cid;
    const location = leaf.headers.get('content-location')?.trim();
    if (location) part.contentLocation = location;
    return part;
  });
  if (parts.length === 0) throw new EmptyMail('the MM has no parts');
  const root = parseMimeType(contentType);
  return { contentType: root.mediaType.startsWith('multipart/') ? formatMimeType(root.mediaType, keep(root.params, KEPT_ROOT_PARAMS)) : parts[0]!.contentType, parts };
}
