/**
 * UAProf (WAP-248, RDF/XML) → terminal profile. Only the attributes the
 * adaptation needs are read (spec g.2): MmsMaxMessageSize,
 * MmsMaxImageResolution, MmsCcppAccept, MmsCcppAcceptCharSet and
 * ScreenSize (the image limit's fallback). Vocabularies differ in prefix
 * (`prf:`, `mms:`, …) and in version, so elements match by local name.
 *
 * Fetching UAProf URLs over the network is not done here: documents are
 * loaded from files (an operator keeps the ones of the terminals it sees).
 */
import { readFileSync } from 'node:fs';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { CONTENT_CLASSES, parseDimensions, ProfileError, type ContentClass, type Dimensions, type TerminalProfile } from './profile.js';

/** Real UAProf documents are 5–40 KB; anything far larger is not one. */
export const MAX_UAPROF_OCTETS = 1 << 20;

export interface UaprofAttributes {
  /** The profile's own URL: the rdf:about of its first description, without the fragment. */
  url?: string;
  maxMessageSize?: number;
  maxImageResolution?: Dimensions;
  screenSize?: Dimensions;
  accept: string[];
  charsets: string[];
}

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  removeNSPrefix: true,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  // Only text is read; entity declarations of a hostile document must not expand.
  processEntities: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
  maxNestedTags: 64,
});

type Node = string | number | boolean | null | undefined | Node[] | { [k: string]: Node };

/** Depth-first over every element named `local`, in document order. */
function* elements(node: Node, local: string): Generator<Node> {
  if (Array.isArray(node)) {
    for (const n of node) yield* elements(n, local);
  } else if (node !== null && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k.startsWith('@')) continue;
      if (k === local) {
        if (Array.isArray(v)) yield* v;
        else yield v;
      }
      yield* elements(v, local);
    }
  }
}

function textOf(node: Node): string | undefined {
  if (typeof node === 'string' || typeof node === 'number') return String(node).trim();
  if (node !== null && typeof node === 'object' && !Array.isArray(node)) {
    const t = node['#text'];
    if (typeof t === 'string' || typeof t === 'number') return String(t).trim();
  }
  return undefined;
}

function first(root: Node, local: string): string | undefined {
  for (const n of elements(root, local)) {
    const t = textOf(n);
    if (t) return t;
  }
  return undefined;
}

/** The rdf:li items of a Bag (or Seq) under the first element named `local`; a plain text value counts as one item. */
function bag(root: Node, ...locals: string[]): string[] {
  for (const local of locals) {
    for (const n of elements(root, local)) {
      const items = [...elements(n, 'li')].map(textOf).filter((t): t is string => !!t);
      if (items.length) return items;
      const t = textOf(n);
      if (t) return t.split(/[\s,]+/).filter(Boolean);
    }
  }
  return [];
}

