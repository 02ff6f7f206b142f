/**
 * The MM7 HTTP binding (3GPP TS 23.140 §8.7.1; spec digest §a.2, §h.3): an
 * MM7 body is the SOAP envelope alone (text/xml), or a multipart/related
 * (RFC 2387) whose root part is the envelope and whose other part is the
 * message content that `<Content href="cid:…">` names.
 *
 * Parsing: a body in memory (a buffer, its chunks, or a request that ended
 * within its first FAST_PATH_OCTETS) is split by multipart.ts, a
 * hand-written indexOf splitter (measured several times faster than
 * mailsplit on MM7 bodies, see there); a longer body still arriving goes
 * through its streaming twin (multipart-stream.ts) as it comes, never held
 * whole, a base64 part decoded as its text comes (base64.ts). Both share
 * the delimiter test, header reading and final checks, decode with libmime,
 * libqp and libbase64, and give the same answers.
 * Building uses mime-write.ts, a writer of the multipart/related body into
 * one buffer (nodemailer's MimeNode was a tenth of server 1's CPU per
 * archive forward). Pure: no I/O of its own, no config, no clock. Output
 * is byte-for-byte repeatable when the caller names the boundaries;
 * otherwise random ones are drawn.
 *
 * Decisions, for the peers seen in the wild (§a.2 "be lenient"):
 * - A missing closing delimiter is tolerated when the data is otherwise
 *   complete: HTTP framing (Content-Length, chunked) already tells a short
 *   read from a peer that never writes the `--boundary--` line. It is
 *   TRUNCATED when the body ends inside a line, inside a part's header
 *   block, or inside a base64 quantum of its last part.
 * - The root is the part named by `start`, compared with and without angle
 *   brackets, then case-insensitively; without `start` it is the first part,
 *   or the first SOAP-typed part when the first is not one.
 * - Text bodies keep their octets; the charset stays in `params`. Only the
 *   SOAP envelope is decoded to a string, strictly: octets that are not
 *   valid in its charset are BAD_VALUE rather than silently replaced.
 * - Content-Transfer-Encoding is consumed (bodies are decoded), so it is not
 *   kept in `headers`; the builder chooses it again.
 */
import { TextDecoder } from 'node:util';
import { ProtocolError } from '../errors.js';
import { BodySource, type HttpBody } from './body-source.js';
import type { MimeEntity } from './mime-types.js';
import { parseContentType, splitMultipart, stripAngles } from './multipart.js';
import { MultipartStream } from './multipart-stream.js';
import { BOUNDARY, writeRelatedPieces } from './mime-write.js';

export type { HttpBody } from './body-source.js';

export interface Mm7HttpMessage {
  /** The SOAP envelope text (decoded to a JS string from its charset; UTF-8 default). */
  soap: string;
  /** Media type of the SOAP root as sent: text/xml or application/soap+xml. */
  soapMediaType: string;
  /**
   * The content entity: the top-level part <Content href> names when that is
   * a multipart, else the only non-root part; when the media parts stand at
   * the top level, a multipart/related made of all of them (its `start` names
   * the part the href points at, if any). Absent without attachments.
   */
  content?: MimeEntity;
  /** Every non-root top-level entity, in order (usually just `content`; some stacks put the media parts directly at the top level). */
  attachments: MimeEntity[];
}

export interface BindingLimits {
  /** Octets of the HTTP body. */
  maxBodyOctets: number;
  /** Entities below the HTTP body, at every level, the SOAP root included. */
  maxParts: number;
  /** Multipart levels, the HTTP body's own counting as 1 (h.3 uses 2). */
  maxDepth: number;
}

export interface BodyOptions {
  /**
   * For a body still arriving: its length when known beforehand (the
   * Content-Length), so that a decoded part's buffer is sized once.
   */
  expectedOctets?: number;
  /**
   * For a body still arriving: up to how many octets it is read whole and
   * split in memory (fast) before the parser falls back to splitting it as
   * it arrives (memory bounded by a slice, slower). Default FAST_PATH_OCTETS;
   * 0 always streams. A body in memory is always split in memory.
   */
  inMemoryUpTo?: number;
}

