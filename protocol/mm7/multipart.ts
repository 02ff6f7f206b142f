/**
 * A multipart (RFC 2046 §5.1) splitter for an HTTP body that is in memory:
 * the MM7 binding's fast path (binding.ts). Delimiter lines are found with
 * Buffer#indexOf, one search per boundary in scope, instead of looking at
 * every line of every part; part bodies are subarrays until they are
 * decoded, base64 by Node's decoder on whole lines.
 *
 * Why hand-written (the issue allows it when the libraries cannot meet the
 * target): bench/mm7.ts measured the binding on mailsplit at 75-85 % of a
 * whole parse, 180x a bare indexOf split on the 100 KB SubmitReq and 28x on
 * a 60 KB DeliverReq with three JPEGs; mailsplit alone (events dropped)
 * took 2.3 ms of the 100 KB request's 4.5 ms binding, i.e. the library by
 * itself is ~80x the split, so no use of it can reach 2x. It is a Transform
 * stream that hands every line of every part to JS, yields to the event
 * loop every 16 KiB and re-slices each line; an MM7 body is in memory and
 * small. With this splitter the same bench shows the binding at ~1.4x the
 * bare split plus base64 decoding (the floor for decoded parts) and ~8x
 * faster on the DeliverReq. A body still arriving past 512 KiB goes to its
 * streaming twin, multipart-stream.ts, which shares the delimiter test,
 * the header reading and the final checks below.
 *
 * The parts are those mailsplit (mailparser's splitter) finds: it was the
 * streaming path until multipart-stream.ts replaced it, and the tests held
 * the two to the same answers on the cases multipart.test.ts keeps (they
 * now hold the streaming twin to them). Delimiter lines of the multipart
 * being read, or of any multipart around it (which closes the inner ones), at a line start, after
 * an optional lone CR, with blanks and CRs before the line end allowed; a
 * closing delimiter before the first part is preamble; after a multipart's
 * closing delimiter only delimiters of its ancestors count; the line end
 * before a delimiter belongs to it; a last part without a closing delimiter
 * runs to the end of the body, line end included. One deliberate
 * difference: a part whose header block never ends before the next
 * delimiter is kept, with those headers and an empty body, whichever
 * delimiter follows (mailsplit kept it before a closing delimiter and
 * silently dropped it before a sibling one).
 */
import libmime from 'libmime';
import libqp from 'libqp';
import libbase64 from 'libbase64';
import { ProtocolError } from '../errors.js';
import { decodeBase64, STRING_SLICE } from './base64.js';
import type { MimeEntity } from './mime-types.js';

export interface SplitLimits {
  /** Entities below the HTTP body, at every level. */
  maxParts: number;
  /** Multipart levels, the HTTP body's own counting as 1. */
  maxDepth: number;
  /** Octets of one part's header block, each line counted as at least HEADER_LINE_MIN_COST (as mailsplit counts them). */
  maxHeadOctets: number;
}

/** One header as the splitter reports it: the name lower case, the raw line (latin1 octets, folds kept). */
export interface HeaderLine {
  key: string;
  line: string;
}

/** A header line's floor against maxHeadOctets: 1 MiB of headers is then at most 16k lines of bookkeeping. */
const HEADER_LINE_MIN_COST = 64;
/** Blanks a delimiter line may carry after the boundary (RFC 2046 allows them; the line must still fit a header line). */
const DELIMITER_SUFFIX_MAX = 2 + 2 + 998 + 2;

const LF = 0x0a;
const CR = 0x0d;
const DASH = 0x2d;
const SP = 0x20;
const TAB = 0x09;

// ------------------------------------------------------------ header fields

export const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Headers that have a field of their own in MimeEntity, or that the codec sets itself. */
export const NAMED_HEADERS: ReadonlySet<string> = new Set(['content-type', 'content-id', 'content-location', 'content-disposition', 'content-transfer-encoding']);

export interface ContentType {
  mediaType: string;
  params: Record<string, string>;
}

