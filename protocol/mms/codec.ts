import { ProtocolError } from '../errors.js';
import { readMultipart, writeMultipart } from '../wsp/multipart.js';
import { WspReader } from '../wsp/reader.js';
import type { ContentType } from '../wsp/values.js';
import { WspWriter } from '../wsp/writer.js';
import { HEADER_BY_CODE, HEADER_BY_KEY, HEADER_BY_NAME, HEADERS, readHeaderValue, readOpaque, writeHeaderValue, writeOpaque, type HeaderDef } from './headers.js';
import { MANDATORY, type MessageType, type MmsHeaders, type MmsPdu, type OtherHeader } from './model.js';

type Key = keyof MmsHeaders;

const MESSAGE_TYPE_OCTET = 0x8c;
const CONTENT_TYPE_CODE = 0x04;
const REPLY_CHARGING: Key[] = ['replyCharging', 'replyChargingDeadline', 'replyChargingSize', 'replyChargingId'];
const APPLIC: Key[] = ['applicId', 'replyApplicId', 'auxApplicInfo'];

/**
 * Header order per PDU, after the three that always lead (type,
 * transaction id, version). ENC §6 lists each PDU's headers in this order
 * and deployed encoders (Android, python-messaging, Mbuni) follow it; the
 * spec itself only fixes the first three and Content-Type last.
 */
const ORDER: Partial<Record<MessageType, Key[]>> = {
  'm-send-req': ['date', 'from', 'to', 'cc', 'bcc', 'subject', 'messageClass', 'expiry', 'deliveryTime', 'priority', 'senderVisibility', 'deliveryReport', 'readReport', 'store', 'mmState', 'mmFlags', ...REPLY_CHARGING, ...APPLIC, 'contentClass', 'drmContent', 'adaptationAllowed'],
  'm-send-conf': ['responseStatus', 'responseText', 'messageId', 'contentLocation', 'storeStatus', 'storeStatusText'],
  'm-notification-ind': ['from', 'subject', 'deliveryReport', 'stored', 'messageClass', 'priority', 'messageSize', 'expiry', ...REPLY_CHARGING, 'contentLocation', 'distributionIndicator', 'recommendedRetrievalMode', 'recommendedRetrievalModeText', ...APPLIC, 'contentClass', 'drmContent', 'replaceId'],
  'm-notifyresp-ind': ['status', 'reportAllowed'],
  'm-retrieve-conf': ['messageId', 'date', 'from', 'to', 'cc', 'subject', 'messageClass', 'priority', 'deliveryReport', 'readReport', ...REPLY_CHARGING, 'retrieveStatus', 'retrieveText', 'previouslySentBy', 'previouslySentDate', 'mmState', 'mmFlags', 'distributionIndicator', ...APPLIC, 'contentClass', 'drmContent', 'replaceId'],
  'm-acknowledge-ind': ['reportAllowed'],
  'm-delivery-ind': ['messageId', 'to', 'date', 'status', 'statusText', ...APPLIC],
  'm-read-rec-ind': ['messageId', 'to', 'from', 'date', 'readStatus', ...APPLIC],
  'm-read-orig-ind': ['messageId', 'to', 'from', 'date', 'readStatus', ...APPLIC],
  'm-forward-req': ['date', 'from', 'to', 'cc', 'bcc', 'expiry', 'deliveryTime', 'reportAllowed', 'deliveryReport', 'readReport', 'store', 'mmState', 'mmFlags', 'contentLocation', ...REPLY_CHARGING],
  'm-forward-conf': ['responseStatus', 'responseText', 'messageId', 'contentLocation', 'storeStatus', 'storeStatusText'],
};

/** HEADERS indexed by assigned number, for the decoder's hot loop. */
const HEADER_TABLE: (HeaderDef | undefined)[] = Array.from({ length: 128 }, (_v, code) => HEADER_BY_CODE.get(code));

const LEADING: Key[] = ['messageType', 'transactionId', 'mmsVersion'];
/** Every other modelled header in assigned-number order: the fallback order. */
const BY_NUMBER: Key[] = HEADERS.filter((h) => h.key && !LEADING.includes(h.key) && h.code !== CONTENT_TYPE_CODE).map((h) => h.key!);

function isMultipart(ct: ContentType): boolean {
  if (typeof ct.mediaType !== 'string') return false;
  const t = ct.mediaType.toLowerCase();
  return t.startsWith('application/vnd.wap.multipart.') || t.startsWith('multipart/');
}

function checkMandatory(pdu: MmsHeaders, offset: number): void {
  const required = MANDATORY[pdu.messageType] as readonly Key[];
  for (const key of required) {
    const value = pdu[key];
    if (value === undefined || (Array.isArray(value) && value.length === 0)) {
      throw new ProtocolError('MISSING_HEADER', HEADER_BY_KEY.get(key)!.name, `${pdu.messageType} must carry ${HEADER_BY_KEY.get(key)!.name}`, offset);
    }
  }
  if (pdu.messageType === 'm-send-req' || pdu.messageType === 'm-forward-req') {
    if (!pdu.to?.length && !pdu.cc?.length && !pdu.bcc?.length) {
      throw new ProtocolError('MISSING_HEADER', 'To', `${pdu.messageType} must carry at least one To, Cc or Bcc`, offset);
    }
  }
}

/**
 * Decodes an MMS PDU (OMA-MMS-ENC 1.0–1.3). Parts of the body are views of
 * `bytes`: keep the input alive as long as the parts are used, and copy a
 * part to keep it beyond that.
 */
