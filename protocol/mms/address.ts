import { isIPv4, isIPv6 } from 'node:net';
import { ProtocolError } from '../errors.js';

/**
 * Addresses in To/Cc/Bcc/From (OMA-MMS-ENC §8): `+4475551234/TYPE=PLMN`,
 * `192.0.2.1/TYPE=IPv4`, `…/TYPE=IPv6`, `x/TYPE=<operator type>`, or a bare
 * RFC 2822 addr-spec for e-mail. Short codes travel as PLMN numbers without
 * a leading `+`.
 */
export type MmsAddress =
  | { type: 'PLMN'; value: string }
  | { type: 'IPv4'; value: string }
  | { type: 'IPv6'; value: string }
  | { type: 'email'; value: string }
  | { type: 'other'; typeName: string; value: string };

const TYPED = /^(.+)\/TYPE=([A-Za-z0-9_-]+)$/;
const PLMN = /^\+?[0-9*#]{1,20}$/;
// Deliberately loose: the MMS-C validates routing elsewhere; this only
// rules out strings that cannot be an addr-spec at all.
const EMAIL = /^[^\s@<>()[\]\\,;:"]+@[^\s@<>()[\]\\,;:"]+$/;

export function parseMmsAddress(text: string): MmsAddress {
  const m = TYPED.exec(text);
  if (m) {
    const value = m[1]!;
    const type = m[2]!;
    switch (type.toUpperCase()) {
      case 'PLMN':
        if (!PLMN.test(value)) throw new ProtocolError('BAD_VALUE', 'address', `"${value}" is not a PLMN number`);
        return { type: 'PLMN', value };
      case 'IPV4':
        if (!isIPv4(value)) throw new ProtocolError('BAD_VALUE', 'address', `"${value}" is not an IPv4 address`);
        return { type: 'IPv4', value };
      case 'IPV6':
        if (!isIPv6(value)) throw new ProtocolError('BAD_VALUE', 'address', `"${value}" is not an IPv6 address`);
        return { type: 'IPv6', value };
      default:
        return { type: 'other', typeName: type, value };
    }
  }
  if (EMAIL.test(text)) return { type: 'email', value: text };
  throw new ProtocolError('BAD_VALUE', 'address', `"${text}" is neither a typed address (…/TYPE=…) nor an e-mail address`);
}

export function formatMmsAddress(a: MmsAddress): string {
  switch (a.type) {
    case 'email':
      return a.value;
    case 'other':
      return `${a.value}/TYPE=${a.typeName}`;
    default:
      return `${a.value}/TYPE=${a.type}`;
  }
}

/** A PLMN address without country code: an operator short code such as `12345`. */
export function isShortCode(a: MmsAddress): boolean {
  return a.type === 'PLMN' && /^[0-9]{3,8}$/.test(a.value);
}