function firstAbout(node: Node): string | undefined {
  if (Array.isArray(node)) {
    for (const n of node) {
      const a = firstAbout(n);
      if (a) return a;
    }
  } else if (node !== null && typeof node === 'object') {
    const about = node['@about'];
    if (typeof about === 'string' && /^https?:\/\//i.test(about)) return about;
    for (const [k, v] of Object.entries(node)) {
      if (k.startsWith('@')) continue;
      const a = firstAbout(v);
      if (a) return a;
    }
  }
  return undefined;
}

/** Reads the attributes of a UAProf document; `source` names it in errors. */
export function parseUaprof(xml: string | Buffer, source = 'UAProf document'): UaprofAttributes {
  if (xml.length > MAX_UAPROF_OCTETS) throw new ProfileError(`${source}: larger than ${MAX_UAPROF_OCTETS} octets, not a UAProf document`);
  let root: Node;
  const text = typeof xml === 'string' ? xml : xml.toString('utf8');
  // The parser is lenient about unclosed elements; a profile that is not well-formed is not trusted.
  const valid = XMLValidator.validate(text);
  if (valid !== true) throw new ProfileError(`${source}: not well-formed XML: ${valid.err.msg} (line ${valid.err.line})`);
  try {
    root = parser.parse(text) as Node;
  } catch (e) {
    throw new ProfileError(`${source}: not well-formed XML: ${(e as Error).message}`);
  }
  if ([...elements(root, 'RDF')].length === 0) throw new ProfileError(`${source}: no rdf:RDF element, not a UAProf document`);
  const out: UaprofAttributes = {
    accept: bag(root, 'MmsCcppAccept').map((t) => t.toLowerCase()),
    charsets: bag(root, 'MmsCcppAcceptCharSet', 'MmsCcppAccept-CharSet').map((t) => t.toLowerCase()),
  };
  const about = firstAbout(root);
  if (about) out.url = about.replace(/#.*$/, '');
  const size = first(root, 'MmsMaxMessageSize');
  if (size !== undefined && /^\d+$/.test(size) && Number(size) > 0) out.maxMessageSize = Number(size);
  const res = first(root, 'MmsMaxImageResolution');
  const resolution = res === undefined ? undefined : parseDimensions(res);
  if (resolution) out.maxImageResolution = resolution;
  const screen = first(root, 'ScreenSize');
  const screenSize = screen === undefined ? undefined : parseDimensions(screen);
  if (screenSize) out.screenSize = screenSize;
  return out;
}

const fits = (d: Dimensions | undefined, max: Dimensions): boolean => d !== undefined && d.width * d.height >= max.width * max.height;

/** The richest content class whose limits the terminal meets. */
export function inferContentClass(a: { maxMessageSize: number; maxImage: Dimensions | undefined; accept: string[] }): ContentClass {
  const acceptsAny = (prefix: string): boolean => a.accept.some((t) => t === '*/*' || t.startsWith(prefix));
  if (!a.maxImage || !acceptsAny('image/')) return 'text';
  if (a.maxMessageSize >= CONTENT_CLASSES.megapixel.maxMessageSize && fits(a.maxImage, CONTENT_CLASSES.megapixel.maxImage)) return 'megapixel';
  const rich = fits(a.maxImage, CONTENT_CLASSES['image-rich'].maxImage);
  if (rich && a.maxMessageSize >= CONTENT_CLASSES['video-rich'].maxMessageSize && acceptsAny('video/')) return 'video-rich';
  if (rich && a.maxMessageSize >= CONTENT_CLASSES['video-basic'].maxMessageSize && acceptsAny('video/')) return 'video-basic';
  if (rich && a.maxMessageSize >= CONTENT_CLASSES['image-rich'].maxMessageSize) return 'image-rich';
  return 'image-basic';
}

/**
 * The terminal profile a UAProf document describes. Missing attributes
 * take the content class's values; the image limit falls back to the
 * screen size (Mbuni does the same).
 */
export function profileFromUaprof(a: UaprofAttributes, name: string): TerminalProfile {
  const accept = a.accept.length ? a.accept : ['text/plain', 'application/smil', 'image/jpeg', 'image/gif'];
  const maxImage = a.maxImageResolution ?? a.screenSize;
  const maxMessageSize = a.maxMessageSize ?? CONTENT_CLASSES['image-basic'].maxMessageSize;
  const contentClass = inferContentClass({ maxMessageSize, maxImage, accept });
  const profile: TerminalProfile = {
    name,
    contentClass,
    maxMessageSize,
    maxImage,
    accept,
    charsets: a.charsets.length ? a.charsets : ['utf-8', 'us-ascii'],
    uaprofUrls: a.url ? [a.url] : [],
    userAgentPatterns: [],
  };
  if (a.screenSize) profile.screen = a.screenSize;
  return profile;
}

/** Loads a UAProf file as a profile named `name` (default: its URL, or the file path). */
export function loadUaprofFile(path: string, name?: string): TerminalProfile {
  let data: Buffer;
  try {
    data = readFileSync(path);
  } catch (e) {
    throw new ProfileError(`${path}: ${(e as Error).message}`);
  }
  const a = parseUaprof(data, path);
  return profileFromUaprof(a, name ?? a.url ?? path);
}