/**
 * Parsed Content-Type values: the same few (`image/jpeg`, `text/plain;
 * charset=utf-8`) come in every request, and libmime's parser was a tenth
 * of a multipart parse. Bounded: emptied when full.
 */
const contentTypes = new Map<string, ContentType>();
const CONTENT_TYPE_CACHE = 256;

export function parseContentType(value: string): ContentType {
  const known = contentTypes.get(value);
  // a copy of the params: callers own the entity they get
  if (known) return { mediaType: known.mediaType, params: { ...known.params } };
  const parsed = libmime.parseHeaderValue(value, { stripComments: true });
  // fromEntries defines own properties, so a parameter named __proto__ stays a parameter
  const params = Object.fromEntries(Object.entries(parsed.params).map(([k, v]) => [k.toLowerCase(), String(v)]));
  const type = { mediaType: String(parsed.value ?? '').trim().toLowerCase(), params };
  if (value.length <= 256 && !Object.hasOwn(params, '__proto__')) {
    if (contentTypes.size >= CONTENT_TYPE_CACHE) contentTypes.clear();
    contentTypes.set(value, { mediaType: type.mediaType, params: { ...params } });
  }
  return type;
}

/** The unfolded value of a raw header line (latin1 string of its octets), read as UTF-8 where it is valid UTF-8. */
export function headerValue(line: string): string {
  // one physical line: what libmime.decodeHeader gives, without its regular expressions
  let value: string;
  if (line.includes('\r') || line.includes('\n')) {
    value = libmime.decodeHeader(line).value;
  } else {
    const trimmed = line.trim();
    const colon = trimmed.indexOf(':');
    value = colon > 0 ? trimmed.slice(colon + 1).trim() : '';
  }
  if (/[\u0080-\u00ff]/.test(value)) {
    const utf8 = Buffer.from(value, 'latin1').toString('utf8');
    if (!utf8.includes('\ufffd')) value = utf8;
  }
  return value;
}

export function decodeWords(value: string): string {
  if (!value.includes('=?')) return value;
  try {
    return libmime.decodeWords(value);
  } catch {
    return value;
  }
}

export function stripAngles(value: string): string {
  let v = value.trim();
  if (v.startsWith('<')) v = v.slice(1);
  if (v.endsWith('>')) v = v.slice(0, -1);
  return v.trim();
}

/** A Content-Transfer-Encoding value as mailsplit reads it: comments dropped per line, lower case; a quoted one stays quoted (and unsupported). */
function transferEncoding(value: string): string {
  if (!value.includes('(')) return value.toLowerCase().trim();
  const stripped = value
    .split(/([\n\r\u2028\u2029])/)
    .map((piece) => {
      const start = piece.indexOf('(');
      const end = piece.lastIndexOf(')');
      return start >= 0 && end > start ? piece.slice(0, start) + piece.slice(end + 1) : piece;
    })
    .join('');
  return stripped.toLowerCase().trim();
}

/**
 * The entity a header block describes (no body or parts yet), and its
 * transfer encoding. `multipart`: whether the splitter reads it as one.
 */
export function entityFromHeaders(lines: readonly HeaderLine[], multipart: boolean): { entity: MimeEntity; encoding: string } {
  // RFC 2045 §5.2: no Content-Type means text/plain
  const entity: MimeEntity = { mediaType: 'text/plain', params: {}, headers: [] };
  let encoding = '';
  const seen = new Set<string>();
  for (const { key, line } of lines) {
    const value = headerValue(line);
    if (NAMED_HEADERS.has(key)) {
      // the first of a repeated header wins, as it does for Content-Type in mailsplit
      if (seen.has(key)) continue;
      seen.add(key);
    }
    switch (key) {
      case 'content-type': {
        const type = parseContentType(value);
        if (type.mediaType) entity.mediaType = type.mediaType;
        entity.params = type.params;
        break;
      }
      case 'content-transfer-encoding':
        encoding = transferEncoding(value);
        break;
      case 'content-id': {
        const id = stripAngles(value);
        if (id) entity.contentId = id;
        break;
      }
      case 'content-location':
        if (value) entity.contentLocation = decodeWords(value);
        break;
      case 'content-disposition':
        if (value) entity.contentDisposition = value;
        break;
      default:
        // a line that is no header (no colon, a name with blanks) is dropped: it could not be sent on
        if (TOKEN.test(key)) entity.headers.push([key, decodeWords(value)]);
    }
  }
  if (multipart) entity.parts = [];
  return { entity, encoding };
}

