import { encodeMmsPush } from '../../protocol/mms/push.js';
import type { MRetrieveConf } from '../../protocol/mms/model.js';
import type { Outbox } from '../outbox/outbox.js';
import type { NewJob } from '../outbox/types.js';
import type { OutboxWorker } from '../outbox/worker.js';
import type { IdempotencyKey, MessageStore, StoredIds } from '../store/types.js';
import { notificationInd, retrieveConf, retrieveConfSize, type MessageHead } from './convert.js';
import type { Clock, NewMessage, StoredMessage, StoredPart } from './model.js';

/** What the terminal said about itself on retrieval: User-Agent and the UAProf URL of x-wap-profile. */
export interface TerminalHints {
  userAgent?: string;
  profileUrl?: string;
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
  log?: (event: Record<string, unknown>) => void;
}

export type Retrieval =
  | { kind: 'ok'; pdu: MRetrieveConf; message: StoredMessage }
  | { kind: 'expired'; message: StoredMessage }
  | { kind: 'not-found' };

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
   */
  async accept(message: NewMessage, key?: IdempotencyKey): Promise<{ messageId: string; duplicate: boolean }> {
    const { outbox } = this.opts;
    const result = await this.opts.store.accept(message, key, (stored) => {
      const jobs = this.notificationJobs(stored, message);
      for (const plan of this.opts.planners ?? []) jobs.push(...plan(stored, message));
      return outbox.insertNow(jobs);
    });
    if (result.also) this.opts.worker.run(result.also);
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
    const parts = await this.transcoder.adapt(message, this.opts.store.getParts(message.messageId), terminal);
    return { kind: 'ok', pdu: retrieveConf(message, parts, token), message };
  }

  /** M-Retrieve.conf was served: the recipient retrieved it (the terminal's Acknowledge confirms later). */
  async retrieved(token: string): Promise<void> {
    const found = this.opts.store.findByToken(token);
    if (found) await this.opts.store.setState(found.message.messageId, found.recipient.address, 'retrieved');
  }

  /** M-NotifyResp.ind (its transaction id is the notification's, i.e. the token) and M-Acknowledge.ind. */
  async terminalReport(token: string, kind: 'notify-resp' | 'acknowledge', status?: string | number): Promise<boolean> {
    const found = this.opts.store.findByToken(token);
    if (!found) return false;
    const { message, recipient } = found;
    let state: 'retrieved' | 'rejected' | 'deferred' | 'acknowledged';
    if (kind === 'acknowledge') state = 'acknowledged';
    else if (status === 'Rejected' || status === 'Unrecognised') state = 'rejected';
    else if (status === 'Deferred') state = 'deferred';
    else state = 'retrieved';
    return this.opts.store.setState(message.messageId, recipient.address, state, kind === 'notify-resp' ? `M-NotifyResp.ind ${String(status)}` : 'M-Acknowledge.ind');
  }

  get clock(): Clock {
    return this.opts.clock;
  }
}
