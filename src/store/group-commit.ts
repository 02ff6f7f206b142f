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
 *
 * DEFERRED SYNC (optional, `sync`): with synchronous=FULL the fsync runs
 * inside COMMIT, on the event loop, and nothing else happens meanwhile (no
 * request read, no body parsed, no answer written) — on a busy shared disk a
 * fsync takes 1–30 ms. With `sync`, the database runs synchronous=NORMAL (in
 * WAL mode COMMIT then only write()s the WAL frames) and the fsync of the WAL
 * runs in libuv's thread pool; a batch's promises settle only after an fsync
 * that STARTED after its COMMIT returned, so "resolved" still means "on
 * disk". Commits go on during an fsync; the batches committed meanwhile share
 * the next one. A failed fsync leaves the file's state unknown (Linux may
 * drop the dirty pages it could not write): every unsettled promise rejects
 * and so does every later write; the database must be reopened. Reads may
 * see a commit whose fsync is still running, but no caller is answered on it
 * before that fsync: a retry that finds the first attempt's row is in a
 * later batch, so its own fsync covers the first.
 */
import { closeSync, fsync, fsyncSync, openSync } from 'node:fs';
import type Database from 'better-sqlite3';

/** Makes durable everything written to the file so far, off the event loop (an fsync in libuv's pool). */
export interface DeferredSync {
  /** Calls `done` once what was written before the call is on disk (null), or with the error. */
  sync(done: (err: Error | null) => void): void;
  /** The same, blocking: for close(). */
  syncNow(): void;
  /** Before each batch: a promise makes the batch wait for it (the event loop does not), e.g. a checkpoint that lets the WAL restart. */
  beforeBatch?(): Promise<void> | undefined;
}

/**
 * The deferred sync of a database file in WAL mode: sets synchronous=NORMAL
 * (COMMIT writes the WAL without fsync; checkpoints still fsync before they
 * copy pages over) and fsyncs the `-wal` file. Undefined for a database
 * without a WAL file (':memory:', a temp database): keep synchronous=FULL.
 * Call after the first write (the migrations), so the WAL file exists.
 */