export const DEFAULT_LIMITS: Readonly<BindingLimits> = Object.freeze({
  // 17× the largest OMA content class (600 KB, spec §g.1) after base64's 4/3:
  // room for vendor extensions without letting one request take a worker's memory.
  maxBodyOctets: 10 * 1024 * 1024,
  // A SMIL slideshow rarely has more than ~20 parts; 100 leaves room for
  // slides of several media each, and bounds the per-part bookkeeping.
  maxParts: 100,
  // HTTP body → content → slide group → alternative → leaf is the deepest
  // layout seen; one spare level. Also what keeps a hostile 10k-deep nest cheap.
  maxDepth: 5,
});

/** The media types a SOAP envelope is sent as; application/xml is accepted from stacks that use it. */
const SOAP_TYPES: ReadonlySet<string> = new Set(['text/xml', 'application/soap+xml', 'application/xml']);
/** The largest header block of one part (a Content-Type with long RFC 2231 names fits many times). */
const MAX_HEAD_OCTETS = 64 * 1024;
/**
 * A body still arriving that ends within this many octets is read whole and
 * split in memory (fast); a longer one is split as it arrives (bounded memory).
 */
export const FAST_PATH_OCTETS = 512 * 1024;

// ---------------------------------------------------------------- parsing

/**
 * `body` is the HTTP body: one buffer, the chunks it was read in, or an
 * async iterable of them while it arrives (a request). A body in memory,
 * or one that arrives whole within `opts.inMemoryUpTo` octets (512 KiB by
 * default), is joined once and split in memory (multipart.ts); a longer one
 * is parsed as it comes and never joined, a part's base64 decoded as it
 * arrives, so the body can go while it is read. Both give the same answers
 * and errors. Decoded parts do not share memory with `body`.
 *
 * The errors are those of a body read whole before being parsed, in that
 * order: the body's own failure (its iterator threw, e.g. the server's
 * size limit), then BAD_LENGTH, then what parsing found. After an error the
 * rest of a body still arriving is read, to rank it.
 */
export async function parseMm7Http(contentType: string, body: HttpBody, limits: Partial<BindingLimits> = {}, opts: BodyOptions = {}): Promise<Mm7HttpMessage> {
  const lim: BindingLimits = {
    maxBodyOctets: limits.maxBodyOctets ?? DEFAULT_LIMITS.maxBodyOctets,
    maxParts: limits.maxParts ?? DEFAULT_LIMITS.maxParts,
    maxDepth: limits.maxDepth ?? DEFAULT_LIMITS.maxDepth,
  };
  const source = new BodySource(body);
  try {
    // (what is expected beyond the limit is never read)
    return await parseBody(contentType, source, lim, Math.min(source.length ?? opts.expectedOctets ?? 0, lim.maxBodyOctets), opts.inMemoryUpTo ?? FAST_PATH_OCTETS);
  } catch (err) {
    if (!source.failure) await source.drain();
    if (source.failure) throw source.failure.error;
    if (source.total > lim.maxBodyOctets) throw tooLong(source.total, lim);
    throw err;
  }
}

function tooLong(octets: number, lim: BindingLimits): ProtocolError {
  return new ProtocolError('BAD_LENGTH', 'body', `${octets} octets, more than the limit of ${lim.maxBodyOctets}`, lim.maxBodyOctets);
}

