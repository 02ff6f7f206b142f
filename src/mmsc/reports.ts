/**
 * Delivery and read reports back to the originator, in its own protocol
 * (DESIGN.md step 7, issue 5 "Reports"): M-Delivery.ind / M-Read-Orig.ind
 * by WAP push to an MM1 sender, MM7 DeliveryReportReq / ReadReplyReq to a
 * VASP; and MM7 DeliverReq for a message a terminal sent to a VASP's short
 * code. Pure builders from a stored message and a recipient's state, plus
 * the outbox jobs that carry them (the handlers are in
 * src/outbound/vasp-client.ts and src/push/push-job.ts).
 */
import type { MimeEntity } from '../../protocol/mm7/mime-types.js';
import type { Mm7Address, Mm7Envelope, Mm7Message } from '../../protocol/mm7/model.js';
import { DEFAULT_MM7_VERSION, DEFAULT_RELEASE, isRel6, RELEASES, type Release } from '../../protocol/mm7/releases.js';
import type { MDeliveryInd, MReadOrigInd } from '../../protocol/mms/model.js';
import { encodeMmsPush } from '../../protocol/mms/push.js';
import type { NewJob } from '../outbox/types.js';
import { parseMimeType } from './convert.js';
import type { PushPayload } from './mmsc.js';
import type { Origin, RecipientState, StoredMessage, StoredPart } from './model.js';
import { toMmsAddress } from './routing.js';

/** X-Mms-Status of an M-Delivery.ind (ENC §7.3.54; Unreachable since 1.2). */
export type DeliveryStatus = 'Expired' | 'Retrieved' | 'Rejected' | 'Deferred' | 'Unrecognised' | 'Indeterminate' | 'Forwarded' | 'Unreachable';

/** X-Mms-Read-Status of M-Read-Rec.ind / M-Read-Orig.ind. */
export type ReadStatus = 'Read' | 'Deleted-without-being-read';

/** A report cannot be built or sent for this message (not an error of the wire: of the situation). */
export class ReportError extends Error {
  override readonly name = 'ReportError';
}

/**
 * The status a recipient's state reports, or undefined while it is not
 * final (accepted, notified). A recipient the router could not place is
 * Unrecognised; a cancelled message is Indeterminate (nothing was
 * delivered, nothing failed). Unreachable has no state of its own: the
 * caller passes it when a bearer gave up on the terminal.
 */
export function deliveryStatusOf(state: RecipientState): DeliveryStatus | undefined {
  switch (state) {
    case 'retrieved':
    case 'acknowledged':
      return 'Retrieved';
    case 'rejected':
      return 'Rejected';
    case 'deferred':
      return 'Deferred';
    case 'expired':
      return 'Expired';
    case 'forwarded':
      return 'Forwarded';
    case 'unroutable':
      return 'Unrecognised';
    case 'cancelled':
      return 'Indeterminate';
    case 'accepted':
    case 'notified':
      return undefined;
  }
}

/**
 * MM7 MMStatus values of DeliveryReportReq (spec digest §a.7): REL-5 knows
 * Expired, Retrieved, Rejected, Indeterminate and Forwarded; REL-6 adds
 * Deferred and Unrecognised. A status the release cannot say is sent as
 * Indeterminate, with the precise status in StatusText.
 */
const REL5_MM_STATUS: ReadonlySet<DeliveryStatus> = new Set(['Expired', 'Retrieved', 'Rejected', 'Indeterminate', 'Forwarded']);
const REL6_MM_STATUS: ReadonlySet<DeliveryStatus> = new Set([...REL5_MM_STATUS, 'Deferred', 'Unrecognised']);

export function mm7MmStatusOf(status: DeliveryStatus, release: Release): string {
  return (isRel6(release) ? REL6_MM_STATUS : REL5_MM_STATUS).has(status) ? status : 'Indeterminate';
}

/** ReadReplyReq's MMStatus: Read, Deleted (spec digest §a.7). */
export function mm7ReadStatusOf(status: ReadStatus): 'Read' | 'Deleted' {
  return status === 'Read' ? 'Read' : 'Deleted';
}

// ------------------------------------------------------------------ MM1

export interface MmsReportOptions {
  /** X-Mms-MMS-Version; default 1.2 (the first to know Unreachable). */
  mmsVersion?: string;
}

