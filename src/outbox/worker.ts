/**
 * Runs the outbox's jobs: each kind has a handler and a concurrency. Jobs
 * just written come in through run() at once (no polling delay on the hot
 * path); everything else — retries, jobs left by a crash — is found by a
 * poll of the due index, woken at the next due time.
 *
 * At-least-once: a job is deleted only after its handler said done, so a
 * crash between the peer's acknowledgement and that commit sends it again
 * on restart; receivers dedupe (DESIGN.md). Within one process a job never
 * runs twice at once (the in-flight set).
 */
import { requestIdField } from '../mmsc/log.js';
import type { Clock } from '../mmsc/model.js';
import type { Outbox } from './outbox.js';
import type { JobHandler, JobKind, JobOutcome, OutboxJob } from './types.js';

/** What a kind's onDone tells of a done job, logged in place of `job-done`. */
export interface DoneEvent {
  event: string;
  messageId?: string;
  [field: string]: unknown;
}

export interface KindOptions {
  handler: JobHandler;
  /** Jobs of this kind running at once (default 16). */
  concurrency?: number;
  /**
   * Runs in the transaction that completes the job: the state changes a
   * done job implies (e.g. recipient → notified), atomic with its delete.
   * It may return the event that tells the outcome (e.g. `notified`): the
   * worker logs it, with the request id and the attempts, once the
   * completion is durable, instead of its generic `job-done`.
   */
  onDone?: (job: OutboxJob, outcome: Extract<JobOutcome, { status: 'done' }>) => DoneEvent | void;
  /** Runs in the transaction that marks the job failed (e.g. recipient → rejected). */
  onFailed?: (job: OutboxJob, error: string) => void;
}

export interface BackoffOptions {
  /** First retry after this (default 1 s); doubles per attempt, ±20 % jitter. */
  baseMs: number;
  /** Never longer than this (default 5 min). */
  maxMs: number;
}

export interface OutboxWorkerOptions {
  outbox: Outbox;
  clock: Clock;
  kinds: Partial<Record<JobKind, KindOptions>>;
  backoff?: Partial<BackoffOptions>;
  /** Longest sleep between two polls even when nothing is due (default 30 s): covers clock jumps. */
  maxIdleMs?: number;
  log?: (event: Record<string, unknown>) => void;
  random?: () => number;
}

/** Delay before attempt `attempts + 1`, after `attempts` failed ones. */
export function backoffDelay(attempts: number, b: BackoffOptions, random: () => number = Math.random): number {
  const exp = Math.min(b.maxMs, b.baseMs * 2 ** Math.max(0, Math.min(attempts - 1, 30)));
  return Math.round(Math.min(b.maxMs, exp * (0.8 + 0.4 * random())));
}

export class OutboxWorker {
  readonly #o: OutboxWorkerOptions;
  readonly #backoff: BackoffOptions;
  readonly #kinds: JobKind[];
  /** Ids of jobs running or queued in memory. */
  readonly #inFlight = new Set<number>();
  readonly #running = new Map<JobKind, number>();
  /** Jobs handed to run() beyond a kind's concurrency wait here, in order. */
  readonly #waiting = new Map<JobKind, OutboxJob[]>();
  readonly #settling = new Set<Promise<void>>();
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Infinity;
  #started = false;
  #polling = false;
  #pollAgain = false;

  constructor(opts: OutboxWorkerOptions) {
    this.#o = opts;
    this.#backoff = { baseMs: opts.backoff?.baseMs ?? 1000, maxMs: opts.backoff?.maxMs ?? 300_000 };
    this.#kinds = Object.keys(opts.kinds) as JobKind[];
  }

  /** Starts polling: jobs left pending by an earlier run (a crash, a stop) are picked up now. */
  start(): void {
    this.#started = true;
    this.kick();
  }

