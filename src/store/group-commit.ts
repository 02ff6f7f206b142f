/**
 * GROUP COMMIT for a better-sqlite3 database (DB1 and DB2 share it): every
 * write goes through one queue; the writes asked for in the same tick (or
 * while the event loop was busy with the previous commit) run in ONE
 * IMMEDIATE transaction on the next setImmediate, and each promise settles
 * only after that COMMIT returned. With WAL and synchronous=FULL the commit
 * is fsynced before it returns, so a resolved promise means "on disk", and
 * one fsync is shared by the whole batch.
 *
 * Failure isolation: a write that throws (bad input, a constraint) is
 * rolled back alone and only its promise rejects; the others still commit.
 * A batch first runs without savepoints (a SAVEPOINT per write made every
 * statement several times dearer: SQLite keeps a statement journal of the
 * pages each one touches). If a write throws, that whole transaction is
 * rolled back, nothing of it stored or answered, and the batch runs again
 * with each write in its own SAVEPOINT. A write is then run twice, which is
 * harmless: it is a function of the database (and of the clock and fresh
 * random ids), and its promise settles only after the COMMIT of the run
 * that counts. If the batch itself fails (BEGIN or COMMIT: disk full, I/O
 * error, lock timeout), every promise in it rejects and nothing of it is
 * stored.
 *
 * Reads elsewhere are synchronous and see committed data only: no
 * transaction is ever open between two ticks.
 */
import type Database from 'better-sqlite3';

/** Counters for tests, metrics and the benches. */
export interface GroupCommitStats {
  /** Transactions committed. */
  commits: number;
  /** Writes in those transactions, failed ones included. */
  writes: number;
  largestBatch: number;
  /** Batches whose transaction failed as a whole: all their promises rejected. */
  failedCommits: number;
}

/** A write threw in a batch run without savepoints: the batch runs again, each write in its own. */
class WriteFailed extends Error {
  constructor(readonly error: unknown) {
    super('a write of the batch failed');
  }
}

/** One queued write: `run` does it inside the batch and returns how to settle its promise once committed. */
interface Job {
  run(): () => void;
  fail(err: unknown): void;
}

export class GroupCommit {
  readonly stats: GroupCommitStats = { commits: 0, writes: 0, largestBatch: 0, failedCommits: 0 };
  readonly #maxBatch: number;
  readonly #name: string;
  /** The batch as one transaction, no savepoint: throws WriteFailed at the first write that throws. */
  readonly #batch: Database.Transaction<(jobs: Job[], settle: Array<() => void>) => void>;
  /** The batch with each write in its own SAVEPOINT, after #batch threw WriteFailed. */
  readonly #isolated: Database.Transaction<(jobs: Job[], settle: Array<() => void>) => void>;
  #queue: Job[] = [];
  #timer: NodeJS.Immediate | undefined;
  #closed = false;

  /** `name` appears in the error of a write after close(), e.g. 'Db1'. */
  constructor(db: Database.Database, maxBatch: number, name: string) {
    if (!Number.isInteger(maxBatch) || maxBatch < 1) throw new RangeError(`maxBatch must be a positive integer, not ${maxBatch}`);
    this.#maxBatch = maxBatch;
    this.#name = name;
    this.#batch = db.transaction((jobs: Job[], settle: Array<() => void>) => {
      for (const job of jobs) {
        let done: () => void;
        try {
          done = job.run();
        } catch (err) {
          throw new WriteFailed(err);
        }
        settle.push(done);
      }
    });
    const one = db.transaction((job: Job) => job.run()); // nested: a SAVEPOINT
    this.#isolated = db.transaction((jobs: Job[], settle: Array<() => void>) => {
      for (const job of jobs) {
        try {
          settle.push(one(job));
        } catch (err) {
          settle.push(() => job.fail(err));
        }
        // Some errors (SQLITE_FULL, IOERR) make SQLite roll back the whole
        // transaction; later writes would then autocommit one by one. Stop.
        if (!db.inTransaction) throw new Error('the batch transaction was rolled back by SQLite');
      }
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Runs `work` in the next batch; resolves with its value once that batch is durable. */
  enqueue<T>(work: () => T): Promise<T> {
    if (this.#closed) return Promise.reject(new Error(`${this.#name} is closed`));
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({
        run: () => {
          const value = work();
          return () => resolve(value);
        },
        fail: reject,
      });
      this.#timer ??= setImmediate(() => this.#flush());
    });
  }

  /** Commits what is queued (its promises resolve); later writes reject. */
  close(): void {
    if (this.#closed) return;
    while (this.#queue.length > 0) this.#flush();
    if (this.#timer) clearImmediate(this.#timer);
    this.#timer = undefined;
    this.#closed = true;
  }

  #flush(): void {
    if (this.#timer) clearImmediate(this.#timer);
    this.#timer = undefined;
    const jobs = this.#queue.length <= this.#maxBatch ? this.#queue : this.#queue.slice(0, this.#maxBatch);
    this.#queue = jobs === this.#queue ? [] : this.#queue.slice(jobs.length);
    // The rest waits for the next turn, so reads and I/O get a turn between two batches.
    if (this.#queue.length > 0) this.#timer = setImmediate(() => this.#flush());
    if (jobs.length === 0) return;
    this.stats.writes += jobs.length;
    this.stats.largestBatch = Math.max(this.stats.largestBatch, jobs.length);
    let settle: Array<() => void> = [];
    try {
      try {
        this.#batch.immediate(jobs, settle);
      } catch (err) {
        if (!(err instanceof WriteFailed)) throw err;
        // Rolled back: nothing of this run is stored. Again, each write alone.
        settle = [];
        this.#isolated.immediate(jobs, settle);
      }
    } catch (err) {
      this.stats.failedCommits++;
      for (const job of jobs) job.fail(err);
      return;
    }
    this.stats.commits++;
    // Only now, after COMMIT (fsynced): the answers may go out.
    for (const done of settle) done();
  }
}
