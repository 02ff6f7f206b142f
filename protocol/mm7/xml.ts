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

const corrupt = (detail: string): Mm7Error => new Mm7Error('BAD_VALUE', 'SOAP envelope', detail, 2007);

/**
 * The namespace declarations in force: an element's own, then its
 * ancestors'. A chain rather than a copied map, so that a crafted document
 * declaring thousands of prefixes cannot make every element copy them all;
 * a lookup walks at most maxDepth links.
 */
interface Scope {
  declared: ReadonlyMap<string, string>;
  outer: Scope | undefined;
}

const XML_NS_SCOPE: Scope = { declared: new Map([['xml', 'http://www.w3.org/XML/1998/namespace']]), outer: undefined };

function lookup(scope: Scope, prefix: string): string | undefined {
  for (let s: Scope | undefined = scope; s; s = s.outer) {
    const ns = s.declared.get(prefix);
    if (ns !== undefined) return ns;
  }
  return undefined;
}

/** Above this many attributes on one element, duplicates are found with a set (a crafted tag may carry thousands). */
const FEW_ATTRIBUTES = 8;

// XML 1.0 NameStartChar / NameChar (§2.3) in the BMP; astral characters pass as surrogate pairs.
const NAME_START = 'A-Za-z_:\\u00C0-\\u00D6\\u00D8-\\u00F6\\u00F8-\\u02FF\\u0370-\\u037D\\u037F-\\u1FFF\\u200C\\u200D\\u2070-\\u218F\\u2C00-\\u2FEF\\u3001-\\uD7FF\\uF900-\\uFDCF\\uFDF0-\\uFFFD\\uD800-\\uDFFF';
const NAME_REST = `${NAME_START}\\-.0-9\\u00B7\\u0300-\\u036F\\u203F\\u2040`;
/** A Name at lastIndex. */
const NAME = new RegExp(`[${NAME_START}][${NAME_REST}]*`, 'y');
/** An attribute after the element's name or the previous attribute: whitespace, Name, `=`, a quoted value without `<`. */
const ATTRIBUTE = new RegExp(`[ \\t\\r\\n]+([${NAME_START}][${NAME_REST}]*)[ \\t\\r\\n]*=[ \\t\\r\\n]*(?:"([^"<]*)"|'([^'<]*)')`, 'y');
const SPACE = /[ \t\r\n]*/y;
/** Characters XML 1.0 (§2.2) allows nowhere in a document. */
const NOT_XML_CHAR = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/;

/** An element whose content is being read. */
interface Open {
  qname: string;
  element: XmlElement;
  scope: Scope;
  /** Character data since the last child element or CDATA section, as written (undecoded). */
  pending: string;
}

/**
 * Parses XML into namespace-resolved elements, checking well-formedness
 * on the way: one root; each start tag closed by its own end tag; quoted
 * attributes, each given once; only the five predefined entities and
 * character references; comments, PIs and CDATA sections; nothing but
 * whitespace, comments and PIs around the root. A DOCTYPE is refused
 * outright (no DTD means no entity expansion: billion-laughs and external
 * entities die here, before anything is read); depth and size are bounded.
 * Character data is trimmed around child elements, as SOAP values are read.
 *
 * Hand-written rather than on fast-xml-parser: that library took ~45 µs
 * for an MM7 envelope (a generic tree, then a second walk to resolve
 * namespaces), most of a text-only SubmitReq's parse. This reads the
 * string once, with indexOf and sticky regexes, straight into the resolved
 * tree; bench/mm7 has the figures (issue 3: 20,000 parses/s on one core).
 */
export function parseXml(xml: string, limits: Partial<XmlLimits> = {}): XmlElement {
  const maxDepth = limits.maxDepth ?? DEFAULT_XML_LIMITS.maxDepth;
  const maxOctets = limits.maxOctets ?? DEFAULT_XML_LIMITS.maxOctets;
  if (xml.length > maxOctets) throw new Mm7Error('BAD_LENGTH', 'SOAP envelope', `larger than ${maxOctets} characters`, 2007);
  const bad = NOT_XML_CHAR.exec(xml);
  if (bad) throw notWellFormed(xml, `character U+${bad[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`, bad.index);
  return new XmlReader(xml, maxDepth).document();
}

