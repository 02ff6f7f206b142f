import type { MimeEntity } from '../../protocol/mm7/mime-types.js';
import type { Mm7Message, TimeSpec } from '../../protocol/mm7/model.js';
import type { MNotificationInd, MRetrieveConf } from '../../protocol/mms/model.js';
import type { MultipartEntry } from '../../protocol/wsp/multipart.js';
import type { WspHeader } from '../../protocol/wsp/headers.js';
import type { ContentType, EncodedString } from '../../protocol/wsp/values.js';
import { WAP_MULTIPART_FOR } from '../../protocol/wsp/tables.js';
import { uintvarSize } from '../../protocol/wsp/writer.js';
import { encodeMms } from '../../protocol/mms/codec.js';
import type { StoredMessage, StoredPart } from './model.js';
import { toMmsAddress } from './routing.js';

/**
 * Conversions between the wire models and the internal one: MM7 content
 * into stored parts, stored messages into the MM1 PDUs a terminal gets.
 */

const MIME_PARAM = /;\s*([^=;\s]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)/g;

/** `type/sub; a=b; c="d"` → media type and parameters (names lower case). */
export function parseMimeType(text: string): { mediaType: string; params: Record<string, string> } {
  const semi = text.indexOf(';');
  const mediaType = (semi < 0 ? text : text.slice(0, semi)).trim().toLowerCase();
  const params: Record<string, string> = {};
  if (semi >= 0) {
    for (const m of text.slice(semi).matchAll(MIME_PARAM)) {
      const raw = m[2]!.trim();
      params[m[1]!.toLowerCase()] = raw.startsWith('"') ? raw.slice(1, -1).replace(/\\(.)/g, '$1') : raw;
    }
  }
  return { mediaType, params };
}

export function formatMimeType(mediaType: string, params: Record<string, string>): string {
  return [mediaType, ...Object.entries(params).map(([k, v]) => `${k}=${/^[A-Za-z0-9._+-]+$/.test(v) ? v : JSON.stringify(v)}`)].join('; ');
}

const KEPT_PART_PARAMS = ['charset', 'name'];
const KEPT_TOP_PARAMS = ['start', 'type'];

function pick(params: Record<string, string>, keys: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of keys) if (params[k] !== undefined) out[k] = params[k]!;
  return out;
}

function leaves(entity: MimeEntity): MimeEntity[] {
  return entity.parts ? entity.parts.flatMap(leaves) : [entity];
}

/**
 * The content entity of an MM7 request as the MMS-C stores it: the top
 * type (with start/type of a multipart/related) and the leaf parts in
 * order. Nested multiparts are flattened, as MM1 carries one level.
 */
export function partsFromMime(content: MimeEntity): { contentType: string; parts: StoredPart[] } {
  const parts = leaves(content).map((leaf) => {
    const part: StoredPart = { contentType: formatMimeType(leaf.mediaType, pick(leaf.params, KEPT_PART_PARAMS)), data: leaf.body ?? Buffer.alloc(0) };
    if (leaf.contentId !== undefined) part.contentId = leaf.contentId;
    if (leaf.contentLocation !== undefined) part.contentLocation = leaf.contentLocation;
    return part;
  });
  const contentType = content.parts ? formatMimeType(content.mediaType, pick(content.params, KEPT_TOP_PARAMS)) : parts[0]!.contentType;
  return { contentType, parts };
}

const DURATION = /^(-)?P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/;

/** xs:duration in milliseconds (months as 30 days, years as 365: TTLs need no calendar). */
export function durationMs(text: string): number {
  const m = DURATION.exec(text);
  if (!m) throw new Error(`"${text}" is not an xs:duration`);
  const n = (i: number): number => Number(m[i] ?? 0);
  const ms = (((n(2) * 365 + n(3) * 30 + n(4) * 7 + n(5)) * 24 + n(6)) * 60 + n(7)) * 60_000 + n(8) * 1000;
  return m[1] ? -ms : ms;
}