  /** Stops taking jobs and waits for those running; pending ones stay in DB1 for the next start. */
  async stop(): Promise<void> {
    this.#started = false;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#waiting.clear();
    while (this.#settling.size > 0) await Promise.allSettled([...this.#settling]);
  }

  /** Jobs currently running or waiting in memory. */
  get busy(): number {
    return this.#inFlight.size;
  }

  /** Runs jobs just inserted (their transaction committed) without waiting for a poll; `requestId`: the request that caused them. */
  run(jobs: readonly OutboxJob[], requestId?: string): void {
    if (!this.#started) return; // start() finds them in DB1
    // Object.assign, not `{ ...job, requestId }`: on Node 20 a literal that starts with a spread costs ~2 µs.
    for (const job of jobs) this.#admit(requestId === undefined ? job : Object.assign({}, job, { requestId }));
  }

  /** Polls now (e.g. after a peer came back). */
  kick(): void {
    this.#schedule(0);
  }

  /** Resolves when nothing is running or waiting in memory (tests). */
  async idle(): Promise<void> {
    while (this.#settling.size > 0 || this.#polling) {
      await Promise.allSettled([...this.#settling]);
      await new Promise((r) => setImmediate(r));
    }
  }

  /**
   * A poll can read jobs whose commit is not on disk yet (DB1 fsyncs after
   * COMMIT, off the event loop): they are held, as in flight, until it is,
   * so a push or forward never goes out for a write a power cut could undo.
   * One fsync at most; run() needs no wait (its callers were answered after
   * theirs).
   */
  #admitWhenDurable(jobs: readonly OutboxJob[], durable: Promise<void>): void {
    for (const job of jobs) this.#inFlight.add(job.id);
    const release = (): void => {
      for (const job of jobs) this.#inFlight.delete(job.id);
    };
    const p = durable.then(
      () => {
        release();
        if (this.#started) for (const job of jobs) this.#admit(job);
      },
      (e: unknown) => {
        release();
        this.#o.log?.({ event: 'outbox-poll-failed', error: String(e) });
      },
    );
    this.#settling.add(p);
    void p.finally(() => this.#settling.delete(p));
  }

  #admit(job: OutboxJob): void {
    if (this.#inFlight.has(job.id)) return;
    const kind = this.#o.kinds[job.kind];
    if (!kind) return;
    this.#inFlight.add(job.id);
    if ((this.#running.get(job.kind) ?? 0) < (kind.concurrency ?? 16)) this.#start(job, kind);
    else {
      let q = this.#waiting.get(job.kind);
      if (!q) this.#waiting.set(job.kind, (q = []));
      q.push(job);
    }
  }

  #start(job: OutboxJob, kind: KindOptions): void {
    this.#running.set(job.kind, (this.#running.get(job.kind) ?? 0) + 1);
    const p = this.#attempt(job, kind).finally(() => {
      this.#settling.delete(p);
      this.#inFlight.delete(job.id);
      this.#running.set(job.kind, (this.#running.get(job.kind) ?? 1) - 1);
      const next = this.#waiting.get(job.kind)?.shift();
      if (next && this.#started) this.#start(next, kind);
      else if (next) this.#inFlight.delete(next.id);
      // A full kind may have left due jobs in DB1 unread.
      else if (this.#started && this.#pollAgain) this.kick();
    });
    this.#settling.add(p);
  }

  async #attempt(job: OutboxJob, kind: KindOptions): Promise<void> {
    const log = this.#o.log;
    let outcome: JobOutcome;
    try {
      outcome = await kind.handler(job);
    } catch (e) {
      outcome = { status: 'retry', error: e instanceof Error ? e.message : String(e) };
    }
    const { outbox, clock } = this.#o;
    try {
      if (outcome.status === 'done') {
        const done = outcome;
        let told: DoneEvent | undefined;
        // void | DoneEvent: a kind without an event returns nothing
        await outbox.complete(job.id, kind.onDone && (() => void (told = kind.onDone!(job, done) as DoneEvent | undefined)));
        const attempts = job.attempts + 1;
        if (told) log?.(Object.assign(told, requestIdField(job.requestId), { attempts }));
        else log?.({ event: 'job-done', ...requestIdField(job.requestId), kind: job.kind, key: job.key, attempts });
        return;
      }
      const now = clock.now();
      const attempts = job.attempts + 1;
      let error = outcome.error;
      let failed = outcome.status === 'failed';
      let dueAt = new Date(now.getTime() + (outcome.status === 'retry' && outcome.afterMs !== undefined ? outcome.afterMs : backoffDelay(attempts, this.#backoff, this.#o.random)));
      if (!failed && job.giveUpAt && dueAt > job.giveUpAt) {
        failed = true;
        error = `gave up after ${attempts} attempts: ${error}`;
      }
      if (failed) {
        await outbox.fail(job.id, error, kind.onFailed && (() => kind.onFailed!(job, error)));
        log?.({ event: 'job-failed', ...requestIdField(job.requestId), kind: job.kind, key: job.key, attempts, error });
      } else {
        await outbox.retry(job.id, dueAt, error);
        log?.({ event: 'job-retry', ...requestIdField(job.requestId), kind: job.kind, key: job.key, attempts, error, dueAt: dueAt.toISOString() });
        this.#schedule(dueAt.getTime() - now.getTime());
      }
    } catch (e) {
      // DB1 refused the bookkeeping (closed, disk full): the row is still pending and will run again.
      log?.({ event: 'job-bookkeeping-failed', ...requestIdField(job.requestId), kind: job.kind, key: job.key, error: String(e) });
    }
  }

  #schedule(inMs: number): void {
    if (!this.#started) return;
    const at = Date.now() + Math.max(0, inMs);
    if (this.#timer && at >= this.#timerAt) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#timerAt = Infinity;
      this.#poll();
    }, Math.max(0, inMs));
    this.#timer.unref();
  }

  #poll(): void {
    if (!this.#started || this.#polling) return;
    this.#polling = true;
    try {
      const { outbox, clock } = this.#o;
      const now = clock.now();
      this.#pollAgain = false;
      // Room left per kind; a kind with none is skipped this round.
      const open = this.#kinds.filter((k) => (this.#running.get(k) ?? 0) < (this.#o.kinds[k]!.concurrency ?? 16));
      if (open.length > 0) {
        const limit = 256;
        const due = outbox.due(now, open, limit, this.#inFlight);
        const durable = due.length > 0 ? outbox.durable() : undefined;
        if (durable) this.#admitWhenDurable(due, durable);
        else for (const job of due) this.#admit(job);
        if (due.length === limit) this.#pollAgain = true;
      }
      if (open.length < this.#kinds.length) this.#pollAgain = true;
      const idle = this.#o.maxIdleMs ?? 30_000;
      if (this.#pollAgain) {
        // More is due now: a finishing job kicks the next poll; this timer is the fallback.
        this.#schedule(Math.min(idle, 1000));
        return;
      }
      const next = outbox.nextDue(this.#kinds);
      // Jobs in flight are pending in DB1 too: their due time is past, so wait for their outcome, not for them.
      const wait = next === undefined ? idle : Math.min(idle, Math.max(this.#inFlight.size > 0 ? 1000 : 0, next.getTime() - now.getTime()));
      this.#schedule(wait);
    } catch (e) {
      this.#o.log?.({ event: 'outbox-poll-failed', error: String(e) });
      this.#schedule(1000);
    } finally {
      this.#polling = false;
    }
  }
}
