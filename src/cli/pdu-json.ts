/**
 * The JSON forms that `mmsc pdu decode` prints and `mmsc pdu encode` reads.
 *
 * - mms: exactly pduToJson / pduFromJson of protocol/mms/json.ts.
 * - push: `{ TID, PDU-Type, Content-Type, headers: [{name, value}], mms }`,
 *   `mms` when the content type is application/vnd.wap.mms-message, else
 *   `body: { size, data (base64) }`. Octet values print as `{ "hex" }`.
 * - sms (TP-UD with a UDH): `{ UDH: [IE…], push }` when the user data holds a
 *   whole datagram for the WAP push port, else `payload: { size, data }`
 *   (a segment of a longer datagram cannot be decoded on its own).
 *
 * Encoding a decoded value gives back the same octets for every golden
 * fixture. Octets that decode to the same value but were written in another
 * form (a push content type as text instead of its well-known code, say)
 * come back in the codec's canonical form.
 */
import { ProtocolError } from '../../protocol/errors.js';
import { decodeMms, encodeMms, MMS_CONTENT_TYPE, pduFromJson, pduToJson, type Json } from '../../protocol/mms/index.js';
import { headersFromJson, headersToJson } from '../../protocol/mms/json.js';
import {
  applicationPorts,
  concatenation,
  decodeUserData,
  encodeUserData,
  WAP_PUSH_PORT,
  type InformationElement,
} from '../../protocol/wdp/index.js';
import { decodePush, encodePush, formatContentType, parseContentType, type ContentType } from '../../protocol/wsp/index.js';

export type PduKind = 'mms' | 'push' | 'sms';
export const PDU_KINDS: readonly PduKind[] = ['mms', 'push', 'sms'];

type JsonObject = { [key: string]: Json };

function asObject(j: Json | undefined, field: string): JsonObject {
  if (j && typeof j === 'object' && !Array.isArray(j)) return j;
  throw new ProtocolError('BAD_VALUE', field, 'expected an object');
}

/** Offsets of an error inside a nested PDU are reported in the outer one. */
function shifted<T>(by: number, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw e instanceof ProtocolError ? e.shifted(by) : e;
  }
}

function octetsToJson(data: Uint8Array): JsonObject {
  return { size: data.length, data: Buffer.from(data).toString('base64') };
}

function octetsFromJson(j: Json | undefined, field: string): Buffer {
  const o = asObject(j, field);
  if (typeof o.data !== 'string') throw new ProtocolError('BAD_VALUE', field, 'needs "data" (base64)');
  return Buffer.from(o.data, 'base64');
}

function isMms(ct: ContentType): boolean {
  return String(ct.mediaType).toLowerCase() === MMS_CONTENT_TYPE;
}

// --- WSP push -------------------------------------------------------------

export function pushToJson(bytes: Uint8Array): JsonObject {
  const push = decodePush(bytes);
  const out: JsonObject = {};
  if (push.tid !== undefined) out.TID = push.tid;
  out['PDU-Type'] = push.pduType;
  out['Content-Type'] = formatContentType(push.contentType);
  out.headers = headersToJson(push.headers);
  if (isMms(push.contentType)) out.mms = shifted(bytes.length - push.body.length, () => pduToJson(decodeMms(push.body)));
  else out.body = octetsToJson(push.body);
  return out;
}

export function pushFromJson(j: Json): Buffer {
  const o = asObject(j, 'push');
  const tid = o.TID;
  if (typeof tid !== 'number') throw new ProtocolError('MISSING_HEADER', 'TID', 'a connectionless push needs "TID" (0–255)');
  const pduType = o['PDU-Type'] ?? 'Push';
  if (pduType !== 'Push' && pduType !== 'ConfirmedPush') {
    throw new ProtocolError('BAD_VALUE', 'PDU-Type', `${JSON.stringify(pduType)} is neither "Push" nor "ConfirmedPush"`);
  }
  const ct = o['Content-Type'];
  if (typeof ct !== 'string') throw new ProtocolError('MISSING_HEADER', 'Content-Type', 'a push needs "Content-Type"');
  let body: Uint8Array = Buffer.alloc(0);
  if (o.mms !== undefined) body = encodeMms(pduFromJson(o.mms));
  else if (o.body !== undefined) body = octetsFromJson(o.body, 'body');
  return encodePush({ tid, pduType, contentType: parseContentType(ct), headers: headersFromJson(o.headers, 'headers'), body });
}

// --- SMS user data --------------------------------------------------------

const IE_NAMES = {
  ports16: 'application-port-16',
  ports8: 'application-port-8',
  concat8: 'concatenation-8',
  concat16: 'concatenation-16',
} as const;

function ieToJson(ie: InformationElement): JsonObject {
  switch (ie.kind) {
    case 'ports16':
    case 'ports8':
      return { IEI: IE_NAMES[ie.kind], destination: ie.destinationPort, originator: ie.originatorPort };
    case 'concat8':
    case 'concat16':
      return { IEI: IE_NAMES[ie.kind], reference: ie.reference, total: ie.total, sequence: ie.sequence };
    case 'other':
      return { IEI: ie.iei, data: { hex: Buffer.from(ie.data).toString('hex') } };
  }
}