/**
 * The M-Delivery.ind for an MM1 originator (ENC §6.9): Message-ID is the
 * one its M-Send.conf gave; To is the recipient the report is about.
 */
export function deliveryInd(message: Pick<StoredMessage, 'messageId'>, recipient: string, status: DeliveryStatus, at: Date, opts: MmsReportOptions = {}): MDeliveryInd {
  return { messageType: 'm-delivery-ind', mmsVersion: opts.mmsVersion ?? '1.2', messageId: message.messageId, to: [{ text: toMmsAddress(recipient) }], date: at, status };
}

/**
 * The M-Read-Orig.ind for an MM1 originator (ENC §6.7.2): To is the
 * originator (who gets the report), From the recipient who read it.
 */
export function readOrigInd(message: Pick<StoredMessage, 'messageId' | 'envelope'>, reader: string, status: ReadStatus, at: Date, opts: MmsReportOptions = {}): MReadOrigInd {
  return {
    messageType: 'm-read-orig-ind',
    mmsVersion: opts.mmsVersion ?? '1.2',
    messageId: message.messageId,
    to: [{ text: toMmsAddress(message.envelope.from) }],
    from: { text: toMmsAddress(reader) },
    date: at,
    readStatus: status,
  };
}

// ------------------------------------------------------------------ MM7

type Mm7Origin = Extract<Origin, { interface: 'mm7' }>;

function mm7Origin(message: Pick<StoredMessage, 'messageId' | 'envelope'>): Mm7Origin {
  const origin = message.envelope.origin;
  if (origin.interface !== 'mm7') throw new ReportError(`message ${message.messageId} came in by ${origin.interface}, not from a VASP`);
  return origin;
}

/** The release a VASP used, which its reports are written in; an unknown one (an old row) falls back to the default. */
export function releaseOfOrigin(origin: Mm7Origin): Release {
  return (RELEASES as readonly string[]).includes(origin.release) ? (origin.release as Release) : DEFAULT_RELEASE;
}

/** A normalised address as an MM7 address element: e-mail, short code or number. */
export function mm7AddressOf(address: string): Mm7Address {
  if (address.includes('@')) return { kind: 'RFC2822Address', value: address };
  if (/^[0-9]{3,8}$/.test(address)) return { kind: 'ShortCode', value: address };
  return { kind: 'Number', value: address };
}

export interface Mm7ReportOptions {
  /** The SOAP header's TransactionID; keep it stable across retries of one job. */
  transactionId: string;
  /** MMSRelayServerID: the MMS-C's name towards VASPs. */
  relayServerId?: string;
  statusText?: string;
}

/**
 * MM7 DeliveryReportReq (23.140 §8.7.4) for a message a VASP submitted, in
 * the release and MM7Version of its SubmitReq. Recipient: the recipient
 * the report is about; Sender: the VASP's sender address.
 */
export function deliveryReportReq(message: Pick<StoredMessage, 'messageId' | 'envelope'>, recipient: string, status: DeliveryStatus, at: Date, opts: Mm7ReportOptions): Mm7Envelope {
  const origin = mm7Origin(message);
  const release = releaseOfOrigin(origin);
  const mmStatus = mm7MmStatusOf(status, release);
  const m: Mm7Message = { type: 'DeliveryReportReq', mm7Version: origin.mm7Version || DEFAULT_MM7_VERSION[release] };
  if (opts.relayServerId !== undefined) m.mmsRelayServerId = opts.relayServerId;
  m.messageId = message.messageId;
  m.recipient = mm7AddressOf(recipient);
  m.sender = mm7AddressOf(message.envelope.from);
  m.date = at;
  m.mmStatus = mmStatus;
  const text = opts.statusText ?? (mmStatus !== status ? status : undefined);
  if (text !== undefined) m.statusText = text;
  return { release, transactionId: opts.transactionId, message: m };
}

/** MM7 ReadReplyReq: Recipient is who read it, Sender the VASP's address. */
export function readReplyReq(message: Pick<StoredMessage, 'messageId' | 'envelope'>, reader: string, status: ReadStatus, at: Date, opts: Mm7ReportOptions): Mm7Envelope {
  const origin = mm7Origin(message);
  const release = releaseOfOrigin(origin);
  const m: Mm7Message = { type: 'ReadReplyReq', mm7Version: origin.mm7Version || DEFAULT_MM7_VERSION[release] };
  if (opts.relayServerId !== undefined) m.mmsRelayServerId = opts.relayServerId;
  m.messageId = message.messageId;
  m.recipient = mm7AddressOf(reader);
  m.sender = mm7AddressOf(message.envelope.from);
  m.timeStamp = at;
  m.mmStatus = mm7ReadStatusOf(status);
  if (opts.statusText !== undefined) m.statusText = opts.statusText;
  return { release, transactionId: opts.transactionId, message: m };
}