async function parseBody(contentType: string, source: BodySource, lim: BindingLimits, expected: number, inMemoryUpTo: number): Promise<Mm7HttpMessage> {
  if (source.length !== undefined && source.length > lim.maxBodyOctets) throw tooLong(source.length, lim);
  const type = parseContentType(contentType);
  if (!type.mediaType) throw new ProtocolError('BAD_VALUE', 'Content-Type', 'no media type');

  if (SOAP_TYPES.has(type.mediaType)) {
    const chunks: Buffer[] = [];
    for (;;) {
      let chunk = source.take();
      if (chunk instanceof Promise) chunk = await chunk;
      if (chunk === undefined) break;
      if (source.total > lim.maxBodyOctets) throw tooLong(source.total, lim);
      chunks.push(chunk);
    }
    const octets = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, source.total);
    return { soap: decodeText(octets, type.params.charset, 'SOAP envelope'), soapMediaType: type.mediaType, attachments: [] };
  }
  if (type.mediaType !== 'multipart/related' && type.mediaType !== 'multipart/mixed') {
    throw new ProtocolError('BAD_VALUE', 'Content-Type', `${type.mediaType} is neither a SOAP envelope nor multipart/related`);
  }
  const boundary = (type.params.boundary ?? '').trimEnd();
  if (!boundary) throw new ProtocolError('BAD_VALUE', 'Content-Type', `${type.mediaType} without a boundary parameter`);
  // a boundary that is not ASCII is refused (RFC 2046 bchars are; mailsplit and Python ignore one)
  if (Buffer.byteLength(boundary) !== boundary.length) throw new ProtocolError('BAD_VALUE', 'Content-Type', `boundary "${boundary}" is not ASCII`);

  const parts = await splitInMemoryOrStreaming(type.mediaType, source, boundary, lim, expected, inMemoryUpTo);

  const rootIndex = findRoot(type.mediaType, parts, type.params.start);
  const root = parts[rootIndex]!;
  if (!root.body || !SOAP_TYPES.has(root.mediaType)) {
    throw new ProtocolError('BAD_VALUE', type.mediaType, `the root part is ${root.mediaType}, not a SOAP envelope`);
  }
  const soap = decodeText(root.body, root.params.charset, 'SOAP envelope');
  const attachments = parts.filter((_, i) => i !== rootIndex);
  const msg: Mm7HttpMessage = { soap, soapMediaType: root.mediaType, attachments };
  const content = chooseContent(msg, contentHref(soap));
  if (content) msg.content = content;
  return msg;
}

/**
 * The entity an href names: `cid:` optional, percent-escapes undone
 * (RFC 2392), Content-ID compared without angle brackets and
 * case-insensitively; Content-Location is the fallback. Top-level
 * attachments are searched first, then their descendants depth-first.
 */
export function findContent(msg: Mm7HttpMessage, href: string): MimeEntity | undefined {
  let ref = href.trim();
  if (/^cid:/i.test(ref)) ref = ref.slice(4);
  try {
    ref = decodeURIComponent(ref);
  } catch {
    // not percent-encoded after all: keep it as sent
  }
  const id = stripAngles(ref).toLowerCase();
  if (!id) return undefined;
  const order = entitiesInOrder(msg.attachments);
  return (
    order.find((e) => e.contentId?.toLowerCase() === id) ??
    order.find((e) => e.contentLocation !== undefined && [id, href.trim().toLowerCase()].includes(e.contentLocation.trim().toLowerCase()))
  );
}

/**
 * A body in memory, or one that arrives whole within `inMemoryUpTo`, is
 * split in memory (multipart.ts); a longer one arriving is split as it
 * comes (multipart-stream.ts), the octets read so far first.
 */
async function splitInMemoryOrStreaming(
  mediaType: string,
  source: BodySource,
  boundary: string,
  lim: BindingLimits,
  expected: number,
  inMemoryUpTo: number,
): Promise<MimeEntity[]> {
  const read: Buffer[] = [];
  let octets = 0;
  let ended = false;
  while (source.length !== undefined || (inMemoryUpTo > 0 && octets <= inMemoryUpTo)) {
    let chunk = source.take();
    if (chunk instanceof Promise) chunk = await chunk;
    if (chunk === undefined) {
      ended = true;
      break;
    }
    if (source.total > lim.maxBodyOctets) throw tooLong(source.total, lim);
    read.push(chunk);
    octets += chunk.length;
  }
  if (ended) {
    const body = read.length === 1 ? read[0]! : Buffer.concat(read, octets);
    return splitMultipart(mediaType, boundary, body, { maxParts: lim.maxParts, maxDepth: lim.maxDepth, maxHeadOctets: MAX_HEAD_OCTETS });
  }
  return splitParts(mediaType, source, boundary, lim, expected, read);
}

