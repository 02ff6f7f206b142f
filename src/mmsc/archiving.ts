/**
 * Server 1's half of the archive flow (DESIGN.md step 4, issue 8 steps a–d)
 * for each local recipient of each new message:
 *
 *  a) find the recipient's archive subscription: in DB1's synchronized copy
 *     (mode `synchronized`), or by asking server 2 (`unsynchronized`: an
 *     'archive-lookup' job, with a short cache; while server 2 cannot
 *     answer, the job stays pending and holds the message);
 *  b) record the association address ↔ subscription (archive_links);
 *  c) put an 'archive-forward' job in the outbox: the message as an MM7
 *     DeliverReq to server 2 (src/archive/forward.ts is the convention both
 *     sides share), retried until server 2 answers 1000;
 *  d) server 2 commits, answers 1000; the link becomes 'archived'.
 *
 * Both job kinds hold their message, so the TTL sweeper (the retention
 * guard in DB1's `due` query) destroys a subscriber's message only once
 * every copy is archived. The rows of step b are written in the accept
 * transaction with the forward job, or in the transaction that completes
 * the lookup: no window where a message is neither held nor archived.
 */
import type { Statement } from 'better-sqlite3';
import type { ClientRequest, IncomingHttpHeaders, RequestOptions } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { decodeMm7Http } from '../../protocol/mm7/http.js';
import type { Release } from '../../protocol/mm7/releases.js';
import { encodeArchiveForwardPieces, type ForwardAuth } from '../archive/forward.js';
import type { Outbox } from '../outbox/outbox.js';
import type { JobOutcome, NewJob, OutboxJob } from '../outbox/types.js';
import type { KindOptions } from '../outbox/worker.js';
import type { Db1, StoredMessageHead } from '../store/db1.js';
import type { AdditionalData, DroppedPart, TrimmedPart } from '../store/db2.js';
import type { StoredIds } from '../store/types.js';
import { extract, keepsEverything, type ExtractionRules } from '../archive/extract.js';
import type { Enricher } from './enrich.js';
import type { JobPlanner } from './mmsc.js';
import type { Clock, NewMessage, StoredPart } from './model.js';
import { Http1Pool } from '../util/http1-pool.js';
import { Semaphore } from '../util/semaphore.js';

export interface ArchivingConfig {
  mode: 'synchronized' | 'unsynchronized';
  /** Server 2's base URL, e.g. `http://127.0.0.1:8090`. */
  url: string;
  /** Path of its MM7-style receiver (default `/mm7`). */
  path: string;
  auth: ForwardAuth;
  /** Bearer token of server 2's API (lookup, sync feeds). */
  apiToken: string;
  release: Release;
  /** How the parts travel (default binary: forward.ts). */
  transferEncoding?: 'binary' | 'base64';
  /** ApplicID of the archive service. */
  service: string;
  /** Per request to server 2. */
  timeoutMs: number;
  /** How long a lookup answer is trusted (unsynchronized mode). */
  lookupCacheMs: number;
  /** This MMS-C's name in MMSRelayServerID. */
  relayServerId?: string;
  /** Extraction before forwarding (where = server1), by the subscription's plan. */
  extraction?: { where: 'server1' | 'server2'; plans: Record<string, ExtractionRules> };
}

export type ArchiveLinkState = 'pending' | 'archived';

export interface ArchiveLink {
  messageId: string;
  address: string;
  subscriptionId: string;
  state: ArchiveLinkState;
  archiveId: string | null;
  /** The subscriber's archive (album) link, once server 2 gave it. */
  archiveLink: string | null;
  createdAt: Date;
  updatedAt: Date;
}

interface LinkRow {
  message_id: string;
  address: string;
  subscription_id: string;
  state: ArchiveLinkState;
  archive_id: string | null;
  archive_link: string | null;
  created_at: number;
  updated_at: number;
}

function linkOf(r: LinkRow): ArchiveLink {
  return {
    messageId: r.message_id,
    address: r.address,
    subscriptionId: r.subscription_id,
    state: r.state,
    archiveId: r.archive_id,
    archiveLink: r.archive_link,
    createdAt: new Date(r.created_at),
    updatedAt: new Date(r.updated_at),
  };
}

interface ForwardPayload {
  subscriptionId: string;
  /** The subscription's plan (its extraction rules), when known. */
  plan?: string | null;
}

