/**
 * WDP segmentation over SMS (WAP-259 WDP, SMS bearer; 3GPP TS 23.040
 * §9.2.3.24.1/.4/.8). Layouts and sizes: README §d.1–d.2.
 */
import { ProtocolError } from '../errors.js';
import {
  encodeUserData,
  MAX_SMS_OCTETS,
  WAP_PUSH_PORT,
  WSP_SERVER_PORT,
  type InformationElement,
} from './udh.js';

export interface SegmentOptions {
  /** Default 2948, the WAP push client port. */
  destinationPort?: number;
  /** Default 9200, the WSP server port. */
  originatorPort?: number;
  /** Concatenation reference width; default 8 (what Kannel sends). */
  referenceBits?: 8 | 16;
}

/** 23.040 allows at most 255 short messages in one concatenated message (1-octet total). */
export const MAX_SEGMENTS = 255;

/** UDH sizes including the UDHL octet (README §d.2). */
const UDH_PORTS = 1 + 6;
const UDH_PORTS_CONCAT8 = 1 + 6 + 5;
const UDH_PORTS_CONCAT16 = 1 + 6 + 6;

/** Payload octets per SMS for each layout: 133, 128, 127. */
export const PAYLOAD_SINGLE = MAX_SMS_OCTETS - UDH_PORTS;
export const PAYLOAD_CONCAT8 = MAX_SMS_OCTETS - UDH_PORTS_CONCAT8;
export const PAYLOAD_CONCAT16 = MAX_SMS_OCTETS - UDH_PORTS_CONCAT16;

function checkPort(v: number, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffff) {
    throw new ProtocolError('BAD_VALUE', 'IEI 0x05', `${what} ${v} is not an integer in 0..65535`);
  }
}

/**
 * Split a WDP datagram (e.g. a connectionless WSP push PDU, TID included)
 * into SMS user data, each at most 140 octets.
 *
 * One SMS with the ports-only UDH when the datagram fits in 133 octets;
 * otherwise every segment carries the 16-bit port IE first and the
 * concatenation IE second (Kannel's order), split at arbitrary octet
 * boundaries. `ref` is validated even when only one segment results, so a
 * caller's reference counter bug shows up early.
 */
export function segment(datagram: Uint8Array, ref: number, opts: SegmentOptions = {}): Buffer[] {
  const destinationPort = opts.destinationPort ?? WAP_PUSH_PORT;
  const originatorPort = opts.originatorPort ?? WSP_SERVER_PORT;
  const bits = opts.referenceBits ?? 8;
  checkPort(destinationPort, 'destination port');
  checkPort(originatorPort, 'originator port');
  if (bits !== 8 && bits !== 16) {
    throw new ProtocolError('BAD_VALUE', 'concatenation', `reference width ${String(bits)} is not 8 or 16`);
  }
  const maxRef = bits === 8 ? 0xff : 0xffff;
  if (!Number.isInteger(ref) || ref < 0 || ref > maxRef) {
    throw new ProtocolError('BAD_VALUE', 'concatenation', `reference ${ref} does not fit ${bits} bits`);
  }

  const ports: InformationElement = { kind: 'ports16', destinationPort, originatorPort };
  if (datagram.length <= PAYLOAD_SINGLE) {
    return [encodeUserData({ elements: [ports] }, datagram)];
  }

  const per = bits === 8 ? PAYLOAD_CONCAT8 : PAYLOAD_CONCAT16;
  const total = Math.ceil(datagram.length / per);
  if (total > MAX_SEGMENTS) {
    throw new ProtocolError(
      'BAD_LENGTH',
      'datagram',
      `${datagram.length} octets need ${total} segments of ${per}; at most ${MAX_SEGMENTS} are possible`,
    );
  }
  const out: Buffer[] = [];
  for (let i = 0; i < total; i++) {
    const concat: InformationElement =
      bits === 8
        ? { kind: 'concat8', reference: ref, total, sequence: i + 1 }
        : { kind: 'concat16', reference: ref, total, sequence: i + 1 };
    out.push(encodeUserData({ elements: [ports, concat] }, datagram.subarray(i * per, (i + 1) * per)));
  }
  return out;
}
