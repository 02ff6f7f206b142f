import { ProtocolError } from '../errors.js';

/**
 * The body of a PAP push submission (WAP-247-PAP §8, spec digest §e): a
 * multipart/related (RFC 2387) whose root is the control entity
 * (application/xml) and whose second entity is the content to push. For
 * MMS the content is the MMS PDU itself (not the WSP push: the PPG builds
 * that), typed application/vnd.wap.mms-message and addressed to the MMS
 * user agent by X-Wap-Application-Id.
 */

export interface PapContent {
  /** Content-Type of the push content, with parameters. */
  contentType: string;
  /** Further entity headers (X-Wap-Application-Id, ...), in order; names as written. */
  headers: Array<[name: string, value: string]>;
  body: Uint8Array;
}

export interface PapRequest {
  /** The control entity's XML (control.ts buildPushMessage). */
  control: string;
  content: PapContent;
}

export const PAP_CONTROL_TYPE = 'application/xml';
export const MMS_CONTENT_TYPE = 'application/vnd.wap.mms-message';
/** Application id 4 of the WAP push registry, written as its URN. */
export const MMS_APPLICATION_ID = 'x-wap-application:mms.ua';

/** The content entity of an MMS push: the MMS PDU, for the MMS user agent, sent as raw octets. */
export function mmsPapContent(mmsPdu: Uint8Array, applicationId: string = MMS_APPLICATION_ID): PapContent {
  return {
    contentType: MMS_CONTENT_TYPE,
    headers: [
      ['X-Wap-Application-Id', applicationId],
      ['Content-Transfer-Encoding', 'binary'],
    ],
    body: mmsPdu,
  };
}

// RFC 2046 §5.1.1 bchars; 1–70 of them, the last not a space.
const BOUNDARY = /^[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]$/;
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const CRLF = '\r\n';

function checkHeader(name: string, value: string): void {
  if (!HEADER_NAME.test(name)) throw new ProtocolError('BAD_VALUE', 'entity header', `"${name}" is not a header name`);
  if (/[\r\n]/.test(value)) throw new ProtocolError('BAD_VALUE', name, 'a header value cannot hold a line break');
}

function contains(haystack: Uint8Array, needle: Buffer): boolean {
  return Buffer.from(haystack.buffer, haystack.byteOffset, haystack.byteLength).indexOf(needle) >= 0;
}

/**
 * Encodes a submission. The boundary is the caller's (this code has no
 * randomness): it must not occur in either entity, which is checked.
 */
export function buildPapRequest(req: PapRequest, boundary: string): { contentType: string; body: Buffer } {
  if (!BOUNDARY.test(boundary)) throw new ProtocolError('BAD_VALUE', 'boundary', `"${boundary}" is not a MIME boundary`);
  const delimiter = Buffer.from(`--${boundary}`, 'latin1');
  const control = Buffer.from(req.control, 'utf8');
  if (contains(control, delimiter) || contains(req.content.body, delimiter)) {
    throw new ProtocolError('BAD_VALUE', 'boundary', `"${boundary}" occurs inside an entity; choose another`);
  }
  checkHeader('Content-Type', req.content.contentType);
  for (const [name, value] of req.content.headers) checkHeader(name, value);
  const contentHead = [`Content-Type: ${req.content.contentType}`, ...req.content.headers.map(([n, v]) => `${n}: ${v}`)].join(CRLF);
  const body = Buffer.concat([
    Buffer.from(`--${boundary}${CRLF}Content-Type: ${PAP_CONTROL_TYPE}${CRLF}${CRLF}`, 'latin1'),
    control,
    Buffer.from(`${CRLF}--${boundary}${CRLF}${contentHead}${CRLF}${CRLF}`, 'latin1'),
    req.content.body,
    Buffer.from(`${CRLF}--${boundary}--${CRLF}`, 'latin1'),
  ]);
  // Kannel's PPG refuses a submission whose type parameter is not application/xml.
  return { contentType: `multipart/related; boundary="${boundary}"; type="${PAP_CONTROL_TYPE}"`, body };
}

// ---------------------------------------------------------------- parsing (the PPG's side)

/** Media type (lower case) and parameters (names lower case) of a Content-Type value. */
export function parseMediaType(text: string, field = 'Content-Type'): { mediaType: string; params: Record<string, string> } {
  const semi = text.indexOf(';');
  const mediaType = (semi < 0 ? text : text.slice(0, semi)).trim().toLowerCase();
  if (!/^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/.test(mediaType)) throw new ProtocolError('BAD_VALUE', field, `"${text}" has no media type`);
  const params: Record<string, string> = {};
  const rest = semi < 0 ? '' : text.slice(semi);
  const re = /;\s*([^=;\s]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;\s]*)\s*/y;
  let at = 0;
  while (at < rest.length) {
    re.lastIndex = at;
    const m = re.exec(rest);
    if (!m) {
      if (rest.slice(at).trim() === '' || rest.slice(at).trim() === ';') break;
      throw new ProtocolError('BAD_VALUE', field, `cannot read the parameters "${rest.slice(at).trim()}"`);
    }
    const raw = m[2]!;
    params[m[1]!.toLowerCase()] = raw.startsWith('"') ? raw.slice(1, -1).replace(/\\(.)/g, '$1') : raw;
    at = re.lastIndex;
  }
  return { mediaType, params };
}