/** Whether a media type is a multipart with a subtype (what mailsplit splits). */
function isMultipart(mediaType: string): boolean {
  return mediaType.startsWith('multipart/') && mediaType.length > 'multipart/'.length;
}

/** The header lines of a raw block (latin1): folds joined to their line, an mbox `From ` or HTTP `POST ` first line skipped. */
export function headerLines(raw: string): HeaderLine[] {
  let end = raw.length;
  while (end > 0 && (raw.charCodeAt(end - 1) === LF || raw.charCodeAt(end - 1) === CR)) end--;
  if (end === 0) return [];
  const rawLines = raw.slice(0, end).split(/\r?\n/);
  const folded = (s: string): boolean => s.charCodeAt(0) === 0x20 || s.charCodeAt(0) === 0x09;
  let i = 1;
  let first = rawLines[0]!;
  while (i < rawLines.length && folded(rawLines[i]!)) first += '\r\n' + rawLines[i++]!;
  const lines: HeaderLine[] = [];
  const keyOf = (s: string, colon: number): string => (colon < 0 ? '' : s.slice(0, colon).toLowerCase().trim());
  if (!/^(From|POST) /i.test(first)) lines.push({ key: keyOf(first, first.indexOf(':')), line: first });
  // (as in mailsplit, only a line after the first may take its name from a continuation line)
  let keyPending = false;
  for (; i < rawLines.length; i++) {
    const current = rawLines[i]!;
    const last = lines[lines.length - 1];
    if (folded(current) && last) {
      if (keyPending) {
        const colon = current.indexOf(':');
        if (colon >= 0) {
          last.key = (last.line + '\r\n' + current.slice(0, colon)).toLowerCase().trim();
          keyPending = false;
        }
      }
      last.line += '\r\n' + current;
    } else {
      const colon = current.indexOf(':');
      lines.push({ key: keyOf(current, colon), line: current });
      keyPending = colon < 0;
    }
  }
  return lines;
}

// ------------------------------------------------------------ bodies

/**
 * A leaf's body. Identity encodings (7bit, 8bit, binary) hand out a view
 * of `octets`, not a copy, as the PDU codec does: the caller owns the HTTP
 * body and does not reuse it, and a copy was most of the parse of a large
 * binary part (bench/mm7).
 */
export function decodeTransfer(octets: Buffer, encoding: string): Buffer {
  switch (encoding) {
    case '':
    case '7bit':
    case '8bit':
    case 'binary':
      return octets;
    case 'quoted-printable':
      return libqp.decode(octets);
    case 'base64':
      return decodeBase64Text(octets);
    default:
      throw new ProtocolError('UNSUPPORTED', 'Content-Transfer-Encoding', `"${encoding}"`);
  }
}

/** Whole lines decoded per string: well under the size where V8's strings get slow (see base64.ts). */
const LINES_SLICE = STRING_SLICE;

/**
 * Base64 text to octets, the same octets as base64.ts's decodeBase64: a
 * text in the usual layout (lines of one width, a multiple of 4, then the
 * last line) has its whole lines decoded by Node in slices, checked by the
 * count of octets they give (any character outside the alphabet, or a '=',
 * gives fewer); the last line goes through libbase64. Any other text, or a
 * small one, goes to decodeBase64.
 */
