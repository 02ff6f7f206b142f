import { ProtocolError } from '../errors.js';
import { attr, escapeXml, parseXml, type XmlElement } from '../mm7/xml.js';
import { papCodeText } from './codes.js';

/**
 * The PAP control entity (WAP-247-PAP): the push-message a push initiator
 * sends, and the push-response / badmessage-response a PPG answers with.
 * Element and attribute names are the DTD's, so the code greps like the spec.
 */

export const PAP_20_DOCTYPE = '<!DOCTYPE pap PUBLIC "-//WAPFORUM//DTD PAP 2.0//EN" "http://www.wapforum.org/DTD/pap_2.0.dtd">';

export type PapPriority = 'high' | 'medium' | 'low';
export type PapDeliveryMethod = 'confirmed' | 'preferconfirmed' | 'unconfirmed' | 'notspecified';

export interface QualityOfService {
  priority?: PapPriority;
  deliveryMethod?: PapDeliveryMethod;
  network?: string;
  networkRequired?: boolean;
  bearer?: string;
  bearerRequired?: boolean;
}

export interface PushMessage {
  /** Unique per push initiator; a PPG answers a second push with the same id by 2007. */
  pushId: string;
  /** address-value of each `<address>`, in WAPPUSH form (address.ts). */
  addresses: string[];
  deliverBeforeTimestamp?: Date;
  deliverAfterTimestamp?: Date;
  sourceReference?: string;
  ppgNotifyRequestedTo?: string;
  progressNotesRequested?: boolean;
  qualityOfService?: QualityOfService;
}

export interface PushResponse {
  kind: 'push-response';
  pushId: string;
  senderAddress?: string;
  senderName?: string;
  replyTime?: Date;
  /** response-result code. */
  code: number;
  desc?: string;
}

/** The PPG could not tell what the request was (2000) or does not speak its PAP version (3002). */
export interface BadMessageResponse {
  kind: 'badmessage-response';
  code: number;
  desc?: string;
  badMessageFragment?: string;
}

export type PapResponse = PushResponse | BadMessageResponse;

/** What a PPG's answer may be at most; a real one is a few hundred octets. */
export const MAX_RESPONSE_CHARS = 64 * 1024;

const PRIORITIES: readonly PapPriority[] = ['high', 'medium', 'low'];
const DELIVERY_METHODS: readonly PapDeliveryMethod[] = ['confirmed', 'preferconfirmed', 'unconfirmed', 'notspecified'];

/** PAP's date-time form (WAP-247 §9.2): `YYYY-MM-DDThh:mm:ssZ`, UTC, no fraction. */
export function formatPapTimestamp(d: Date): string {
  if (Number.isNaN(d.getTime())) throw new ProtocolError('BAD_VALUE', 'timestamp', 'not a valid date');
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?Z$/;

export function parsePapTimestamp(text: string, field: string): Date {
  const m = TIMESTAMP.exec(text.trim());
  const d = m ? new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!)) : undefined;
  // Date.UTC rolls 2024-02-31 over to March: a round trip catches it.
  if (!m || !d || Number.isNaN(d.getTime()) || formatPapTimestamp(d).slice(0, 19) !== text.trim().slice(0, 19)) {
    throw new ProtocolError('BAD_VALUE', field, `"${text}" is not a PAP timestamp (YYYY-MM-DDThh:mm:ssZ)`);
  }
  return d;
}

function attribute(name: string, value: string | boolean | Date | undefined): string {
  if (value === undefined) return '';
  const text = value instanceof Date ? formatPapTimestamp(value) : String(value);
  return ` ${name}="${escapeXml(text)}"`;
}