interface RawEntity {
  headers: Array<[string, string]>;
  body: Buffer;
}

function readEntity(part: Buffer, index: number): RawEntity {
  const end = part.indexOf('\r\n\r\n');
  // An entity with no headers starts with the blank line itself.
  const [head, body] = part.subarray(0, 2).toString('latin1') === CRLF ? ['', part.subarray(2)] : end < 0 ? [undefined, undefined] : [part.subarray(0, end).toString('latin1'), part.subarray(end + 4)];
  if (head === undefined || body === undefined) throw new ProtocolError('TRUNCATED', `entity ${index + 1}`, 'headers without the blank line that ends them');
  const headers: Array<[string, string]> = [];
  for (const line of head.split(CRLF)) {
    if (line === '') continue;
    if (/^[ \t]/.test(line) && headers.length > 0) {
      const last = headers[headers.length - 1]!;
      last[1] += ` ${line.trim()}`;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) throw new ProtocolError('BAD_VALUE', `entity ${index + 1}`, `"${line}" is not a header line`);
    headers.push([line.slice(0, colon).trim(), line.slice(colon + 1).trim()]);
  }
  return { headers, body };
}

function header(e: RawEntity, name: string): string | undefined {
  return e.headers.find(([n]) => n.toLowerCase() === name)?.[1];
}

/**
 * Decodes a submission as a PPG does: multipart/related, type
 * application/xml, the control entity first, then the content. Entity
 * bodies are views of `body`.
 */
export function parsePapRequest(contentType: string, body: Buffer): PapRequest {
  const { mediaType, params } = parseMediaType(contentType);
  if (mediaType !== 'multipart/related') throw new ProtocolError('BAD_VALUE', 'Content-Type', `a PAP submission is multipart/related, not ${mediaType}`);
  const boundary = params.boundary;
  if (boundary === undefined || boundary === '') throw new ProtocolError('MISSING_HEADER', 'boundary', 'the multipart has no boundary parameter');
  if ((params.type ?? '').toLowerCase() !== PAP_CONTROL_TYPE) throw new ProtocolError('BAD_VALUE', 'type', `the root must be ${PAP_CONTROL_TYPE}, the type parameter says "${params.type ?? ''}"`);
  // Each delimiter is CRLF--boundary; the first may start the body (RFC 2046 §5.1.1).
  const delimiter = Buffer.from(`\r\n--${boundary}`, 'latin1');
  const text = Buffer.concat([Buffer.from(CRLF), body]);
  let at = text.indexOf(delimiter);
  if (at < 0) throw new ProtocolError('BAD_VALUE', 'multipart', 'the boundary does not occur in the body');
  const entities: RawEntity[] = [];
  for (;;) {
    let lineEnd = at + delimiter.length;
    if (text.subarray(lineEnd, lineEnd + 2).toString('latin1') === '--') break;
    // Transport padding after the delimiter (RFC 2046), then CRLF.
    while (text[lineEnd] === 0x20 || text[lineEnd] === 0x09) lineEnd++;
    if (text.subarray(lineEnd, lineEnd + 2).toString('latin1') !== CRLF) throw new ProtocolError('BAD_VALUE', 'multipart', `no line break after delimiter ${entities.length + 1}`, Math.max(0, lineEnd - 2));
    const next = text.indexOf(delimiter, lineEnd + 2);
    if (next < 0) throw new ProtocolError('TRUNCATED', 'multipart', 'the body ends without the closing delimiter');
    entities.push(readEntity(text.subarray(lineEnd + 2, next), entities.length));
    at = next;
  }
  if (entities.length < 2) throw new ProtocolError('MISSING_HEADER', 'multipart', `a submission has a control entity and a content entity; this one has ${entities.length} entities`);
  const [control, content] = entities as [RawEntity, RawEntity];
  const controlType = parseMediaType(header(control, 'content-type') ?? '', 'control entity Content-Type').mediaType;
  if (controlType !== PAP_CONTROL_TYPE) throw new ProtocolError('BAD_VALUE', 'control entity', `typed ${controlType}, not ${PAP_CONTROL_TYPE}`);
  const type = header(content, 'content-type');
  if (type === undefined) throw new ProtocolError('MISSING_HEADER', 'content entity', 'the content entity has no Content-Type');
  return {
    control: control.body.toString('utf8'),
    content: { contentType: type, headers: content.headers.filter(([n]) => n.toLowerCase() !== 'content-type'), body: content.body },
  };
}
