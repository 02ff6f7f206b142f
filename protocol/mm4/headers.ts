import { ProtocolError } from '../errors.js';
import { parseAddressList } from './address.js';
import {
  H,
  MM4_DEFAULT_VERSION,
  MM4_MESSAGE_CLASS,
  MM4_MESSAGE_TYPES,
  MM4_MM_STATUS,
  MM4_PRIORITY,
  MM4_READ_STATUS,
  MM4_REQUEST_STATUS,
  MM_STATUS_ALIASES,
  type Mm4MessageClass,
  type Mm4MessageType,
  type Mm4MmStatus,
  type Mm4Priority,
  type Mm4ReadStatus,
  type Mm4RequestStatus,
} from './tables.js';

/**
 * The MM4 messages as typed values, and their mapping to and from the RFC
 * 2822 header fields of the mail that carries them (TS 23.140 §8.4). The
 * MIME body of an MM4_forward.REQ is not here: the caller composes and
 * parses it with its mail library. Addresses are addr-specs already in MM4
 * form (see address.ts).
 */

/** One header field, its value unfolded. */
export type HeaderField = readonly [name: string, value: string];

interface Mm4Base {
  /** X-Mms-3GPP-MMS-Version. */
  version: string;
  transactionId: string;
  /** Date of the mail. */
  date?: Date;
  /** The RFC 2822 Message-ID of the mail itself (without angle brackets). */
  mailMessageId?: string;
  /** Sender: the system address the mail is sent from. */
  sender?: string;
}

export interface Mm4ForwardReq extends Mm4Base {
  type: 'MM4_forward.REQ';
  /** X-Mms-Message-ID: the originator MMS-C's id of the MM. */
  messageId: string;
  from: string;
  to: string[];
  cc: string[];
  subject?: string;
  ackRequest: boolean;
  /** Where the .RES and reports go (mandatory when ackRequest). */
  originatorSystem?: string;
  expiry?: Date;
  messageClass?: Mm4MessageClass;
  priority?: Mm4Priority;
  deliveryReport: boolean;
  readReply: boolean;
}

export interface Mm4Result extends Mm4Base {
  type: 'MM4_forward.RES' | 'MM4_delivery_report.RES' | 'MM4_read_reply_report.RES';
  /** To: the originator system of the request. */
  to: string[];
  messageId?: string;
  requestStatus: Mm4RequestStatus;
  statusText?: string;
}

export interface Mm4DeliveryReportReq extends Mm4Base {
  type: 'MM4_delivery_report.REQ';
  /** X-Mms-Message-ID of the original MM. */
  messageId: string;
  /** The recipient of the original MM. */
  from: string;
  /** The originator of the original MM. */
  to: string[];
  mmStatus: Mm4MmStatus;
  mmStatusText?: string;
  ackRequest: boolean;
  originatorSystem?: string;
}

export interface Mm4ReadReplyReportReq extends Mm4Base {
  type: 'MM4_read_reply_report.REQ';
  messageId: string;
  from: string;
  to: string[];
  readStatus: Mm4ReadStatus;
  ackRequest: boolean;
  originatorSystem?: string;
}

export type Mm4Message = Mm4ForwardReq | Mm4Result | Mm4DeliveryReportReq | Mm4ReadReplyReportReq;

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number): string => String(n).padStart(2, '0');

/** RFC 2822 date-time in UTC: `Wed, 01 May 2024 10:00:00 +0000`. */
export function formatMailDate(d: Date): string {
  return `${DAYS[d.getUTCDay()]}, ${pad(d.getUTCDate())} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`;
}

/** A quoted-string, as 23.140 writes the transaction and message ids. */
function quote(s: string): string {
  return `"${s.replace(/[\\"]/g, '\\$&')}"`;
}

function unquote(s: string): string {
  const t = s.trim();
  return t.length >= 2 && t.startsWith('"') && t.endsWith('"') ? t.slice(1, -1).replace(/\\(.)/g, '$1') : t;
}

const yesNo = (b: boolean): string => (b ? 'Yes' : 'No');

