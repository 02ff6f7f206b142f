/**
 * The archive plans' extraction rules as server 2 defines them, for server
 * 1 when it runs the extraction itself (archive.extraction.where = server1).
 *
 * Server 2 owns the plans (conf/archive.yaml) and serves them at
 * GET /api/plans behind its API token; server 1 pulls them at start and
 * then every `pullEvery`, so a plan changed on server 2 takes effect here
 * without repeating it in conf/mmsc.yaml. Rules written in conf/mmsc.yaml
 * (`archive.extraction.plans`) still win: they are the operator's explicit
 * choice for this node.
 *
 * Kept in memory only: until the first pull succeeds a plan's rules are
 * unknown here, the forward then carries the whole message without
 * `extracted=1`, and server 2 extracts on arrival — the same archived
 * record, only more octets on the wire.
 */
import { z } from 'zod';
import type { ExtractionRules } from '../archive/extract.js';
import { pullNowAndEvery } from './sync.js';

const plansAnswer = z.object({
  plans: z
    .array(
      z.object({
        name: z.string().min(1).max(64),
        extraction: z
          .object({
            types: z.array(z.string().max(255)).optional(),
            maxImages: z.number().int().min(0).optional(),
            text: z.boolean().optional(),
            audioSeconds: z.number().positive().max(3600).optional(),
          })
          .default({}),
      }),
    )
    .max(1000),
});

export interface PlanRulesOptions {
  /** Server 2's base URL and API token. */
  url: string;
  apiToken: string;
  pullEveryMs: number;
  timeoutMs: number;
  /** conf/mmsc.yaml's own rules: they win over server 2's. */
  local: Record<string, ExtractionRules>;
  log?: (event: Record<string, unknown>) => void;
  fetch?: typeof fetch;
}

export class PlanRules {
  readonly #o: PlanRulesOptions;
  readonly #fetch: typeof fetch;
  #pulled = new Map<string, ExtractionRules>();
  #pulledAt: Date | undefined;
  #stopPulling: (() => Promise<void>) | undefined;
  #pulling: Promise<number> | undefined;

  constructor(opts: PlanRulesOptions) {
    this.#o = opts;
    this.#fetch = opts.fetch ?? fetch;
  }

  /** The rules of plan `name`: this node's config first, then server 2's last answer. */
  rulesFor(name: string): ExtractionRules | undefined {
    return Object.hasOwn(this.#o.local, name) ? this.#o.local[name] : this.#pulled.get(name);
  }

  /** When server 2's plans were last read (undefined: never yet). */
  get pulledAt(): Date | undefined {
    return this.#pulledAt;
  }

  start(): void {
    this.#stopPulling = pullNowAndEvery(this.#o.pullEveryMs, () => this.pull(), () => this.#pulling);
  }

  async stop(): Promise<void> {
    await this.#stopPulling?.();
  }

  /** Reads server 2's plans; resolves with their number. A failed pull keeps the rules already known. */
  pull(): Promise<number> {
    this.#pulling ??= this.#pull().finally(() => (this.#pulling = undefined));
    return this.#pulling;
  }

  async #pull(): Promise<number> {
    const { url, apiToken, timeoutMs, log } = this.#o;
    try {
      const res = await this.#fetch(`${url}/api/plans`, { headers: { Authorization: `Bearer ${apiToken}` }, signal: AbortSignal.timeout(timeoutMs) });
      if (res.status !== 200) {
        await res.arrayBuffer().catch(() => undefined);
        throw new Error(`HTTP ${res.status}`);
      }
      const parsed = plansAnswer.safeParse(await res.json());
      if (!parsed.success) throw new Error(`malformed plans: ${parsed.error.issues[0]!.path.join('.')}: ${parsed.error.issues[0]!.message}`);
      this.#pulled = new Map(parsed.data.plans.map((p) => [p.name, p.extraction]));
      this.#pulledAt = new Date();
      return this.#pulled.size;
    } catch (e) {
      // retried on the timer: logged as a warning (log.ts reads the level from the name)
      log?.({ event: 'archive-plans-sync-failed', error: (e as Error).message });
      throw e;
    }
  }
}
