/**
 * SMS user data header (UDH) — 3GPP TS 23.040 §9.2.3.24.
 *
 * WDP over GSM SMS (WAP-259 WDP, SMS bearer adaptation) carries a datagram
 * in TP-UD with TP-UDHI set: the UDH addresses the application ports and,
 * when the datagram needs more than one SMS, carries the concatenation IE
 * used for segmentation and reassembly. Spec digest: README §d.
 *
 * Decoding never copies: unknown IE data and the payload are views into the
 * caller's octets, so encodeUserData(decodeUserData(x)) reproduces x.
 */
import { ProtocolError } from '../errors.js';

/** WDP destination port of the connectionless WAP push client (WSP/WDP). */
export const WAP_PUSH_PORT = 2948;
/** WSP server port, the usual originator port of a push. */
export const WSP_SERVER_PORT = 9200;
/** TP-UD holds at most 140 octets with 8-bit data coding (23.040 §9.2.3.16). */
export const MAX_SMS_OCTETS = 140;

/** IEI values (23.040 §9.2.3.24, table of IEIs). */
export const IEI_CONCATENATION_8 = 0x00;
export const IEI_APPLICATION_PORT_8 = 0x04;
export const IEI_APPLICATION_PORT_16 = 0x05;
export const IEI_CONCATENATION_16 = 0x08;

/** §9.2.3.24.4 Application port addressing scheme, 16 bit address. */
export interface ApplicationPort16 {
  readonly kind: 'ports16';
  readonly destinationPort: number;
  readonly originatorPort: number;
}

/** §9.2.3.24.3 Application port addressing scheme, 8 bit address. */
export interface ApplicationPort8 {
  readonly kind: 'ports8';
  readonly destinationPort: number;
  readonly originatorPort: number;
}

/**
 * §9.2.3.24.1 (8-bit reference) and §9.2.3.24.8 (16-bit reference)
 * Concatenated short messages.
 */
export interface Concatenation8 {
  readonly kind: 'concat8';
  /** Concatenated short message reference number (0..255). */
  readonly reference: number;
  /** Maximum number of short messages in the concatenated short message (1..255). */
  readonly total: number;
  /** Sequence number of the current short message (1..total). */
  readonly sequence: number;
}

export interface Concatenation16 {
  readonly kind: 'concat16';
  /** Concatenated short message reference number (0..65535). */
  readonly reference: number;
  readonly total: number;
  readonly sequence: number;
}

/** Any IE this codec does not interpret; `data` is a view into the decoded input. */
export interface OtherElement {
  readonly kind: 'other';
  readonly iei: number;
  readonly data: Uint8Array;
}

export type InformationElement =
  | ApplicationPort16
  | ApplicationPort8
  | Concatenation8
  | Concatenation16
  | OtherElement;

/** The IEs in wire order. The UDHL is derived from them when encoding. */
export interface UserDataHeader {
  readonly elements: readonly InformationElement[];
}

/** Port addressing as seen by WDP, whichever IE carried it. */
export interface ApplicationPorts {
  readonly destinationPort: number;
  readonly originatorPort: number;
  readonly bits: 8 | 16;
}

/** Concatenation as seen by the reassembler, whichever IE carried it. */
export interface ConcatenationInfo {
  readonly reference: number;
  readonly total: number;
  readonly sequence: number;
  readonly bits: 8 | 16;
}

/** Spec-style field name used in errors, e.g. 'IEI 0x05'. */
export function ieiField(iei: number): string {
  return `IEI 0x${iei.toString(16).toUpperCase().padStart(2, '0')}`;
}

/** Fixed IE data lengths of the IEs we interpret (23.040 §9.2.3.24.1/.3/.4/.8). */
const FIXED_LENGTH: ReadonlyMap<number, number> = new Map([
  [IEI_CONCATENATION_8, 3],
  [IEI_APPLICATION_PORT_8, 2],
  [IEI_APPLICATION_PORT_16, 4],
  [IEI_CONCATENATION_16, 4],
]);

/** Read an octet whose index the caller has already bounds-checked. */
function at(b: Uint8Array, i: number): number {
  return b[i] ?? 0;
}

/**
 * Split TP-UD (TP-UDHI = 1) into its header and the payload that follows.
 *
 * Strict where 23.040 is lenient: the spec tells a receiver to ignore a
 * concatenation IE whose total is 0 or whose sequence is 0 or > total; we
 * throw BAD_VALUE instead, because treating such a segment as a whole
 * datagram would hand a fragment to WSP.
 */
