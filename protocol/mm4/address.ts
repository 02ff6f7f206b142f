import { ProtocolError } from '../errors.js';

/**
 * Addresses on MM4 and MM3 (3GPP TS 23.140 §8.4): a phone number travels as
 * the RFC 2822 addr-spec `+4475551234/TYPE=PLMN@mms.example.net`, the
 * domain being the receiving MMS-C's; e-mail addresses stay as they are.
 */

export interface MailAddress {
  /** The addr-spec, without display name or angle brackets. */
  addrSpec: string;
  /** The display name, when there was one. */
  name?: string;
}

/** A number or short code with the MMS-C's domain: `+15550001111` → `+15550001111/TYPE=PLMN@mms.b.net`; e-mail stays. */
export function toMm4Address(address: string, domain: string): string {
  return address.includes('@') ? address : `${address}/TYPE=PLMN@${domain}`;
}

export type Mm4Address =
  /** A number (`+…` or a short code), at an MMS-C's domain. */
  | { kind: 'number'; number: string; domain: string }
  | { kind: 'email'; address: string; domain: string };

const TYPED_LOCAL = /^(\+?[0-9*#]{1,20})\/TYPE=PLMN$/i;
const PLAIN_NUMBER = /^\+?[0-9]{3,20}$/;

/**
 * Reads an addr-spec. `/TYPE=PLMN` local parts are numbers; a plain digit
 * local part (`4475551234@mms.x`) is a number only when `plainNumbers`,
 * since some MMS-Cs write numbers that way (TS 23.140 leaves it open).
 */
export function parseMm4Address(addrSpec: string, plainNumbers = true): Mm4Address {
  const at = addrSpec.lastIndexOf('@');
  if (at <= 0 || at === addrSpec.length - 1) throw new ProtocolError('BAD_VALUE', 'address', `"${addrSpec}" is not an addr-spec (local@domain)`);
  const local = addrSpec.slice(0, at);
  const domain = addrSpec.slice(at + 1).toLowerCase();
  const typed = TYPED_LOCAL.exec(local);
  if (typed) return { kind: 'number', number: typed[1]!, domain };
  if (plainNumbers && PLAIN_NUMBER.test(local)) return { kind: 'number', number: local, domain };
  if (/[\s<>()[\]\\,;:"]/.test(local) || /[\s<>()[\]\\,;:"@]/.test(domain)) {
    throw new ProtocolError('BAD_VALUE', 'address', `"${addrSpec}" is not an addr-spec`);
  }
  return { kind: 'email', address: `${local}@${domain}`, domain };
}

/**
 * Splits an address-list header value (`"A" <a@x>, b@y`) into addr-specs,
 * ignoring commas inside quotes, comments and angle brackets. Groups
 * (`undisclosed-recipients:;`) give no address.
 */
export function parseAddressList(value: string): MailAddress[] {
  const out: MailAddress[] = [];
  let current = '';
  let quoted = false;
  let angle = 0;
  let comment = 0;
  const flush = (): void => {
    const one = parseOneAddress(current);
    if (one) out.push(one);
    current = '';
  };
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (quoted) {
      if (c === '\\' && i + 1 < value.length) current += c + value[++i]!;
      else {
        if (c === '"') quoted = false;
        current += c;
      }
      continue;
    }
    if (c === '"') quoted = true;
    else if (c === '(') comment++;
    else if (c === ')' && comment > 0) comment--;
    else if (c === '<') angle++;
    else if (c === '>' && angle > 0) angle--;
    else if ((c === ',' || c === ';') && angle === 0 && comment === 0) {
      flush();
      continue;
    }
    current += c;
  }
  flush();
  return out;
}

function parseOneAddress(text: string): MailAddress | undefined {
  let s = text.replace(/\([^()]*\)/g, ' ').trim();
  // A group's display name: `undisclosed-recipients:` or `team: a@x`.
  const colon = /^[^"<@]*:/.exec(s);
  if (colon) s = s.slice(colon[0].length).trim();
  if (!s) return undefined;
  const lt = s.lastIndexOf('<');
  if (lt >= 0) {
    const gt = s.indexOf('>', lt);
    const addrSpec = s.slice(lt + 1, gt < 0 ? undefined : gt).trim();
    if (!addrSpec) return undefined;
    const name = s.slice(0, lt).trim().replace(/^"(.*)"$/s, '$1').replace(/\\(.)/g, '$1');
    return name ? { addrSpec, name } : { addrSpec };
  }
  return { addrSpec: s };
}