export function decodeBase64Text(text: Buffer): Buffer {
  const lf = text.indexOf(LF);
  if (text.length <= STRING_SLICE || lf <= 0) return decodeBase64(text);
  const eol = text[lf - 1] === CR ? 2 : 1;
  const width = lf + 1 - eol;
  if (width === 0 || width % 4 !== 0) return decodeBase64(text);
  const stride = width + eol;
  // the last line (and any partial one) is the tail, decoded as libbase64 decodes it
  const lines = Math.max(0, Math.floor(text.length / stride) - 1);
  const headEnd = lines * stride;
  const tail = text.toString('latin1', headEnd);
  const tailOctets = libbase64.decode(tail);
  const lineOctets = (width / 4) * 3;
  const out = Buffer.allocUnsafe(lines * lineOctets + tailOctets.length);
  const perSlice = Math.max(1, Math.floor(LINES_SLICE / stride));
  let o = 0;
  for (let line = 0; line < lines; line += perSlice) {
    const n = Math.min(perSlice, lines - line);
    const from = line * stride;
    const to = from + n * stride;
    for (let p = from + width; p < to; p += stride) {
      if (text[p + eol - 1] !== LF || (eol === 2 && text[p] !== CR)) return decodeBase64(text);
    }
    const written = out.write(text.toString('latin1', from, to), o, 'base64');
    if (written !== n * lineOctets) return decodeBase64(text);
    o += written;
  }
  tailOctets.copy(out, o);
  return out;
}

/** Base64 alphabet, base64url's '-' and '_', and '=': what the decoder counts to tell a text cut inside a quantum. */
const KEPT = new Uint8Array(256);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_') KEPT[c.charCodeAt(0)] = 1;

function keptOctets(text: Buffer): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) n += KEPT[text[i]!]!;
  return n;
}

// ------------------------------------------------------------ splitting

/** A delimiter line found in the body. */
export interface Delimiter {
  /** Start of the line (a lone CR before the `--` included). */
  at: number;
  /** Just after the line's end. */
  next: number;
  closing: boolean;
}

/** delimiterLine's answer for a line that the octets so far cannot decide (more of the body is still to come). */
export const MORE = 'more';

/**
 * Whether the `--boundary` (`needleLength` octets) at `dash` in `buf`
 * starts a delimiter line (RFC 2046 §5.1.1, as mailsplit reads it): at a
 * line start, or after a lone CR at one; `--` after it for a closing one;
 * then blanks, a run of CRs and the LF, the line no longer than a header
 * line. `before`: the octet just before `buf` (LF at the body's start; a
 * CR there is read as one at a line start, which no caller gives with a
 * `--` right after it). `atEnd`: `buf` ends the body; when it does not, a
 * line that runs off its end is MORE.
 */
export function delimiterLine(buf: Buffer, dash: number, needleLength: number, atEnd: boolean, before = LF): Delimiter | typeof MORE | undefined {
  let start = dash;
  const previous = dash > 0 ? buf[dash - 1] : before;
  if (previous !== LF) {
    // a lone CR may stand before the delimiter at a line start
    if (previous !== CR || (dash > 1 ? buf[dash - 2] : dash === 1 ? before : LF) !== LF) return undefined;
    start = dash - 1;
  }
  const length = buf.length;
  const longest = needleLength - 2 + DELIMITER_SUFFIX_MAX;
  let i = dash + needleLength;
  let closing = false;
  if (i >= length && !atEnd) return MORE;
  if (buf[i] === DASH) {
    if (i + 1 >= length && !atEnd) return MORE;
    if (buf[i + 1] !== DASH) return undefined;
    closing = true;
    i += 2;
  }
  while (i < length && (buf[i] === SP || buf[i] === TAB)) i++;
  if (i === length) {
    if (!atEnd) return i - dash > longest ? undefined : MORE;
    return closing && i - dash <= longest ? { at: start, next: i, closing } : undefined;
  }
  while (i < length && buf[i] === CR) i++;
  if (i < length) {
    if (buf[i] !== LF) return undefined;
    i++;
  } else if (!atEnd) {
    return i - dash > longest ? undefined : MORE;
  }
  if (i - dash > longest) return undefined;
  return { at: start, next: i, closing };
}

/**
 * Finds delimiter lines of one boundary in one buffer, forward only: the
 * search resumes where the last one stopped, so each boundary's octets are
 * scanned once however many parts ask. A line that runs off the end of a
 * buffer that is not the body's end (MORE) is not found.
 */