/** The header fields of an MM4 message, in the order 23.140 lists them. */
export function buildMm4Headers(m: Mm4Message): HeaderField[] {
  for (const [field, value] of [
    [H.transactionId, m.transactionId],
    [H.version, m.version],
  ] as const) {
    if (!value || /[\r\n]/.test(value)) throw new ProtocolError('BAD_VALUE', field, 'must be a non-empty single line');
  }
  const out: Array<[string, string]> = [
    [H.version, m.version],
    [H.messageType, m.type],
    [H.transactionId, quote(m.transactionId)],
  ];
  const add = (name: string, value: string | undefined): void => {
    if (value === undefined) return;
    if (/[\r\n]/.test(value)) throw new ProtocolError('BAD_VALUE', name, 'a header value may not contain a line break');
    out.push([name, value]);
  };
  switch (m.type) {
    case 'MM4_forward.REQ':
      add(H.messageId, quote(m.messageId));
      if (m.ackRequest && !m.originatorSystem) throw new ProtocolError('MISSING_HEADER', H.originatorSystem, 'required when X-Mms-Ack-Request is Yes');
      add(H.ackRequest, yesNo(m.ackRequest));
      add(H.originatorSystem, m.originatorSystem);
      add(H.from, `<${m.from}>`);
      if (m.to.length === 0 && m.cc.length === 0) throw new ProtocolError('MISSING_HEADER', H.to, 'an MM4_forward.REQ needs a recipient');
      if (m.to.length) add(H.to, m.to.map((a) => `<${a}>`).join(', '));
      if (m.cc.length) add(H.cc, m.cc.map((a) => `<${a}>`).join(', '));
      add(H.expiry, m.expiry && formatMailDate(m.expiry));
      add(H.messageClass, m.messageClass);
      add(H.priority, m.priority);
      add(H.deliveryReport, yesNo(m.deliveryReport));
      add(H.readReply, yesNo(m.readReply));
      break;
    case 'MM4_delivery_report.REQ':
    case 'MM4_read_reply_report.REQ':
      add(H.messageId, quote(m.messageId));
      if (m.ackRequest && !m.originatorSystem) throw new ProtocolError('MISSING_HEADER', H.originatorSystem, 'required when X-Mms-Ack-Request is Yes');
      add(H.ackRequest, yesNo(m.ackRequest));
      add(H.originatorSystem, m.originatorSystem);
      add(H.from, `<${m.from}>`);
      add(H.to, m.to.map((a) => `<${a}>`).join(', '));
      if (m.type === 'MM4_delivery_report.REQ') {
        add(H.mmStatus, m.mmStatus);
        add(H.mmStatusText, m.mmStatusText);
      } else add(H.readStatus, m.readStatus);
      break;
    default:
      add(H.messageId, m.messageId === undefined ? undefined : quote(m.messageId));
      add(H.requestStatus, m.requestStatus);
      add(H.statusText, m.statusText);
      add(H.to, m.to.map((a) => `<${a}>`).join(', '));
  }
  add(H.sender, m.sender);
  add(H.date, m.date && formatMailDate(m.date));
  add(H.rfc2822MessageId, m.mailMessageId === undefined ? undefined : `<${m.mailMessageId}>`);
  if (m.type === 'MM4_forward.REQ') add(H.subject, m.subject);
  return out;
}

/** Does this mail carry an MM4 message (as opposed to plain MM3 e-mail)? */
export function isMm4(headers: readonly HeaderField[]): boolean {
  return headers.some(([n]) => n.toLowerCase() === 'x-mms-message-type');
}

function oneOf<T extends string>(table: readonly T[], field: string, value: string): T {
  const found = table.find((v) => v.toLowerCase() === value.trim().toLowerCase());
  if (found === undefined) throw new ProtocolError('BAD_VALUE', field, `"${value}" is not one of ${table.join(', ')}`);
  return found;
}

/**
 * Reads the MM4 message of a mail from its header fields (values unfolded;
 * encoded-words of Subject already decoded by the caller's mail parser).
 * Throws ProtocolError MISSING_HEADER / BAD_VALUE naming the header.
 */
