/**
 * A MIME writer for the MM7 multipart/related body (RFC 2045-2047, 2231,
 * 2387), used by buildMm7Http in place of nodemailer's MimeNode: building
 * an archive forward with MimeNode (streams, a header object per node,
 * random boundaries drawn from the kernel per multipart) was measured at
 * about a tenth of server 1's CPU per forward; this writes the same kind of
 * body into one buffer, or as pieces that keep the parts' own buffers.
 *
 * What it writes, for every entity:
 * - Content-Type: the media type, then each parameter as a token when it
 *   is one, else a quoted string (`\` and `"` escaped), else — for octets
 *   beyond printable ASCII — RFC 2231 `name*=utf-8''%xx`. Multiparts get
 *   their boundary parameter (quoted).
 * - Content-ID `<id>`, Content-Transfer-Encoding for leaves, then
 *   Content-Location, Content-Disposition, the other headers (names in the
 *   usual Capitalised-Form). Values of printable ASCII are folded at blanks
 *   to lines of 76 where they can be; other values become RFC 2047 encoded
 *   words (`=?UTF-8?B?…?=`, each at most 75 characters, one per line). A
 *   CR or LF in a value becomes a space: it could only end the header.
 *   Content-ID and Content-Disposition go as given (their own syntax has
 *   no encoded words), octets beyond ASCII raw UTF-8 (HTTP is 8-bit clean).
 * - Bodies: media as base64 in 76-character lines. Text: 7bit when it is
 *   printable ASCII in CRLF lines of at most 76 octets; quoted-printable
 *   when at most a quarter of its octets need escaping; base64 otherwise,
 *   and always when it has a bare CR or LF, so its octets come back exact
 *   and every line the writer adds ends in CRLF.
 * - Boundaries: the caller's, when it names one; otherwise `=_` and 16
 *   random base64url characters (96 bits from a pooled randomBytes). A
 *   drawn boundary starts with `=_`, which quoted-printable and base64 can
 *   never contain, and a 7bit or binary body holds it by chance with a
 *   probability of 2^-96 per position: the bodies are not searched for it
 *   (that search was a twentieth of server 1's CPU per archive forward).
 *   A caller's boundary that occurs inside its multipart is INCONSISTENT.
 *
 * Pure apart from drawing random boundaries: no I/O, no clock.
 */
import { randomBytes } from 'node:crypto';
import { ProtocolError } from '../errors.js';
import type { MimeEntity } from './mime-types.js';
import { NAMED_HEADERS, stripAngles, TOKEN } from './multipart.js';

