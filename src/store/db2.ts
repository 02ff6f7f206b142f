/**
 * DB2, the archive node's store (server 2), on SQLite (better-sqlite3).
 *
 * Same durability rule as DB1: every write goes through GROUP COMMIT
 * (group-commit.ts), so a DeliverRsp 1000 that waits for archive() is sent
 * only once the message is on disk, and one fsync is shared by a whole
 * burst of forwards; a write that throws is rolled back alone.
 *
 * The fsync is not inside COMMIT: with synchronous=FULL it blocked the
 * event loop (better-sqlite3 is synchronous) for the whole flush, a third
 * of the archive node's time under load, while forwards waited unparsed in
 * the socket buffers. As DB1 does, DB2 uses group-commit.ts's DEFERRED
 * SYNC (synchronous=NORMAL, the WAL fsynced in libuv's thread pool; a
 * write resolves only after an fsync that started after its COMMIT). New
 * files use 16 KiB pages, as DB1's: a 10 KB image is one WAL frame, not
 * three, and each frame is two write() calls inside the COMMIT.
 *
 * Reads are synchronous and see committed data only.
 */
import Database from 'better-sqlite3';
import { systemClock, type Clock, type StoredPart } from '../mmsc/model.js';
import { DB2_MIGRATIONS } from './db2-migrations.js';
import { durableWal, type DurableWal } from './checkpointer.js';
import { GroupCommit, type DeferredSync, type GroupCommitStats } from './group-commit.js';
import { migrate } from './migrations.js';
import { RandomPool } from './random-pool.js';

/** A part that extraction did not keep, and why. */
export interface DroppedPart {
  contentType: string;
  contentId?: string;
  reason: string;
}

/** An audio part that extraction cut to its first seconds. */
export interface TrimmedPart {
  contentType: string;
  contentId?: string;
  seconds: number;
  originalSize: number;
  size: number;
}

export interface Geolocation {
  lat: number;
  lon: number;
  /** Where it came from: `exif`, `sender-location`, ... */
  source?: string;
  label?: string;
}

/** Enrichment carried by the archived copy (the same that server 1 added to the M-Retrieve.conf). */
export interface AdditionalData {
  archiveLink?: string;
  notice?: string;
  geolocation?: Geolocation;
}

export interface NewArchivedMessage {
  /** The MMS-C's message id (the DeliverReq's LinkedID). */
  originalId: string;
  recipient: string;
  subscriptionId: string | null;
  sender: string;
  subject?: string;
  date?: Date;
  contentType: string;
  /** The MM7 release the forward came in. */
  release: string;
  extractedOn: 'server1' | 'server2' | null;
  dropped: DroppedPart[];
  trimmed: TrimmedPart[];
  additional: AdditionalData;
  parts: StoredPart[];
}

export interface ArchivedPartSummary {
  index: number;
  contentType: string;
  contentId?: string;
  contentLocation?: string;
  size: number;
}

export interface ArchivedMessage {
  archiveId: string;
  originalId: string;
  recipient: string;
  subscriptionId: string | null;
  sender: string;
  subject?: string;
  date?: Date;
  receivedAt: Date;
  contentType: string;
  release: string;
  extractedOn: 'server1' | 'server2' | null;
  dropped: DroppedPart[];
  trimmed: TrimmedPart[];
  additional: AdditionalData;
  size: number;
  parts: ArchivedPartSummary[];
}

export interface Subscription {
  id: string;
  address: string;
  plan: string;
  createdAt: Date;
  endedAt: Date | null;
  tokenVersion: number;
}

/** One entry of the subscription feed server 1 pulls (GET /sync/subscriptions). */
export interface SubscriptionChange {
  seq: number;
  address: string;
  /** null: the address has no subscription any more. */
  subscriptionId: string | null;
  plan: string | null;
  at: Date;
}

export interface SubscriberRecord {
  address: string;
  profile: string | null;
  seq: number;
  updatedAt: Date;
}

export interface Cdr {
  id: number;
  subscriptionId: string;
  archiveId: string;
  event: string;
  at: Date;
  amount: string;
  currency: string;
}