export function decodeMms(bytes: Uint8Array): MmsPdu {
  const r = new WspReader(bytes);
  if (r.peek('X-Mms-Message-Type') !== MESSAGE_TYPE_OCTET) {
    r.fail('BAD_VALUE', 'X-Mms-Message-Type', 'an MMS PDU must start with X-Mms-Message-Type (0x8C)');
  }
  const pdu: Record<string, unknown> = {};
  const other: OtherHeader[] = [];
  let contentType: ContentType | undefined;
  // Which single-valued headers were seen, one bit per assigned number (0x00–0x3F).
  let seenLow = 0;
  let seenHigh = 0;
  while (!r.atEnd && contentType === undefined) {
    const at = r.offset;
    const first = r.peek('header');
    if (first >= 0x80) {
      r.u8('header');
      const code = first & 0x7f;
      const def = HEADER_TABLE[code];
      if (!def || !def.key) {
        const name = def?.name ?? code;
        other.push({ name, value: readOpaque(r, String(name)) });
        continue;
      }
      const value = readHeaderValue(r, def);
      if (def.repeatable) {
        ((pdu[def.key] ??= []) as unknown[]).push(value);
      } else {
        const bit = 1 << (code & 31);
        const seen = code < 32 ? seenLow : seenHigh;
        if (seen & bit) r.fail('BAD_VALUE', def.name, 'header appears twice', at);
        if (code < 32) seenLow |= bit;
        else seenHigh |= bit;
        pdu[def.key] = value;
      }
      if (code === CONTENT_TYPE_CODE) contentType = value as ContentType;
    } else if (first >= 0x20 && first < 0x7f) {
      const name = r.tokenText('application header');
      other.push({ name, value: r.textString(name) });
    } else {
      r.fail('BAD_VALUE', 'header', `0x${first.toString(16)} cannot start a header`);
    }
  }
  if (other.length > 0) pdu.otherHeaders = other;
  const result = pdu as unknown as MmsPdu;
  checkMandatory(result, r.offset);
  if (contentType !== undefined) {
    result.body = isMultipart(contentType) ? readMultipart(r) : r.rest();
  }
  return result;
}

const orderCache = new Map<MessageType, Key[]>();

/** Every modelled header (Content-Type excluded) in the order the encoder writes them for this type. */
function fullOrder(type: MessageType): Key[] {
  let order = orderCache.get(type);
  if (!order) {
    order = [...new Set([...LEADING, ...(ORDER[type] ?? []), ...BY_NUMBER])];
    orderCache.set(type, order);
  }
  return order;
}

const rankCache = new Map<MessageType, Map<string, number>>();

/**
 * The modelled headers of `pdu` that are set, in the order the encoder
 * writes them (Content-Type excluded). Walks the PDU's own few keys rather
 * than the sixty headers of the table: this is on every encode.
 */
export function headerOrder(pdu: MmsHeaders): Key[] {
  let rank = rankCache.get(pdu.messageType);
  if (!rank) {
    rank = new Map(fullOrder(pdu.messageType).map((key, i) => [key, i]));
    rankCache.set(pdu.messageType, rank);
  }
  const keys: Key[] = [];
  for (const key in pdu) {
    if (rank.has(key) && pdu[key as Key] !== undefined) keys.push(key as Key);
  }
  return keys.sort((a, b) => rank.get(a)! - rank.get(b)!);
}


function writeHeader(w: WspWriter, key: Key, value: unknown): void {
  const def = HEADER_BY_KEY.get(key)!;
  if (def.repeatable) {
    if (!Array.isArray(value)) throw new ProtocolError('BAD_VALUE', def.name, 'expected a list');
    for (const item of value) writeHeaderValue(w.u8(0x80 | def.code), def, item);
  } else {
    writeHeaderValue(w.u8(0x80 | def.code), def, value);
  }
}

function writeOther(w: WspWriter, h: OtherHeader): void {
  const field = String(h.name);
  const code = typeof h.name === 'number' ? h.name : HEADER_BY_NAME.get(h.name.toLowerCase())?.code;
  if (code !== undefined) {
    if (code < 0 || code > 0x7f) throw new ProtocolError('BAD_VALUE', field, 'header code outside 0–127');
    writeOpaque(w.u8(0x80 | code), h.value, field);
    return;
  }
  if (typeof h.value !== 'string') throw new ProtocolError('BAD_VALUE', field, 'an application header carries text only');
  w.tokenText(field, field).textString(h.value, field);
}

/** Encodes an MMS PDU: the leading three headers, the rest in ENC order, Content-Type and the body last. */
export function encodeMms(pdu: MmsPdu): Buffer {
  checkMandatory(pdu, -1);
  const bodySize = pdu.body instanceof Uint8Array ? pdu.body.length : Array.isArray(pdu.body) ? pdu.body.reduce((n, p) => n + p.data.length + 32, 0) : 0;
  const w = new WspWriter(256 + bodySize);
  for (const key of headerOrder(pdu)) writeHeader(w, key, pdu[key]);
  for (const h of pdu.otherHeaders ?? []) writeOther(w, h);
  if (pdu.contentType !== undefined) {
    writeHeader(w, 'contentType', pdu.contentType);
    if (Array.isArray(pdu.body)) writeMultipart(w, pdu.body);
    else if (pdu.body) w.bytes(pdu.body);
    else if (isMultipart(pdu.contentType)) w.uintvar(0);
  } else if (pdu.body !== undefined) {
    throw new ProtocolError('MISSING_HEADER', 'Content-Type', 'a PDU with a body must carry Content-Type');
  }
  return w.finish();
}