/** RFC 2046 §5.1.1 bchars, 1-70 of them, not ending in a space. */
export const BOUNDARY = /^[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]$/;
const MEDIA_TYPE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+\/[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const LINE = 76;
const CRLF = '\r\n';

// ------------------------------------------------------------ boundaries

let pool = Buffer.alloc(0);
let poolAt = 0;

/** `=_` and 96 random bits as base64url: drawn from a pool, one kernel call per 341 boundaries. */
export function randomBoundary(): string {
  if (poolAt + 12 > pool.length) {
    pool = randomBytes(4092);
    poolAt = 0;
  }
  const b = `=_${pool.toString('base64url', poolAt, poolAt + 12)}`;
  poolAt += 12;
  return b;
}

// ---------------------------------------------------------------- headers

/** `Content-Location`, `X-Long`: how header names are usually written. */
export function headerName(name: string): string {
  return name.toLowerCase().replace(/(^|-)([a-z])/g, (_m, dash: string, c: string) => dash + c.toUpperCase());
}

const PRINTABLE = /^[\x20-\x7e]*$/;

/**
 * `Name: value` folded at blanks to lines of at most 76 where a blank
 * allows it (unfolding — removing each CRLF — gives the value back).
 */
export function foldHeader(name: string, value: string): string {
  const line = `${name}: ${value}`;
  if (line.length <= LINE) return line;
  let out = '';
  let rest = line;
  while (rest.length > LINE) {
    // the last blank that keeps the line within LINE, never the one right after the colon
    let at = rest.lastIndexOf(' ', LINE);
    if (at <= (out === '' ? name.length + 1 : 0)) {
      at = rest.indexOf(' ', LINE);
      if (at < 0) break;
    }
    out += rest.slice(0, at) + CRLF;
    rest = rest.slice(at);
  }
  return out + rest;
}

/** RFC 2047 encoded words (B encoding), each at most 75 characters, split between characters, one per folded line. */
export function encodedWords(value: string): string {
  const words: string[] = [];
  let chunk = '';
  let octets = 0;
  for (const ch of value) {
    const n = Buffer.byteLength(ch, 'utf8');
    // 45 octets → 60 base64 characters + 12 of `=?UTF-8?B?` and `?=`
    if (octets + n > 45) {
      words.push(`=?UTF-8?B?${Buffer.from(chunk, 'utf8').toString('base64')}?=`);
      chunk = '';
      octets = 0;
    }
    chunk += ch;
    octets += n;
  }
  if (chunk !== '') words.push(`=?UTF-8?B?${Buffer.from(chunk, 'utf8').toString('base64')}?=`);
  return words.join(`${CRLF} `);
}

function oneLine(value: string): string {
  return value.replace(/[\r\n]+/g, ' ').trim();
}

/** An unstructured header: folded ASCII, or encoded words. */
function textHeader(name: string, raw: string): string {
  const value = oneLine(raw);
  return PRINTABLE.test(value) ? foldHeader(name, value) : `${name}: ${encodedWords(value)}`;
}

/** A Content-Type parameter: token, quoted string, or RFC 2231 with the UTF-8 octets percent-encoded. */
export function typeParam(name: string, value: string): string {
  if (TOKEN.test(value)) return `${name}=${value}`;
  if (PRINTABLE.test(value)) return `${name}="${value.replace(/[\\"]/g, '\\$&')}"`;
  const octets = Buffer.from(value, 'utf8');
  let pct = '';
  for (const o of octets) pct += o < 0x80 && TOKEN.test(String.fromCharCode(o)) && o !== 0x25 && o !== 0x27 && o !== 0x2a ? String.fromCharCode(o) : `%${o.toString(16).toUpperCase().padStart(2, '0')}`;
  return `${name}*=utf-8''${pct}`;
}

/** `type; a=1; b="x y"`, folded between parameters when longer than a line. */
function contentTypeHeader(mediaType: string, params: readonly string[]): string {
  let out = `Content-Type: ${mediaType}`;
  let lineLength = out.length;
  for (const p of params) {
    if (lineLength + 2 + p.length > LINE) {
      out += `;${CRLF} ${p}`;
      lineLength = 1 + p.length;
    } else {
      out += `; ${p}`;
      lineLength += 2 + p.length;
    }
  }
  return out;
}

// ------------------------------------------------------------------- bodies

/**
 * Input octets per base64 string: 64 whole lines. Node 20 encodes a large
 * buffer into one string ~20x slower than in slices like this (measured:
 * 780 µs for 100 KB at once, 40 µs in 3,648-octet slices).
 */
const BASE64_SLICE = 57 * 64;

/** Base64 in lines of 76 characters joined by CRLF, no CRLF after the last. */
export function base64Lines(data: Buffer): Buffer {
  const n = 4 * Math.ceil(data.length / 3);
  if (n <= LINE) return Buffer.from(data.toString('base64'), 'latin1');
  const total = n + 2 * (Math.ceil(n / LINE) - 1);
  // Room for a CRLF after the last line too; it is cut off at the end.
  const out = Buffer.allocUnsafe(total + 2);
  let at = 0;
  for (let from = 0; from < data.length; from += BASE64_SLICE) {
    const text = data.toString('base64', from, Math.min(data.length, from + BASE64_SLICE));
    // Lines joined in a string, written once per slice: a native copy call per line cost more
    // (~3x) than the copying. A slice is whole lines (57 octets make 76 characters).
    let lines = '';
    for (let i = 0; i < text.length; i += LINE) lines += `${text.slice(i, i + LINE)}\r\n`;
    at += out.write(lines, at, 'latin1');
  }
  return out.subarray(0, total);
}

/** Does a text body have a CR or LF that is not part of a CRLF? */
export function hasBareLineEnd(b: Buffer): boolean {
  for (let i = b.indexOf(0x0a); i >= 0; i = b.indexOf(0x0a, i + 1)) if (i === 0 || b[i - 1] !== 0x0d) return true;
  for (let i = b.indexOf(0x0d); i >= 0; i = b.indexOf(0x0d, i + 1)) if (b[i + 1] !== 0x0a) return true;
  return false;
}

export type TextEncoding = '7bit' | 'quoted-printable' | 'base64';
/** What a leaf goes as. */
type LeafEncoding = TextEncoding | 'binary';

/** The transfer encoding of a text body (see the top of this file). */
export function textEncoding(b: Buffer): TextEncoding {
  if (hasBareLineEnd(b)) return 'base64';
  let escaped = 0;
  let lineStart = 0;
  let longLine = false;
  for (let i = 0; i < b.length; i++) {
    const o = b[i]!;
    if (o === 0x0d) {
      if (i - lineStart > LINE) longLine = true;
      lineStart = i + 2;
      i++;
      continue;
    }
    if ((o < 0x20 && o !== 0x09) || o > 0x7e) escaped++;
  }
  if (b.length - lineStart > LINE) longLine = true;
  if (escaped === 0 && !longLine) return '7bit';
  return escaped * 4 <= b.length ? 'quoted-printable' : 'base64';
}

const HEX = '0123456789ABCDEF';

/**
 * Quoted-printable (RFC 2045 §6.7) of a body in CRLF lines: `=`, controls
 * and octets beyond ASCII escaped, a blank before a line end escaped, soft
 * line breaks keep every line within 76 characters.
 */
export function quotedPrintable(b: Buffer): Buffer {
  let out = '';
  let line = '';
  const put = (piece: string): void => {
    // room for the `=` of a soft break
    if (line.length + piece.length > LINE - 1) {
      out += `${line}=${CRLF}`;
      line = '';
    }
    line += piece;
  };
  for (let i = 0; i < b.length; i++) {
    const o = b[i]!;
    if (o === 0x0d && b[i + 1] === 0x0a) {
      out += line + CRLF;
      line = '';
      i++;
      continue;
    }
    const atLineEnd = i + 1 === b.length || (b[i + 1] === 0x0d && b[i + 2] === 0x0a);
    const literal = (o >= 0x21 && o <= 0x7e && o !== 0x3d) || ((o === 0x20 || o === 0x09) && !atLineEnd);
    put(literal ? String.fromCharCode(o) : `=${HEX[o >> 4]}${HEX[o & 15]}`);
  }
  return Buffer.from(out + line, 'latin1');
}

// ---------------------------------------------------------------- entities

/** The part that goes first, as given: the SOAP envelope. */
export interface VerbatimPart {
  contentType: string;
  contentId: string;
  body: Buffer;
}

interface Multipart {
  /** The caller's boundary, or undefined: drawn. */
  named: string | undefined;
  boundary: string;
}

class Writer {
  readonly pieces: Buffer[] = [];
  /** Multiparts and the [start, end) of their bodies in the output, to check their boundaries. */
  readonly spans: Array<{ multipart: Multipart; start: number; end: number; parts: number }> = [];
  length = 0;
  /** Text not yet in `pieces`: the headers and delimiters between two bodies become one piece. */
  #text = '';

  text(s: string): void {
    this.#text += s;
    this.length += Buffer.byteLength(s, 'utf8');
  }

  put(b: Buffer): void {
    this.#flush();
    this.pieces.push(b);
    this.length += b.length;
  }

  /** The pieces, all text written. */
  finish(): Buffer[] {
    this.#flush();
    return this.pieces;
  }

  #flush(): void {
    if (this.#text === '') return;
    this.pieces.push(Buffer.from(this.#text, 'utf8'));
    this.#text = '';
  }
}

/** Boundaries named by the caller, checked once: valid, unique. */
function chooseBoundary(e: MimeEntity, used: Set<string>): string | undefined {
  const b = e.params.boundary;
  if (b === undefined || !BOUNDARY.test(b) || used.has(b)) return undefined;
  used.add(b);
  return b;
}

function checkEntity(e: MimeEntity): boolean {
  const isMultipart = e.mediaType.toLowerCase().startsWith('multipart/');
  if (isMultipart !== (e.parts !== undefined)) {
    throw new ProtocolError('BAD_VALUE', 'content', `${e.mediaType} ${isMultipart ? 'without' : 'with'} parts`);
  }
  if (!MEDIA_TYPE.test(e.mediaType)) throw new ProtocolError('BAD_VALUE', 'Content-Type', `"${e.mediaType}" is not a media type`);
  if (e.parts && e.parts.length === 0) throw new ProtocolError('BAD_VALUE', 'content', `${e.mediaType} without parts`);
  return isMultipart;
}

function writeEntity(w: Writer, e: MimeEntity, used: Set<string>, binary: boolean): void {
  const isMultipart = checkEntity(e);
  const type = e.mediaType.toLowerCase();
  const params: string[] = [];
  for (const [name, value] of Object.entries(e.params)) {
    const key = name.toLowerCase();
    if (!TOKEN.test(key)) throw new ProtocolError('BAD_VALUE', 'Content-Type', `"${name}" is not a parameter name`);
    if (key === 'boundary') continue;
    params.push(typeParam(key, value));
  }
  let multipart: Multipart | undefined;
  if (isMultipart) {
    const named = chooseBoundary(e, used);
    multipart = { named, boundary: named ?? randomBoundary() };
    params.unshift(`boundary="${multipart.boundary}"`);
  }
  const head: string[] = [contentTypeHeader(type, params)];
  if (e.contentId) head.push(`Content-ID: <${oneLine(stripAngles(e.contentId))}>`);
  let encoding: LeafEncoding | undefined;
  const body = e.body ?? Buffer.alloc(0);
  if (!isMultipart) {
    encoding = type.startsWith('text/') ? textEncoding(body) : 'base64';
    if (binary && encoding !== '7bit') encoding = 'binary';
    head.push(`Content-Transfer-Encoding: ${encoding}`);
  }
  if (e.contentLocation) head.push(textHeader('Content-Location', e.contentLocation));
  if (e.contentDisposition && oneLine(e.contentDisposition) !== '') head.push(`Content-Disposition: ${oneLine(e.contentDisposition)}`);
  for (const [name, value] of e.headers) {
    const key = name.toLowerCase();
    if (NAMED_HEADERS.has(key) || key === 'mime-version') continue;
    if (!TOKEN.test(name)) throw new ProtocolError('BAD_VALUE', 'headers', `"${name}" is not a header name`);
    if (oneLine(value) === '') continue;
    head.push(textHeader(headerName(name), value));
  }
  w.text(head.join(CRLF) + CRLF + CRLF);
  if (multipart) {
    writeParts(w, multipart, e.parts!, (child) => writeEntity(w, child, used, binary));
    return;
  }
  if (encoding === 'base64') w.put(base64Lines(body));
  else if (encoding === 'quoted-printable') w.put(quotedPrintable(body));
  else w.put(body);
}

/** `--b CRLF part CRLF` for each part, then `--b--` (no CRLF: the enclosing delimiter's CRLF or the caller's follows). */
function writeParts<T>(w: Writer, m: Multipart, parts: readonly T[], write: (part: T) => void): void {
  const start = w.length;
  for (const part of parts) {
    w.text(`--${m.boundary}${CRLF}`);
    write(part);
    w.text(CRLF);
  }
  w.text(`--${m.boundary}--`);
  w.spans.push({ multipart: m, start, end: w.length, parts: parts.length });
}

/** Delimiter lines of `boundary` in a body: `--b` or `--b--` at a line start, then blanks and a line end (or the end). */
export function countDelimiters(body: Buffer, boundary: string): number {
  const needle = Buffer.from(`--${boundary}`, 'latin1');
  let n = 0;
  for (let at = body.indexOf(needle); at >= 0; at = body.indexOf(needle, at + 1)) {
    if (at > 0 && body[at - 1] !== 0x0a) continue;
    let i = at + needle.length;
    if (body[i] === 0x2d && body[i + 1] === 0x2d) i += 2;
    while (body[i] === 0x20 || body[i] === 0x09) i++;
    if (i >= body.length || body[i] === 0x0d || body[i] === 0x0a) n++;
  }
  return n;
}

/**
 * A multipart/related body: `root` first, as given, then `content` with
 * its headers (nested multiparts included). `boundary`: the outer one,
 * when the caller names it; `binary`: bodies that are not 7bit go as they
 * are. Returns the body and the outer boundary.
 */
export function writeRelated(root: VerbatimPart, content: MimeEntity, boundary?: string, binary = false): { boundary: string; body: Buffer } {
  const out = writeRelatedPieces(root, content, boundary, binary);
  return { boundary: out.boundary, body: Buffer.concat(out.pieces, out.length) };
}

/**
 * writeRelated's body as the pieces it is written in, for a caller that
 * sends them as they are (a socket's writev): the bodies of the parts stay
 * the caller's buffers, not copied into one more (for a forward of a
 * message read from the store, a copy of all its content per request).
 */
export function writeRelatedPieces(root: VerbatimPart, content: MimeEntity, boundary?: string, binary = false): { boundary: string; pieces: Buffer[]; length: number } {
  const used = new Set<string>();
  if (boundary !== undefined) used.add(boundary);
  const outer: Multipart = { named: boundary, boundary: boundary ?? randomBoundary() };
  const w = new Writer();
  const parts: Array<VerbatimPart | MimeEntity> = [root, content];
  writeParts(w, outer, parts, (part) => {
    if ('headers' in part) return writeEntity(w, part, used, binary);
    w.text(`Content-Type: ${part.contentType}${CRLF}Content-ID: <${part.contentId}>${CRLF}${CRLF}`);
    w.put(part.body);
  });
  w.text(CRLF);
  const pieces = w.finish();
  // Only the caller's boundaries are looked for (drawn ones: see the header). A caller who names one
  // is a tool or a test, not the forward path: the pieces are joined once to search them.
  const named = w.spans.filter((span) => span.multipart.named !== undefined);
  if (named.length > 0) {
    const body = Buffer.concat(pieces, w.length);
    for (const span of named) {
      if (countDelimiters(body.subarray(span.start, span.end), span.multipart.boundary) !== span.parts + 1) {
        throw new ProtocolError('INCONSISTENT', 'boundary', `"${span.multipart.boundary}" occurs inside a part; choose another or leave it to the builder`);
      }
    }
  }
  return { boundary: outer.boundary, pieces, length: w.length };
}
