import { XMLParser } from 'fast-xml-parser';
import { ProtocolError, type ProtocolErrorCode } from '../errors.js';
import type { Release } from './releases.js';

/**
 * A bad MM7 request, with the MM7 status to answer it with (2007 message
 * format corrupt, 4004 validation error, 4002 unsupported version, …) and
 * whatever could be read before it failed, so the answer can still echo
 * the TransactionID in the requester's release.
 */
export class Mm7Error extends ProtocolError {
  constructor(
    code: ProtocolErrorCode,
    field: string,
    detail: string,
    readonly status: number,
    readonly context: { release?: Release; transactionId?: string; mm7Version?: string } = {},
  ) {
    super(code, field, detail);
  }

  withContext(context: Mm7Error['context']): Mm7Error {
    return new Mm7Error(this.code, this.field, this.detail, this.status, { ...context, ...this.context });
  }
}

/** An element with its namespace resolved: what the MM7 codec matches on, never the prefix. */
export interface XmlElement {
  ns: string;
  local: string;
  attrs: Array<{ ns: string; local: string; value: string }>;
  children: XmlElement[];
  text: string;
}

/** Limits on what an MM7 SOAP part may be (safety: no DTDs, bounded depth and size). */
export interface XmlLimits {
  maxDepth: number;
  maxOctets: number;
}

export const DEFAULT_XML_LIMITS: XmlLimits = { maxDepth: 32, maxOctets: 1 << 20 };

type OrderedNode = Record<string, unknown>;

const corrupt = (detail: string): Mm7Error => new Mm7Error('BAD_VALUE', 'SOAP envelope', detail, 2007);

/**
 * Parses XML into namespace-resolved elements. A DOCTYPE is refused
 * outright (no DTD means no entity expansion: billion-laughs and external
 * entities die here, before any parsing); depth is bounded by the parser.
 */
export function parseXml(xml: string, limits: Partial<XmlLimits> = {}): XmlElement {
  const { maxDepth, maxOctets } = { ...DEFAULT_XML_LIMITS, ...limits };
  if (xml.length > maxOctets) throw new Mm7Error('BAD_LENGTH', 'SOAP envelope', `larger than ${maxOctets} characters`, 2007);
  if (/<!DOCTYPE|<!ENTITY/i.test(xml)) throw corrupt('DTDs and entity declarations are not allowed');
  const parser = parserFor(maxDepth);
  let tree: OrderedNode[];
  try {
    tree = parser.parse(xml) as OrderedNode[];
  } catch (e) {
    throw corrupt(`not well-formed XML: ${(e as Error).message}`);
  }
  const roots = tree.filter((n) => !('#text' in n));
  if (roots.length !== 1) throw corrupt(`expected one root element, found ${roots.length}`);
  checkComplete(xml, roots[0]!);
  return resolve(roots[0]!, new Map([['xml', 'http://www.w3.org/XML/1998/namespace']]));
}

/**
 * fast-xml-parser closes the elements still open at the end of its input
 * without a word, so an envelope cut in the middle (a dropped connection,
 * a truncated answer) would parse as a shorter, valid-looking one — a
 * DeliveryReportRsp cut after its StatusCode 1000 would count as
 * delivered. A complete document ends with its root's end tag (or a
 * self-closed root), then at most whitespace, comments and PIs.
 */
function checkComplete(xml: string, root: OrderedNode): void {
  const name = Object.keys(root).find((k) => k !== ':@');
  let end = xml.length;
  for (;;) {
    while (end > 0 && /\s/.test(xml[end - 1]!)) end--;
    if (xml.startsWith('-->', end - 3)) end = xml.lastIndexOf('<!--', end - 3);
    else if (xml.startsWith('?>', end - 2)) end = xml.lastIndexOf('<?', end - 2);
    else break;
    if (end < 0) throw corrupt('unterminated comment or processing instruction at the end');
  }
  let closed = false;
  if (name !== undefined && xml[end - 1] === '>') {
    let i = end - 1;
    while (i > 0 && /\s/.test(xml[i - 1]!)) i--; // `</env:Envelope  >` is allowed
    closed = xml.startsWith(`</${name}`, i - name.length - 2);
    // A root without children may close itself: `<env:Envelope/>`.
    if (!closed && xml[end - 2] === '/') closed = Array.isArray(root[name]) && root[name].length === 0;
  }
  if (!closed) throw corrupt(`the document ends before the root element <${name ?? '?'}> is closed (truncated?)`);
}

