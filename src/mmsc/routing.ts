import type { Mm7Address } from '../../protocol/mm7/model.js';
import { parseMmsAddress } from '../../protocol/mms/address.js';

/**
 * Address normalisation and the local-subscriber test (DESIGN.md, message
 * flow step 3). Numbers become E.164 with `+`; a national number gets the
 * configured country code; short codes stay as digits; e-mail is lower-cased
 * in its domain only.
 */
export interface RoutingConfig {
  numberRanges: string[];
  countryCode: string;
}

export type Route = { kind: 'local'; address: string } | { kind: 'unroutable'; address: string; reason: string };

const SHORT_CODE = /^[0-9]{3,8}$/;

export function normaliseNumber(value: string, countryCode: string): string {
  const digits = value.replace(/[\s\-().]/g, '');
  if (digits.startsWith('+')) return digits;
  if (digits.startsWith('00')) return `+${digits.slice(2)}`;
  if (SHORT_CODE.test(digits)) return digits;
  // A national number: drop a trunk prefix 0, add the country code.
  if (digits.startsWith('0')) return `+${countryCode}${digits.slice(1)}`;
  return digits.startsWith(countryCode) ? `+${digits}` : `+${countryCode}${digits}`;
}

function normaliseEmail(value: string): string {
  const at = value.lastIndexOf('@');
  return at < 0 ? value : `${value.slice(0, at)}@${value.slice(at + 1).toLowerCase()}`;
}

export function fromMm7Address(a: Mm7Address, config: RoutingConfig): string {
  if (a.kind === 'RFC2822Address') return normaliseEmail(a.value.trim());
  if (a.kind === 'ShortCode') return a.value.trim();
  return normaliseNumber(a.value.trim(), config.countryCode);
}

/** An MMS address (`+1555…/TYPE=PLMN`, e-mail) to the normalised form; throws ProtocolError for nonsense. */
export function fromMmsAddress(text: string, config: RoutingConfig): string {
  const a = parseMmsAddress(text);
  switch (a.type) {
    case 'PLMN':
      return normaliseNumber(a.value, config.countryCode);
    case 'email':
      return normaliseEmail(a.value);
    default:
      return text;
  }
}

/** The MM1 form of a normalised address: numbers and short codes get `/TYPE=PLMN`. */
export function toMmsAddress(address: string): string {
  return address.includes('@') ? address : `${address}/TYPE=PLMN`;
}

function matches(address: string, pattern: string): boolean {
  if (!pattern.endsWith('*')) return address === pattern;
  return address.startsWith(pattern.slice(0, -1)) && /^[0-9]*$/.test(address.slice(pattern.length - 1));
}

export function isLocal(address: string, config: RoutingConfig): boolean {
  return address.startsWith('+') && config.numberRanges.some((p) => matches(address, p));
}

/** Where a recipient goes. Until the SMTP/MM4 issue lands, only local subscribers are routable. */
export function route(address: string, config: RoutingConfig): Route {
  if (isLocal(address, config)) return { kind: 'local', address };
  if (address.includes('@')) return { kind: 'unroutable', address, reason: 'e-mail recipients are not routed yet (MM3)' };
  return { kind: 'unroutable', address, reason: 'not in a local number range' };
}
