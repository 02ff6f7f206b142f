/**
 * DB1's side of the DB1 ↔ DB2 synchronization (issue 8). The contract —
 * page shapes, paths, the hint — is src/archive/sync.ts, shared with
 * server 2:
 *
 * - DB1 serves its subscriber feed (the subscriber_changes table, filled by
 *   triggers on subscribers, so no write path can forget it) at
 *   GET /sync/subscribers?after=N&limit=M on the admin listener;
 * - DB1 pulls server 2's subscription feed from the position it stored
 *   (sync_positions), every `pullEvery` and at once on a hint, and applies
 *   each page in ONE transaction with the new position: a crash between
 *   pages replays at most one page, and applying a page twice is harmless.
 */
import type { Statement } from 'better-sqlite3';
import { z } from 'zod';
import type { SubscriberFeedEntry, SubscriberFeedPage, SubscriptionFeedPage } from '../archive/sync.js';
import type { Db1 } from '../store/db1.js';
import type { Clock } from './model.js';

const FEED = 'archive:subscriptions';

const subscriptionPage = z.object({
  changes: z.array(
    z.object({
      seq: z.number().int().positive(),
      address: z.string().min(1).max(320),
      subscriptionId: z.string().min(1).max(256).nullable(),
      plan: z.string().max(64).nullable(),
      at: z.string(),
    }),
  ),
  head: z.number().int().min(0),
});

export interface SubscriptionSyncOptions {
  db: Db1;
  clock: Clock;
  /** Server 2's base URL and API token. */
  url: string;
  apiToken: string;
  pullEveryMs: number;
  timeoutMs: number;
  pageSize?: number;
  log?: (event: Record<string, unknown>) => void;
  fetch?: typeof fetch;
}

export interface SyncStatus {
  feed: string;
  /** Last change of server 2's feed applied here. */
  position: number;
  /** Server 2's head when last pulled. */
  head: number | null;
  /** head − position when last pulled. */
  lag: number | null;
  pulledAt: string | null;
  /** DB1's own feed head (what server 2 should reach). */
  ownHead: number;
}

interface ChangeRow {
  seq: number;
  address: string;
  profile: string | null;
  deleted: number;
}

/**
 * Calls `pull` now and then every `everyMs` (a failed pull is the pull's to
 * log; the next tick retries it). Returns the stop: the timer ends, then the
 * pull still running (`running()`) is waited for.
 */
export function pullNowAndEvery(everyMs: number, pull: () => Promise<unknown>, running: () => Promise<unknown> | undefined): () => Promise<void> {
  const run = (): void => void pull().catch(() => undefined);
  const timer = setInterval(run, everyMs);
  timer.unref();
  run();
  return async () => {
    clearInterval(timer);
    await running()?.catch(() => undefined);
  };
}