/**
 * Splits a multipart HTTP body as it is read (multipart-stream.ts), the
 * chunks read ahead first; each chunk is split before the next is asked
 * for, so a body still arriving waits in the socket, not here. `expected`:
 * the body's length if known, else 0.
 */
async function splitParts(mediaType: string, source: BodySource, boundary: string, lim: BindingLimits, expected: number, prefetched: Buffer[]): Promise<MimeEntity[]> {
  const splitter = new MultipartStream(mediaType, boundary, { maxParts: lim.maxParts, maxDepth: lim.maxDepth, maxHeadOctets: MAX_HEAD_OCTETS }, expected);
  for (let i = 0; i < prefetched.length; i++) {
    splitter.push(prefetched[i]!);
    // the read-ahead is let go of as it is split
    prefetched[i] = EMPTY;
  }
  for (;;) {
    let chunk = source.take();
    if (chunk instanceof Promise) chunk = await chunk;
    if (chunk === undefined) return splitter.end();
    if (source.total > lim.maxBodyOctets) throw tooLong(source.total, lim);
    splitter.push(chunk);
  }
}

const EMPTY = Buffer.alloc(0);

function findRoot(mediaType: string, parts: MimeEntity[], start: string | undefined): number {
  if (start !== undefined && stripAngles(start) !== '') {
    const id = stripAngles(start);
    let i = parts.findIndex((p) => p.contentId === id);
    if (i < 0) i = parts.findIndex((p) => p.contentId?.toLowerCase() === id.toLowerCase());
    if (i < 0) throw new ProtocolError('MISSING_HEADER', mediaType, `no part has the Content-ID <${id}> that start names`);
    return i;
  }
  if (SOAP_TYPES.has(parts[0]!.mediaType)) return 0;
  const i = parts.findIndex((p) => SOAP_TYPES.has(p.mediaType));
  return i < 0 ? 0 : i;
}

/**
 * The href of the envelope's <Content> element (any prefix), entities undone.
 * `[^<>]` keeps the scan linear: an attribute list cannot hold a raw `<`.
 */
const CONTENT_HREF = /<(?:[A-Za-z_][\w.-]*:)?Content\b[^<>]{0,4096}?\bhref\s*=\s*(?:"([^"<]*)"|'([^'<]*)')/;