export interface DeliverReqOptions {
  transactionId: string;
  /** The release the VASP account speaks (see releaseForVasp). */
  release: Release;
  mm7Version?: string;
  relayServerId?: string;
  /** VASPID/VASID of the short code's owner; written in REL-6 only, where DeliverReq has them. */
  vaspId?: string;
  vasId?: string;
  /**
   * LinkedID: what the VASP quotes in a SubmitReq that answers this
   * message. Default: the MMS-C's message id, which is unique and already
   * the id this message is known by.
   */
  linkedId?: string;
}

const KEPT_PART_PARAMS = ['charset', 'name'];
const KEPT_TOP_PARAMS = ['start', 'type'];

function pick(params: Record<string, string>, keys: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of keys) if (params[k] !== undefined) out[k] = params[k]!;
  return out;
}

/** The stored parts as the MIME entity of an MM7 request: a multipart of leaves, or the single part. */
export function contentEntity(contentType: string, parts: readonly StoredPart[]): MimeEntity {
  const leaf = (p: StoredPart): MimeEntity => {
    const t = parseMimeType(p.contentType);
    const e: MimeEntity = { mediaType: t.mediaType, params: pick(t.params, KEPT_PART_PARAMS), headers: [], body: p.data };
    if (p.contentId !== undefined) e.contentId = p.contentId;
    if (p.contentLocation !== undefined) e.contentLocation = p.contentLocation;
    return e;
  };
  const top = parseMimeType(contentType);
  if (!top.mediaType.startsWith('multipart/')) {
    if (parts.length !== 1) throw new ReportError(`a ${top.mediaType} message must have one part, this one has ${parts.length}`);
    return leaf(parts[0]!);
  }
  return { mediaType: top.mediaType, params: pick(top.params, KEPT_TOP_PARAMS), headers: [], parts: parts.map(leaf) };
}

/**
 * MM7 DeliverReq (23.140 §8.7.2) of a message a terminal sent to a VASP's
 * short code, with its content. The VASP sees the sender, the To and Cc
 * recipients (never Bcc), subject, priority and the time it was sent.
 */
export function deliverReq(message: StoredMessage, parts: readonly StoredPart[], opts: DeliverReqOptions): { envelope: Mm7Envelope; content: MimeEntity } {
  if (message.destroyed) throw new ReportError(`message ${message.messageId} was destroyed; there is no content to deliver`);
  const e = message.envelope;
  const release = opts.release;
  const m: Mm7Message = { type: 'DeliverReq', mm7Version: opts.mm7Version ?? DEFAULT_MM7_VERSION[release] };
  if (opts.relayServerId !== undefined) m.mmsRelayServerId = opts.relayServerId;
  if (isRel6(release)) {
    if (opts.vaspId !== undefined) m.vaspId = opts.vaspId;
    if (opts.vasId !== undefined) m.vasId = opts.vasId;
  }
  m.linkedId = opts.linkedId ?? message.messageId;
  m.sender = mm7AddressOf(e.from);
  if (e.to.length + e.cc.length > 0) m.recipients = { to: e.to.map(mm7AddressOf), cc: e.cc.map(mm7AddressOf), bcc: [] };
  m.timeStamp = e.date;
  if (e.priority !== undefined && ['Normal', 'High', 'Low'].includes(e.priority)) m.priority = e.priority;
  if (e.subject !== undefined && e.subject !== '') m.subject = e.subject;
  const content = contentEntity(e.contentType, parts);
  // The wrapper's Content-ID must not be one of the parts' own.
  const ids = new Set(parts.map((p) => p.contentId?.toLowerCase()));
  let id = 'mms-content@mmsc';
  for (let n = 2; ids.has(id); n++) id = `mms-content-${n}@mmsc`;
  m.content = { href: `cid:${id}`, allowAdaptations: e.allowAdaptations };
  return { envelope: { release, transactionId: opts.transactionId, message: m }, content };
}