export class SubscriptionSync {
  readonly #o: SubscriptionSyncOptions;
  readonly #fetch: typeof fetch;
  readonly #s: {
    changes: Statement<[number, number], ChangeRow>;
    head: Statement<[], { head: number | null }>;
    position: Statement<[string], { position: number; head: number | null; pulled_at: number }>;
    setPosition: Statement<[string, number, number, number]>;
    applySubscription: Statement<[string, string | null, string | null, number]>;
  };
  #stopPulling: (() => Promise<void>) | undefined;
  #pulling: Promise<number> | undefined;
  #again = false;

  constructor(opts: SubscriptionSyncOptions) {
    this.#o = opts;
    this.#fetch = opts.fetch ?? fetch;
    const db = opts.db.sqlite;
    this.#s = {
      changes: db.prepare('SELECT seq, address, profile, deleted FROM subscriber_changes WHERE seq > ? ORDER BY seq LIMIT ?'),
      head: db.prepare('SELECT max(seq) AS head FROM subscriber_changes'),
      position: db.prepare('SELECT position, head, pulled_at FROM sync_positions WHERE feed = ?'),
      setPosition: db.prepare(
        `INSERT INTO sync_positions (feed, position, head, pulled_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (feed) DO UPDATE SET position = excluded.position, head = excluded.head, pulled_at = excluded.pulled_at`,
      ),
      // Only the subscription columns: the profile is DB1's own (and its trigger would echo it back).
      applySubscription: db.prepare(
        `INSERT INTO subscribers (address, profile, archive_subscription_id, archive_plan, created_at) VALUES (?, NULL, ?, ?, ?)
         ON CONFLICT (address) DO UPDATE SET archive_subscription_id = excluded.archive_subscription_id, archive_plan = excluded.archive_plan`,
      ),
    };
  }

  /** A page of DB1's subscriber feed, as server 2 pulls it. */
  feedPage(after: number, limit: number): SubscriberFeedPage {
    const changes = this.#s.changes.all(after, limit).map((r) => {
      const e: SubscriberFeedEntry = { seq: r.seq, address: r.address, profile: r.profile };
      if (r.deleted) e.deleted = true;
      return e;
    });
    return { changes, head: this.#s.head.get()?.head ?? 0 };
  }

  status(): SyncStatus {
    const p = this.#s.position.get(FEED);
    return {
      feed: FEED,
      position: p?.position ?? 0,
      head: p?.head ?? null,
      lag: p && p.head !== null ? Math.max(0, p.head - p.position) : null,
      pulledAt: p ? new Date(p.pulled_at).toISOString() : null,
      ownHead: this.#s.head.get()?.head ?? 0,
    };
  }

  start(): void {
    this.#stopPulling = pullNowAndEvery(this.#o.pullEveryMs, () => this.pull(), () => this.#pulling);
  }

  async stop(): Promise<void> {
    await this.#stopPulling?.();
  }

  /**
   * Pulls server 2's feed until caught up; resolves with the changes
   * applied. A pull asked for while one runs runs once more after it, so a
   * hint is never lost.
   */
  pull(): Promise<number> {
    if (this.#pulling) {
      this.#again = true;
      return this.#pulling;
    }
    this.#pulling = this.#pullAll().finally(() => {
      this.#pulling = undefined;
      if (this.#again) {
        this.#again = false;
        void this.pull().catch(() => undefined);
      }
    });
    return this.#pulling;
  }

  async #pullAll(): Promise<number> {
    const { url, apiToken, timeoutMs, db, clock, log } = this.#o;
    const limit = this.#o.pageSize ?? 500;
    let applied = 0;
    try {
      for (;;) {
        const after = this.#s.position.get(FEED)?.position ?? 0;
        const res = await this.#fetch(`${url}/sync/subscriptions?after=${after}&limit=${limit}`, {
          headers: { Authorization: `Bearer ${apiToken}` },
          signal: AbortSignal.timeout(timeoutMs),
        });
        if (res.status !== 200) {
          await res.arrayBuffer().catch(() => undefined);
          throw new Error(`HTTP ${res.status}`);
        }
        const parsed = subscriptionPage.safeParse(await res.json());
        if (!parsed.success) throw new Error(`malformed page: ${parsed.error.issues[0]!.path.join('.')}: ${parsed.error.issues[0]!.message}`);
        const page: SubscriptionFeedPage = parsed.data;
        const changes = page.changes.filter((c) => c.seq > after);
        await db.write(() => {
          const now = clock.now().getTime();
          for (const c of changes) this.#s.applySubscription.run(c.address, c.subscriptionId, c.subscriptionId === null ? null : c.plan, now);
          const position = changes.length > 0 ? changes[changes.length - 1]!.seq : after;
          this.#s.setPosition.run(FEED, position, page.head, now);
        });
        applied += changes.length;
        if (changes.length === 0 || changes.length < limit) break;
      }
      if (applied > 0) log?.({ event: 'subscriptions-synced', applied });
      return applied;
    } catch (e) {
      log?.({ event: 'subscription-sync-failed', error: (e as Error).message });
      throw e;
    }
  }

  /** Tells server 2 that DB1's feed moved, so it pulls now (best effort: its timer catches up anyway). */
  async hintServer2(): Promise<void> {
    const { url, apiToken, timeoutMs } = this.#o;
    try {
      const res = await this.#fetch(`${url}/sync/hint`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${apiToken}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ feed: 'subscribers', head: this.#s.head.get()?.head ?? 0 }),
        signal: AbortSignal.timeout(timeoutMs),
      });
      await res.arrayBuffer();
    } catch (e) {
      this.#o.log?.({ event: 'sync-hint-failed', error: (e as Error).message });
    }
  }
}
