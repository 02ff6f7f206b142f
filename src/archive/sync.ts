/**
 * DB1 ↔ DB2 synchronisation (issue 8, "Server 2's own surfaces"). Each side
 * owns a sequence-numbered change feed that the other side PULLS, from the
 * position it stored, so the two converge after any outage, restart or
 * lost request; a push hint only makes the other side pull sooner.
 *
 *   subscriptions  DB2 → DB1   served here:      GET /sync/subscriptions?after=N&limit=M
 *   subscribers    DB1 → DB2   served by server 1: GET <server1>/sync/subscribers?after=N&limit=M
 *   hints          both ways   POST /sync/hint  {"feed": "subscribers" | "subscriptions", "head"?: N}
 *
 * Both feeds answer the same page shape: `changes` oldest first, each with
 * its `seq`; `head` the feed's last seq. An empty page means "caught up".
 * Both are behind `Authorization: Bearer <token>`. The types below are
 * the contract: server 1 serves SubscriberFeedPage exactly.
 */
import { z } from 'zod';
import type { LogFn } from '../mmsc/log.js';
import type { Db2 } from '../store/db2.js';

/** One change of server 1's subscriber data (DB1 `subscribers`). */
export interface SubscriberFeedEntry {
  seq: number;
  /** Normalised: `+15550001111`. */
  address: string;
  /** Terminal profile (UAProf URL or profile name), null when unknown. */
  profile: string | null;
  /** True when server 1 no longer has this subscriber. */
  deleted?: boolean;
}

/** GET <server1>/sync/subscribers?after=N&limit=M → 200 application/json. */
export interface SubscriberFeedPage {
  changes: SubscriberFeedEntry[];
  head: number;
}

/** One change of a subscription (served here, pulled into DB1). */
export interface SubscriptionFeedEntry {
  seq: number;
  address: string;
  /** null: the address has no archive subscription any more. */
  subscriptionId: string | null;
  plan: string | null;
  /** ISO 8601. */
  at: string;
}

/** GET /sync/subscriptions?after=N&limit=M → 200 application/json. */
export interface SubscriptionFeedPage {
  changes: SubscriptionFeedEntry[];
  head: number;
}

/** POST /sync/hint, either way: "your feed of mine moved, pull now". Answered 202. */
export interface SyncHint {
  feed: 'subscribers' | 'subscriptions';
  head?: number;
}

const subscriberPage = z.object({
  changes: z.array(
    z.object({
      seq: z.number().int().positive(),
      address: z.string().min(1).max(320),
      profile: z.string().max(2048).nullable(),
      deleted: z.boolean().optional(),
    }),
  ),
  head: z.number().int().min(0),
});

export const syncHintSchema = z.object({ feed: z.enum(['subscribers', 'subscriptions']), head: z.number().int().min(0).optional() });

/** Validates server 1's answer; a bad page is refused whole (nothing applied). */
export function parseSubscriberFeedPage(json: unknown): SubscriberFeedPage {
  const r = subscriberPage.safeParse(json);
  if (!r.success) throw new Error(`server 1's subscriber feed: ${r.error.issues[0]!.path.join('.')}: ${r.error.issues[0]!.message}`);
  return r.data;
}

export interface SubscriberPullerOptions {
  db: Db2;
  /** Server 1's base URL (its /sync/subscribers and /sync/hint). */
  url: string;
  token?: string;
  pageSize: number;
  everyMs: number;
  timeoutMs: number;
  log?: LogFn;
}

export interface PullStatus {
  position: number;
  /** Server 1's head at the last successful pull. */
  remoteHead: number | null;
  lag: number | null;
  lastPullAt: string | null;
  lastError: string | null;
}

/**
 * Pulls server 1's subscriber feed into DB2: at start, every `everyMs`, and
 * at once on a hint. Each page and the new position are committed together.
 */
export class SubscriberPuller {
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #remoteHead: number | null = null;
  #lastPullAt: Date | null = null;
  #lastError: string | null = null;
  #stopped = false;

  constructor(private readonly opts: SubscriberPullerOptions) {}

  start(): void {
    this.#stopped = false;
    void this.pullNow();
    this.#timer = setInterval(() => void this.pullNow(), this.opts.everyMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  /** Pulls until caught up; a call while a pull runs makes that pull go round once more. Never rejects. */
  pullNow(): Promise<void> {
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    this.#running = (async () => {
      do {
        this.#again = false;
        await this.#pullAll();
      } while (this.#again && !this.#stopped);
    })().finally(() => (this.#running = undefined));
    return this.#running;
  }

  async #pullAll(): Promise<void> {
    try {
      for (let pages = 0; pages < 10_000 && !this.#stopped; pages++) {
        const after = this.opts.db.position('subscribers').position;
        const url = `${this.opts.url.replace(/\/$/, '')}/sync/subscribers?after=${after}&limit=${this.opts.pageSize}`;
        const res = await fetch(url, {
          headers: this.opts.token !== undefined ? { Authorization: `Bearer ${this.opts.token}` } : {},
          signal: AbortSignal.timeout(this.opts.timeoutMs),
        });
        if (res.status !== 200) throw new Error(`GET ${url}: HTTP ${res.status}`);
        const page = parseSubscriberFeedPage(await res.json());
        this.#remoteHead = page.head;
        this.#lastPullAt = new Date();
        if (page.changes.length === 0) break;
        const last = page.changes.reduce((n, c) => Math.max(n, c.seq), after);
        await this.opts.db.applySubscriberChanges(page.changes, last);
        if (last >= page.head) break;
      }
      this.#lastError = null;
    } catch (e) {
      this.#lastError = e instanceof Error ? e.message : String(e);
      this.opts.log?.({ event: 'archive-sync-pull-failed', error: this.#lastError });
    }
  }

  status(): PullStatus {
    const position = this.opts.db.position('subscribers').position;
    return {
      position,
      remoteHead: this.#remoteHead,
      lag: this.#remoteHead === null ? null : Math.max(0, this.#remoteHead - position),
      lastPullAt: this.#lastPullAt?.toISOString() ?? null,
      lastError: this.#lastError,
    };
  }
}

/** Tells server 1 that the subscription feed moved (best effort: its periodic pull catches up anyway). */
export async function sendHint(url: string, token: string | undefined, hint: SyncHint, timeoutMs: number): Promise<boolean> {
  try {
    const res = await fetch(`${url.replace(/\/$/, '')}/sync/hint`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...(token !== undefined ? { Authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(hint),
      signal: AbortSignal.timeout(timeoutMs),
    });
    await res.arrayBuffer();
    return res.status >= 200 && res.status < 300;
  } catch {
    return false;
  }
}