/** The control entity of a push submission, as the application/xml part of the request. */
export function buildPushMessage(m: PushMessage): string {
  if (m.pushId.trim() === '') throw new ProtocolError('MISSING_HEADER', 'push-id', 'a push-message needs a push-id');
  if (m.addresses.length === 0) throw new ProtocolError('MISSING_HEADER', 'address', 'a push-message needs at least one address');
  const q = m.qualityOfService;
  if (q?.priority !== undefined && !PRIORITIES.includes(q.priority)) throw new ProtocolError('BAD_VALUE', 'priority', `"${q.priority}" is not high, medium or low`);
  if (q?.deliveryMethod !== undefined && !DELIVERY_METHODS.includes(q.deliveryMethod)) {
    throw new ProtocolError('BAD_VALUE', 'delivery-method', `"${q.deliveryMethod}" is not ${DELIVERY_METHODS.join(', ')}`);
  }
  const lines = [
    '<?xml version="1.0"?>',
    PAP_20_DOCTYPE,
    '<pap>',
    `  <push-message${attribute('push-id', m.pushId)}${attribute('deliver-before-timestamp', m.deliverBeforeTimestamp)}${attribute(
      'deliver-after-timestamp',
      m.deliverAfterTimestamp,
    )}${attribute('source-reference', m.sourceReference)}${attribute('ppg-notify-requested-to', m.ppgNotifyRequestedTo)}${attribute(
      'progress-notes-requested',
      m.progressNotesRequested,
    )}>`,
    ...m.addresses.map((a) => `    <address${attribute('address-value', a)}/>`),
  ];
  if (q) {
    lines.push(
      `    <quality-of-service${attribute('priority', q.priority)}${attribute('delivery-method', q.deliveryMethod)}${attribute('network', q.network)}${attribute(
        'network-required',
        q.networkRequired,
      )}${attribute('bearer', q.bearer)}${attribute('bearer-required', q.bearerRequired)}/>`,
    );
  }
  lines.push('  </push-message>', '</pap>', '');
  return lines.join('\n');
}

// ---------------------------------------------------------------- parsing

/**
 * Parses a PAP document into its root `<pap>` element. The PAP DOCTYPE
 * names an external DTD only; it is dropped before parsing, never read.
 * Any other DOCTYPE (an internal subset can declare entities) is refused,
 * like every DTD in this code base.
 */
function parsePapDocument(xml: string, field: string): XmlElement {
  if (xml.length > MAX_RESPONSE_CHARS) throw new ProtocolError('BAD_LENGTH', field, `larger than ${MAX_RESPONSE_CHARS} characters`);
  const withoutDoctype = xml.replace(/<!DOCTYPE\s+pap\s+PUBLIC\s+"[^"<>[\]]*"\s+"[^"<>[\]]*"\s*>/, '');
  if (/<!DOCTYPE|<!ENTITY/i.test(withoutDoctype)) throw new ProtocolError('BAD_VALUE', field, 'only the PAP DOCTYPE (an external identifier, no internal subset) is allowed');
  let root: XmlElement;
  try {
    root = parseXml(withoutDoctype, { maxOctets: MAX_RESPONSE_CHARS, maxDepth: 8 });
  } catch (e) {
    if (e instanceof ProtocolError) throw new ProtocolError(e.code, field, e.detail);
    throw e;
  }
  if (root.local !== 'pap' || root.ns !== '') throw new ProtocolError('BAD_VALUE', field, `the root element is <${root.local}>, not <pap>`);
  return root;
}

function onlyChild(root: XmlElement, field: string): XmlElement {
  if (root.children.length !== 1) throw new ProtocolError('BAD_VALUE', field, `<pap> must hold exactly one element, it holds ${root.children.length}`);
  return root.children[0]!;
}

function resultCode(text: string | undefined, field: string): number {
  if (text === undefined) throw new ProtocolError('MISSING_HEADER', field, 'the code attribute is missing');
  if (!/^[1-9][0-9]{3}$/.test(text.trim())) throw new ProtocolError('BAD_VALUE', field, `code "${text}" is not a four-digit PAP result code`);
  return Number(text.trim());
}

function setIf<T extends object, K extends keyof T>(target: T, key: K, value: T[K] | undefined): void {
  if (value !== undefined) target[key] = value;
}

/**
 * A PPG's answer to a push submission: its push-response (with the
 * response-result; progress-notes before it are skipped) or a
 * badmessage-response. Anything else is a ProtocolError: the caller cannot
 * tell whether the PPG took the push.
 */
export function parsePapResponse(xml: string): PapResponse {
  const root = parsePapDocument(xml, 'PAP response');
  const el = onlyChild(root, 'PAP response');
  if (el.local === 'badmessage-response') {
    const bad: BadMessageResponse = { kind: 'badmessage-response', code: resultCode(attr(el, 'code'), 'badmessage-response') };
    setIf(bad, 'desc', attr(el, 'desc'));
    setIf(bad, 'badMessageFragment', attr(el, 'bad-message-fragment'));
    return bad;
  }
  if (el.local !== 'push-response') throw new ProtocolError('BAD_VALUE', 'PAP response', `<${el.local}> is not a push-response or badmessage-response`);
  const pushId = attr(el, 'push-id');
  if (pushId === undefined) throw new ProtocolError('MISSING_HEADER', 'push-response', 'the push-id attribute is missing');
  const results = el.children.filter((c) => c.local === 'response-result');
  if (results.length !== 1) throw new ProtocolError('MISSING_HEADER', 'response-result', `a push-response holds one response-result, this one ${results.length}`);
  const result = results[0]!;
  const response: PushResponse = { kind: 'push-response', pushId, code: resultCode(attr(result, 'code'), 'response-result') };
  setIf(response, 'desc', attr(result, 'desc'));
  setIf(response, 'senderAddress', attr(el, 'sender-address'));
  setIf(response, 'senderName', attr(el, 'sender-name'));
  const replyTime = attr(el, 'reply-time');
  if (replyTime !== undefined) response.replyTime = parsePapTimestamp(replyTime, 'reply-time');
  return response;
}