export function decodeUserData(ud: Uint8Array): { header: UserDataHeader; payload: Uint8Array } {
  if (ud.length < 1) {
    throw new ProtocolError('TRUNCATED', 'UDHL', 'user data is empty, no UDHL octet', 0);
  }
  const udhl = at(ud, 0);
  const end = 1 + udhl;
  if (end > ud.length) {
    throw new ProtocolError('BAD_LENGTH', 'UDHL', `UDHL ${udhl} exceeds the ${ud.length - 1} octets after it`, 0);
  }
  const elements: InformationElement[] = [];
  let pos = 1;
  while (pos < end) {
    const iei = at(ud, pos);
    const field = ieiField(iei);
    if (pos + 2 > end) {
      throw new ProtocolError('TRUNCATED', field, 'IE length octet lies outside the UDH', pos);
    }
    const iedl = at(ud, pos + 1);
    const dataStart = pos + 2;
    if (dataStart + iedl > end) {
      throw new ProtocolError('BAD_LENGTH', field, `IE length ${iedl} overruns the UDH by ${dataStart + iedl - end} octets`, pos + 1);
    }
    const fixed = FIXED_LENGTH.get(iei);
    if (fixed !== undefined && iedl !== fixed) {
      throw new ProtocolError('BAD_LENGTH', field, `IE length must be ${fixed}, is ${iedl}`, pos + 1);
    }
    const d = dataStart;
    switch (iei) {
      case IEI_APPLICATION_PORT_16:
        elements.push({
          kind: 'ports16',
          destinationPort: (at(ud, d) << 8) | at(ud, d + 1),
          originatorPort: (at(ud, d + 2) << 8) | at(ud, d + 3),
        });
        break;
      case IEI_APPLICATION_PORT_8:
        elements.push({ kind: 'ports8', destinationPort: at(ud, d), originatorPort: at(ud, d + 1) });
        break;
      case IEI_CONCATENATION_8: {
        const total = at(ud, d + 1);
        const sequence = at(ud, d + 2);
        checkSequence(total, sequence, d + 1);
        elements.push({ kind: 'concat8', reference: at(ud, d), total, sequence });
        break;
      }
      case IEI_CONCATENATION_16: {
        const total = at(ud, d + 2);
        const sequence = at(ud, d + 3);
        checkSequence(total, sequence, d + 2);
        elements.push({ kind: 'concat16', reference: (at(ud, d) << 8) | at(ud, d + 1), total, sequence });
        break;
      }
      default:
        elements.push({ kind: 'other', iei, data: ud.subarray(dataStart, dataStart + iedl) });
    }
    pos = dataStart + iedl;
  }
  return { header: { elements }, payload: ud.subarray(end) };
}

function checkSequence(total: number, sequence: number, offset: number): void {
  if (total < 1) {
    throw new ProtocolError('BAD_VALUE', 'concatenation', 'total number of short messages is 0', offset);
  }
  if (sequence < 1 || sequence > total) {
    throw new ProtocolError('BAD_VALUE', 'concatenation', `sequence number ${sequence} is not in 1..${total}`, offset + 1);
  }
}

function checkInt(v: number, max: number, field: string, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v > max) {
    throw new ProtocolError('BAD_VALUE', field, `${what} ${v} is not an integer in 0..${max}`);
  }
}

