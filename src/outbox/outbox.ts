/**
 * The outbox table of DB1 (migration 2): jobs are rows, written in the
 * transaction of what caused them, deleted once done. Reads are prepared on
 * DB1's handle; every write goes through DB1's group commit, so a job's
 * insert, its completion and the state change it brings share a COMMIT
 * with the writes around them.
 */
import type { Database, Statement } from 'better-sqlite3';
import type { Clock } from '../mmsc/model.js';
import type { JobKind, NewJob, OutboxJob } from './types.js';

/** What the outbox needs of DB1: its handle for reads and its group-committed write queue. */
export interface OutboxStore {
  readonly sqlite: Database;
  write<T>(work: () => T): Promise<T>;
  /** Undefined when every commit so far is on disk; else a promise of it (a store whose fsync runs after its COMMIT). */
  durable?(): Promise<void> | undefined;
}

interface JobRow {
  id: number;
  kind: JobKind;
  key: string;
  message_id: string | null;
  address: string | null;
  payload: string;
  attempts: number;
  created_at: number;
  give_up_at: number | null;
  holds_message: number;
  last_error: string | null;
}

const COLUMNS = 'id, kind, key, message_id, address, payload, attempts, created_at, give_up_at, holds_message, last_error';

function jobOf(r: JobRow): OutboxJob {
  return {
    id: r.id,
    kind: r.kind,
    key: r.key,
    messageId: r.message_id,
    address: r.address,
    payload: JSON.parse(r.payload) as unknown,
    attempts: r.attempts,
    createdAt: new Date(r.created_at),
    giveUpAt: r.give_up_at === null ? null : new Date(r.give_up_at),
    holdsMessage: r.holds_message !== 0,
    lastError: r.last_error,
  };
}

/** Counts for the admin API and metrics. */
export interface OutboxCounts {
  kind: JobKind;
  pending: number;
  failed: number;
  /** Due time of the oldest pending job, ms since the epoch. */
  oldestDue: number | null;
}