export function walSync(db: Database.Database): (DeferredSync & { readonly file: string; close(): void }) | undefined {
  const main = (db.pragma('database_list') as Array<{ name: string; file: string }>).find((d) => d.name === 'main');
  if (!main?.file || db.pragma('journal_mode', { simple: true }) !== 'wal') return undefined;
  // The connection stays open as long as this fd: SQLite never deletes the WAL file under
  // an open connection, it only rewrites it from the start after a checkpoint (same file).
  const fd = openSync(`${main.file}-wal`, 'r');
  db.pragma('synchronous = NORMAL');
  let running = 0;
  let closing = false;
  return {
    file: main.file,
    sync(done) {
      running++;
      fsync(fd, (err) => {
        if (--running === 0 && closing) closeSync(fd);
        done(err);
      });
    },
    syncNow() {
      fsyncSync(fd);
    },
    close() {
      if (closing) return;
      closing = true;
      if (running === 0) closeSync(fd);
    },
  };
}

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
  readonly #sync: DeferredSync | undefined;
  /** Committed batches waiting for the next fsync: how to settle each write, and how to fail it. */
  #unsynced: Array<{ done: () => void; fail: (err: unknown) => void }> = [];
  /** Those of the fsync running now (undefined: none runs). */
  #syncing: Array<{ done: () => void; fail: (err: unknown) => void }> | undefined;
  /** A failed fsync: the file's state is unknown, nothing more is written. */
  #broken: Error | undefined;
  /** The next batch waits for DeferredSync.beforeBatch's promise. */
  #gated = false;

  /**
   * `name` appears in the error of a write after close(), e.g. 'Db1'.
   * `sync`: the deferred fsync (see above); without it every COMMIT must be
   * durable by itself (synchronous=FULL).
   */
  constructor(db: Database.Database, maxBatch: number, name: string, sync?: DeferredSync) {
    if (!Number.isInteger(maxBatch) || maxBatch < 1) throw new RangeError(`maxBatch must be a positive integer, not ${maxBatch}`);
    this.#maxBatch = maxBatch;
    this.#name = name;
    this.#sync = sync;
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
    if (this.#broken) return Promise.reject(this.#broken);
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

  /**
   * What a reader waits for before acting on what it read: undefined when
   * every commit so far is durable; otherwise a promise that settles once
   * they are (at most the fsync running now, or the next one). A read can
   * see a commit whose fsync still runs (see above); the outbox worker waits
   * here before it acts on a job it read, so nothing leaves the node on the
   * strength of a commit a power cut could still undo.
   */
  durable(): Promise<void> | undefined {
    if (this.#broken) return Promise.reject(this.#broken);
    const waiting = this.#unsynced.length > 0 ? this.#unsynced : this.#syncing;
    if (!waiting) return undefined;
    return new Promise<void>((resolve, reject) => waiting.push({ done: resolve, fail: reject }));
  }

  /** Commits what is queued (its promises resolve); later writes reject. */
  close(): void {
    if (this.#closed) return;
    while (this.#queue.length > 0) this.#flush(true);
    if (this.#timer) clearImmediate(this.#timer);
    this.#timer = undefined;
    this.#closed = true;
    // What is committed but not yet synced: one blocking fsync, then its answers.
    const waiting = [...(this.#syncing ?? []), ...this.#unsynced];
    this.#syncing = undefined;
    this.#unsynced = [];
    if (waiting.length === 0 || this.#broken) return;
    try {
      this.#sync!.syncNow();
    } catch (err) {
      this.#fail(waiting, err);
      return;
    }
    for (const w of waiting) w.done();
  }

  /** `now`: no waiting for beforeBatch (close()). */
  #flush(now = false): void {
    if (this.#timer) clearImmediate(this.#timer);
    this.#timer = undefined;
    if (!now) {
      if (this.#gated) return; // the gate's opening flushes
      const gate = this.#sync?.beforeBatch?.();
      if (gate) {
        this.#gated = true;
        void gate.then(() => {
          this.#gated = false;
          if (!this.#closed) this.#flush();
        });
        return;
      }
    }
    const jobs = this.#queue.length <= this.#maxBatch ? this.#queue : this.#queue.slice(0, this.#maxBatch);
    this.#queue = jobs === this.#queue ? [] : this.#queue.slice(jobs.length);
    // The rest waits for the next turn, so reads and I/O get a turn between two batches.
    if (this.#queue.length > 0) this.#timer = setImmediate(() => this.#flush());
    if (jobs.length === 0) return;
    this.stats.writes += jobs.length;
    this.stats.largestBatch = Math.max(this.stats.largestBatch, jobs.length);
    if (this.#broken) {
      for (const job of jobs) job.fail(this.#broken);
      return;
    }
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
    if (!this.#sync) {
      // Only now, after COMMIT (fsynced): the answers may go out.
      for (const done of settle) done();
      return;
    }
    for (let i = 0; i < jobs.length; i++) this.#unsynced.push({ done: settle[i]!, fail: jobs[i]!.fail });
    this.#startSync();
  }

  /** One fsync at a time, for every batch committed before it started. */
  #startSync(): void {
    if (this.#syncing || this.#unsynced.length === 0 || this.#closed) return;
    const group = (this.#syncing = this.#unsynced);
    this.#unsynced = [];
    this.#sync!.sync((err) => {
      // close() settled them already (a blocking fsync of its own).
      if (this.#syncing !== group) return;
      this.#syncing = undefined;
      if (err) {
        this.#broken ??= new Error(`${this.#name}: fsync failed, the database must be reopened: ${err.message}`, { cause: err });
        this.#fail([...group, ...this.#unsynced], this.#broken);
        this.#unsynced = [];
        return;
      }
      // Only now, after the fsync: the answers may go out.
      for (const w of group) w.done();
      this.#startSync();
    });
  }

  #fail(waiting: ReadonlyArray<{ fail: (err: unknown) => void }>, err: unknown): void {
    this.stats.failedCommits++;
    for (const w of waiting) w.fail(err);
  }
}
