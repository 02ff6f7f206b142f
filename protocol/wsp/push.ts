import { ProtocolError } from '../errors.js';
import { readHeaders, writeHeaders, type WspHeader } from './headers.js';
import { WspReader } from './reader.js';
import { readContentType, writeContentType, type ContentType } from './values.js';
import { WspWriter } from './writer.js';

/** WSP PDU types a push can have (WSP-230 Table 34). */
export const PUSH_PDU_TYPES = { Push: 0x06, ConfirmedPush: 0x07 } as const;
export type PushPduType = keyof typeof PUSH_PDU_TYPES;

/**
 * A WSP Push PDU (WSP-230 §8.2.4.1). Over SMS and UDP the push is
 * connectionless and starts with a one-octet TID; inside a session it has
 * none, so `tid` is absent there.
 */
export interface PushPdu {
  tid?: number;
  pduType: PushPduType;
  contentType: ContentType;
  headers: WspHeader[];
  /** The pushed content (for MMS: the M-Notification.ind PDU), a view of the input. */
  body: Uint8Array;
}

export interface PushOptions {
  /** Connectionless (default) PDUs carry a TID first. */
  connectionless?: boolean;
}

export function decodePush(bytes: Uint8Array, opts: PushOptions = {}): PushPdu {
  const r = new WspReader(bytes);
  const tid = opts.connectionless === false ? undefined : r.u8('TID');
  const typeAt = r.offset;
  const type = r.u8('PDU type');
  const pduType: PushPduType =
    type === 0x06 ? 'Push' : type === 0x07 ? 'ConfirmedPush' : r.fail('BAD_VALUE', 'PDU type', `0x${type.toString(16)} is not a Push PDU`, typeAt);
  const headerBlock = r.sub(r.uintvar('HeadersLen'), 'push headers');
  const contentType = readContentType(headerBlock);
  const headers = readHeaders(headerBlock);
  const pdu: PushPdu = { pduType, contentType, headers, body: r.rest() };
  if (tid !== undefined) pdu.tid = tid;
  return pdu;
}

export function encodePush(pdu: PushPdu): Buffer {
  const w = new WspWriter(64 + pdu.body.length);
  if (pdu.tid !== undefined) {
    if (!Number.isInteger(pdu.tid) || pdu.tid < 0 || pdu.tid > 255) throw new ProtocolError('BAD_VALUE', 'TID', `${pdu.tid} is not an octet`);
    w.u8(pdu.tid);
  }
  w.u8(PUSH_PDU_TYPES[pdu.pduType]);
  w.withUintvarLength((w) => {
    writeContentType(w, pdu.contentType);
    writeHeaders(w, pdu.headers);
  });
  return w.bytes(pdu.body).finish();
}