export interface Db2Options {
  clock?: Clock;
  maxBatch?: number;
  busyTimeoutMs?: number;
  /** Wraps the deferred fsync of the WAL (tests hold it to see that nothing resolves before it). */
  wrapSync?: (sync: DeferredSync) => DeferredSync;
}

export type Db2Stats = GroupCommitStats;

interface MessageRow {
  rowid_: number;
  archive_id: string;
  original_id: string;
  recipient: string;
  subscription_id: string | null;
  sender: string;
  subject: string | null;
  date: number | null;
  received_at: number;
  content_type: string;
  release: string;
  extracted_on: 'server1' | 'server2' | null;
  dropped: string;
  trimmed: string;
  additional: string;
  size: number;
}
interface PartRow {
  seq: number;
  content_type: string;
  content_id: string | null;
  content_location: string | null;
  size: number;
}
interface SubscriptionRow {
  id: string;
  address: string;
  plan: string;
  created_at: number;
  ended_at: number | null;
  token_version: number;
}
interface ChangeRow {
  seq: number;
  address: string;
  subscription_id: string | null;
  plan: string | null;
  at: number;
}
interface CdrRow {
  id: number;
  subscription_id: string;
  archive_id: string;
  event: string;
  at: number;
  amount: string;
  currency: string;
}

const ids = new RandomPool();

/** 128 random bits, URL-safe: ids that name archives and subscriptions cannot be guessed. */
export function randomId(): string {
  return ids.token();
}

/** An archived message's id: the time, then 96 random bits (16 characters), in arrival order for the archive_id index. */
function archiveIdAt(ms: number): string {
  return ids.timeOrdered(ms, 16);
}

/** Subscriptions kept in memory at most; past it the map starts again. */
const SUBSCRIPTIONS_KEPT = 10_000;

function subscriptionOf(r: SubscriptionRow): Subscription {
  return { id: r.id, address: r.address, plan: r.plan, createdAt: new Date(r.created_at), endedAt: r.ended_at === null ? null : new Date(r.ended_at), tokenVersion: r.token_version };
}