/** The newest release a VASP account accepts: what the MMS-C writes to it. */
export function releaseForVasp(releases: 'all' | readonly Release[]): Release {
  if (releases === 'all' || releases.length === 0) return DEFAULT_RELEASE;
  return [...releases].sort((a, b) => RELEASES.indexOf(a) - RELEASES.indexOf(b)).at(-1)!;
}

// ------------------------------------------------------------------ outbox jobs

/** Payload of an 'mm7-delivery-report' job (job.messageId, job.address = the recipient). */
export interface Mm7DeliveryReportPayload {
  status: DeliveryStatus;
  /** When the recipient reached that state, ISO 8601. */
  at: string;
  statusText?: string;
}

/** Payload of an 'mm7-read-reply' job (job.address = who read it). */
export interface Mm7ReadReplyPayload {
  readStatus: ReadStatus;
  at: string;
}

/** Payload of an 'mm7-deliver' job (job.address = the VASP's short code). */
export interface Mm7DeliverPayload {
  vaspId: string;
  linkedId?: string;
}

/**
 * The jobs of a delivery report for one recipient reaching `status`: an
 * M-Delivery.ind push to an MM1 originator, or a DeliveryReportReq to the
 * VASP. None when the originator did not ask for delivery reports or came
 * by another interface (MM3/MM4 reports are the MM4 issue's). Keys carry
 * the status, so Deferred and a later Retrieved are two reports.
 */
export function deliveryReportJobs(message: Pick<StoredMessage, 'messageId' | 'envelope'>, recipient: string, status: DeliveryStatus, at: Date, tid: number): NewJob[] {
  const e = message.envelope;
  if (!e.deliveryReport) return [];
  const key = `${message.messageId}/${recipient}/${status}`;
  if (e.origin.interface === 'mm1') {
    const payload: PushPayload = { pdu: encodeMmsPush(deliveryInd(message, recipient, status, at), tid).toString('base64'), carries: 'm-delivery-ind' };
    return [{ kind: 'push', key: `${key}/delivery-ind`, messageId: message.messageId, address: e.origin.msisdn, payload }];
  }
  if (e.origin.interface === 'mm7') {
    const payload: Mm7DeliveryReportPayload = { status, at: at.toISOString() };
    return [{ kind: 'mm7-delivery-report', key, messageId: message.messageId, address: recipient, payload }];
  }
  return [];
}

/**
 * The jobs of a read report (the recipient's M-Read-Rec.ind): an
 * M-Read-Orig.ind push to an MM1 originator — whatever it asked, since the
 * reader's terminal chose to send one — or a ReadReplyReq to a VASP, only
 * when its SubmitReq asked for ReadReply (a VASP that did not ask may not
 * expect the request).
 */
export function readReportJobs(message: Pick<StoredMessage, 'messageId' | 'envelope'>, reader: string, status: ReadStatus, at: Date, tid: number): NewJob[] {
  const e = message.envelope;
  const key = `${message.messageId}/${reader}/read`;
  if (e.origin.interface === 'mm1') {
    const payload: PushPayload = { pdu: encodeMmsPush(readOrigInd(message, reader, status, at), tid).toString('base64'), carries: 'm-read-orig-ind' };
    return [{ kind: 'push', key: `${key}/read-orig-ind`, messageId: message.messageId, address: e.origin.msisdn, payload }];
  }
  if (e.origin.interface === 'mm7' && e.readReport) {
    const payload: Mm7ReadReplyPayload = { readStatus: status, at: at.toISOString() };
    return [{ kind: 'mm7-read-reply', key, messageId: message.messageId, address: reader, payload }];
  }
  return [];
}

/**
 * The job that delivers a message to a VASP's short code. It holds the
 * message: the sweeper keeps the content until the VASP has it, or until
 * the message's expiry, when the job gives up.
 */
export function deliverJob(message: Pick<StoredMessage, 'messageId' | 'envelope'>, shortCode: string, vaspId: string, linkedId?: string): NewJob {
  const payload: Mm7DeliverPayload = { vaspId, ...(linkedId !== undefined ? { linkedId } : {}) };
  return { kind: 'mm7-deliver', key: `${message.messageId}/${shortCode}`, messageId: message.messageId, address: shortCode, payload, giveUpAt: message.envelope.expiresAt, holdsMessage: true };
}