function num(o: JsonObject, key: string, field: string): number {
  const v = o[key];
  if (typeof v !== 'number') throw new ProtocolError('BAD_VALUE', field, `needs "${key}" (a number)`);
  return v;
}

function ieFromJson(j: Json, i: number): InformationElement {
  const field = `UDH element ${i + 1}`;
  const o = asObject(j, field);
  const iei = o.IEI;
  switch (iei) {
    case IE_NAMES.ports16:
    case IE_NAMES.ports8:
      return {
        kind: iei === IE_NAMES.ports16 ? 'ports16' : 'ports8',
        destinationPort: num(o, 'destination', field),
        originatorPort: num(o, 'originator', field),
      };
    case IE_NAMES.concat8:
    case IE_NAMES.concat16:
      return {
        kind: iei === IE_NAMES.concat8 ? 'concat8' : 'concat16',
        reference: num(o, 'reference', field),
        total: num(o, 'total', field),
        sequence: num(o, 'sequence', field),
      };
    default: {
      if (typeof iei !== 'number') {
        throw new ProtocolError('BAD_VALUE', field, `IEI ${JSON.stringify(iei)} is neither a number nor one of ${Object.values(IE_NAMES).join(', ')}`);
      }
      const hex = asObject(o.data, field).hex;
      if (typeof hex !== 'string' || !/^([0-9a-f]{2})*$/i.test(hex)) throw new ProtocolError('BAD_VALUE', field, 'needs "data": { "hex" }');
      return { kind: 'other', iei, data: Buffer.from(hex, 'hex') };
    }
  }
}

export function smsToJson(bytes: Uint8Array): JsonObject {
  const { header, payload } = decodeUserData(bytes);
  const out: JsonObject = { UDH: header.elements.map(ieToJson) };
  const ports = applicationPorts(header);
  const whole = concatenation(header) === null && (ports === null || ports.destinationPort === WAP_PUSH_PORT);
  if (whole) out.push = shifted(bytes.length - payload.length, () => pushToJson(payload));
  else out.payload = octetsToJson(payload);
  return out;
}

export function smsFromJson(j: Json): Buffer {
  const o = asObject(j, 'SMS');
  if (!Array.isArray(o.UDH)) throw new ProtocolError('MISSING_HEADER', 'UDH', 'SMS user data needs "UDH", a list of information elements');
  const elements = o.UDH.map(ieFromJson);
  let payload: Uint8Array = Buffer.alloc(0);
  if (o.push !== undefined) payload = pushFromJson(o.push);
  else if (o.payload !== undefined) payload = octetsFromJson(o.payload, 'payload');
  return encodeUserData({ elements }, payload);
}

// --- dispatch -------------------------------------------------------------

export function decodeToJson(bytes: Uint8Array, kind: PduKind): JsonObject {
  switch (kind) {
    case 'mms':
      return pduToJson(decodeMms(bytes));
    case 'push':
      return pushToJson(bytes);
    case 'sms':
      return smsToJson(bytes);
  }
}

export function encodeFromJson(j: Json, kind: PduKind): Buffer {
  switch (kind) {
    case 'mms':
      return encodeMms(pduFromJson(j));
    case 'push':
      return pushFromJson(j);
    case 'sms':
      return smsFromJson(j);
  }
}

const UDH_FIRST_IEIS = new Set([0x00, 0x04, 0x05, 0x08]);

/** A UDHL that fits, a first IE that is ports or concatenation, and IE lengths that end exactly at the UDHL. */
function looksLikeUserData(b: Uint8Array): boolean {
  const udhl = b[0] ?? 0;
  const end = 1 + udhl;
  if (udhl < 2 || end > b.length || !UDH_FIRST_IEIS.has(b[1] ?? -1)) return false;
  let pos = 1;
  while (pos + 2 <= end) pos += 2 + (b[pos + 1] ?? 0);
  return pos === end;
}

/** What the octets look like, or undefined when nothing fits (the user says it with --as). */
export function detectKind(b: Uint8Array): PduKind | undefined {
  const pduType = b[1];
  const pushType = pduType === 0x06 || pduType === 0x07;
  // An MMS PDU's second octet is a message type token (≥ 0x80); 8C 06 is a push with TID 0x8C.
  if (b[0] === 0x8c && !pushType) return 'mms';
  if (looksLikeUserData(b)) return 'sms';
  if (pushType) return 'push';
  return undefined;
}

/** What a decoded JSON value is, by its keys. */
export function detectJsonKind(j: Json): PduKind | undefined {
  if (!j || typeof j !== 'object' || Array.isArray(j)) return undefined;
  if ('UDH' in j) return 'sms';
  if ('X-Mms-Message-Type' in j) return 'mms';
  if ('PDU-Type' in j || 'TID' in j) return 'push';
  return undefined;
}
