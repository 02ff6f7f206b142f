import { encodeMmsPush } from '../../protocol/mms/push.js';
import type { MRetrieveConf } from '../../protocol/mms/model.js';
import type { Outbox } from '../outbox/outbox.js';
import type { NewJob, OutboxJob } from '../outbox/types.js';
import type { OutboxWorker } from '../outbox/worker.js';
import type { IdempotencyKey, MessageStore, StoredIds } from '../store/types.js';
import { notificationInd, retrieveConf, retrieveConfSize, type MessageHead } from './convert.js';
import type { Clock, NewMessage, RecipientState, StoredMessage, StoredPart } from './model.js';
import { deliveryReportJobs, deliveryStatusOf, readReportJobs, type DeliveryStatus, type ReadStatus } from './reports.js';
import { mm4DeliveryReportJob, mm4ReadReplyJob, type Mm4Identity } from '../outbound/mm4.js';

/** What the terminal said about itself on retrieval: User-Agent and the UAProf URL of x-wap-profile. */
export interface TerminalHints {
  userAgent?: string;
  profileUrl?: string;
  /** The recipient fetching it, so the transcoder can look up the subscriber's profile in DB1. */
  recipient?: string;
  /** The retrieval request's id, for the transcoder's log lines. */
  requestId?: string;
}

/** Content adaptation on retrieval (the transcoder issue fills it in); never touches the stored original. */
export interface Transcoder {
  adapt(message: StoredMessage, parts: StoredPart[], terminal: TerminalHints): Promise<StoredPart[]>;
}

/** A token whose every character encodes as one octet of a Text-string, none of them quoted. */
const PLAIN_TOKEN = /^[A-Za-z0-9_-]*$/;

export const identityTranscoder: Transcoder = { adapt: async (_m, parts) => parts };

/**
 * Plans the outbox jobs of a message just stored (notifications, MM3/MM4
 * forwards, archive forwards...). Runs inside the accept transaction, so it
 * must be synchronous; the jobs commit with the message or not at all.
 */
export type JobPlanner = (stored: StoredIds, message: NewMessage) => NewJob[];

export interface MmscServiceOptions {
  store: MessageStore;
  outbox: Outbox;
  /** Runs the jobs a message brings as soon as they are committed. */
  worker: Pick<OutboxWorker, 'run'>;
  clock: Clock;
  /** Base of retrieval URLs: `<retrieveBase>/m/<token>`. */
  retrieveBase: string;
  transcoder?: Transcoder;
  /** Jobs beyond the notifications, e.g. outbound routes and archive forwards. */
  planners?: JobPlanner[];
  /** This MMS-C's MM4 name: reports on messages from a peer MMS-C go back to it by MM4. */
  mm4Identity?: Mm4Identity;
  /**
   * Reformatting on retrieval (archive subscribers: notice, link,
   * geolocation): the parts to serve and their top-level type, or
   * undefined to serve the adapted parts as they are.
   */
  enrich?: (r: { message: StoredMessage; address: string; original: StoredPart[]; parts: StoredPart[] }) => Promise<{ contentType: string; parts: StoredPart[] } | undefined>;
  log?: (event: Record<string, unknown>) => void;
}

export type Retrieval =
  | { kind: 'ok'; pdu: MRetrieveConf; message: StoredMessage }
  | { kind: 'expired'; message: StoredMessage }
  /** The transcoder would not serve it as it is (allowAdaptations=false and too big, with notAllowed: refuse). */
  | { kind: 'refused'; message: StoredMessage; retrieveStatus: string; text: string }
  | { kind: 'not-found' };

/** What a Transcoder throws to refuse a retrieval: the X-Mms-Retrieve-Status to answer with. */
interface RetrievalRefusal {
  retrieveStatus: string;
  message: string;
}

function isRefusal(e: unknown): e is RetrievalRefusal {
  return e instanceof Error && typeof (e as Partial<RetrievalRefusal>).retrieveStatus === 'string';
}

/** The outbox payload of a 'push' job. */
export interface PushPayload {
  /** The WSP push PDU, base64. */
  pdu: string;
  /** What it carries, for logs and the admin API: `m-notification-ind`, `m-delivery-ind`, ... */
  carries: string;
}

/** The outbox key of a recipient's notification: one per message and address, ever. */
export function notificationKey(messageId: string, address: string): string {
  return `${messageId}/${address}/notification`;
}

/**
 * The MMS-C core between the front ends and the store (DESIGN.md steps
 * 2–7): accept durably, with the jobs the message brings (a notification
 * per local recipient, forwards) in the same transaction; serve
 * retrievals; move recipient states on the terminal's reports.
 */
export class MmscService {
  private readonly transcoder: Transcoder;
  private tid = 0;

  constructor(private readonly opts: MmscServiceOptions) {
    this.transcoder = opts.transcoder ?? identityTranscoder;
  }

