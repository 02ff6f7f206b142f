/**
 * Rewriting the SMIL presentation after adaptation, so it names the parts
 * that remain: new Content-Locations (`photo.png` became `photo.jpg`), a
 * text notice in place of removed media, and no layout region left that no
 * element uses. The document is edited in place (a tolerant tag scan, not
 * a re-serialisation), so what terminals rely on — element order, `par`
 * durations, attributes we do not touch — stays as the sender wrote it.
 */
import type { StoredPart } from '../mmsc/model.js';

/** What happened to one original part; `undefined` in the list: it was dropped. */
export interface PartOutcome {
  part: StoredPart;
  /** The media was removed and `part` is the text notice that replaces it. */
  replaced: boolean;
}

export const MAX_SMIL_CHARS = 256 * 1024;
const MEDIA_ELEMENT = /<(img|video|audio|text|ref|animation|textstream)\b((?:[^>"']|"[^"]*"|'[^']*')*?)(\/?)>/gi;
const ATTRIBUTE = /([A-Za-z_:][-A-Za-z0-9_:.]*)\s*=\s*("([^"]*)"|'([^']*)')/g;
const REGION_ELEMENT = /<region\b((?:[^>"']|"[^"]*"|'[^']*')*?)(\/>|>[\s\S]*?<\/region\s*>)/gi;

function attributes(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of text.matchAll(ATTRIBUTE)) out.set(m[1]!.toLowerCase(), m[3] ?? m[4] ?? '');
  return out;
}

const escapeAttr = (s: string): string => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
const unescapeAttr = (s: string): string => s.replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');

/** The part a SMIL `src` names: `cid:` URLs by Content-ID, other values by Content-Location (or, as some senders do, a bare Content-ID). */
export function resolveSrc(src: string, parts: readonly StoredPart[]): number {
  const value = unescapeAttr(src.trim());
  if (/^cid:/i.test(value)) {
    let id = value.slice(4);
    try {
      id = decodeURIComponent(id);
    } catch {
      // keep it as written
    }
    id = id.replace(/^<|>$/g, '');
    return parts.findIndex((p) => p.contentId === id);
  }
  const name = value.replace(/^\.\//, '');
  const byLocation = parts.findIndex((p) => p.contentLocation !== undefined && p.contentLocation.replace(/^\.\//, '') === name);
  return byLocation >= 0 ? byLocation : parts.findIndex((p) => p.contentId === name);
}

/** How the new part is named, in the same form (cid: or location) the sender used. */
function newSrc(oldSrc: string, part: StoredPart): string {
  if (/^cid:/i.test(oldSrc.trim()) && part.contentId !== undefined) return `cid:${part.contentId}`;
  return part.contentLocation ?? (part.contentId !== undefined ? `cid:${part.contentId}` : oldSrc);
}

function setAttr(attrText: string, name: string, value: string): string {
  const re = new RegExp(`(\\s${name}\\s*=\\s*)("[^"]*"|'[^']*')`, 'i');
  return re.test(attrText) ? attrText.replace(re, `$1"${escapeAttr(value)}"`) : `${attrText} ${name}="${escapeAttr(value)}"`;
}

function dropAttr(attrText: string, name: string): string {
  return attrText.replace(new RegExp(`\\s${name}\\s*=\\s*("[^"]*"|'[^']*')`, 'i'), '');
}

/**
 * The SMIL text after adaptation. `outcomes[i]` is what became of
 * `originals[i]`. Elements naming a part that no longer exists (or none at
 * all) are removed; regions no element uses any more are removed.
 */
export function rewriteSmil(smil: string, originals: readonly StoredPart[], outcomes: ReadonlyArray<PartOutcome | undefined>): string {
  // Real presentations are a few KB; the tag scan is not meant for megabytes of hostile text.
  if (smil.length > MAX_SMIL_CHARS) return smil;
  const declaredRegions = [...smil.matchAll(REGION_ELEMENT)].map((m) => attributes(m[1]!).get('id')).filter((id): id is string => id !== undefined);
  const textRegion = declaredRegions.find((id) => id.toLowerCase() === 'text');
  const used = new Set<string>();
  let out = '';
  let last = 0;
  MEDIA_ELEMENT.lastIndex = 0;
  for (let m = MEDIA_ELEMENT.exec(smil); m; m = MEDIA_ELEMENT.exec(smil)) {
    const name = m[1]!;
    let attrText = m[2]!;
    let end = m.index + m[0].length;
    if (m[3] !== '/') {
      // <video ...> ... </video>: the element runs to its end tag.
      const close = new RegExp(`</${name}\\s*>`, 'i');
      const rest = smil.slice(end);
      const c = close.exec(rest);
      if (c) end += c.index + c[0].length;
    }
    const attrs = attributes(attrText);
    const src = attrs.get('src');
    const index = src === undefined ? -1 : resolveSrc(src, originals);
    const outcome = index >= 0 ? outcomes[index] : undefined;
    out += smil.slice(last, m.index);
    last = end;
    MEDIA_ELEMENT.lastIndex = end;
    if (!outcome || src === undefined) continue; // its part is gone: so is the element
    attrText = setAttr(attrText, 'src', newSrc(src, outcome.part));
    let element = name;
    if (outcome.replaced) {
      element = 'text';
      // The notice takes the removed element's place; audio has none, so the notice goes to the text region.
      const region = attrs.get('region') ?? textRegion;
      attrText = region === undefined ? dropAttr(attrText, 'region') : setAttr(attrText, 'region', region);
      // A notice is read, not played: the media's own timing attributes no longer apply.
      for (const a of ['begin', 'end', 'dur', 'clipbegin', 'clipend', 'clip-begin', 'clip-end', 'repeatcount', 'repeatdur']) attrText = dropAttr(attrText, a);
      out += `<${element}${attrText}/>`;
    } else {
      out += m[3] === '/' || end === m.index + m[0].length ? `<${name}${attrText}${m[3] === '/' ? '/' : ''}>` : `<${name}${attrText}>${smil.slice(m.index + m[0].length, end)}`;
    }
    const region = attributes(attrText).get('region');
    if (region !== undefined) used.add(region);
  }
  out += smil.slice(last);
  // Regions no element shows anything in are removed from the layout.
  return out.replace(REGION_ELEMENT, (whole, attrText: string) => {
    const id = attributes(attrText).get('id');
    return id === undefined || used.has(id) ? whole : '';
  });
}

/** Every `src` of the SMIL's media elements and every region they use, for consistency checks. */
export function smilReferences(smil: string): { srcs: string[]; regionsUsed: string[]; regionsDeclared: string[] } {
  const srcs: string[] = [];
  const regionsUsed: string[] = [];
  for (const m of smil.matchAll(MEDIA_ELEMENT)) {
    const a = attributes(m[2]!);
    const src = a.get('src');
    if (src !== undefined) srcs.push(unescapeAttr(src));
    const region = a.get('region');
    if (region !== undefined) regionsUsed.push(region);
  }
  const regionsDeclared = [...smil.matchAll(REGION_ELEMENT)].map((m) => attributes(m[1]!).get('id')).filter((id): id is string => id !== undefined);
  return { srcs, regionsUsed, regionsDeclared };
}
