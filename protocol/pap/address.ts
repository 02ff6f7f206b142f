import { isIPv4, isIPv6 } from 'node:net';
import { ProtocolError } from '../errors.js';

/**
 * The PAP client address (WAP-249-PPGService §7, spec digest §e):
 * `WAPPUSH=<value>/TYPE=<type>@<ppg host>`, e.g.
 * `WAPPUSH=+15550002222/TYPE=PLMN@ppg.example`. The part after `@` names
 * the PPG; PPGs in the field route on the number alone and ignore it.
 */
export type WappushType = 'PLMN' | 'IPv4' | 'IPv6' | 'USER';

export interface WappushAddress {
  value: string;
  type: WappushType;
  ppg: string;
}

const FIELD = 'address-value';
const PLMN = /^\+?[0-9]{1,20}$/;
// A host name or an address literal: what may follow the `@`.
const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$|^\[[0-9A-Fa-f:.]+\]$/;
// A user name must not contain the delimiters of the address itself.
const USER = /^[^\s/@=]{1,128}$/;
const FORM = /^WAPPUSH=(.+)\/TYPE=([A-Za-z0-9]+)@([^@]+)$/;

function checkValue(value: string, type: WappushType): void {
  const ok = type === 'PLMN' ? PLMN.test(value) : type === 'IPv4' ? isIPv4(value) : type === 'IPv6' ? isIPv6(value) : USER.test(value);
  if (!ok) throw new ProtocolError('BAD_VALUE', FIELD, `"${value}" is not a ${type} address`);
}

export function formatWappushAddress(a: WappushAddress): string {
  checkValue(a.value, a.type);
  if (!HOST.test(a.ppg)) throw new ProtocolError('BAD_VALUE', FIELD, `"${a.ppg}" is not a PPG host name`);
  return `WAPPUSH=${a.value}/TYPE=${a.type}@${a.ppg}`;
}

export function parseWappushAddress(text: string): WappushAddress {
  const m = FORM.exec(text.trim());
  if (!m) throw new ProtocolError('BAD_VALUE', FIELD, `"${text}" is not of the form WAPPUSH=<value>/TYPE=<type>@<ppg>`);
  const typeText = m[2]!.toUpperCase();
  const type = (['PLMN', 'IPv4', 'IPv6', 'USER'] as const).find((t) => t.toUpperCase() === typeText);
  if (type === undefined) throw new ProtocolError('UNSUPPORTED', FIELD, `address type ${m[2]!} is not PLMN, IPv4, IPv6 or USER`);
  const a: WappushAddress = { value: m[1]!, type, ppg: m[3]! };
  checkValue(a.value, a.type);
  if (!HOST.test(a.ppg)) throw new ProtocolError('BAD_VALUE', FIELD, `"${a.ppg}" is not a PPG host name`);
  return a;
}