  /**
   * Stores the message and its jobs and resolves once that is durable; the
   * jobs start at once, after the commit, so the sender's answer never
   * waits for a bearer, and a crash before they finish loses none of them.
   * `requestId`: the request that brought it, for the log lines of its jobs.
   */
  async accept(message: NewMessage, key?: IdempotencyKey, requestId?: string): Promise<{ messageId: string; duplicate: boolean }> {
    const { outbox } = this.opts;
    const result = await this.opts.store.accept(message, key, (stored) => {
      const jobs = this.notificationJobs(stored, message);
      for (const plan of this.opts.planners ?? []) jobs.push(...plan(stored, message));
      return outbox.insertNow(jobs);
    });
    if (result.also) this.opts.worker.run(result.also, requestId);
    return { messageId: result.messageId, duplicate: result.duplicate };
  }

  contentLocation(token: string): string {
    return `${this.opts.retrieveBase}/m/${token}`;
  }

  /**
   * An M-Notification.ind push job per local recipient of a message being
   * stored, built from the NewMessage in memory: the recipients that
   * `store.accept` gave a token, in its order (first mention of an address
   * wins, as in DB1), in state `accepted`. A push is useless after the
   * message expired, so the job gives up then.
   */
  private notificationJobs(stored: StoredIds, message: NewMessage): NewJob[] {
    const { messageId, tokens } = stored;
    const head: MessageHead = { messageId, envelope: message.envelope };
    // X-Mms-Message-Size is the size of what the terminal will fetch, the M-Retrieve.conf. It
    // depends on the recipient only through the transaction id (the token): tokens of one
    // length and alphabet encode to the same length, so it is computed once per such token.
    const sizes = new Map<number, number>();
    const sizeFor = (token: string): number => {
      if (!PLAIN_TOKEN.test(token)) return retrieveConfSize(head, message.parts, token);
      let size = sizes.get(token.length);
      if (size === undefined) sizes.set(token.length, (size = retrieveConfSize(head, message.parts, token)));
      return size;
    };
    const seen = new Set<string>();
    const jobs: NewJob[] = [];
    for (const r of message.recipients) {
      if (seen.has(r.address)) continue;
      seen.add(r.address);
      const token = tokens.get(r.address);
      if (r.state !== 'accepted' || token === undefined) continue;
      const pdu = notificationInd(head, token, this.contentLocation(token), sizeFor(token));
      this.tid = (this.tid + 1) & 0xff;
      const payload: PushPayload = { pdu: encodeMmsPush(pdu, this.tid).toString('base64'), carries: 'm-notification-ind' };
      jobs.push({
        kind: 'push',
        key: notificationKey(messageId, r.address),
        messageId,
        address: r.address,
        payload,
        giveUpAt: message.envelope.expiresAt,
        ...(message.envelope.earliestDelivery ? { dueAt: message.envelope.earliestDelivery } : {}),
      });
    }
    return jobs;
  }

  /** The M-Retrieve.conf for a recipient's token, adapted to the terminal. */
  async retrieve(token: string, terminal: TerminalHints = {}): Promise<Retrieval> {
    const found = this.opts.store.findByToken(token);
    if (!found) return { kind: 'not-found' };
    const { message, recipient } = found;
    if (message.destroyed || ['expired', 'cancelled', 'rejected'].includes(recipient.state)) return { kind: 'expired', message };
    const original = this.opts.store.getParts(message.messageId);
    let parts: StoredPart[];
    try {
      parts = await this.transcoder.adapt(message, original, Object.assign({}, terminal, { recipient: recipient.address }));
    } catch (e) {
      if (isRefusal(e)) return { kind: 'refused', message, retrieveStatus: e.retrieveStatus, text: e.message };
      throw e;
    }
    // Enrichment comes after adaptation: its text part is not the terminal's content to adapt.
    const enriched = await this.opts.enrich?.({ message, address: recipient.address, original, parts });
    if (!enriched) return { kind: 'ok', pdu: retrieveConf(message, parts, token), message };
    const head = { messageId: message.messageId, envelope: Object.assign({}, message.envelope, { contentType: enriched.contentType }) };
    return { kind: 'ok', pdu: retrieveConf(head, enriched.parts, token), message };
  }

  /** M-Retrieve.conf was served: the recipient retrieved it (the terminal's Acknowledge confirms later). */
  async retrieved(token: string, requestId?: string): Promise<void> {
    const found = this.opts.store.findByToken(token);
    if (found) await this.transition(found.message, found.recipient.address, 'retrieved', 'M-Retrieve.conf served', undefined, requestId);
  }

  /**
   * M-NotifyResp.ind (its transaction id is the notification's, i.e. the
   * token) and M-Acknowledge.ind. A state change that the originator asked
   * to hear about brings its delivery report, in the same transaction.
   */
  async terminalReport(token: string, kind: 'notify-resp' | 'acknowledge', status?: string | number, requestId?: string): Promise<boolean> {
    const found = this.opts.store.findByToken(token);
    if (!found) return false;
    const { message, recipient } = found;
    let state: 'retrieved' | 'rejected' | 'deferred' | 'acknowledged';
    if (kind === 'acknowledge') state = 'acknowledged';
    else if (status === 'Rejected' || status === 'Unrecognised') state = 'rejected';
    else if (status === 'Deferred') state = 'deferred';
    else state = 'retrieved';
    // Unrecognised is its own delivery status, though the recipient's state is rejected.
    const report = status === 'Unrecognised' ? 'Unrecognised' : undefined;
    return this.transition(message, recipient.address, state, kind === 'notify-resp' ? `M-NotifyResp.ind ${String(status)}` : 'M-Acknowledge.ind', report, requestId);
  }

