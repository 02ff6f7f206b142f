import type { OutboxJob } from '../outbox/types.js';
import type { ExpiredMessage, MessageStore } from '../store/types.js';
import type { Metrics } from './metrics.js';
import type { Clock } from './model.js';

/** Messages destroyed per transaction: small enough that accepts never wait long behind a sweep. */
export const SWEEP_BATCH = 200;

/**
 * The TTL sweeper (DESIGN.md step 8): every `everyMs`, destroys expired
 * messages in small batches until none is left. The clock is injected;
 * tests call sweep() directly.
 */
export class Sweeper {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<number> | undefined;

  constructor(
    private readonly store: MessageStore,
    private readonly clock: Clock,
    private readonly everyMs: number,
    private readonly log?: (event: Record<string, unknown>) => void,
    private readonly metrics?: Metrics,
    /** The "Expired" delivery reports, written in the expiry's own transaction and run after it. */
    private readonly reports?: { expiryJobs(expired: ExpiredMessage[]): OutboxJob[]; runJobs(jobs: readonly OutboxJob[]): void },
    /** How long a destroyed message's tombstone is kept before it is forgotten (undefined: forever). */
    private readonly keepTombstonesMs?: number,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.sweep(), this.everyMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Runs one sweep (or joins the one running); resolves with the number of messages destroyed. */
  sweep(): Promise<number> {
    this.running ??= this.run().finally(() => (this.running = undefined));
    return this.running;
  }

  private async run(): Promise<number> {
    let total = 0;
    for (;;) {
      let jobs: OutboxJob[] = [];
      const reports = this.reports;
      const expired = await this.store.expire(this.clock.now(), SWEEP_BATCH, reports && ((e) => void (jobs = reports.expiryJobs(e))));
      reports?.runJobs(jobs);
      for (const e of expired) this.log?.({ event: 'expired', messageId: e.messageId, recipients: e.recipients });
      this.metrics?.expired.inc(expired.length);
      total += expired.length;
      if (expired.length < SWEEP_BATCH) break;
      // Yield between batches so accepts interleave.
      await new Promise((r) => setImmediate(r));
    }
    if (this.keepTombstonesMs !== undefined) {
      const before = new Date(this.clock.now().getTime() - this.keepTombstonesMs);
      for (;;) {
        const purged = await this.store.purge(before, SWEEP_BATCH);
        if (purged > 0) this.log?.({ event: 'purged', tombstones: purged });
        if (purged < SWEEP_BATCH) break;
        await new Promise((r) => setImmediate(r));
      }
    }
    return total;
  }
}
