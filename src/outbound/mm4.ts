import { createHash, randomBytes } from 'node:crypto';
import type { Database, Statement } from 'better-sqlite3';
import MimeNode from 'nodemailer/lib/mime-node';
import { toMm4Address } from '../../protocol/mm4/address.js';
import {
  buildMm4Headers,
  type HeaderField,
  type Mm4DeliveryReportReq,
  type Mm4ForwardReq,
  type Mm4Message,
  type Mm4ReadReplyReportReq,
  type Mm4Result,
} from '../../protocol/mm4/headers.js';
import { MM4_DEFAULT_VERSION, MM4_MESSAGE_CLASS, MM4_PRIORITY, type Mm4MessageClass, type Mm4MmStatus, type Mm4Priority, type Mm4ReadStatus } from '../../protocol/mm4/tables.js';
import type { Clock, StoredMessage, StoredPart } from '../mmsc/model.js';
import type { JobHandler, NewJob } from '../outbox/types.js';
import { payloadOf, sendRaw, type MessageLookup, type SetState, type SmtpTarget } from './mm3.js';

/**
 * MM4 out (TS 23.140 §8.4): a message for a number of a peer MMS-C leaves
 * as an MM4_forward.REQ mail to that peer; answers and reports
 * (MM4_forward.RES, MM4_delivery_report.REQ/.RES, MM4_read_reply_report.*)
 * go out as 'mm4-report' jobs. The forward's transaction id is recorded
 * (DB1 migration 4) before the mail leaves, so the .RES can be matched.
 */

/** What the transaction ledger needs of DB1. */
export interface Mm4Store {
  readonly sqlite: Database;
  write<T>(work: () => T): Promise<T>;
}

export interface Mm4Transaction {
  transactionId: string;
  messageId: string;
  address: string;
  peerDomain: string;
  result: string | null;
}

/** The mm4_transactions table: forwards sent, by X-Mms-Transaction-ID. */
export class Mm4Transactions {
  readonly #store: Mm4Store;
  readonly #s: {
    insert: Statement<[string, string, string, string, number]>;
    get: Statement<[string], { transaction_id: string; message_id: string; address: string; peer_domain: string; result: string | null }>;
    result: Statement<[string, string]>;
  };

  constructor(store: Mm4Store) {
    this.#store = store;
    const db = store.sqlite;
    this.#s = {
      insert: db.prepare('INSERT INTO mm4_transactions (transaction_id, message_id, address, peer_domain, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING'),
      get: db.prepare('SELECT transaction_id, message_id, address, peer_domain, result FROM mm4_transactions WHERE transaction_id = ?'),
      result: db.prepare('UPDATE mm4_transactions SET result = ? WHERE transaction_id = ?'),
    };
  }

  record(t: Omit<Mm4Transaction, 'result'>, now: Date): Promise<void> {
    return this.#store.write(() => {
      this.#s.insert.run(t.transactionId, t.messageId, t.address, t.peerDomain, now.getTime());
    });
  }

  find(transactionId: string): Mm4Transaction | undefined {
    const r = this.#s.get.get(transactionId);
    return r && { transactionId: r.transaction_id, messageId: r.message_id, address: r.address, peerDomain: r.peer_domain, result: r.result };
  }

  setResult(transactionId: string, result: string): Promise<void> {
    return this.#store.write(() => {
      this.#s.result.run(result, transactionId);
    });
  }
}

/** The same forward gets the same transaction id on every attempt, so the peer can drop a repeat. */
export function forwardTransactionId(messageId: string, address: string): string {
  return `F${createHash('sha256').update(`${messageId}/${address}`).digest('hex').slice(0, 24)}`;
}

/** This MMS-C's MM4 identity. */
export interface Mm4Identity {
  /** Our mail domain (numbers as `+1555…/TYPE=PLMN@<domain>`). */
  domain: string;
  /** Local part of X-Mms-Originator-System and Sender. */
  systemUser: string;
}

export const systemAddress = (id: Mm4Identity): string => `${id.systemUser}@${id.domain}`;

function mailMessageId(domain: string): string {
  return `${randomBytes(12).toString('hex')}@${domain}`;
}

/** Fields MimeNode formats itself (addresses, dates, ids, the Subject's encoded-words). */
const FORMATTED = new Set(['Subject', 'From', 'Sender', 'To', 'Cc', 'Date', 'Message-ID']);

/**
 * The mail: the X-Mms fields written here exactly as built (ASCII, checked
 * for line breaks, names spelled as 23.140 spells them — MimeNode would
 * re-case `X-Mms-3GPP-MMS-Version` and turn a quoted transaction id into
 * an encoded-word), then MimeNode's own header block and body, with the
 * addresses, Date, Message-ID and Subject it formats.
 */
async function build(root: MimeNode, headers: readonly HeaderField[]): Promise<Buffer> {
  const own: string[] = [];
  for (const [name, value] of headers) {
    if (FORMATTED.has(name)) root.setHeader(name, value);
    else own.push(`${name}: ${value}\r\n`);
  }
  root.setHeader('MIME-Version', '1.0');
  return Buffer.concat([Buffer.from(own.join(''), 'latin1'), await root.build()]);
}