const parsers = new Map<number, XMLParser>();

/** One parser per depth limit: building its options costs more than parsing a small envelope. */
function parserFor(maxDepth: number): XMLParser {
  let parser = parsers.get(maxDepth);
  if (parser) return parser;
  parser = new XMLParser({
    preserveOrder: true,
    ignoreAttributes: false,
    attributeNamePrefix: '',
    parseTagValue: false,
    parseAttributeValue: false,
    trimValues: true,
    // References are decoded below in one pass, so `&amp;#38;` stays `&#38;`.
    processEntities: false,
    ignoreDeclaration: true,
    ignorePiTags: true,
    commentPropName: false,
    maxNestedTags: maxDepth,
    // No callbacks use the path: skip building its string for every text node.
    jPath: false,
  });
  parsers.set(maxDepth, parser);
  return parser;
}

const PREDEFINED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** The five predefined entities and character references (XML 1.0 §4.1, §4.6); anything else is an error. */
function decodeReferences(text: string): string {
  if (!text.includes('&')) return text;
  return text.replace(/&([^;&\s]{0,10});?/g, (whole, ref: string) => {
    if (!whole.endsWith(';')) throw corrupt(`unterminated reference "${whole}"`);
    const named = PREDEFINED[ref];
    if (named !== undefined) return named;
    const m = /^#(?:x([0-9a-fA-F]{1,6})|([0-9]{1,7}))$/.exec(ref);
    const code = m ? parseInt(m[1] ?? m[2]!, m[1] ? 16 : 10) : NaN;
    if (!(code > 0 && code <= 0x10ffff) || (code >= 0xd800 && code <= 0xdfff)) throw corrupt(`undefined entity or bad character reference "${whole}"`);
    return String.fromCodePoint(code);
  });
}

function splitName(qname: string): [prefix: string, local: string] {
  const colon = qname.indexOf(':');
  return colon < 0 ? ['', qname] : [qname.slice(0, colon), qname.slice(colon + 1)];
}

function resolve(node: OrderedNode, inherited: Map<string, string>): XmlElement {
  const qname = Object.keys(node).find((k) => k !== ':@')!;
  const rawAttrs = (node[':@'] ?? {}) as Record<string, string>;
  let scope = inherited;
  for (const [name, value] of Object.entries(rawAttrs)) {
    if (name === 'xmlns' || name.startsWith('xmlns:')) {
      if (scope === inherited) scope = new Map(inherited);
      scope.set(name === 'xmlns' ? '' : name.slice(6), decodeReferences(String(value)));
    }
  }
  const [prefix, local] = splitName(qname);
  const ns = scope.get(prefix);
  if (ns === undefined && prefix !== '') throw corrupt(`undeclared namespace prefix "${prefix}" on <${qname}>`);
  const attrs: XmlElement['attrs'] = [];
  for (const [name, value] of Object.entries(rawAttrs)) {
    if (name === 'xmlns' || name.startsWith('xmlns:')) continue;
    const [p, l] = splitName(name);
    const attrNs = p === '' ? '' : scope.get(p);
    if (attrNs === undefined) throw corrupt(`undeclared namespace prefix "${p}" on attribute ${name}`);
    attrs.push({ ns: attrNs, local: l, value: decodeReferences(String(value)) });
  }
  const children: XmlElement[] = [];
  let text = '';
  for (const child of (node[qname] ?? []) as OrderedNode[]) {
    if ('#text' in child) text += decodeReferences(String(child['#text']));
    else children.push(resolve(child, scope));
  }
  return { ns: ns ?? '', local, attrs, children, text };
}

export function child(el: XmlElement, local: string, ns?: string): XmlElement | undefined {
  return el.children.find((c) => c.local === local && (ns === undefined || c.ns === ns));
}

export function attr(el: XmlElement, local: string): string | undefined {
  return el.attrs.find((a) => a.local === local)?.value;
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}