export function timeSpecToDate(t: TimeSpec, now: Date): Date {
  return 'absolute' in t ? t.absolute : new Date(now.getTime() + durationMs(t.relative));
}

/** The TTL rule of the issue: the configured default, the message's own expiry when earlier, never beyond the maximum. */
export function expiryFor(requested: TimeSpec | undefined, now: Date, ttl: { default: number; max: number }): Date {
  let at = now.getTime() + ttl.default;
  if (requested) at = Math.min(timeSpecToDate(requested, now).getTime(), now.getTime() + ttl.max);
  return new Date(Math.max(at, now.getTime()));
}

export function messageFieldsFromMm7(m: Mm7Message): { subject?: string; messageClass?: string; priority?: string; deliveryReport: boolean; readReport: boolean } {
  const out: ReturnType<typeof messageFieldsFromMm7> = { deliveryReport: m.deliveryReport ?? false, readReport: m.readReply ?? false };
  if (m.subject !== undefined) out.subject = m.subject;
  if (m.messageClass !== undefined) out.messageClass = m.messageClass;
  if (m.priority !== undefined) out.priority = m.priority;
  return out;
}

// ------------------------------------------------------------- to MM1 PDUs

function encodedText(text: string): EncodedString {
  // Plain Text-string for ASCII; UTF-8 tagged otherwise so terminals decode it right.
  return /^[\x20-\x7e]*$/.test(text) && text.length > 0 ? { text } : { text, charset: 106 };
}

/** A stored MIME type as a WSP content type: Internet multiparts become their WAP forms (spec c.1). */
export function wspContentType(mime: string): ContentType {
  const { mediaType, params } = parseMimeType(mime);
  return {
    mediaType: WAP_MULTIPART_FOR[mediaType] ?? mediaType,
    params: Object.entries(params)
      .filter(([k]) => ['charset', 'name', 'start', 'type', 'filename'].includes(k))
      .map(([name, value]) => ({ name, value: name === 'start' && !value.startsWith('<') ? `<${value}>` : value })),
  };
}

export function multipartEntries(parts: StoredPart[]): MultipartEntry[] {
  return parts.map((p) => {
    const headers: WspHeader[] = [];
    if (p.contentId !== undefined) headers.push({ name: 'Content-ID', value: `<${p.contentId}>` });
    if (p.contentLocation !== undefined) headers.push({ name: 'Content-Location', value: p.contentLocation });
    return { contentType: wspContentType(p.contentType), headers, data: p.data };
  });
}

/** What the MM1 PDUs need of a message: its id and envelope (a NewMessage just accepted has both in memory). */
export type MessageHead = Pick<StoredMessage, 'messageId' | 'envelope'>;

/** The M-Retrieve.conf a recipient gets (OMA-MMS-ENC §6.3). Bcc recipients are never shown. */
export function retrieveConf(message: MessageHead, parts: StoredPart[], transactionId: string): MRetrieveConf {
  const e = message.envelope;
  const multipart = parseMimeType(e.contentType).mediaType.startsWith('multipart/');
  const pdu: MRetrieveConf = {
    messageType: 'm-retrieve-conf',
    transactionId,
    mmsVersion: '1.2',
    messageId: message.messageId,
    date: e.date,
    from: { text: toMmsAddress(e.from) },
    // A single part's own type: the transcoder may have changed it (PNG → JPEG, a charset).
    contentType: wspContentType(multipart ? e.contentType : (parts[0]?.contentType ?? e.contentType)),
    // A single part is the body itself: no multipart entries are built for it.
    body: multipart ? multipartEntries(parts) : (parts[0]?.data ?? Buffer.alloc(0)),
  };
  if (e.to.length) pdu.to = e.to.map((a) => ({ text: toMmsAddress(a) }));
  if (e.cc.length) pdu.cc = e.cc.map((a) => ({ text: toMmsAddress(a) }));
  if (e.subject !== undefined && e.subject !== '') pdu.subject = encodedText(e.subject);
  if (e.messageClass !== undefined) pdu.messageClass = e.messageClass;
  if (e.priority !== undefined) pdu.priority = e.priority;
  pdu.deliveryReport = e.deliveryReport;
  pdu.readReport = e.readReport;
  return pdu;
}