export class DelimiterScan {
  #found: Delimiter | undefined;
  #searchedTo = 0;
  #done = false;

  constructor(
    private readonly body: Buffer,
    private readonly needle: Buffer,
    private readonly atEnd = true,
    private readonly before = LF,
  ) {}

  /** The first delimiter line starting at or after `from`. */
  from(from: number): Delimiter | undefined {
    if (this.#found && this.#found.at >= from) return this.#found;
    if (this.#done && this.#searchedTo <= from) return undefined;
    const { body, needle } = this;
    let at = body.indexOf(needle, from);
    while (at >= 0) {
      const d = delimiterLine(body, at, needle.length, this.atEnd, this.before);
      if (d !== undefined && d !== MORE && d.at >= from) {
        this.#found = d;
        this.#searchedTo = d.at;
        return d;
      }
      at = body.indexOf(needle, at + 1);
    }
    this.#found = undefined;
    this.#done = true;
    this.#searchedTo = from;
    return undefined;
  }
}

/** What a part's header block says it is, checked against the limits. */
export interface PartHead {
  entity: MimeEntity;
  encoding: string;
  /** Its nesting level: a multipart one below its parent's, a leaf its parent's. */
  level: number;
  /** `--boundary`, when the part has a usable boundary parameter (a leaf may have one too). */
  delimiter: Buffer | undefined;
}

/** Counts one more part under `parent`: refused inside a leaf, or past maxParts. */
export function admitPart(parent: MimeEntity, count: number, lim: SplitLimits): MimeEntity[] {
  // a boundary parameter on a type that is not multipart/* still cuts parts (as in mailsplit): refused
  if (!parent.parts) throw new ProtocolError('BAD_VALUE', 'Content-Type', `a part inside ${parent.mediaType}, which is not a multipart`);
  if (count > lim.maxParts) throw new ProtocolError('BAD_LENGTH', 'multipart', `more than ${lim.maxParts} parts`);
  return parent.parts;
}

/** The part a raw header block (latin1) describes, one level under `parentLevel`. */
export function describePart(raw: string, parentLevel: number, lim: SplitLimits): PartHead {
  const { entity, encoding } = entityFromHeaders(headerLines(raw), false);
  const multipart = isMultipart(entity.mediaType);
  if (multipart) entity.parts = [];
  const level = parentLevel + (multipart ? 1 : 0);
  const bparam = (entity.params.boundary ?? '').trimEnd();
  const usable = bparam !== '' && Buffer.byteLength(bparam) === bparam.length;
  if (multipart) {
    if (level > lim.maxDepth) throw new ProtocolError('BAD_VALUE', 'multipart', `multiparts nested more than ${lim.maxDepth} levels deep`);
    if (!usable) throw new ProtocolError('BAD_VALUE', 'Content-Type', `${entity.mediaType} without a usable boundary parameter`);
  }
  return { entity, encoding, level, delimiter: usable ? delimiterOf(bparam) : undefined };
}

export function delimiterOf(boundary: string): Buffer {
  return Buffer.from(`--${boundary}`, 'latin1');
}

/** A header line's cost against maxHeadOctets: its octets, at least HEADER_LINE_MIN_COST unless it is the blank line. */
export function headerLineCost(octets: number, blank: boolean): number {
  return blank ? octets : Math.max(octets, HEADER_LINE_MIN_COST);
}

export function headerTooLong(lim: SplitLimits): ProtocolError {
  return new ProtocolError('BAD_LENGTH', 'MIME header', `a part's header block is over ${lim.maxHeadOctets} octets`);
}

/** A multipart or leaf in a split, as far as the delimiters in scope go. */
export interface Scoped<N> {
  /** `--boundary`, when it has a usable boundary parameter. */
  delimiter: Buffer | undefined;
  parent: N | undefined;
}

/**
 * The nearest delimiter line from `from` for `node`: its own boundary
 * first on a tie (when `own`: not past its close), then its ancestors',
 * nearest first. `scanOf` keeps one scan per boundary.
 */
export function nearestDelimiter<N extends Scoped<N>>(node: N, own: boolean, from: number, scanOf: (needle: Buffer) => DelimiterScan): { d: Delimiter; owner: N } | undefined {
  let best: { d: Delimiter; owner: N } | undefined;
  for (let n: N | undefined = own ? node : node.parent; n; n = n.parent) {
    if (!n.delimiter) continue;
    const d = scanOf(n.delimiter).from(from);
    if (d && (!best || d.at < best.d.at)) best = { d, owner: n };
  }
  return best;
}

/** Where a leaf ends before the delimiter line at `at`: the line end before it (LF, then a CR) belongs to the delimiter, but not below `floor`. */
export function leafEnd(buf: Buffer, at: number, floor: number): number {
  let end = at;
  if (end > floor && buf[end - 1] === LF) end--;
  if (end > floor && buf[end - 1] === CR) end--;
  return end;
}

interface Node extends PartHead {
  parent: Node | undefined;
  bodyStart: number;
  bodyEnd: number;
  /** The header block ended with its blank line. */
  headEnded: boolean;
}

/**
 * Splits an in-memory multipart body into its top-level entities, nested
 * multiparts split too, leaf bodies decoded. Throws ProtocolError: BAD_LENGTH
 * (part count, header size), BAD_VALUE (depth, a multipart without a usable
 * boundary, parts in a non-multipart, no part at all), TRUNCATED (no closing
 * delimiter and the body visibly cut), UNSUPPORTED (transfer encoding).
 */
export function splitMultipart(mediaType: string, boundary: string, body: Buffer, lim: SplitLimits): MimeEntity[] {
  const scans = new Map<string, DelimiterScan>();
  const scanOf = (needle: Buffer): DelimiterScan => {
    const key = needle.toString('latin1');
    let s = scans.get(key);
    if (!s) scans.set(key, (s = new DelimiterScan(body, needle)));
    return s;
  };

  const root: Node = {
    entity: { mediaType, params: { boundary }, headers: [], parts: [] },
    level: 1,
    parent: undefined,
    delimiter: delimiterOf(boundary),
    encoding: '',
    bodyStart: 0,
    bodyEnd: 0,
    headEnded: true,
  };
  const leaves: Node[] = [];
  const multiparts: Node[] = [];
  let last: Node | undefined;
  let count = 0;
  let rootClosed = false;

  let cur = root;
  let inEpilogue = false;
  let pos = 0;

  const nextDelimiter = (node: Node, own: boolean, from: number): { d: Delimiter; owner: Node } | undefined => nearestDelimiter(node, own, from, scanOf);

  /** A new part under `parent` whose header block starts at `start`; returns it with its body start. */
  const openPart = (parent: Node, start: number): Node => {
    const siblings = admitPart(parent.entity, ++count, lim);
    // the header block ends at its blank line, or at a delimiter line of the multiparts around it
    const stop = nextDelimiter(parent, true, start);
    const limit = stop ? stop.d.at : body.length;
    let cost = 0;
    let line = start;
    let headEnd = -1;
    while (line < limit) {
      const lf = body.indexOf(LF, line);
      const lineEnd = lf < 0 || lf >= limit ? limit : lf + 1;
      const blank = (lineEnd === line + 1 && body[line] === LF) || (lineEnd === line + 2 && body[line] === CR && body[line + 1] === LF);
      cost += headerLineCost(lineEnd - line, blank);
      if (cost > lim.maxHeadOctets) throw headerTooLong(lim);
      line = lineEnd;
      if (blank) {
        headEnd = lineEnd;
        break;
      }
    }
    const headEnded = headEnd >= 0;
    const bodyStart = headEnded ? headEnd : line;
    const head = describePart(body.toString('latin1', start, bodyStart), parent.level, lim);
    siblings.push(head.entity);
    const node: Node = { entity: head.entity, encoding: head.encoding, level: head.level, delimiter: head.delimiter, parent, bodyStart, bodyEnd: body.length, headEnded };
    (head.entity.parts ? multiparts : leaves).push(node);
    last = node;
    return node;
  };

  for (;;) {
    const found = nextDelimiter(cur, !inEpilogue && cur.delimiter !== undefined, pos);
    if (!found) break;
    const { d, owner } = found;
    if (owner === cur && d.closing) {
      // a multipart's own closing delimiter before its first part is preamble, a leaf's is content (as in mailsplit):
      // once a multipart has parts, the reader is inside one of them, and the delimiter is an ancestor's
      pos = d.next;
      continue;
    }
    if (!cur.entity.parts) {
      cur.bodyEnd = leafEnd(body, d.at, cur.bodyStart);
    }
    if (d.closing) {
      // (a delimiter line always starts a line)
      if (owner === root) rootClosed = true;
      cur = owner;
      inEpilogue = true;
      pos = d.next;
      continue;
    }
    // a delimiter line that ends the body without its LF opens nothing (mailsplit never reads the part's header block)
    if (d.next === body.length && body[d.next - 1] !== LF) break;
    cur = openPart(owner, d.next);
    inEpilogue = false;
    pos = cur.bodyStart;
  }

  const closed = rootClosed || hasClosingLine(body, boundary);
  // (what the last part holds is looked at only when no closing delimiter vouches for the end)
  const lastPart: LastPart | undefined =
    closed || !last
      ? undefined
      : {
          mediaType: last.entity.mediaType,
          headEnded: last.headEnded,
          base64Kept: !last.entity.parts && last.encoding === 'base64' ? keptOctets(body.subarray(last.bodyStart, last.bodyEnd)) : undefined,
        };
  checkSplit(mediaType, boundary, root.entity, multiparts, closed, body.length, body.length > 0 ? body[body.length - 1]! : -1, lastPart);
  for (const p of leaves) p.entity.body = decodeTransfer(body.subarray(p.bodyStart, p.bodyEnd), p.encoding);
  return root.entity.parts!;
}

/** Whether `--boundary--` stands at a line start anywhere in the body (the test the streaming path makes as chunks arrive). */
function hasClosingLine(body: Buffer, boundary: string): boolean {
  const needle = Buffer.from(`--${boundary}--`, 'latin1');
  for (let at = body.indexOf(needle); at >= 0; at = body.indexOf(needle, at + 1)) if (at === 0 || body[at - 1] === LF) return true;
  return false;
}

/** What checkSplit needs to know of the last part the split opened. */
export interface LastPart {
  mediaType: string;
  /** Its header block ended with the blank line. */
  headEnded: boolean;
  /** For a base64 leaf: the octets of its text that are base64 alphabet or '='. */
  base64Kept: number | undefined;
}

/**
 * The checks once a body is split, in the order the in-memory and the
 * streaming splitters share: some part at all; a body without its closing
 * delimiter (`closed` false) accepted only if nothing shows it was cut (it
 * ends at a line end, the last part's header block ended, a base64 last
 * part holds whole quanta: `last`, needed only then); then no multipart
 * without parts.
 */
export function checkSplit(
  mediaType: string,
  boundary: string,
  root: MimeEntity,
  multiparts: ReadonlyArray<{ entity: MimeEntity }>,
  closed: boolean,
  octets: number,
  lastOctet: number,
  last: LastPart | undefined,
): void {
  if (!root.parts || root.parts.length === 0) throw new ProtocolError('BAD_VALUE', mediaType, `no part: no line is the delimiter "--${boundary}"`);
  if (!closed) {
    const cut = (detail: string): never => {
      throw new ProtocolError('TRUNCATED', mediaType, `no closing delimiter and ${detail}`, octets);
    };
    if (octets === 0 || lastOctet !== LF) cut('the body ends inside a line');
    if (last) {
      if (!last.headEnded) cut(`the header block of the last part (${last.mediaType}) never ended`);
      if (last.base64Kept !== undefined && last.base64Kept % 4 !== 0) cut('the base64 of the last part stops inside a quantum');
    }
  }
  for (const p of multiparts) {
    if (p.entity.parts!.length === 0) {
      throw new ProtocolError('BAD_VALUE', p.entity.mediaType, `no part: no line is the delimiter "--${p.entity.params.boundary ?? ''}"`);
    }
  }
}