/** What a lookup learned, carried from the handler to its completion in JobOutcome.detail. */
interface LookupAnswer {
  subscriptionId: string | null;
  plan?: string | null;
}

/** What server 2 said in its DeliverRsp, carried to the completion in JobOutcome.detail. */
interface ForwardAnswer {
  archiveId?: string;
  archiveLink?: string;
}

/**
 * 'archive-forward' jobs at once (the outbox's concurrency) and the
 * keep-alive sockets to server 2 they share. Many: a drain after an outage
 * was bound by round trips, not CPU (at 64, both nodes were idle a third of
 * the time; 256 made it 1.2-1.3x faster and bigger group commits on both sides
 * cheaper per forward).
 */
const FORWARD_CONCURRENCY = 256;
/** A DeliverRsp is a SOAP envelope of a few hundred octets; anything near this is not one. */
const MAX_ANSWER_OCTETS = 1 << 20;
/** Content octets of the forwards in flight at once: 256 large messages must not all be in memory together. */
const FORWARD_BUDGET_OCTETS = 64 << 20;

/** A forward's body: the pieces written in order, `length` octets in all. */
interface OutgoingBody {
  pieces: readonly Buffer[];
  length: number;
}

/** Server 2's HTTP answer to a forward, read whole. */
interface PostAnswer {
  status: number;
  headers: IncomingHttpHeaders | Record<string, string>;
  body: Buffer;
}

export function archiveJobKey(messageId: string, address: string): string {
  return `${messageId}/${address}`;
}

export interface ArchivingOptions {
  db: Db1;
  outbox: Outbox;
  clock: Clock;
  config: ArchivingConfig;
  /** Polls the outbox at once (jobs inserted by a completed lookup). */
  kick: () => void;
  log?: (event: Record<string, unknown>) => void;
  fetch?: typeof fetch;
  /** The additional data the archived copy carries (the same the subscriber's retrieval shows). */
  enricher?: Enricher;
  /** A plan's extraction rules when server 1 extracts (config's own, then server 2's: src/mmsc/plans.ts). */
  planRules?: (plan: string) => ExtractionRules | undefined;
}