/** The inverse of buildPushMessage, for a PPG (our simulators, tests). */
export function parsePushMessage(xml: string): PushMessage {
  const root = parsePapDocument(xml, 'PAP control entity');
  const el = onlyChild(root, 'PAP control entity');
  if (el.local !== 'push-message') throw new ProtocolError('BAD_VALUE', 'PAP control entity', `<${el.local}> is not a push-message`);
  const pushId = attr(el, 'push-id');
  if (pushId === undefined) throw new ProtocolError('MISSING_HEADER', 'push-id', 'the push-message has no push-id');
  const addresses = el.children.filter((c) => c.local === 'address').map((a) => {
    const value = attr(a, 'address-value');
    if (value === undefined) throw new ProtocolError('MISSING_HEADER', 'address-value', 'an <address> without address-value');
    return value;
  });
  if (addresses.length === 0) throw new ProtocolError('MISSING_HEADER', 'address', 'the push-message has no address');
  const bool = (el: XmlElement, name: string): boolean | undefined => {
    const v = attr(el, name);
    if (v === undefined) return undefined;
    if (v !== 'true' && v !== 'false') throw new ProtocolError('BAD_VALUE', name, `"${v}" is not true or false`);
    return v === 'true';
  };
  const m: PushMessage = { pushId, addresses };
  const before = attr(el, 'deliver-before-timestamp');
  if (before !== undefined) m.deliverBeforeTimestamp = parsePapTimestamp(before, 'deliver-before-timestamp');
  const after = attr(el, 'deliver-after-timestamp');
  if (after !== undefined) m.deliverAfterTimestamp = parsePapTimestamp(after, 'deliver-after-timestamp');
  setIf(m, 'sourceReference', attr(el, 'source-reference'));
  setIf(m, 'ppgNotifyRequestedTo', attr(el, 'ppg-notify-requested-to'));
  setIf(m, 'progressNotesRequested', bool(el, 'progress-notes-requested'));
  const qos = el.children.find((c) => c.local === 'quality-of-service');
  if (qos) {
    const q: QualityOfService = {};
    const priority = attr(qos, 'priority');
    if (priority !== undefined) {
      if (!PRIORITIES.includes(priority as PapPriority)) throw new ProtocolError('BAD_VALUE', 'priority', `"${priority}" is not high, medium or low`);
      q.priority = priority as PapPriority;
    }
    const method = attr(qos, 'delivery-method');
    if (method !== undefined) {
      if (!DELIVERY_METHODS.includes(method as PapDeliveryMethod)) throw new ProtocolError('BAD_VALUE', 'delivery-method', `"${method}" is not a delivery method`);
      q.deliveryMethod = method as PapDeliveryMethod;
    }
    setIf(q, 'network', attr(qos, 'network'));
    setIf(q, 'networkRequired', bool(qos, 'network-required'));
    setIf(q, 'bearer', attr(qos, 'bearer'));
    setIf(q, 'bearerRequired', bool(qos, 'bearer-required'));
    m.qualityOfService = q;
  }
  return m;
}

/** A PPG's answer, for our PPG stubs and simulators. */
export function buildPapResponse(r: PapResponse): string {
  const desc = r.desc ?? papCodeText(r.code);
  const body =
    r.kind === 'badmessage-response'
      ? `  <badmessage-response${attribute('code', String(r.code))}${attribute('desc', desc)}${attribute('bad-message-fragment', r.badMessageFragment)}/>`
      : [
          `  <push-response${attribute('push-id', r.pushId)}${attribute('sender-address', r.senderAddress)}${attribute('sender-name', r.senderName)}${attribute(
            'reply-time',
            r.replyTime,
          )}>`,
          `    <response-result${attribute('code', String(r.code))}${attribute('desc', desc)}/>`,
          '  </push-response>',
        ].join('\n');
  return ['<?xml version="1.0"?>', PAP_20_DOCTYPE, '<pap>', body, '</pap>', ''].join('\n');
}
