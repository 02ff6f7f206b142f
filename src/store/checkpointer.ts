/**
 * WAL checkpoints in a worker thread, on a connection of its own.
 *
 * SQLite's automatic checkpoint runs inside the COMMIT that crosses 1000
 * WAL pages: an fsync of the WAL, the pages copied into the database file,
 * an fsync of that file — tens of ms on a shared disk, on the event loop,
 * while no request is read or answered. With a Checkpointer the writing
 * connection turns automatic checkpoints off and this thread runs PASSIVE
 * checkpoints: they take no lock that a writer or a reader waits for, and
 * SQLite itself orders the syncs (WAL before the copy, database file after
 * it), so durability is SQLite's own. A round runs every `intervalMs`
 * (100 ms), when the writer asks for a drain (below), and (durableWal)
 * right after the fsync of a group once `wakeAfterOctets` of content were
 * written since the last wake-up.
 *
 * Why not after every group's fsync, as DB1 once did: a round that copied
 * every frame lets the next COMMIT restart the WAL, and a restart fsyncs
 * the WAL header on the event loop. With small messages, ~150 groups a
 * second, the text-only accept load spent 20-30 % more main-thread CPU per
 * accept that way (3 interleaved runs: 319-356 against 242-305 µs) and the
 * thread 45 against 10 µs. Why not on the timer alone: with 30 KB photos
 * (~70 MB of WAL a second) a round every 100 ms copied and fdatasynced
 * several MB at once, and the photo load's p99 went from 56-64 to 106-111
 * ms; a round after each group that brought content keeps those short.
 *
 * The WAL starts again from its beginning only when a write begins after a
 * checkpoint that copied every frame. Under a write load that never pauses
 * a commit always comes first, so once the WAL holds more than
 * `restartOctets` the writer asks for drain() before its next batch: the
 * batch waits (the event loop does not: requests are still read and parsed)
 * until a checkpoint copied everything, and then restarts the WAL. If the
 * thread fails, the writing connection takes automatic checkpoints back.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';
import { walSync, type DeferredSync } from './group-commit.js';

/** The thread's code, CommonJS: no loader, no TypeScript, nothing of the project's to import. */
const THREAD = `
const { parentPort, workerData } = require('node:worker_threads');
const { openSync, fdatasyncSync } = require('node:fs');
const Database = require(workerData.module);
const db = new Database(workerData.file, { timeout: workerData.busyTimeoutMs });
// SQLite syncs the database file only after a checkpoint that copied every frame; under load
// most copy a part, and the pages they wrote would all wait for the next whole one (the
// writer waits for that one: see drain). Synced here after each round, it stays short.
const dbFd = openSync(workerData.file, 'r');
db.pragma('synchronous = NORMAL');
db.pragma('wal_autocheckpoint = 0');
let closing = false;
let timer;
let lastLog = -1;
function round(drain) {
  timer = undefined;
  if (closing) return;
  let log = lastLog;
  let all = false;
  try {
    const [r] = db.pragma('wal_checkpoint(PASSIVE)');
    log = r.log;
    all = r.busy === 0 && r.checkpointed === r.log;
    if (!all && r.checkpointed > 0) fdatasyncSync(dbFd);
  } catch {
    // SQLITE_BUSY and the like: next round.
  }
  // The writer wants to know how big the WAL got (a restart shows as a smaller count).
  if (drain || log !== lastLog) parentPort.postMessage({ log, all, drain });
  lastLog = log;
  timer = setTimeout(round, workerData.intervalMs, false);
}
parentPort.on('message', (m) => {
  if (closing) return;
  if (m === 'wake' || m === 'drain') {
    if (timer !== undefined) clearTimeout(timer);
    round(m === 'drain');
    return;
  }
  if (m !== 'close') return;
  closing = true;
  if (timer !== undefined) clearTimeout(timer);
  try {
    db.close();
  } finally {
    // The writer waits for this: once it returns, no file of the database changes under it.
    Atomics.store(workerData.closed, 0, 1);
    Atomics.notify(workerData.closed, 0);
    parentPort.close();
  }
});
round(false);
`;

const DEFAULT_RESTART_OCTETS = 128 << 20;

export interface CheckpointerOptions {
  /** Longest pause between two rounds, ms (default 100). */
  intervalMs?: number;
  /**
   * WAL size past which the writer waits for a full checkpoint before its
   * next batch (default 128 MiB). Each such wait stops every commit for a
   * few to 20 ms; at 32 MiB, 30 KB photos accepted at ~2,000/s met one
   * about every half second, and they set the p99 of the accept bench
   * (57-61 ms against 42-45 ms at 128 MiB, bench/accept).
   */
  restartOctets?: number;
  busyTimeoutMs?: number;
}

interface RoundReport {
  log: number;
  all: boolean;
  drain: boolean;
}