function prepare(db: Database.Database) {
  return {
    findArchived: db.prepare<[string, string], { archive_id: string }>('SELECT archive_id FROM messages WHERE original_id = ? AND recipient = ?'),
    insertMessage: db.prepare(
      `INSERT INTO messages (archive_id, original_id, recipient, subscription_id, sender, subject, date, received_at, content_type, release, extracted_on, dropped, trimmed, additional, size)
       VALUES (@archiveId, @originalId, @recipient, @subscriptionId, @sender, @subject, @date, @receivedAt, @contentType, @release, @extractedOn, @dropped, @trimmed, @additional, @size)`,
    ),
    insertPart: db.prepare<[number | bigint, number, string, string | null, string | null, Buffer]>(
      'INSERT INTO parts (message, seq, content_type, content_id, content_location, data) VALUES (?, ?, ?, ?, ?, ?)',
    ),
    message: db.prepare<[string], MessageRow>('SELECT * FROM messages WHERE archive_id = ?'),
    messageByOriginal: db.prepare<[string, string], MessageRow>('SELECT * FROM messages WHERE original_id = ? AND recipient = ?'),
    byRecipient: db.prepare<[string, number, number], MessageRow>('SELECT * FROM messages WHERE recipient = ? AND rowid_ < ? ORDER BY rowid_ DESC LIMIT ?'),
    bySubscription: db.prepare<[string, number, number], MessageRow>('SELECT * FROM messages WHERE subscription_id = ? AND rowid_ < ? ORDER BY rowid_ DESC LIMIT ?'),
    partSummaries: db.prepare<[number], PartRow>('SELECT seq, content_type, content_id, content_location, length(data) AS size FROM parts WHERE message = ? ORDER BY seq'),
    part: db.prepare<[number, number], { content_type: string; content_id: string | null; content_location: string | null; data: Buffer }>(
      'SELECT content_type, content_id, content_location, data FROM parts WHERE message = ? AND seq = ?',
    ),
    deleteBySubscription: db.prepare<[string]>('DELETE FROM messages WHERE subscription_id = ?'),
    thumbnail: db.prepare<[number, number], { data: Buffer }>('SELECT data FROM thumbnails WHERE message = ? AND seq = ?'),
    putThumbnail: db.prepare<[number, number, Buffer]>('INSERT OR REPLACE INTO thumbnails (message, seq, data) VALUES (?, ?, ?)'),
    countMessages: db.prepare<[], { n: number }>('SELECT count(*) AS n FROM messages'),

    subscription: db.prepare<[string], SubscriptionRow>('SELECT * FROM subscriptions WHERE id = ?'),
    liveSubscription: db.prepare<[string], SubscriptionRow>('SELECT * FROM subscriptions WHERE address = ? AND ended_at IS NULL'),
    insertSubscription: db.prepare<[string, string, string, number]>('INSERT INTO subscriptions (id, address, plan, created_at) VALUES (?, ?, ?, ?)'),
    endSubscription: db.prepare<[number, string]>('UPDATE subscriptions SET ended_at = ? WHERE id = ? AND ended_at IS NULL'),
    bumpTokenVersion: db.prepare<[string]>('UPDATE subscriptions SET token_version = token_version + 1 WHERE id = ?'),
    insertChange: db.prepare<[string, string | null, string | null, number]>('INSERT INTO subscription_changes (address, subscription_id, plan, at) VALUES (?, ?, ?, ?)'),
    changes: db.prepare<[number, number], ChangeRow>('SELECT * FROM subscription_changes WHERE seq > ? ORDER BY seq LIMIT ?'),
    changeHead: db.prepare<[], { head: number | null }>('SELECT max(seq) AS head FROM subscription_changes'),

    upsertSubscriber: db.prepare<[string, string | null, number, number]>(
      'INSERT INTO subscribers (address, profile, seq, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT (address) DO UPDATE SET profile = excluded.profile, seq = excluded.seq, updated_at = excluded.updated_at',
    ),
    deleteSubscriber: db.prepare<[string]>('DELETE FROM subscribers WHERE address = ?'),
    subscriber: db.prepare<[string], { address: string; profile: string | null; seq: number; updated_at: number }>('SELECT * FROM subscribers WHERE address = ?'),
    position: db.prepare<[string], { position: number; updated_at: number }>('SELECT position, updated_at FROM sync_positions WHERE feed = ?'),
    setPosition: db.prepare<[string, number, number]>(
      'INSERT INTO sync_positions (feed, position, updated_at) VALUES (?, ?, ?) ON CONFLICT (feed) DO UPDATE SET position = max(position, excluded.position), updated_at = excluded.updated_at',
    ),

    insertCdr: db.prepare<[string, string, string, number, string, string]>('INSERT INTO cdrs (subscription_id, archive_id, event, at, amount, currency) VALUES (?, ?, ?, ?, ?, ?)'),
    cdrsSince: db.prepare<[number], CdrRow>('SELECT * FROM cdrs WHERE at >= ? ORDER BY id'),
  };
}

export class Db2 {
  get stats(): Db2Stats {
    return this.#commits.stats;
  }

  readonly #db: Database.Database;
  readonly #s: ReturnType<typeof prepare>;
  readonly #clock: Clock;
  readonly #commits: GroupCommit;
  /** Subscriptions read so far, by id (getSubscription); writes drop theirs. */
  readonly #subscriptions = new Map<string, Subscription>();
  /** The WAL's deferred fsync; undefined in memory. */
  readonly #wal: DurableWal | undefined;