/**
 * The encoded size of `retrieveConf(message, parts, transactionId)`, without
 * encoding the content: the PDU is encoded with every part's data left out,
 * then each part adds its octets, plus (in a multipart) the growth of its
 * length field, a uintvar that the empty encoding wrote as one octet. The
 * headers do not depend on the data (ENC §6.3, WSP §8.5).
 */
export function retrieveConfSize(message: MessageHead, parts: readonly StoredPart[], transactionId: string): number {
  const EMPTY = Buffer.alloc(0);
  const pdu = retrieveConf(message, parts.map((p) => Object.assign({}, p, { data: EMPTY })), transactionId);
  let size = encodeMms(pdu).length;
  if (Array.isArray(pdu.body)) {
    for (const p of parts) size += p.data.length + uintvarSize(p.data.length) - 1;
  } else {
    size += parts[0]?.data.length ?? 0;
  }
  return size;
}

/** The M-Notification.ind that tells a recipient where to fetch it (ENC §6.2). */
export function notificationInd(message: MessageHead, transactionId: string, contentLocation: string, messageSize: number): MNotificationInd {
  const e = message.envelope;
  const pdu: MNotificationInd = {
    messageType: 'm-notification-ind',
    transactionId,
    mmsVersion: '1.2',
    from: { text: toMmsAddress(e.from) },
    messageClass: e.messageClass ?? 'Personal',
    messageSize,
    expiry: { absolute: e.expiresAt },
    contentLocation,
  };
  if (e.subject !== undefined && e.subject !== '') pdu.subject = encodedText(e.subject);
  if (e.priority !== undefined) pdu.priority = e.priority;
  if (e.deliveryReport) pdu.deliveryReport = true;
  return pdu;
}

// ---------------------------------------------------------- from MM1 PDUs

const INTERNET_MULTIPART_FOR: Record<string, string> = Object.fromEntries(Object.entries(WAP_MULTIPART_FOR).map(([k, v]) => [v, k]));

/** A WSP content type as stored MIME text; WAP multiparts become their Internet forms. */
export function mimeFromWsp(ct: ContentType): string {
  const type = typeof ct.mediaType === 'number' ? 'application/octet-stream' : ct.mediaType.toLowerCase();
  const params: Record<string, string> = {};
  for (const p of ct.params) if (typeof p.name === 'string') params[p.name.toLowerCase()] = String(p.value);
  return formatMimeType(INTERNET_MULTIPART_FOR[type] ?? type, params);
}

/** A Buffer over the same memory (no copy). */
function view(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * The body of an M-Send.req as stored parts. The data are views of the
 * decoded PDU (itself views of the request body, a buffer of its own):
 * DB1 copies them when it stores them, so copying them here first would
 * only make a second copy.
 */
export function partsFromMms(contentType: ContentType, body: MultipartEntry[] | Uint8Array | undefined): { contentType: string; parts: StoredPart[] } {
  const top = mimeFromWsp(contentType);
  if (!Array.isArray(body)) return { contentType: top, parts: [{ contentType: top, data: view(body ?? new Uint8Array(0)) }] };
  const parts = body.map((entry) => {
    const part: StoredPart = { contentType: mimeFromWsp(entry.contentType), data: view(entry.data) };
    for (const h of entry.headers) {
      if (h.name === 'Content-ID' && typeof h.value === 'string') part.contentId = h.value.replace(/^<|>$/g, '');
      if (h.name === 'Content-Location' && typeof h.value === 'string') part.contentLocation = h.value;
    }
    return part;
  });
  return { contentType: top, parts };
}