/** The MM as the MIME body of an MM4_forward.REQ: every stored part as it is, Content-ID and Content-Location kept. */
function contentNode(message: StoredMessage, parts: readonly StoredPart[]): MimeNode {
  const multipart = message.envelope.contentType.toLowerCase().startsWith('multipart/');
  if (!multipart && parts.length === 1) {
    const root = new MimeNode(parts[0]!.contentType);
    root.setContent(parts[0]!.data);
    return root;
  }
  const root = new MimeNode(multipart ? message.envelope.contentType : 'multipart/mixed');
  for (const p of parts) {
    const child = root.createChild(p.contentType);
    if (p.contentId !== undefined) child.setHeader('Content-ID', `<${p.contentId}>`);
    if (p.contentLocation !== undefined) child.setHeader('Content-Location', p.contentLocation);
    child.setContent(p.data);
  }
  return root;
}

const asClass = (v: string | undefined): Mm4MessageClass | undefined => MM4_MESSAGE_CLASS.find((c) => c.toLowerCase() === v?.toLowerCase());
const asPriority = (v: string | undefined): Mm4Priority | undefined => MM4_PRIORITY.find((c) => c.toLowerCase() === v?.toLowerCase());

/** The MM4_forward.REQ for one recipient of a stored message. */
export function forwardReq(message: StoredMessage, address: string, peerDomain: string, id: Mm4Identity, now: Date): Mm4ForwardReq {
  const e = message.envelope;
  const mailTo = (a: string): string => toMm4Address(a, a === address ? peerDomain : id.domain);
  // Only the recipient at this peer is named in To/Cc; Bcc stays hidden.
  const mine = message.recipients.find((r) => r.address === address);
  const req: Mm4ForwardReq = {
    type: 'MM4_forward.REQ',
    version: MM4_DEFAULT_VERSION,
    transactionId: forwardTransactionId(message.messageId, address),
    messageId: message.messageId,
    from: toMm4Address(e.from, id.domain),
    to: mine?.kind === 'cc' ? [] : [mailTo(address)],
    cc: mine?.kind === 'cc' ? [mailTo(address)] : [],
    ackRequest: true,
    originatorSystem: systemAddress(id),
    expiry: e.expiresAt,
    deliveryReport: e.deliveryReport,
    readReply: e.readReport,
    date: now,
    sender: systemAddress(id),
    mailMessageId: mailMessageId(id.domain),
  };
  if (e.subject !== undefined) req.subject = e.subject;
  const cls = asClass(e.messageClass);
  if (cls) req.messageClass = cls;
  const prio = asPriority(e.priority);
  if (prio) req.priority = prio;
  return req;
}

/** The whole MM4_forward.REQ mail, composed by nodemailer's MIME builder. */
export async function composeForward(req: Mm4ForwardReq, message: StoredMessage, parts: readonly StoredPart[]): Promise<Buffer> {
  return build(contentNode(message, parts), buildMm4Headers(req));
}

/** An MM4 .RES or report REQ as a mail with a short text body for people reading logs. */
export async function composeReport(m: Mm4Message, text: string): Promise<Buffer> {
  const root = new MimeNode('text/plain; charset=utf-8');
  root.setContent(text);
  return build(root, buildMm4Headers(m));
}

export interface Mm4PeerTarget extends SmtpTarget {
  domain: string;
}

export interface Mm4ForwardHandlerOptions {
  lookup: MessageLookup;
  transactions: Mm4Transactions;
  identity: Mm4Identity;
  peers: readonly Mm4PeerTarget[];
  clock: Clock;
  timeoutMs: number;
  setState?: SetState;
}

export function mm4ForwardHandler(o: Mm4ForwardHandlerOptions): JobHandler {
  return async (job) => {
    const payload = payloadOf(job);
    if (!payload?.peerDomain) return { status: 'failed', error: 'job payload lacks messageId/address/peerDomain' };
    const peer = o.peers.find((p) => p.domain === payload.peerDomain);
    if (!peer) return { status: 'failed', error: `no SMTP transport configured for peer ${payload.peerDomain}` };
    const message = o.lookup.getMessage(payload.messageId);
    if (!message || message.destroyed) return { status: 'failed', error: 'message no longer stored' };
    const now = o.clock.now();
    const req = forwardReq(message, payload.address, peer.domain, o.identity, now);
    await o.transactions.record({ transactionId: req.transactionId, messageId: message.messageId, address: payload.address, peerDomain: peer.domain }, now);
    const raw = await composeForward(req, message, o.lookup.getParts(message.messageId));
    const outcome = await sendRaw(
      { target: peer, from: systemAddress(o.identity), to: [toMm4Address(payload.address, peer.domain)], timeoutMs: o.timeoutMs, name: o.identity.domain },
      raw,
    );
    if (outcome.status === 'failed') await o.setState?.(message.messageId, payload.address, 'rejected', `MM4: ${outcome.error}`);
    return outcome;
  };
}