  /** Moves a recipient on, with the delivery report (if asked for) committed with the move. */
  private async transition(message: StoredMessage, address: string, state: RecipientState, detail: string, report?: DeliveryStatus, requestId?: string): Promise<boolean> {
    const status = report ?? deliveryStatusOf(state);
    const at = this.opts.clock.now();
    // A move that does not change what the originator would be told (retrieved → acknowledged) reports nothing.
    const r = await this.opts.store.setStateAnd(message.messageId, address, state, detail, (from) =>
      status === undefined || (report === undefined && deliveryStatusOf(from) === status) ? [] : this.opts.outbox.insertNow(this.deliveryReports(message, address, status, at)),
    );
    if (r.also && r.also.length > 0) this.opts.worker.run(r.also, requestId);
    return r.changed;
  }

  /**
   * M-Read-Rec.ind from a recipient's terminal: an event on the message,
   * and the read report to its originator (M-Read-Orig.ind or MM7
   * ReadReplyReq), once per reader. False for a message or reader unknown
   * here: a terminal cannot report on somebody else's message.
   */
  async readReport(messageId: string, reader: string, status: ReadStatus, requestId?: string): Promise<boolean> {
    const message = this.opts.store.getMessage(messageId);
    if (!message || !message.recipients.some((r) => r.address === reader)) return false;
    const at = this.opts.clock.now();
    const jobs = await this.opts.store.write(() => {
      this.opts.store.addEventNow(messageId, reader, 'read-report', status);
      const jobs = readReportJobs(message, reader, status, at, this.nextTid());
      const mm4 = this.opts.mm4Identity && mm4ReadReplyJob(message, reader, status === 'Read' ? 'Read' : 'Deleted without being read', this.opts.mm4Identity);
      if (mm4) jobs.push(mm4);
      return this.opts.outbox.insertNow(jobs);
    });
    this.opts.worker.run(jobs, requestId);
    return true;
  }

  /** The "Expired" delivery reports of messages the sweeper destroyed; call inside the expiry's transaction. */
  expiryJobs(expired: ReadonlyArray<{ messageId: string; recipients: string[] }>): OutboxJob[] {
    const at = this.opts.clock.now();
    const jobs: NewJob[] = [];
    for (const e of expired) {
      const message = this.opts.store.getMessage(e.messageId);

      if (!message?.envelope.deliveryReport) continue;
      for (const address of e.recipients) jobs.push(...this.deliveryReports(message, address, 'Expired', at));
    }
    return this.opts.outbox.insertNow(jobs);
  }

  /**
   * Inside a running DB1 write (an outbox job's onFailed): a recipient whose
   * next hop refused for good (bearer, MM3 smarthost, MM4 peer) moves to
   * `state`, and the originator's delivery report is written with it.
   */
  recipientFailedNow(messageId: string, address: string, state: 'rejected' | 'unroutable', detail: string, status: DeliveryStatus): void {
    const message = this.opts.store.getMessage(messageId);
    if (!message || !this.opts.store.setStateNow(messageId, address, state, detail)) return;
    const jobs = this.opts.outbox.insertNow(this.deliveryReports(message, address, status, this.opts.clock.now()));
    // After the COMMIT of the transaction we are in: it ends before any setImmediate callback.
    if (jobs.length > 0) setImmediate(() => this.opts.worker.run(jobs));
  }

  /** Runs jobs committed by a caller's transaction (the sweeper's). */
  runJobs(jobs: readonly OutboxJob[]): void {
    if (jobs.length > 0) this.opts.worker.run(jobs);
  }

  /** A delivery report to the originator in its own protocol: M-Delivery.ind, MM7 DeliveryReportReq, or MM4 to the peer MMS-C. */
  private deliveryReports(message: StoredMessage, address: string, status: DeliveryStatus, at: Date): NewJob[] {
    const jobs = deliveryReportJobs(message, address, status, at, this.nextTid());
    if (this.opts.mm4Identity && message.envelope.origin.interface === 'mm4') {
      // MM4 has no Unreachable: the peer hears Indeterminate.
      const mm4 = mm4DeliveryReportJob(message, address, status === 'Unreachable' ? 'Indeterminate' : status, this.opts.mm4Identity);
      if (mm4) jobs.push(mm4);
    }
    return jobs;
  }

  private nextTid(): number {
    this.tid = (this.tid + 1) & 0xff;
    return this.tid;
  }

  get clock(): Clock {
    return this.opts.clock;
  }
}