function notWellFormed(xml: string, detail: string, at: number): Mm7Error {
  let line = 1;
  let lineStart = 0;
  for (let nl = xml.indexOf('\n'); nl >= 0 && nl < at; nl = xml.indexOf('\n', nl + 1)) {
    line++;
    lineStart = nl + 1;
  }
  return corrupt(`not well-formed XML: ${detail} (line ${line}, column ${at - lineStart + 1})`);
}

class XmlReader {
  private at = 0;
  private readonly open: Open[] = [];
  private root: XmlElement | undefined;
  private rootClosed = false;

  constructor(
    private readonly xml: string,
    private readonly maxDepth: number,
  ) {}

  private fail(detail: string, at = this.at): never {
    throw notWellFormed(this.xml, detail, at);
  }

  document(): XmlElement {
    const xml = this.xml;
    if (xml.charCodeAt(0) === 0xfeff) this.at = 1;
    for (;;) {
      const lt = xml.indexOf('<', this.at);
      const end = lt < 0 ? xml.length : lt;
      const top = this.open[this.open.length - 1];
      if (top) {
        // Whitespace before any text is trimmed away later anyway: skip the copy.
        if (top.pending !== '' || !isBlank(xml, this.at, end)) top.pending += xml.slice(this.at, end);
      } else if (!isBlank(xml, this.at, end)) this.fail(this.root ? 'text after the root element' : 'text before the root element');
      if (lt < 0) break;
      this.at = lt;
      this.markup();
    }
    const outer = this.open[0];
    if (outer) throw corrupt(`the document ends before the root element <${outer.qname}> is closed (truncated?)`);
    if (!this.root) throw corrupt('expected one root element, found none');
    return this.root;
  }

  /** The piece of markup that starts at `this.at` (a `<`). */
  private markup(): void {
    const xml = this.xml;
    const next = xml.charCodeAt(this.at + 1);
    if (next === 0x2f /* / */) return this.endTag();
    if (next === 0x3f /* ? */) return this.skipPast('?>', 'processing instruction');
    if (next !== 0x21 /* ! */) return this.startTag();
    if (xml.startsWith('<!--', this.at)) {
      const end = xml.indexOf('--', this.at + 4);
      if (end < 0) this.fail('unterminated comment (truncated?)');
      if (xml.charCodeAt(end + 2) !== 0x3e) this.fail('"--" inside a comment', end);
      this.at = end + 3;
      return;
    }
    if (xml.startsWith('<![CDATA[', this.at)) {
      const top = this.open[this.open.length - 1];
      if (!top) this.fail('a CDATA section outside the root element');
      const end = xml.indexOf(']]>', this.at + 9);
      if (end < 0) this.fail('unterminated CDATA section (truncated?)');
      flush(top, xml, this.at);
      top.element.text += xml.slice(this.at + 9, end);
      this.at = end + 3;
      return;
    }
    if (/^<!(DOCTYPE|ENTITY)/i.test(xml.slice(this.at, this.at + 9))) throw corrupt('DTDs and entity declarations are not allowed');
    this.fail('a markup declaration');
  }

  private skipPast(terminator: string, what: string): void {
    const end = this.xml.indexOf(terminator, this.at + 2);
    if (end < 0) this.fail(`unterminated ${what} (truncated?)`);
    this.at = end + terminator.length;
  }

  private nameAt(at: number): string {
    NAME.lastIndex = at;
    const m = NAME.exec(this.xml);
    if (!m) this.fail(at >= this.xml.length ? 'the document ends inside a tag (truncated?)' : 'expected a name', at);
    return m[0];
  }