export class Checkpointer {
  readonly #worker: Worker;
  readonly #restartFrames: number;
  #closed = false;
  #failed = false;
  /** WAL frames at the thread's last round. */
  #frames = 0;
  /** The writer waits for a drain once the WAL holds this many frames. */
  #limit: number;
  #drained: Array<() => void> = [];
  /** Set to 1 by the thread once its connection is closed. */
  readonly #threadClosed = new Int32Array(new SharedArrayBuffer(4));

  /** For a database file in WAL mode (`db` is the writing connection). */
  constructor(db: Database.Database, file: string, opts: CheckpointerOptions = {}) {
    const pageSize = db.pragma('page_size', { simple: true }) as number;
    this.#restartFrames = Math.max(1, Math.floor((opts.restartOctets ?? DEFAULT_RESTART_OCTETS) / pageSize));
    this.#limit = this.#restartFrames;
    this.#worker = new Worker(THREAD, {
      eval: true,
      execArgv: [],
      workerData: {
        module: createRequire(import.meta.url).resolve('better-sqlite3'),
        file,
        intervalMs: opts.intervalMs ?? 100,
        closed: this.#threadClosed,
        busyTimeoutMs: opts.busyTimeoutMs ?? 5000,
      },
    });
    // The thread must not keep the process alive, nor take it down.
    this.#worker.unref();
    this.#worker.on('message', (r: RoundReport) => {
      this.#frames = r.log;
      if (r.drain) {
        // Drained whole: the next commit starts the WAL again. Not whole (a reader of another
        // process held frames back): the writer does not wait again before as many frames more.
        this.#limit = r.all ? this.#restartFrames : r.log + this.#restartFrames;
        if (r.all) this.#frames = 0;
        this.#release();
      }
    });
    const takeBack = (): void => {
      this.#failed = true;
      this.#release();
      if (this.#closed || !db.open) return;
      db.pragma('wal_autocheckpoint = 1000');
    };
    this.#worker.on('error', takeBack);
    this.#worker.on('exit', takeBack);
    db.pragma('wal_autocheckpoint = 0');
  }

  /** A round now rather than at the next tick of the thread's timer. */
  wake(): void {
    if (!this.#closed && !this.#failed) this.#worker.postMessage('wake');
  }

  /**
   * Before a batch: undefined to go ahead, or a promise to wait for, while
   * the WAL is past its size and a checkpoint of all of it runs.
   */
  beforeBatch(): Promise<void> | undefined {
    if (this.#closed || this.#failed || this.#frames < this.#limit) return undefined;
    return new Promise<void>((resolve) => {
      this.#drained.push(resolve);
      if (this.#drained.length === 1) this.#worker.postMessage('drain');
    });
  }

  #release(): void {
    const waiting = this.#drained;
    this.#drained = [];
    for (const go of waiting) go();
  }

  /**
   * Closes the thread's connection and waits for that (at most one round,
   * bounded by `waitMs`), so that the caller's close is the last one and a
   * directory removed right after has no file coming back.
   */
  close(waitMs = 5000): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#release();
    if (this.#failed) return;
    this.#worker.postMessage('close');
    Atomics.wait(this.#threadClosed, 0, 0, waitMs);
  }
}

/**
 * A file database's WAL made durable off the event loop, as DB1 and DB2
 * have it: the group commit's fsync of the WAL in libuv's pool
 * (group-commit.ts walSync) and checkpoints in a Checkpointer thread, on its
 * own timer and right after the fsync of a group once wrote() reported
 * `wakeAfterOctets` (DB1 reports its messages' content; DB2 reports
 * nothing: timer only). Undefined for a database without a WAL file.
 * Call after the migrations (the WAL file must exist).
 */
export interface DurableWal extends DeferredSync {
  /** Content octets a write just put in the WAL (part data, say): enough of them wake the thread after the next fsync. */
  wrote(octets: number): void;
  /** Before the writing connection closes: the thread's connection goes first, so the last close checkpoints and removes the WAL. */
  closeThread(): void;
  /** After the writing connection closed. */
  closeFile(): void;
}

export interface DurableWalOptions extends CheckpointerOptions {
  /** A round right after the fsync of a group once this many octets were reported by wrote() since the last one (default 512 KiB). */
  wakeAfterOctets?: number;
}

export function durableWal(db: Database.Database, opts: DurableWalOptions = {}): DurableWal | undefined {
  const wakeAfter = opts.wakeAfterOctets ?? 512 << 10;
  const wal = walSync(db);
  if (!wal) return undefined;
  let checkpointer: Checkpointer;
  try {
    checkpointer = new Checkpointer(db, wal.file, opts);
  } catch (err) {
    wal.close();
    throw err;
  }
  let written = 0;
  return {
    wrote: (octets) => {
      written += octets;
    },
    sync: (done) => {
      // What was written so far is in this fsync: the round after it can copy all of it.
      const wake = written >= wakeAfter;
      if (wake) written = 0;
      wal.sync((err) => {
        done(err);
        if (wake && !err) checkpointer.wake();
      });
    },
    syncNow: () => wal.syncNow(),
    beforeBatch: () => checkpointer.beforeBatch(),
    closeThread: () => checkpointer.close(),
    closeFile: () => wal.close(),
  };
}