  /** `file` is a path, or ':memory:' for tests that need no durability. */
  constructor(file: string, opts: Db2Options = {}) {
    this.#clock = opts.clock ?? systemClock;
    const db = new Database(file);
    this.#db = db;
    let wal: DurableWal | undefined;
    try {
      // A new file only. 8 KiB: a 10 KB image is one overflow page plus a sliver of a shared leaf
      // (~11 KB written); with 16 KiB pages each such row filled a leaf of its own (16 KB written), and
      // inserting forwards cost 1.2-1.4x the CPU (a standalone insert loop: 112-124 vs 140-157 µs each).
      db.pragma('page_size = 8192');
      db.pragma('journal_mode = WAL');
      // FULL until durableWal() below turns a file's to NORMAL with the fsync deferred: an answered forward survives a power cut.
      db.pragma('synchronous = FULL');
      db.pragma('foreign_keys = ON');
      db.pragma(`busy_timeout = ${Math.trunc(opts.busyTimeoutMs ?? 5000)}`);
      migrate(db, DB2_MIGRATIONS);
      this.#s = prepare(db);
      // Checkpoints in a thread of their own (checkpointer.ts), off the event loop, every 100 ms:
      // SQLite's automatic ones ran inside a COMMIT every 4 MiB (a copy and an fsync of the file, on
      // the loop), and a round after every group (what DB1 once did) cost one fdatasync per group.
      wal = durableWal(db, { busyTimeoutMs: opts.busyTimeoutMs ?? 5000 });
      this.#wal = wal;
      this.#commits = new GroupCommit(db, opts.maxBatch ?? 500, 'Db2', wal && opts.wrapSync ? opts.wrapSync(wal) : wal);
    } catch (err) {
      wal?.closeThread();
      db.close();
      wal?.closeFile();
      throw err;
    }
  }

  // ------------------------------------------------------------ messages

