import type { Mm7Address } from '../../protocol/mm7/model.js';
import { deliverJob } from './reports.js';
import { parseMmsAddress } from '../../protocol/mms/address.js';
import type { NewJob } from '../outbox/types.js';
import type { NewMessage, NewRecipient, RecipientKind } from './model.js';

/**
 * Address normalisation and the local-subscriber test (DESIGN.md, message
 * flow step 3). Numbers become E.164 with `+`; a national number gets the
 * configured country code; short codes stay as digits; e-mail is lower-cased
 * in its domain only.
 */
export interface RoutingConfig {
  numberRanges: string[];
  countryCode: string;
  /** E-mail recipients leave by SMTP (MM3); without it they are unroutable. */
  mm3?: boolean;
  /** Peer MMS-Cs reached by MM4: numbers in their ranges go to their domain. */
  peers?: ReadonlyArray<{ domain: string; numberRanges: string[] }>;
  /** VASP short codes (short code → VASPID): a terminal's message to one goes to that VASP as an MM7 DeliverReq. */
  vaspShortCodes?: Readonly<Record<string, string>>;
}

export type Route =
  | { kind: 'local'; address: string }
  /** An e-mail recipient: the message leaves as a mail (outbox job 'mm3'). */
  | { kind: 'mm3'; address: string }
  /** A number of a peer MMS-C: MM4_forward.REQ to its domain (outbox job 'mm4-forward'). */
  | { kind: 'mm4'; address: string; peerDomain: string }
  /** A VASP's short code: MM7 DeliverReq to the VASP (outbox job 'mm7-deliver'). */
  | { kind: 'vasp'; address: string; vaspId: string }
  | { kind: 'unroutable'; address: string; reason: string };

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

/** The peer MMS-C whose number ranges hold this number (local ranges are tested first by route()). */
export function peerFor(address: string, config: RoutingConfig): string | undefined {
  if (!address.startsWith('+')) return undefined;
  return config.peers?.find((p) => p.numberRanges.some((r) => matches(address, r)))?.domain;
}

/** Where a recipient goes: a local subscriber, e-mail (MM3), a peer MMS-C (MM4), or nowhere. */
export function route(address: string, config: RoutingConfig): Route {
  if (isLocal(address, config)) return { kind: 'local', address };
  if (address.includes('@')) {
    return config.mm3 ? { kind: 'mm3', address } : { kind: 'unroutable', address, reason: 'e-mail recipients are not routed (MM3 is off)' };
  }
  const vaspId = SHORT_CODE.test(address) ? config.vaspShortCodes?.[address] : undefined;
  if (vaspId !== undefined) return { kind: 'vasp', address, vaspId };
  const peerDomain = peerFor(address, config);
  if (peerDomain !== undefined) return { kind: 'mm4', address, peerDomain };
  return { kind: 'unroutable', address, reason: 'not in a local number range' };
}

/**
 * The recipient row a front end stores for an address. Local subscribers
 * start `accepted` (the notifier pushes to them); MM3/MM4 recipients start
 * `forwarded`, as their next hop is an outbox job (outboundJobs) written
 * with the message, never a push.
 */
export function recipientFor(address: string, kind: RecipientKind, config: RoutingConfig): NewRecipient {
  const r = route(address, config);
  switch (r.kind) {
    case 'local':
      return { address, kind, state: 'accepted' };
    case 'mm3':
    case 'mm4':
    case 'vasp':
      return { address, kind, state: 'forwarded' };
    case 'unroutable':
      return { address, kind, state: 'unroutable', reason: r.reason };
  }
}

/** What an 'mm3' or 'mm4-forward' job carries; the handler reads the message itself from DB1. */
export interface ForwardPayload {
  messageId: string;
  address: string;
  /** MM4 only: the peer's domain. */
  peerDomain?: string;
}

/**
 * The outbox jobs that take a just-accepted message to its MM3 and MM4
 * recipients; to be written in the accept's transaction (or right after,
 * before the sender's answer). A job holds the message (its content is
 * read at send time) and gives up at the message's expiry.
 */
export function outboundJobs(messageId: string, message: Pick<NewMessage, 'envelope' | 'recipients'>, config: RoutingConfig): NewJob[] {
  const jobs: NewJob[] = [];
  const seen = new Set<string>();
  for (const recipient of message.recipients) {
    if (recipient.state !== 'forwarded' || seen.has(recipient.address)) continue;
    seen.add(recipient.address);
    const r = route(recipient.address, config);
    if (r.kind === 'vasp') {
      jobs.push(deliverJob({ messageId, envelope: message.envelope }, r.address, r.vaspId));
      continue;
    }
    if (r.kind !== 'mm3' && r.kind !== 'mm4') continue;
    const payload: ForwardPayload = { messageId, address: r.address, ...(r.kind === 'mm4' ? { peerDomain: r.peerDomain } : {}) };
    jobs.push({
      kind: r.kind === 'mm3' ? 'mm3' : 'mm4-forward',
      key: `${messageId}/${r.address}`,
      messageId,
      address: r.address,
      payload,
      giveUpAt: message.envelope.expiresAt,
      holdsMessage: true,
    });
  }
  return jobs;
}
