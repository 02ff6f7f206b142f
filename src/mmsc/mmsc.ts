import { encodeMmsPush } from '../../protocol/mms/push.js';
import type { MRetrieveConf } from '../../protocol/mms/model.js';
import type { Notifier } from '../push/notifier.js';
import type { IdempotencyKey, MessageStore } from '../store/types.js';
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

export interface MmscServiceOptions {
  store: MessageStore;
  notifier: Notifier;
  clock: Clock;
  /** Base of retrieval URLs: `<retrieveBase>/m/<token>`. */
  retrieveBase: string;
  transcoder?: Transcoder;
  log?: (event: Record<string, unknown>) => void;
}

export type Retrieval =
  | { kind: 'ok'; pdu: MRetrieveConf; message: StoredMessage }
  | { kind: 'expired'; message: StoredMessage }
  | { kind: 'not-found' };

/**
 * The MMS-C core between the front ends and the store (DESIGN.md steps
 * 2–7): accept durably, then notify each local recipient; serve
 * retrievals; move recipient states on the terminal's reports.
 */
export class MmscService {
  private readonly transcoder: Transcoder;
  private tid = 0;
  /** Notifications in flight, so stop() can wait for them. */
  private readonly pending = new Set<Promise<void>>();

  constructor(private readonly opts: MmscServiceOptions) {
    this.transcoder = opts.transcoder ?? identityTranscoder;
  }

  /**
   * Stores the message and resolves once that is durable; notifications
   * follow after, so the sender's answer never waits for a bearer.
   */
  async accept(message: NewMessage, key?: IdempotencyKey): Promise<{ messageId: string; duplicate: boolean }> {
    const result = await this.opts.store.accept(message, key);
    if (!result.duplicate) {
      const job = this.notifyAll(result.messageId, message, result.tokens).catch((e: unknown) =>
        this.opts.log?.({ event: 'notify-failed', messageId: result.messageId, error: String(e) }),
      );
      this.pending.add(job);
      void job.finally(() => this.pending.delete(job));
    }
    return { messageId: result.messageId, duplicate: result.duplicate };
  }

  contentLocation(token: string): string {
    return `${this.opts.retrieveBase}/m/${token}`;
  }

  /**
   * Pushes an M-Notification.ind to each local recipient of a message just
   * stored, from the NewMessage still in memory: DB1 is not read back. The
   * recipients are those `store.accept` gave a token, in its order (first
   * mention of an address wins, as in DB1), in state `accepted`.
   *
   * The pushes go out one after the other (a notifier need not take them
   * concurrently); each recipient's move to `notified` is queued as soon as
   * its push is out and not awaited before the next push, so the moves of
   * one message share a group commit.
   */
  private async notifyAll(messageId: string, message: NewMessage, tokens: ReadonlyMap<string, string>): Promise<void> {
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
    const marks: Array<Promise<void>> = [];
    let failure: { error: unknown } | undefined;
    try {
      for (const r of message.recipients) {
        if (seen.has(r.address)) continue;
        seen.add(r.address);
        const token = tokens.get(r.address);
        if (r.state !== 'accepted' || token === undefined) continue;
        const pdu = notificationInd(head, token, this.contentLocation(token), sizeFor(token));
        this.tid = (this.tid + 1) & 0xff;
        await this.opts.notifier.notify({ to: r.address, messageId, pushPdu: encodeMmsPush(pdu, this.tid) });
        marks.push(this.opts.store.setState(messageId, r.address, 'notified').then(() => this.opts.log?.({ event: 'notified', messageId, to: r.address })));
      }
    } catch (error) {
      failure = { error };
    }
    // Pushes already sent are marked even when a later one failed.
    const results = await Promise.allSettled(marks);
    if (failure) throw failure.error;
    for (const r of results) if (r.status === 'rejected') throw r.reason;
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

  /** Waits for notifications already started (graceful stop). */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.pending]);
  }

  get clock(): Clock {
    return this.opts.clock;
  }
}
