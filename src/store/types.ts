import type { MessageEnvelope, NewMessage, RecipientState, StoredMessage, StoredPart, StoredRecipient } from '../mmsc/model.js';

/** What a ReplaceReq may change. */
export interface MessageChange {
  contentType?: string;
  parts?: StoredPart[];
  envelope?: Partial<Pick<MessageEnvelope, 'earliestDelivery' | 'readReport' | 'allowAdaptations'>>;
}

/** Who sent a request, for idempotent retries: the same key never creates a second message. */
export interface IdempotencyKey {
  /** `mm7:<VASPID>` or `mm1:<MSISDN>`. */
  source: string;
  transactionId: string;
}

export interface AcceptResult<T = undefined> {
  messageId: string;
  /** True when the key had been seen: nothing new was stored, messageId is the first one's. */
  duplicate: boolean;
  /** Retrieval tokens of the recipients, by address. */
  tokens: Map<string, string>;
  /** What accept's `alsoNow` returned (a new message only). */
  also?: T;
}

/** A message just stored, as accept's `alsoNow` sees it inside the transaction. */
export interface StoredIds {
  messageId: string;
  tokens: ReadonlyMap<string, string>;
}

export interface ExpiredMessage {
  messageId: string;
  /** Recipients that had not retrieved it, now in state `expired`. */
  recipients: string[];
}

/**
 * DB1, the MMS-C's TTL store. Every write that a protocol answer depends
 * on resolves only after its transaction is durable (WAL, synchronous=FULL).
 */
export interface MessageStore {
  /**
   * Stores a message; durable when the promise resolves. `alsoNow` runs in
   * the same transaction for a new message (its outbox jobs), and its value
   * comes back as `also`.
   */
  accept<T = undefined>(message: NewMessage, key?: IdempotencyKey, alsoNow?: (stored: StoredIds) => T): Promise<AcceptResult<T>>;
  getMessage(messageId: string): StoredMessage | undefined;
  getParts(messageId: string): StoredPart[];
  findByToken(token: string): { message: StoredMessage; recipient: StoredRecipient } | undefined;
  setState(messageId: string, address: string, state: RecipientState, detail?: string): Promise<boolean>;
  /** setState, and `alsoNow` in the same transaction when the state changed. */
  setStateAnd<T>(messageId: string, address: string, state: RecipientState, detail: string | undefined, alsoNow: (from: RecipientState) => T): Promise<{ changed: boolean; also?: T }>;
  /** setState inside a write already running; false when nothing changed. */
  setStateNow(messageId: string, address: string, state: RecipientState, detail?: string): boolean;
  /** Records an event inside a write already running (e.g. in an alsoNow). */
  addEventNow(messageId: string, address: string | null, type: string, detail?: string): void;
  /** Runs `work` in the next group-commit transaction; resolves once durable. */
  write<T>(work: () => T): Promise<T>;
  /** Cancel a message none of whose recipients has retrieved it yet. */
  cancel(messageId: string, source: string): Promise<'cancelled' | 'not-found' | 'too-late'>;
  /**
   * Replace a message none of whose recipients has retrieved it yet (MM7
   * ReplaceReq): new content and/or envelope fields; tokens stay, so a
   * recipient already notified fetches the new version.
   */
  replace(messageId: string, source: string, change: MessageChange): Promise<'replaced' | 'not-found' | 'too-late'>;
  /** Destroy up to `batch` messages whose TTL is past; content goes, a tombstone stays. */
  expire(now: Date, batch: number, alsoNow?: (expired: ExpiredMessage[]) => void): Promise<ExpiredMessage[]>;
  /** Forgets up to `batch` tombstones destroyed before `before`; resolves with how many. */
  purge(before: Date, batch: number): Promise<number>;
  events(messageId: string): Array<{ at: Date; address: string | null; type: string; detail: string | null }>;
  close(): void;
}