/** Check one IE for encoding and return its wire size (IEI + IEDL + data). */
function encodedSize(ie: InformationElement): number {
  switch (ie.kind) {
    case 'ports16':
      checkInt(ie.destinationPort, 0xffff, ieiField(IEI_APPLICATION_PORT_16), 'destination port');
      checkInt(ie.originatorPort, 0xffff, ieiField(IEI_APPLICATION_PORT_16), 'originator port');
      return 2 + 4;
    case 'ports8':
      checkInt(ie.destinationPort, 0xff, ieiField(IEI_APPLICATION_PORT_8), 'destination port');
      checkInt(ie.originatorPort, 0xff, ieiField(IEI_APPLICATION_PORT_8), 'originator port');
      return 2 + 2;
    case 'concat8':
    case 'concat16': {
      checkInt(ie.reference, ie.kind === 'concat8' ? 0xff : 0xffff, 'concatenation', 'reference');
      checkInt(ie.total, 0xff, 'concatenation', 'total');
      if (ie.total < 1 || !Number.isInteger(ie.sequence) || ie.sequence < 1 || ie.sequence > ie.total) {
        throw new ProtocolError('BAD_VALUE', 'concatenation', `sequence ${ie.sequence} of total ${ie.total} is not in 1..total`);
      }
      return ie.kind === 'concat8' ? 2 + 3 : 2 + 4;
    }
    case 'other':
      checkInt(ie.iei, 0xff, 'IEI', 'IEI');
      // The typed IEIs must go through their typed form, or encode could emit
      // octets (e.g. IEI 0x05 with 3 data octets) that decode rejects.
      if (FIXED_LENGTH.has(ie.iei)) {
        throw new ProtocolError('BAD_VALUE', ieiField(ie.iei), 'this IEI has a typed form; use it instead of kind "other"');
      }
      if (ie.data.length > 0xff) {
        throw new ProtocolError('BAD_LENGTH', ieiField(ie.iei), `IE data of ${ie.data.length} octets does not fit the 1-octet IE length`);
      }
      return 2 + ie.data.length;
  }
}

/**
 * Build TP-UD: UDHL, the IEs in the given order, then the payload.
 * Does not enforce MAX_SMS_OCTETS (SMPP message_payload may be longer);
 * segment() does.
 */
export function encodeUserData(header: UserDataHeader, payload: Uint8Array): Buffer {
  let udhl = 0;
  for (const ie of header.elements) udhl += encodedSize(ie);
  if (udhl > 0xff) {
    throw new ProtocolError('BAD_LENGTH', 'UDHL', `UDH of ${udhl} octets does not fit the 1-octet UDHL`);
  }
  const out = Buffer.alloc(1 + udhl + payload.length);
  out[0] = udhl;
  let p = 1;
  for (const ie of header.elements) {
    switch (ie.kind) {
      case 'ports16':
        out[p] = IEI_APPLICATION_PORT_16;
        out[p + 1] = 4;
        out.writeUInt16BE(ie.destinationPort, p + 2);
        out.writeUInt16BE(ie.originatorPort, p + 4);
        p += 6;
        break;
      case 'ports8':
        out[p] = IEI_APPLICATION_PORT_8;
        out[p + 1] = 2;
        out[p + 2] = ie.destinationPort;
        out[p + 3] = ie.originatorPort;
        p += 4;
        break;
      case 'concat8':
        out[p] = IEI_CONCATENATION_8;
        out[p + 1] = 3;
        out[p + 2] = ie.reference;
        out[p + 3] = ie.total;
        out[p + 4] = ie.sequence;
        p += 5;
        break;
      case 'concat16':
        out[p] = IEI_CONCATENATION_16;
        out[p + 1] = 4;
        out.writeUInt16BE(ie.reference, p + 2);
        out[p + 4] = ie.total;
        out[p + 5] = ie.sequence;
        p += 6;
        break;
      case 'other':
        out[p] = ie.iei;
        out[p + 1] = ie.data.length;
        out.set(ie.data, p + 2);
        p += 2 + ie.data.length;
        break;
    }
  }
  out.set(payload, p);
  return out;
}

/*
 * 23.040 §9.2.3.24: when a non-repeatable IE is duplicated, or mutually
 * exclusive IEs occur (8- and 16-bit ports, 8- and 16-bit concatenation),
 * the last occurrence is used. The accessors below apply that rule.
 */

/** The application ports of a header (last port IE wins), or null. */
export function applicationPorts(header: UserDataHeader): ApplicationPorts | null {
  let found: ApplicationPorts | null = null;
  for (const ie of header.elements) {
    if (ie.kind === 'ports16' || ie.kind === 'ports8') {
      found = { destinationPort: ie.destinationPort, originatorPort: ie.originatorPort, bits: ie.kind === 'ports16' ? 16 : 8 };
    }
  }
  return found;
}

/** The concatenation of a header (last concatenation IE wins), or null. */
export function concatenation(header: UserDataHeader): ConcatenationInfo | null {
  let found: ConcatenationInfo | null = null;
  for (const ie of header.elements) {
    if (ie.kind === 'concat8' || ie.kind === 'concat16') {
      found = { reference: ie.reference, total: ie.total, sequence: ie.sequence, bits: ie.kind === 'concat16' ? 16 : 8 };
    }
  }
  return found;
}
