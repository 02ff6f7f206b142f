import { decodePush, encodePush, type PushPdu } from '../wsp/push.js';
import { ProtocolError } from '../errors.js';
import { findHeader } from '../wsp/headers.js';
import { decodeMms, encodeMms } from './codec.js';
import type { MmsPdu } from './model.js';

export const MMS_CONTENT_TYPE = 'application/vnd.wap.mms-message';
export const MMS_PUSH_APPLICATION = 'x-wap-application:mms.ua';

/**
 * The WSP push that carries an MMS PDU to the terminal's MMS user agent
 * (spec c.6): `TID 06 03 BE AF 84` + the PDU. Only the content type and
 * X-Wap-Application-Id: anything more costs octets of the SMS.
 */
export function mmsPush(pdu: MmsPdu | Uint8Array, tid: number): PushPdu {
  return {
    tid,
    pduType: 'Push',
    contentType: { mediaType: MMS_CONTENT_TYPE, params: [] },
    headers: [{ name: 'X-Wap-Application-Id', value: MMS_PUSH_APPLICATION }],
    body: pdu instanceof Uint8Array ? pdu : encodeMms(pdu),
  };
}

export function encodeMmsPush(pdu: MmsPdu | Uint8Array, tid: number): Buffer {
  return encodePush(mmsPush(pdu, tid));
}

/**
 * Decodes a push and the MMS PDU inside it. Pushes built by a PPG may write
 * the content type as text and add headers of their own; both are accepted.
 */
export function decodeMmsPush(bytes: Uint8Array): { push: PushPdu; mms: MmsPdu } {
  const push = decodePush(bytes);
  if (String(push.contentType.mediaType).toLowerCase() !== MMS_CONTENT_TYPE) {
    throw new ProtocolError('BAD_VALUE', 'Content-Type', `push carries ${String(push.contentType.mediaType)}, not ${MMS_CONTENT_TYPE}`);
  }
  const app = findHeader(push.headers, 'X-Wap-Application-Id');
  if (app !== undefined && app !== MMS_PUSH_APPLICATION && app !== 4) {
    throw new ProtocolError('BAD_VALUE', 'X-Wap-Application-Id', `push is for ${String(app)}, not the MMS user agent`);
  }
  try {
    return { push, mms: decodeMms(push.body) };
  } catch (e) {
    // Report offsets in the push, not in the PDU inside it.
    throw e instanceof ProtocolError ? e.shifted(bytes.length - push.body.length) : e;
  }
}