function contentHref(soap: string): string | undefined {
  const m = CONTENT_HREF.exec(soap);
  const raw = m?.[1] ?? m?.[2];
  if (raw === undefined) return undefined;
  return raw.replace(/&(lt|gt|amp|quot|apos);/g, (_, name: string) => ({ lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" })[name] ?? '');
}

function chooseContent(msg: Mm7HttpMessage, href: string | undefined): MimeEntity | undefined {
  const { attachments } = msg;
  if (attachments.length === 0) return undefined;
  const named = href === undefined ? undefined : findContent(msg, href);
  if (named?.parts && attachments.includes(named)) return named;
  if (attachments.length === 1) return attachments[0];
  // media parts at the top level: together they are the content, the named one its start (RFC 2387)
  const wrapper: MimeEntity = { mediaType: 'multipart/related', params: {}, headers: [], parts: attachments };
  if (named && attachments.includes(named)) {
    if (named.contentId) wrapper.params.start = `<${named.contentId}>`;
    wrapper.params.type = named.mediaType;
  }
  return wrapper;
}

function entitiesInOrder(top: MimeEntity[]): MimeEntity[] {
  const out: MimeEntity[] = [...top];
  const walk = (e: MimeEntity): void => {
    for (const p of e.parts ?? []) {
      out.push(p);
      walk(p);
    }
  };
  top.forEach(walk);
  return out;
}

let utf8Decoder: TextDecoder | undefined;

/** A SOAP envelope's octets as text, strictly: a BOM is dropped, an invalid sequence is BAD_VALUE. */
function decodeText(octets: Buffer, charset: string | undefined, field: string): string {
  const label = (charset ?? '').trim().toLowerCase() || 'utf-8';
  let decoder: TextDecoder;
  try {
    decoder = label === 'utf-8' || label === 'utf8' ? (utf8Decoder ??= new TextDecoder('utf-8', { fatal: true })) : new TextDecoder(label, { fatal: true });
  } catch {
    throw new ProtocolError('UNSUPPORTED', 'charset', `"${charset ?? ''}" of the ${field}`);
  }
  try {
    return decoder.decode(octets);
  } catch {
    throw new ProtocolError('BAD_VALUE', field, `octets that are not ${label}`);
  }
}

// --------------------------------------------------------------- building

/** The SOAP part's Content-ID when the caller names none: unique within the message is all RFC 2387 asks. */
const DEFAULT_SOAP_ID = 'mm7-soap-envelope';

/**
 * An MM7 body. Without content: the envelope as text/xml. With content:
 * multipart/related, root = the envelope (UTF-8 as given, no transfer
 * encoding: HTTP is 8-bit clean and h.3 sends it so), then the content
 * entity with its headers, nested multiparts included, written by
 * mime-write.ts (its header lists what goes out how).
 *
 * Transfer encodings: base64 for media; for text, 7bit when it is short
 * ASCII lines, quoted-printable when it is mostly ASCII, else base64; text
 * with a bare CR or LF goes as base64 too, so its octets come back exact
 * and every line the builder writes ends in CRLF (the envelope's own line
 * ends are sent as given). `opts.binary`, for a peer known to read it:
 * every body that is not 7bit goes as `binary`, unencoded. Boundaries: `opts.boundary` and
 * `params.boundary` of nested multiparts are used when valid and unique,
 * otherwise random ones are drawn; a named boundary that turns out to
 * occur inside a part is INCONSISTENT.
 */
export async function buildMm7Http(
  soap: string,
  content?: MimeEntity,
  opts: { boundary?: string; soapContentId?: string; binary?: boolean } = {},
): Promise<{ contentType: string; body: Buffer }> {
  const { contentType, pieces, length } = await buildMm7HttpPieces(soap, content, opts);
  return { contentType, body: pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces, length) };
}

/** buildMm7Http's body as pieces to write in order (writeRelatedPieces): the parts' buffers are not copied. */
export async function buildMm7HttpPieces(
  soap: string,
  content?: MimeEntity,
  opts: { boundary?: string; soapContentId?: string; binary?: boolean } = {},
): Promise<{ contentType: string; pieces: Buffer[]; length: number }> {
  const envelope = Buffer.from(soap, 'utf8');
  if (!content) return { contentType: 'text/xml; charset="utf-8"', pieces: [envelope], length: envelope.length };

  const soapId = stripAngles(opts.soapContentId ?? DEFAULT_SOAP_ID);
  if (!soapId || /[\s<>"]/.test(soapId)) throw new ProtocolError('BAD_VALUE', 'Content-ID', `"${soapId}" cannot name the SOAP part`);
  if (entitiesInOrder([content]).some((e) => e.contentId?.toLowerCase() === soapId.toLowerCase())) {
    throw new ProtocolError('INCONSISTENT', 'Content-ID', `<${soapId}> names both the SOAP part and a content part`);
  }
  if (opts.boundary !== undefined && !BOUNDARY.test(opts.boundary)) {
    throw new ProtocolError('BAD_VALUE', 'boundary', `"${opts.boundary}" is not 1-70 RFC 2046 characters`);
  }
  const { boundary, pieces, length } = writeRelatedPieces({ contentType: 'text/xml; charset="utf-8"', contentId: soapId, body: envelope }, content, opts.boundary, opts.binary);
  return { contentType: `multipart/related; boundary="${boundary}"; type="text/xml"; start="<${soapId}>"`, pieces, length };
}