export class Outbox {
  readonly #store: OutboxStore;
  readonly #clock: Clock;
  readonly #s: {
    insert: Statement<[string, string, string | null, string | null, string, number, number | null, number, number, number]>;
    byKey: Statement<[string, string], JobRow>;
    due: Statement<[number, string, string, number], JobRow>;
    nextDue: Statement<[string], { due_at: number }>;
    remove: Statement<[number]>;
    retry: Statement<[number, string, number, number]>;
    fail: Statement<[string, number, number]>;
    holds: Statement<[string], { n: number }>;
    byMessage: Statement<[string], JobRow>;
    counts: Statement<[], OutboxCounts>;
    failed: Statement<[number], JobRow>;
  };

  constructor(store: OutboxStore, clock: Clock) {
    this.#store = store;
    this.#clock = clock;
    const db = store.sqlite;
    this.#s = {
      // No RETURNING: it cost 26-30 µs more per insert (40,000 in batches of 25: 49 against 18 µs each).
      insert: db.prepare(
        `INSERT INTO outbox (kind, key, message_id, address, payload, due_at, give_up_at, holds_message, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (kind, key) DO NOTHING`,
      ),
      byKey: db.prepare(`SELECT ${COLUMNS} FROM outbox WHERE kind = ? AND key = ?`),
      // Oldest due first, of the kinds a worker handles (a JSON array).
      due: db.prepare(
        `SELECT ${COLUMNS} FROM outbox WHERE state = 'pending' AND due_at <= ?
           AND kind IN (SELECT value FROM json_each(?)) AND id NOT IN (SELECT value FROM json_each(?))
         ORDER BY due_at, id LIMIT ?`,
      ),
      nextDue: db.prepare(`SELECT min(due_at) AS due_at FROM outbox WHERE state = 'pending' AND kind IN (SELECT value FROM json_each(?))`),
      remove: db.prepare('DELETE FROM outbox WHERE id = ?'),
      retry: db.prepare('UPDATE outbox SET due_at = ?, last_error = ?, attempts = attempts + 1, updated_at = ? WHERE id = ?'),
      fail: db.prepare(`UPDATE outbox SET state = 'failed', last_error = ?, attempts = attempts + 1, updated_at = ? WHERE id = ?`),
      holds: db.prepare(`SELECT count(*) AS n FROM outbox WHERE message_id = ? AND holds_message = 1 AND state = 'pending'`),
      byMessage: db.prepare(`SELECT ${COLUMNS} FROM outbox WHERE message_id = ? ORDER BY id`),
      counts: db.prepare(
        `SELECT kind, sum(state = 'pending') AS pending, sum(state = 'failed') AS failed,
                min(CASE WHEN state = 'pending' THEN due_at END) AS oldestDue
         FROM outbox GROUP BY kind ORDER BY kind`,
      ),
      failed: db.prepare(`SELECT ${COLUMNS} FROM outbox WHERE state = 'failed' ORDER BY updated_at DESC LIMIT ?`),
    };
  }

  /**
   * Inserts jobs; call ONLY inside a DB1 write (e.g. the accept callback).
   * Returns the jobs as stored: a key already there is not inserted again,
   * and its existing row is returned instead (so a retried request never
   * doubles a job).
   */
  insertNow(jobs: readonly NewJob[]): OutboxJob[] {
    const now = this.#clock.now().getTime();
    const out: OutboxJob[] = [];
    for (const j of jobs) {
      const payload = JSON.stringify(j.payload ?? null);
      const giveUpAt = j.giveUpAt?.getTime() ?? null;
      const holds = j.holdsMessage ? 1 : 0;
      const messageId = j.messageId ?? null;
      const address = j.address ?? null;
      const info = this.#s.insert.run(j.kind, j.key, messageId, address, payload, j.dueAt?.getTime() ?? now, giveUpAt, holds, now, now);
      // A new row is what was just written (one statement on the accept path); a key already there is read.
      const row: JobRow | undefined =
        info.changes === 1
          ? { id: Number(info.lastInsertRowid), kind: j.kind, key: j.key, message_id: messageId, address, payload, attempts: 0, created_at: now, give_up_at: giveUpAt, holds_message: holds, last_error: null }
          : this.#s.byKey.get(j.kind, j.key);
      if (row) out.push(jobOf(row));
    }
    return out;
  }

  /** Inserts jobs in their own group-committed write; resolves when durable. */
  enqueue(jobs: readonly NewJob[]): Promise<OutboxJob[]> {
    return this.#store.write(() => this.insertNow(jobs));
  }

  /** Pending jobs of these kinds due at `now`, oldest first, but those in `skip` (already running). */
  /** See OutboxStore.durable: a job read now may come from a commit not yet on disk. */
  durable(): Promise<void> | undefined {
    return this.#store.durable?.();
  }

  due(now: Date, kinds: readonly JobKind[], limit: number, skip: Iterable<number> = []): OutboxJob[] {
    return this.#s.due.all(now.getTime(), JSON.stringify(kinds), JSON.stringify([...skip]), limit).map(jobOf);
  }

  /** When the next pending job of these kinds is due (undefined: none pending). */
  nextDue(kinds: readonly JobKind[]): Date | undefined {
    const at = this.#s.nextDue.get(JSON.stringify(kinds))?.due_at;
    return at === undefined || at === null ? undefined : new Date(at);
  }

  /**
   * Done: the row goes. `alsoNow` runs in the same transaction (e.g. a
   * recipient's state change that the completion implies).
   */
  complete(id: number, alsoNow?: () => void): Promise<void> {
    return this.#store.write(() => {
      this.#s.remove.run(id);
      alsoNow?.();
    });
  }

  retry(id: number, dueAt: Date, error: string): Promise<void> {
    return this.#store.write(() => {
      this.#s.retry.run(dueAt.getTime(), error, this.#clock.now().getTime(), id);
    });
  }

  fail(id: number, error: string, alsoNow?: () => void): Promise<void> {
    return this.#store.write(() => {
      this.#s.fail.run(error, this.#clock.now().getTime(), id);
      alsoNow?.();
    });
  }

  /** Does a pending job keep this message from the sweeper? */
  holds(messageId: string): boolean {
    return (this.#s.holds.get(messageId)?.n ?? 0) > 0;
  }

  /** Every job still recorded for a message (pending or failed), for the admin API and tests. */
  forMessage(messageId: string): OutboxJob[] {
    return this.#s.byMessage.all(messageId).map(jobOf);
  }

  counts(): OutboxCounts[] {
    return this.#s.counts.all();
  }

  recentFailures(limit: number): OutboxJob[] {
    return this.#s.failed.all(limit).map(jobOf);
  }
}