type Omitted = 'version' | 'date' | 'sender' | 'mailMessageId';
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
/** A report as the outbox stores it (JSON): the handler adds version, date and mail ids when it sends. */
export type Mm4ReportSpec = DistributiveOmit<Mm4Result | Mm4DeliveryReportReq | Mm4ReadReplyReportReq, Omitted>;

export interface Mm4ReportPayload {
  peerDomain: string;
  /** RCPT TO: the peer's X-Mms-Originator-System (or, lacking it, its sender). */
  to: string;
  report: Mm4ReportSpec;
}

/** An 'mm4-report' job; the key makes a retried request (same transaction) enqueue it once. */
export function mm4ReportJob(payload: Mm4ReportPayload, messageId?: string): NewJob {
  return {
    kind: 'mm4-report',
    key: `${payload.report.type}/${payload.peerDomain}/${payload.report.transactionId}`,
    ...(messageId !== undefined ? { messageId } : {}),
    address: payload.to,
    payload,
  };
}

export interface Mm4ReportHandlerOptions {
  identity: Mm4Identity;
  peers: readonly Mm4PeerTarget[];
  clock: Clock;
  timeoutMs: number;
}

function describe(r: Mm4ReportSpec): string {
  switch (r.type) {
    case 'MM4_delivery_report.REQ':
      return `Delivery report for message ${r.messageId}: ${r.mmStatus}`;
    case 'MM4_read_reply_report.REQ':
      return `Read report for message ${r.messageId}: ${r.readStatus}`;
    default:
      return `${r.type}: ${r.requestStatus}${r.statusText ? ` (${r.statusText})` : ''}`;
  }
}

export function mm4ReportHandler(o: Mm4ReportHandlerOptions): JobHandler {
  return async (job) => {
    const p = job.payload as Partial<Mm4ReportPayload> | null;
    if (!p || typeof p.peerDomain !== 'string' || typeof p.to !== 'string' || typeof p.report !== 'object' || p.report === null) {
      return { status: 'failed', error: 'job payload is not an MM4 report' };
    }
    const peer = o.peers.find((x) => x.domain === p.peerDomain);
    if (!peer) return { status: 'failed', error: `no SMTP transport configured for peer ${p.peerDomain}` };
    const message = {
      ...p.report,
      version: MM4_DEFAULT_VERSION,
      date: o.clock.now(),
      sender: systemAddress(o.identity),
      mailMessageId: mailMessageId(o.identity.domain),
    } as Mm4Message;
    let raw: Buffer;
    try {
      raw = await composeReport(message, describe(p.report));
    } catch (e) {
      return { status: 'failed', error: `cannot compose ${p.report.type}: ${(e as Error).message}` };
    }
    return sendRaw({ target: peer, from: systemAddress(o.identity), to: [p.to], timeoutMs: o.timeoutMs, name: o.identity.domain }, raw);
  };
}

/**
 * The MM4_delivery_report.REQ that tells a peer MMS-C what became of a
 * message it forwarded to us (TS 23.140 §8.4.2): addressed to the MM's
 * originator at the peer's domain (From: our recipient), with the peer's
 * own X-Mms-Message-ID. None when the message did not come by MM4 or its
 * originator did not ask for delivery reports. Called by the report
 * machinery when a recipient's state reaches a reportable status.
 */
export function mm4DeliveryReportJob(message: Pick<StoredMessage, 'messageId' | 'envelope'>, recipient: string, status: Mm4MmStatus, identity: Mm4Identity): NewJob | undefined {
  const { origin } = message.envelope;
  if (origin.interface !== 'mm4' || !message.envelope.deliveryReport) return undefined;
  const originator = toMm4Address(message.envelope.from, origin.peerDomain);
  const transactionId = `D${createHash('sha256').update(`${message.messageId}/${recipient}/${status}`).digest('hex').slice(0, 24)}`;
  return mm4ReportJob(
    {
      peerDomain: origin.peerDomain,
      to: originator,
      report: { type: 'MM4_delivery_report.REQ', transactionId, messageId: origin.originatorMessageId, from: toMm4Address(recipient, identity.domain), to: [originator], mmStatus: status, ackRequest: false },
    },
    message.messageId,
  );
}

/** The MM4_read_reply_report.REQ for a read report of one of our recipients about a message a peer forwarded. */
export function mm4ReadReplyJob(message: Pick<StoredMessage, 'messageId' | 'envelope'>, reader: string, status: Mm4ReadStatus, identity: Mm4Identity): NewJob | undefined {
  const { origin } = message.envelope;
  if (origin.interface !== 'mm4') return undefined;
  const originator = toMm4Address(message.envelope.from, origin.peerDomain);
  const transactionId = `R${createHash('sha256').update(`${message.messageId}/${reader}/read`).digest('hex').slice(0, 24)}`;
  return mm4ReportJob(
    {
      peerDomain: origin.peerDomain,
      to: originator,
      report: { type: 'MM4_read_reply_report.REQ', transactionId, messageId: origin.originatorMessageId, from: toMm4Address(reader, identity.domain), to: [originator], readStatus: status, ackRequest: false },
    },
    message.messageId,
  );
}