export function parseMm4Headers(headers: readonly HeaderField[]): Mm4Message {
  const byName = new Map<string, string>();
  for (const [name, value] of headers) {
    const key = name.toLowerCase();
    // Address headers may repeat; other fields: the first one counts.
    if (byName.has(key) && (key === 'to' || key === 'cc')) byName.set(key, `${byName.get(key)}, ${value}`);
    else if (!byName.has(key)) byName.set(key, value.trim());
  }
  const get = (name: string): string | undefined => byName.get(name.toLowerCase());
  const need = (name: string): string => {
    const v = get(name);
    if (v === undefined || v === '') throw new ProtocolError('MISSING_HEADER', name, 'absent');
    return v;
  };
  const flag = (name: string): boolean => {
    const v = get(name);
    if (v === undefined) return false;
    return oneOf(['Yes', 'No'], name, v) === 'Yes';
  };
  const date = (name: string): Date | undefined => {
    const v = get(name);
    if (v === undefined) return undefined;
    const t = Date.parse(v);
    if (Number.isNaN(t)) throw new ProtocolError('BAD_VALUE', name, `"${v}" is not an RFC 2822 date`);
    return new Date(t);
  };
  const addresses = (name: string): string[] => parseAddressList(get(name) ?? '').map((a) => a.addrSpec);
  const single = (name: string): string => {
    const list = parseAddressList(need(name));
    if (list.length !== 1) throw new ProtocolError('BAD_VALUE', name, 'expected exactly one address');
    return list[0]!.addrSpec;
  };

  const type = oneOf(MM4_MESSAGE_TYPES, H.messageType, need(H.messageType)) satisfies Mm4MessageType;
  const base: Mm4Base = { version: get(H.version) ?? MM4_DEFAULT_VERSION, transactionId: unquote(need(H.transactionId)) };
  const d = date(H.date);
  if (d) base.date = d;
  const mid = get(H.rfc2822MessageId);
  if (mid) base.mailMessageId = mid.replace(/^<|>$/g, '');
  const sender = get(H.sender);
  if (sender) base.sender = parseAddressList(sender)[0]?.addrSpec ?? sender;
  const originatorSystem = get(H.originatorSystem);
  const withOriginator = <T extends object>(o: T): T & { originatorSystem?: string } =>
    originatorSystem ? { ...o, originatorSystem: parseAddressList(originatorSystem)[0]?.addrSpec ?? originatorSystem } : o;

  switch (type) {
    case 'MM4_forward.REQ': {
      const to = addresses(H.to);
      const cc = addresses(H.cc);
      if (to.length === 0 && cc.length === 0) throw new ProtocolError('MISSING_HEADER', H.to, 'an MM4_forward.REQ needs a recipient');
      const m: Mm4ForwardReq = withOriginator({
        ...base,
        type,
        messageId: unquote(need(H.messageId)),
        from: single(H.from),
        to,
        cc,
        ackRequest: flag(H.ackRequest),
        deliveryReport: flag(H.deliveryReport),
        readReply: flag(H.readReply),
      });
      if (m.ackRequest && !m.originatorSystem) throw new ProtocolError('MISSING_HEADER', H.originatorSystem, 'required when X-Mms-Ack-Request is Yes');
      const subject = get(H.subject);
      if (subject !== undefined) m.subject = subject;
      const expiry = get(H.expiry);
      if (expiry !== undefined) {
        // An absolute date, or (as some peers write it) seconds from the Date of the mail.
        if (/^\d+$/.test(expiry)) m.expiry = new Date((d ?? new Date(0)).getTime() + Number(expiry) * 1000);
        else m.expiry = date(H.expiry)!;
      }
      const cls = get(H.messageClass);
      if (cls !== undefined) m.messageClass = oneOf(MM4_MESSAGE_CLASS, H.messageClass, cls);
      const prio = get(H.priority);
      if (prio !== undefined) m.priority = oneOf(MM4_PRIORITY, H.priority, prio);
      return m;
    }
    case 'MM4_delivery_report.REQ': {
      const statusText = MM_STATUS_ALIASES.map((n) => byName.get(n)).find((v) => v !== undefined);
      if (statusText === undefined) throw new ProtocolError('MISSING_HEADER', H.mmStatus, 'absent');
      const m: Mm4DeliveryReportReq = withOriginator({
        ...base,
        type,
        messageId: unquote(need(H.messageId)),
        from: single(H.from),
        to: addresses(H.to),
        mmStatus: oneOf(MM4_MM_STATUS, H.mmStatus, statusText),
        ackRequest: flag(H.ackRequest),
      });
      const text = get(H.mmStatusText);
      if (text !== undefined) m.mmStatusText = text;
      return m;
    }
    case 'MM4_read_reply_report.REQ':
      return withOriginator({
        ...base,
        type,
        messageId: unquote(need(H.messageId)),
        from: single(H.from),
        to: addresses(H.to),
        readStatus: oneOf(MM4_READ_STATUS, H.readStatus, need(H.readStatus)),
        ackRequest: flag(H.ackRequest),
      }) satisfies Mm4ReadReplyReportReq;
    default: {
      const m: Mm4Result = { ...base, type, to: addresses(H.to), requestStatus: oneOf(MM4_REQUEST_STATUS, H.requestStatus, need(H.requestStatus)) };
      const messageId = get(H.messageId);
      if (messageId !== undefined) m.messageId = unquote(messageId);
      const text = get(H.statusText);
      if (text !== undefined) m.statusText = text;
      return m;
    }
  }
}