  /**
   * Stores a forward once per (original message id, recipient): a second
   * delivery of the same forward resolves with the first one's archive id and
   * `duplicate: true`, storing nothing. Durable when the promise resolves.
   */
  archive(m: NewArchivedMessage): Promise<{ archiveId: string; duplicate: boolean }> {
    return this.#enqueue(() => {
      const s = this.#s;
      const seen = s.findArchived.get(m.originalId, m.recipient);
      if (seen) return { archiveId: seen.archive_id, duplicate: true };
      const receivedAt = this.#clock.now().getTime();
      const archiveId = archiveIdAt(receivedAt);
      const info = s.insertMessage.run({
        archiveId,
        originalId: m.originalId,
        recipient: m.recipient,
        subscriptionId: m.subscriptionId,
        sender: m.sender,
        subject: m.subject ?? null,
        date: m.date ? m.date.getTime() : null,
        receivedAt,
        contentType: m.contentType,
        release: m.release,
        extractedOn: m.extractedOn,
        dropped: JSON.stringify(m.dropped),
        trimmed: JSON.stringify(m.trimmed),
        additional: JSON.stringify(m.additional),
        size: m.parts.reduce((n, p) => n + p.data.byteLength, 0),
      });
      m.parts.forEach((p, seq) => s.insertPart.run(info.lastInsertRowid, seq, p.contentType, p.contentId ?? null, p.contentLocation ?? null, Buffer.from(p.data.buffer, p.data.byteOffset, p.data.byteLength)));
      return { archiveId, duplicate: false };
    });
  }

  #messageOf(r: MessageRow): ArchivedMessage {
    const out: ArchivedMessage = {
      archiveId: r.archive_id,
      originalId: r.original_id,
      recipient: r.recipient,
      subscriptionId: r.subscription_id,
      sender: r.sender,
      receivedAt: new Date(r.received_at),
      contentType: r.content_type,
      release: r.release,
      extractedOn: r.extracted_on,
      dropped: JSON.parse(r.dropped) as DroppedPart[],
      trimmed: JSON.parse(r.trimmed) as TrimmedPart[],
      additional: JSON.parse(r.additional) as AdditionalData,
      size: r.size,
      parts: this.#s.partSummaries.all(r.rowid_).map((p) => {
        const part: ArchivedPartSummary = { index: p.seq, contentType: p.content_type, size: p.size };
        if (p.content_id !== null) part.contentId = p.content_id;
        if (p.content_location !== null) part.contentLocation = p.content_location;
        return part;
      }),
    };
    if (r.subject !== null) out.subject = r.subject;
    if (r.date !== null) out.date = new Date(r.date);
    return out;
  }

  getMessage(archiveId: string): ArchivedMessage | undefined {
    const row = this.#s.message.get(archiveId);
    return row && this.#messageOf(row);
  }

  findByOriginal(originalId: string, recipient: string): ArchivedMessage | undefined {
    const row = this.#s.messageByOriginal.get(originalId, recipient);
    return row && this.#messageOf(row);
  }

  /** Newest first; `before` is the previous page's last archive id. */
  listByRecipient(address: string, limit: number, before?: string): ArchivedMessage[] {
    return this.#s.byRecipient.all(address, this.#cursor(before), limit).map((r) => this.#messageOf(r));
  }

  listBySubscription(subscriptionId: string, limit: number, before?: string): ArchivedMessage[] {
    return this.#s.bySubscription.all(subscriptionId, this.#cursor(before), limit).map((r) => this.#messageOf(r));
  }

  #cursor(before: string | undefined): number {
    if (before === undefined) return Number.MAX_SAFE_INTEGER;
    return this.#s.message.get(before)?.rowid_ ?? 0;
  }

  /** Part `index` of a message, with its bytes. */
  getPart(archiveId: string, index: number): StoredPart | undefined {
    const row = this.#s.message.get(archiveId);
    if (!row) return undefined;
    const p = this.#s.part.get(row.rowid_, index);
    if (!p) return undefined;
    const part: StoredPart = { contentType: p.content_type, data: p.data };
    if (p.content_id !== null) part.contentId = p.content_id;
    if (p.content_location !== null) part.contentLocation = p.content_location;
    return part;
  }

  getThumbnail(archiveId: string, index: number): Buffer | undefined {
    const row = this.#s.message.get(archiveId);
    return row && this.#s.thumbnail.get(row.rowid_, index)?.data;
  }

  putThumbnail(archiveId: string, index: number, data: Buffer): Promise<void> {
    return this.#enqueue(() => {
      const row = this.#s.message.get(archiveId);
      if (row) this.#s.putThumbnail.run(row.rowid_, index, data);
    });
  }

  countMessages(): number {
    return this.#s.countMessages.get()?.n ?? 0;
  }

  // ------------------------------------------------------- subscriptions

  /**
   * Every forward names its subscription, and its read of DB2 (a read
   * transaction of its own: 7-10 µs alone, mostly lock system calls, and up
   * to a tenth of the archive node's profile under load, right after each
   * group commit) is not needed: subscriptions are kept here, read once and
   * dropped by every write that changes one. Copies go out, so no caller can
   * change what the next one sees.
   */
  getSubscription(id: string): Subscription | undefined {
    let known = this.#subscriptions.get(id);
    if (!known) {
      const row = this.#s.subscription.get(id);
      if (!row) return undefined;
      if (this.#subscriptions.size >= SUBSCRIPTIONS_KEPT) this.#subscriptions.clear();
      this.#subscriptions.set(id, (known = subscriptionOf(row)));
    }
    return { ...known, createdAt: new Date(known.createdAt), endedAt: known.endedAt && new Date(known.endedAt) };
  }

  liveSubscriptionFor(address: string): Subscription | undefined {
    const row = this.#s.liveSubscription.get(address);
    return row && subscriptionOf(row);
  }

  /** A new subscription and its feed entry; `existing` when the address already has a live one. */
  createSubscription(address: string, plan: string): Promise<{ created: Subscription } | { existing: Subscription }> {
    return this.#enqueue(() => {
      const s = this.#s;
      const live = s.liveSubscription.get(address);
      if (live) return { existing: subscriptionOf(live) };
      const id = randomId();
      const now = this.#clock.now().getTime();
      s.insertSubscription.run(id, address, plan, now);
      s.insertChange.run(address, id, plan, now);
      return { created: subscriptionOf(s.subscription.get(id)!) };
    });
  }

  /**
   * Ends a subscription: a feed entry with a null id tells server 1 to stop
   * forwarding. `deleteMessages` (the plan's retention policy) removes what
   * was archived; otherwise it stays. Undefined for an unknown or ended one.
   */
  endSubscription(id: string, deleteMessages: boolean): Promise<Subscription | undefined> {
    return this.#enqueue(() => {
      const s = this.#s;
      const now = this.#clock.now().getTime();
      this.#subscriptions.delete(id);
      if (s.endSubscription.run(now, id).changes === 0) return undefined;
      const row = s.subscription.get(id)!;
      s.insertChange.run(row.address, null, null, now);
      if (deleteMessages) s.deleteBySubscription.run(id);
      return subscriptionOf(row);
    });
  }

  /** Revokes every album and confirmation link issued so far; the new token version, or undefined. */
  revokeLinks(id: string): Promise<number | undefined> {
    return this.#enqueue(() => {
      this.#subscriptions.delete(id);
      if (this.#s.bumpTokenVersion.run(id).changes === 0) return undefined;
      return this.#s.subscription.get(id)!.token_version;
    });
  }

  /** Feed entries after `after`, oldest first. */
  changes(after: number, limit: number): SubscriptionChange[] {
    return this.#s.changes.all(after, limit).map((r) => ({ seq: r.seq, address: r.address, subscriptionId: r.subscription_id, plan: r.plan, at: new Date(r.at) }));
  }

  changeHead(): number {
    return this.#s.changeHead.get()?.head ?? 0;
  }

  // ------------------------------------------- server 1's subscriber data

  /**
   * Applies a page of server 1's subscriber feed and moves our position to
   * `position` in the same transaction, so a crash never skips or re-applies
   * half a page (re-applying a whole page is harmless: upserts).
   */
  applySubscriberChanges(changes: ReadonlyArray<{ seq: number; address: string; profile: string | null; deleted?: boolean }>, position: number): Promise<void> {
    return this.#enqueue(() => {
      const s = this.#s;
      const now = this.#clock.now().getTime();
      for (const c of changes) {
        if (c.deleted) s.deleteSubscriber.run(c.address);
        else s.upsertSubscriber.run(c.address, c.profile, c.seq, now);
      }
      s.setPosition.run('subscribers', position, now);
    });
  }

  getSubscriber(address: string): SubscriberRecord | undefined {
    const r = this.#s.subscriber.get(address);
    return r && { address: r.address, profile: r.profile, seq: r.seq, updatedAt: new Date(r.updated_at) };
  }

  position(feed: string): { position: number; updatedAt: Date | null } {
    const r = this.#s.position.get(feed);
    return r ? { position: r.position, updatedAt: new Date(r.updated_at) } : { position: 0, updatedAt: null };
  }

  // ------------------------------------------------------------- billing

  addCdr(c: Omit<Cdr, 'id' | 'at'>): Promise<Cdr> {
    return this.#enqueue(() => {
      const at = this.#clock.now().getTime();
      const info = this.#s.insertCdr.run(c.subscriptionId, c.archiveId, c.event, at, c.amount, c.currency);
      return { ...c, id: Number(info.lastInsertRowid), at: new Date(at) };
    });
  }

  cdrsSince(since: Date): Cdr[] {
    return this.#s.cdrsSince.all(since.getTime()).map((r) => ({
      id: r.id,
      subscriptionId: r.subscription_id,
      archiveId: r.archive_id,
      event: r.event,
      at: new Date(r.at),
      amount: r.amount,
      currency: r.currency,
    }));
  }

  // ---------------------------------------------------------- maintenance

  /** `PRAGMA integrity_check`: 'ok' for a sound file. */
  integrityCheck(): string {
    return String(this.#db.pragma('integrity_check', { simple: true }));
  }

  ping(): boolean {
    if (this.#commits.closed) return false;
    try {
      return this.#s.countMessages.get() !== undefined;
    } catch {
      return false;
    }
  }

  /** Runs `work` in the next group commit; resolves once that commit is on disk. */
  #enqueue<T>(work: () => T): Promise<T> {
    return this.#commits.enqueue(work);
  }

  /** Commits what is queued (durable), then closes the file. */
  close(): void {
    if (this.#commits.closed) return;
    this.#commits.close();
    // The checkpoint thread's connection first: the last one to close checkpoints and removes the WAL.
    this.#wal?.closeThread();
    this.#db.close();
    this.#wal?.closeFile();
  }
}