  private startTag(): void {
    const xml = this.xml;
    if (this.rootClosed) this.fail('a second root element');
    const qname = this.nameAt(this.at + 1);
    let at = this.at + 1 + qname.length;
    const raw: Array<[name: string, value: string]> = [];
    let declares = false;
    let names: Set<string> | undefined;
    // Most MM7 elements have no attributes: try the attribute pattern only after whitespace.
    while (isSpaceAt(xml, at)) {
      ATTRIBUTE.lastIndex = at;
      const m = ATTRIBUTE.exec(xml);
      if (!m) break;
      const name = m[1]!;
      if (raw.length < FEW_ATTRIBUTES) {
        for (const [seen] of raw) if (seen === name) this.fail(`attribute ${name} given twice on <${qname}>`, at);
      } else {
        names ??= new Set(raw.map(([n]) => n));
        if (names.has(name)) this.fail(`attribute ${name} given twice on <${qname}>`, at);
        names.add(name);
      }
      raw.push([name, m[2] ?? m[3]!]);
      if (name === 'xmlns' || name.startsWith('xmlns:')) declares = true;
      at = ATTRIBUTE.lastIndex;
    }
    SPACE.lastIndex = at;
    SPACE.exec(xml);
    at = SPACE.lastIndex;
    const selfClosing = xml.charCodeAt(at) === 0x2f;
    if (selfClosing) at++;
    if (xml.charCodeAt(at) !== 0x3e) {
      this.fail(at >= xml.length ? `the document ends inside the start tag <${qname}> (truncated?)` : `a malformed start tag <${qname}>`, at);
    }

    const parent = this.open[this.open.length - 1];
    let scope = parent ? parent.scope : XML_NS_SCOPE;
    if (declares) {
      const declared = new Map<string, string>();
      for (const [name, value] of raw) {
        if (name === 'xmlns') declared.set('', decodeReferences(value));
        else if (name.startsWith('xmlns:')) declared.set(name.slice(6), decodeReferences(value));
      }
      scope = { declared, outer: scope };
    }
    const [prefix, local] = splitName(qname);
    const ns = lookup(scope, prefix);
    if (ns === undefined && prefix !== '') throw corrupt(`undeclared namespace prefix "${prefix}" on <${qname}>`);
    const attrs: XmlElement['attrs'] = [];
    for (const [name, value] of raw) {
      if (name === 'xmlns' || name.startsWith('xmlns:')) continue;
      const [p, l] = splitName(name);
      const attrNs = p === '' ? '' : lookup(scope, p);
      if (attrNs === undefined) throw corrupt(`undeclared namespace prefix "${p}" on attribute ${name}`);
      attrs.push({ ns: attrNs, local: l, value: decodeReferences(normaliseAttribute(value)) });
    }
    const element: XmlElement = { ns: ns ?? '', local, attrs, children: [], text: '' };
    if (parent) {
      flush(parent, xml, this.at);
      parent.element.children.push(element);
    } else {
      this.root = element;
    }
    this.at = at + 1;
    if (selfClosing) {
      if (!parent) this.rootClosed = true;
      return;
    }
    if (this.open.length >= this.maxDepth) this.fail(`elements nested deeper than ${this.maxDepth}`);
    this.open.push({ qname, element, scope, pending: '' });
  }

  private endTag(): void {
    const xml = this.xml;
    const start = this.at;
    const top = this.open.pop();
    if (!top) this.fail('an end tag without its start tag');
    const nameEnd = start + 2 + top.qname.length;
    if (nameEnd > xml.length) this.fail(`the document ends inside the end tag </${top.qname}> (truncated?)`);
    SPACE.lastIndex = nameEnd;
    SPACE.exec(xml);
    const close = SPACE.lastIndex;
    if (!xml.startsWith(top.qname, start + 2) || xml.charCodeAt(close) !== 0x3e) {
      if (close >= xml.length && xml.startsWith(top.qname, start + 2)) this.fail(`the document ends inside the end tag </${top.qname}> (truncated?)`);
      this.fail(`</${this.nameAt(start + 2)}> does not close <${top.qname}>`);
    }
    flush(top, xml, start);
    this.at = close + 1;
    if (this.open.length === 0) this.rootClosed = true;
  }
}

function isSpaceAt(xml: string, at: number): boolean {
  const c = xml.charCodeAt(at);
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

function isBlank(xml: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (!isSpaceAt(xml, i)) return false;
  return true;
}

/** Moves an open element's pending character data into its text: trimmed, then its references decoded. */
function flush(open: Open, xml: string, at: number): void {
  if (open.pending === '') return;
  const text = open.pending.trim();
  open.pending = '';
  if (text === '') return;
  if (text.includes(']]>')) throw notWellFormed(xml, '"]]>" in character data', at);
  open.element.text += decodeReferences(text);
}

/** Attribute-value normalisation (§3.3.3): each literal tab, CR, LF or CRLF becomes a space. */
function normaliseAttribute(value: string): string {
  return /[\t\r\n]/.test(value) ? value.replace(/\r\n|[\t\r\n]/g, ' ') : value;
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