export class Archiving {
  readonly #o: ArchivingOptions;
  readonly #fetch: typeof fetch;
  /**
   * Forwards go over keep-alive sockets, one per forward in flight: global
   * fetch (undici, its web streams and an AbortSignal per request) cost
   * about a third of server 1's CPU per forward, node:http's Agent about a
   * tenth. Plain HTTP (server 2 on the operator's network) goes through
   * Http1Pool; an https: URL through node:https.
   */
  readonly #pool: Http1Pool | undefined;
  readonly #tlsAgent: HttpsAgent | undefined;
  readonly #forwardUrl: URL;
  /** Unsynchronized mode: address → subscription (null: none) and until when it is trusted. */
  readonly #cache = new Map<string, { subscriptionId: string | null; plan: string | null; until: number }>();
  readonly #additionalCache = new Map<string, Promise<AdditionalData | undefined>>();
  /** Octets of content read for forwards in flight (FORWARD_BUDGET_OCTETS). */
  readonly #budget = new Semaphore(FORWARD_BUDGET_OCTETS);
  readonly #s: {
    subscription: Statement<[string], { archive_subscription_id: string | null; archive_plan: string | null }>;
    insertLink: Statement<[string, string, string, number, number]>;
    archived: Statement<[string | null, string | null, number, string, string]>;
    link: Statement<[string, string], LinkRow>;
    links: Statement<[string], LinkRow>;
    linksOf: Statement<[string, number], LinkRow>;
  };

  constructor(opts: ArchivingOptions) {
    this.#o = opts;
    this.#fetch = opts.fetch ?? fetch;
    this.#forwardUrl = new URL(`${opts.config.url}${opts.config.path}`);
    if (this.#forwardUrl.protocol === 'https:') {
      this.#tlsAgent = new HttpsAgent({ keepAlive: true, maxSockets: FORWARD_CONCURRENCY, maxFreeSockets: FORWARD_CONCURRENCY });
    } else {
      this.#pool = new Http1Pool(this.#forwardUrl, { maxSockets: FORWARD_CONCURRENCY, maxBodyOctets: MAX_ANSWER_OCTETS });
    }
    const db = opts.db.sqlite;
    this.#s = {
      subscription: db.prepare('SELECT archive_subscription_id, archive_plan FROM subscribers WHERE address = ?'),
      insertLink: db.prepare(
        `INSERT INTO archive_links (message_id, address, subscription_id, state, created_at, updated_at)
         VALUES (?, ?, ?, 'pending', ?, ?) ON CONFLICT (message_id, address) DO NOTHING`,
      ),
      archived: db.prepare(`UPDATE archive_links SET state = 'archived', archive_id = ?, archive_link = ?, updated_at = ? WHERE message_id = ? AND address = ?`),
      link: db.prepare('SELECT * FROM archive_links WHERE message_id = ? AND address = ?'),
      links: db.prepare('SELECT * FROM archive_links WHERE message_id = ? ORDER BY address'),
      linksOf: db.prepare('SELECT * FROM archive_links WHERE address = ? ORDER BY created_at DESC LIMIT ?'),
    };
  }

  /** Step a for every local recipient of a new message; b and c where the answer is known now. */
  readonly planner: JobPlanner = (stored: StoredIds, message: NewMessage): NewJob[] => {
    const jobs: NewJob[] = [];
    const seen = new Set<string>();
    const now = this.#o.clock.now().getTime();
    for (const r of message.recipients) {
      if (seen.has(r.address) || r.state !== 'accepted' || !stored.tokens.has(r.address)) continue;
      seen.add(r.address);
      let known: { subscriptionId: string | null; plan: string | null } | undefined;
      if (this.#o.config.mode === 'synchronized') {
        const row = this.#s.subscription.get(r.address);
        known = { subscriptionId: row?.archive_subscription_id ?? null, plan: row?.archive_plan ?? null };
      } else {
        const hit = this.#cache.get(r.address);
        if (hit && hit.until > now) known = hit;
      }
      if (known === undefined) {
        jobs.push({ kind: 'archive-lookup', key: archiveJobKey(stored.messageId, r.address), messageId: stored.messageId, address: r.address, payload: {}, holdsMessage: true });
      } else if (known.subscriptionId !== null) {
        jobs.push(this.#link(stored.messageId, r.address, known.subscriptionId, known.plan, now));
      }
    }
    return jobs;
  };

  /** Step b, and the step-c job; inside a DB1 write. */
  #link(messageId: string, address: string, subscriptionId: string, plan: string | null, now: number): NewJob {
    this.#s.insertLink.run(messageId, address, subscriptionId, now, now);
    const payload: ForwardPayload = { subscriptionId, plan };
    return { kind: 'archive-forward', key: archiveJobKey(messageId, address), messageId, address, payload, holdsMessage: true };
  }

  /** The outbox kinds of this flow, for the worker. */
  kinds(): { 'archive-lookup': KindOptions; 'archive-forward': KindOptions } {
    return {
      'archive-lookup': {
        concurrency: 8,
        handler: (job) => this.#lookup(job),
        onDone: (job, outcome) => {
          const answer = JSON.parse(outcome.detail ?? '{"subscriptionId":null}') as LookupAnswer;
          if (answer.subscriptionId !== null && job.messageId !== null && job.address !== null) {
            this.#o.outbox.insertNow([this.#link(job.messageId, job.address, answer.subscriptionId, answer.plan ?? null, this.#o.clock.now().getTime())]);
            setImmediate(this.#o.kick);
          }
        },
      },
      'archive-forward': {
        // Many in flight: their completions share DB1 group commits, and server 2's.
        concurrency: FORWARD_CONCURRENCY,
        handler: (job) => this.#forward(job),
        onDone: (job, outcome) => {
          if (job.messageId === null || job.address === null) return;
          const answer = JSON.parse(outcome.detail ?? '{}') as ForwardAnswer;
          this.#s.archived.run(answer.archiveId ?? null, answer.archiveLink ?? null, this.#o.clock.now().getTime(), job.messageId, job.address);
          this.#o.db.addEventNow(job.messageId, job.address, 'archived', answer.archiveId ? `archive id ${answer.archiveId}` : undefined);
        },
      },
    };
  }

  /** A recipient's link to the archive, if it is a subscriber's copy. */
  linkFor(messageId: string, address: string): ArchiveLink | undefined {
    const row = this.#s.link.get(messageId, address);
    return row && linkOf(row);
  }

  /**
   * The additional data of a message's archived copies, computed once per
   * message: every subscriber's forward carries the same, and reading the
   * photos' EXIF (sharp) was a quarter of a forward's CPU.
   */
  #additional(messageId: string, sender: string, parts: StoredPart[]): Promise<AdditionalData | undefined> {
    const enricher = this.#o.enricher;
    if (!enricher) return Promise.resolve(undefined);
    let pending = this.#additionalCache.get(messageId);
    if (!pending) {
      pending = enricher.additionalData({ sender, parts, archived: true });
      this.#additionalCache.set(messageId, pending);
      // A small bound: the recipients of one message are forwarded close together.
      if (this.#additionalCache.size > 1024) this.#additionalCache.delete(this.#additionalCache.keys().next().value!);
    }
    return pending;
  }

  links(messageId: string): ArchiveLink[] {
    return this.#s.links.all(messageId).map(linkOf);
  }

  linksOf(address: string, limit = 100): ArchiveLink[] {
    return this.#s.linksOf.all(address, limit).map(linkOf);
  }

  async #request(url: string, init: RequestInit): Promise<Response> {
    return this.#fetch(url, { ...init, signal: AbortSignal.timeout(this.#o.config.timeoutMs) });
  }

  /** Closes the idle keep-alive sockets to server 2 (node stop). */
  close(): void {
    this.#pool?.close();
    this.#tlsAgent?.destroy();
  }

  /**
   * POSTs a forward and reads the whole answer, within the configured
   * timeout. A keep-alive socket that server 2 closed while it sat idle
   * fails before any answer: that one request is sent once more on a new
   * socket (harmless even if it had arrived: server 2 stores a (LinkedID,
   * recipient) once).
   */
  async #post(headers: Record<string, string>, body: OutgoingBody): Promise<PostAnswer> {
    try {
      return await this.#postOnce(headers, body);
    } catch (e) {
      if ((e as { reusedSocket?: boolean }).reusedSocket !== true) throw e;
      return this.#postOnce(headers, body);
    }
  }

  #postOnce(headers: Record<string, string>, body: OutgoingBody): Promise<PostAnswer> {
    const url = this.#forwardUrl;
    const timeoutMs = this.#o.config.timeoutMs;
    if (this.#pool) return this.#pool.request({ method: 'POST', path: `${url.pathname}${url.search}`, headers, pieces: body.pieces, timeoutMs });
    const options: RequestOptions = {
      method: 'POST',
      agent: this.#tlsAgent,
      headers: { ...headers, 'Content-Length': String(body.length) },
    };
    return new Promise<PostAnswer>((resolve, reject) => {
      let answered = false;
      const req: ClientRequest = httpsRequest(url, options, (res) => {
        answered = true;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks) });
        });
        res.on('error', fail);
      });
      function fail(e: Error): void {
        clearTimeout(timer);
        // Only a reused socket that failed before any answer may be retried at once.
        if (!answered && req.reusedSocket) Object.assign(e, { reusedSocket: true });
        reject(e);
      }
      const timer = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      req.on('error', fail);
      // Written before the socket is assigned: node:http sends them together (one writev).
      for (const piece of body.pieces) req.write(piece);
      req.end();
    });
  }

  async #lookup(job: OutboxJob): Promise<JobOutcome> {
    const { config, clock } = this.#o;
    const address = job.address;
    if (address === null) return { status: 'failed', error: 'lookup job without address' };
    let res: Response;
    try {
      res = await this.#request(`${config.url}/api/lookup?address=${encodeURIComponent(address)}`, { headers: { Authorization: `Bearer ${config.apiToken}` } });
    } catch (e) {
      return { status: 'retry', error: `archive node unreachable: ${(e as Error).message}` };
    }
    const until = clock.now().getTime() + config.lookupCacheMs;
    if (res.status === 404) {
      await res.arrayBuffer();
      this.#cache.set(address, { subscriptionId: null, plan: null, until });
      const answer: LookupAnswer = { subscriptionId: null };
      return { status: 'done', detail: JSON.stringify(answer) };
    }
    if (res.status !== 200) {
      await res.arrayBuffer().catch(() => undefined);
      return { status: 'retry', error: `archive lookup: HTTP ${res.status}` };
    }
    const body = (await res.json().catch(() => undefined)) as { subscriptionId?: unknown; plan?: unknown } | undefined;
    if (typeof body?.subscriptionId !== 'string' || body.subscriptionId === '') return { status: 'retry', error: 'archive lookup: answer without subscriptionId' };
    const plan = typeof body.plan === 'string' ? body.plan : null;
    this.#cache.set(address, { subscriptionId: body.subscriptionId, plan, until });
    const answer: LookupAnswer = { subscriptionId: body.subscriptionId, plan };
    return { status: 'done', detail: JSON.stringify(answer) };
  }

  async #forward(job: OutboxJob): Promise<JobOutcome> {
    const { messageId, address } = job;
    if (messageId === null || address === null) return { status: 'failed', error: 'forward job without message or address' };
    const db = this.#o.db;
    // The message's own columns: a forward needs neither its recipients nor its decoded envelope.
    const message = db.read(() => db.getMessageHead(messageId));
    // The hold keeps the content; a message cancelled by its sender has none to archive.
    if (!message || message.destroyed) return { status: 'failed', error: `message ${messageId} is gone (${message ? 'destroyed' : 'unknown'})` };
    return this.#budget.run(() => this.#forwardContent(job, address, message), message.size);
  }

  async #forwardContent(job: OutboxJob, address: string, message: StoredMessageHead): Promise<JobOutcome> {
    const { db, config } = this.#o;
    const payload = job.payload as ForwardPayload;
    const original = db.getParts(message.messageId);
    let parts = original;
    let extracted: { dropped: DroppedPart[]; trimmed: TrimmedPart[] } | undefined;
    const rules = config.extraction?.where === 'server1' && payload.plan ? (this.#o.planRules ?? ((p) => config.extraction?.plans[p]))(payload.plan) : undefined;
    if (rules && !keepsEverything(rules)) {
      const result = extract(original, rules);
      parts = result.kept;
      extracted = { dropped: result.dropped, trimmed: result.trimmed };
    }
    const additional = await this.#additional(message.messageId, message.from, original);
    const request = await encodeArchiveForwardPieces(
      {
        release: config.release,
        transactionId: `archive-${job.id}-${job.attempts + 1}`,
        recipient: address,
        subscriptionId: payload.subscriptionId,
        service: config.service,
        originalMessageId: message.messageId,
        sender: message.from,
        date: message.date,
        ...(message.subject !== undefined ? { subject: message.subject } : {}),
        contentType: message.contentType,
        parts,
        ...(extracted ? { extracted } : {}),
        ...(additional && Object.keys(additional).length > 0 ? { additional } : {}),
        ...(config.relayServerId !== undefined ? { relayServerId: config.relayServerId } : {}),
        binary: config.transferEncoding !== 'base64',
      },
      config.auth,
    );
    let res: PostAnswer;
    try {
      res = await this.#post(request.headers, request);
    } catch (e) {
      return { status: 'retry', error: `archive node unreachable: ${(e as Error).message}` };
    }
    const header = (name: string): string | undefined => {
      const v = res.headers[name];
      return Array.isArray(v) ? v[0] : v;
    };
    let code: number | undefined;
    let text = '';
    let archiveId: string | undefined;
    let archiveLink: string | undefined;
    try {
      const answer = (await decodeMm7Http(header('content-type') ?? '', res.body)).envelope.message;
      code = answer.status?.code;
      text = answer.status?.text ?? '';
      // The receiver names its record and the subscriber's album in the Status Details:
      // `archive-id=<id>; album=<url>` (receiver.ts).
      const details = answer.status?.details ?? '';
      archiveId = /(?:^|[\s;])archive-id=([^\s;]+)/.exec(details)?.[1] ?? header('x-archive-id') ?? undefined;
      archiveLink = /(?:^|[\s;])album=([^\s;]+)/.exec(details)?.[1];
    } catch {
      // not an MM7 answer (a proxy's error page, a 401 without body)
    }
    if (code === 1000) {
      const answer: ForwardAnswer = {};
      if (archiveId !== undefined) answer.archiveId = archiveId;
      if (archiveLink !== undefined) answer.archiveLink = archiveLink;
      return { status: 'done', detail: JSON.stringify(answer) };
    }
    // Anything else is retried: giving up would let the TTL destroy a subscriber's only copy.
    return { status: 'retry', error: `archive node answered HTTP ${res.status}${code !== undefined ? `, MM7 ${code} ${text}` : ''}` };
  }
}

