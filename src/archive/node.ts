/**
 * Server 2, the archive node (DESIGN.md "Two nodes"): one HTTP listener
 * (default http://127.0.0.1:8090/) with
 *
 *   POST /mm7                          forwards from server 1 (receiver.ts)
 *   GET  /album/<token>[/m/<id>[/parts/<n> | /thumbs/<n>]]   the subscriber's album
 *   GET  /confirm/<token>/<id>         "is it archived?" + a CDR row
 *   GET|POST /signup                   the sign-up form
 *   GET  /sync/subscriptions, POST /sync/hint     the change feed (sync.ts)
 *   /api/...                           tools and admin, `Authorization: Bearer <token>`:
 *     POST /api/subscriptions {address, plan?}     201 | 409 {subscriptionId} | 400
 *     GET|DELETE /api/subscriptions/<id>          DELETE ends it (messages kept or deleted by the plan)
 *     GET  /api/subscriptions/<id>/messages, /links; POST .../revoke (new album/confirm links)
 *     GET  /api/messages?address=+1555...&limit=&before=, /api/messages/<id>, /api/messages/<id>/parts/<n>
 *     GET  /api/lookup?address=...                {subscriptionId, plan, albumUrl, confirmUrl} | 404
 *     GET  /api/plans, /api/sync/status
 *   GET  /healthz
 *
 * An object with start()/stop(); several may run in one process (tests).
 */
import { mkdirSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { z } from 'zod';
import type { ArchiveConfig, ArchivePlan } from '../config/archive.js';
import { close, isLoopback, listen, sameSecret, send } from '../frontends/http-util.js';
import type { LogFn } from '../mmsc/log.js';
import { systemClock, type Clock } from '../mmsc/model.js';
import { Db2, type ArchivedMessage, type Subscription } from '../store/db2.js';
import { signupPage } from './album.js';
import { allowMethods, html, HttpError, intParam, json, normaliseAddress, queryOf, readJson } from './http.js';
import { ArchiveReceiver } from './receiver.js';
import { sendHint, SubscriberPuller, syncHintSchema, type SubscriptionFeedPage } from './sync.js';
import { signToken, type TokenPurpose } from './tokens.js';
import { SubscriberWeb, type SubscribeResult } from './web.js';

export { normaliseAddress } from './http.js';

const MAX_LIMIT = 500;
const subscriptionBody = z.strictObject({ address: z.string().min(1).max(320), plan: z.string().min(1).max(64).optional() });

export interface ArchiveNodeOptions {
  config: ArchiveConfig;
  log?: LogFn;
  clock?: Clock;
  /** DB2's file; default <config.data>/archive.sqlite. */
  dbFile?: string;
}

export interface Listener {
  what: string;
  url: string;
}

export class ArchiveNode {
  readonly db: Db2;
  readonly receiver: ArchiveReceiver;
  readonly puller: SubscriberPuller | undefined;
  readonly plans: ReadonlyMap<string, ArchivePlan>;
  port = 0;
  readonly #server: Server;
  readonly #clock: Clock;
  readonly #config: ArchiveConfig;
  readonly #log: LogFn | undefined;
  /** Server 1's position in our subscription feed: the `after` of its last pull. */
  #consumer: { position: number; at: Date } | undefined;
  readonly #web: SubscriberWeb;
  /** The album link last signed per subscription (see albumUrl). */
  readonly #albumUrls = new Map<string, { second: number; version: number; url: string }>();

  constructor(opts: ArchiveNodeOptions) {
    const config = opts.config;
    this.#config = config;
    this.#clock = opts.clock ?? systemClock;
    this.#log = opts.log;
    const file = opts.dbFile ?? join(config.data, 'archive.sqlite');
    if (file !== ':memory:') mkdirSync(join(file, '..'), { recursive: true });
    this.db = new Db2(file, { clock: this.#clock });
    this.plans = new Map(config.plans.map((p) => [p.name, p]));
    this.receiver = new ArchiveReceiver({
      config,
      db: this.db,
      plans: this.plans,
      albumUrl: (s) => this.albumUrl(s),
      ...(opts.log ? { log: opts.log } : {}),
    });
    const s1 = config.sync.server1;
    this.puller = s1
      ? new SubscriberPuller({
          db: this.db,
          url: s1.url,
          ...(s1.token !== undefined ? { token: s1.token } : {}),
          pageSize: config.sync.pageSize,
          everyMs: config.sync.pullEvery,
          timeoutMs: config.sync.timeout,
          ...(opts.log ? { log: opts.log } : {}),
        })
      : undefined;
    this.#web = new SubscriberWeb({
      config,
      db: this.db,
      clock: this.#clock,
      plans: this.plans,
      defaultPlan: this.#defaultPlan(),
      subscribe: (address, plan) => this.#subscribe(address, plan),
      albumUrl: (s) => this.albumUrl(s),
      ...(opts.log ? { log: opts.log } : {}),
    });
    this.#server = createServer((req, res) => {
      this.#handle(req, res).catch((e: unknown) => {
        if (e instanceof HttpError) {
          if (typeof e.extra.allow === 'string') res.setHeader('Allow', e.extra.allow);
          return json(res, e.status, { error: e.message, ...e.extra });
        }
        this.#log?.({ event: 'archive-internal-error', error: String(e) });
        if (!res.headersSent) json(res, 500, { error: 'internal error' });
        else res.destroy();
      });
    });
  }

  /** The base of links given to subscribers. */
  get publicUrl(): string {
    return (this.#config.publicUrl ?? `http://${this.#config.listen.host}:${this.port}`).replace(/\/$/, '');
  }

  async start(): Promise<Listener[]> {
    for (const d of this.#config.demo.subscriptions) {
      const address = normaliseAddress(d.address, this.#config.countryCode);
      if (address !== undefined) await this.db.createSubscription(address, d.plan);
    }
    this.port = await listen(this.#server, this.#config.listen.host, this.#config.listen.port);
    this.puller?.start();
    const base = `http://${this.#config.listen.host.includes(':') ? `[${this.#config.listen.host}]` : this.#config.listen.host}:${this.port}`;
    return [
      { what: 'archive MM7 (forwards)', url: `${base}${this.#config.mm7.path}` },
      { what: 'archive album+API', url: `${base}/` },
    ];
  }

  #stopped = false;

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    await this.puller?.stop();
    await close(this.#server);
    await this.#web.settle();
    this.db.close();
  }

  // ---------------------------------------------------------------- links

  link(purpose: TokenPurpose, s: Subscription): string {
    const ttl = purpose === 'album' ? this.#config.tokens.albumTtl : this.#config.tokens.confirmTtl;
    return signToken(this.#config.tokens.secret, { purpose, subscriptionId: s.id, version: s.tokenVersion, expiresAt: new Date(this.#clock.now().getTime() + ttl) });
  }

  albumUrl(s: Subscription): string {
    // Every forward's DeliverRsp carries the album link: within one second (the token's expiry
    // resolution) and one token version it is the same string, so it is signed once.
    const second = Math.floor(this.#clock.now().getTime() / 1000);
    const known = this.#albumUrls.get(s.id);
    if (known && known.second === second && known.version === s.tokenVersion) return known.url;
    const url = `${this.publicUrl}/album/${this.link('album', s)}`;
    if (this.#albumUrls.size >= 4096) this.#albumUrls.clear();
    this.#albumUrls.set(s.id, { second, version: s.tokenVersion, url });
    return url;
  }

  /** Append `/<archive id or original message id>`. */
  confirmBase(s: Subscription): string {
    return `${this.publicUrl}/confirm/${this.link('confirm', s)}`;
  }

  // -------------------------------------------------------------- routing

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const path = url.pathname;
    if (path === this.#config.mm7.path) return this.receiver.handle(req, res);
    if (path === '/healthz') return this.db.ping() ? json(res, 200, { status: 'ok' }) : json(res, 503, { status: 'unavailable' });
    if (path.startsWith('/album/')) return this.#web.album(req, res, path.slice('/album/'.length).split('/'), queryOf(url.search));
    if (path.startsWith('/confirm/')) return this.#web.confirm(req, res, path.slice('/confirm/'.length).split('/'));
    if (path === '/signup') return this.#web.signup(req, res);
    if (path.startsWith('/sync/')) {
      this.#authorize(req);
      return this.#sync(req, res, path, queryOf(url.search));
    }
    if (path.startsWith('/api/')) {
      this.#authorize(req);
      let segs: string[];
      try {
        segs = path.slice('/api/'.length).split('/').map((s) => decodeURIComponent(s));
      } catch {
        throw new HttpError(400, 'the path cannot be decoded');
      }
      return this.#api(req, res, segs, queryOf(url.search));
    }
    if (path === '/' && this.#config.signup.enabled) return html(res, 200, signupPage([...this.plans.keys()], this.#defaultPlan()));
    throw new HttpError(404, 'not found');
  }

  #authorize(req: IncomingMessage): void {
    const api = this.#config.api;
    if (api.token === undefined) throw new HttpError(403, 'the API is disabled (no api.token configured)');
    if (api.loopbackOnly && !isLoopback(req.socket.remoteAddress)) throw new HttpError(403, 'the API answers loopback peers only');
    const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    if (!m || !sameSecret(m[1]!, api.token)) throw new HttpError(401, 'a valid bearer token is required');
  }

  #defaultPlan(): string {
    return this.#config.defaultPlan ?? this.#config.plans[0]!.name;
  }

  // ------------------------------------------------------------ tool API

  async #api(req: IncomingMessage, res: ServerResponse, segs: string[], q: Map<string, string>): Promise<void> {
    const [collection, id, sub, n, ...rest] = segs;
    if (rest.length > 0) throw new HttpError(404, 'not found');
    switch (collection) {
      case 'messages': {
        allowMethods(req, 'GET');
        if (id === undefined || id === '') {
          const address = q.get('address');
          if (address === undefined) throw new HttpError(400, 'address is required');
          const norm = normaliseAddress(address, this.#config.countryCode);
          if (norm === undefined) throw new HttpError(400, 'not an address');
          const limit = intParam(q, 'limit', 100, 1, MAX_LIMIT);
          return json(res, 200, { address: norm, messages: this.db.listByRecipient(norm, limit, q.get('before')).map((m) => this.#messageJson(m)) });
        }
        const m = this.db.getMessage(id);
        if (!m) throw new HttpError(404, 'no such message');
        if (sub === undefined) return json(res, 200, this.#messageJson(m));
        if (sub !== 'parts' || n === undefined || !/^[0-9]{1,4}$/.test(n)) throw new HttpError(404, 'not found');
        const part = this.db.getPart(id, Number(n));
        if (!part) throw new HttpError(404, 'no such part');
        return send(res, 200, part.data, { 'Content-Type': part.contentType, 'X-Content-Type-Options': 'nosniff', 'Cache-Control': 'no-store' });
      }
      case 'subscriptions':
        return this.#subscriptionsApi(req, res, id, sub, n, q);
      case 'lookup': {
        allowMethods(req, 'GET');
        const norm = normaliseAddress(q.get('address') ?? '', this.#config.countryCode);
        if (norm === undefined) throw new HttpError(400, 'address is required');
        const s = this.db.liveSubscriptionFor(norm);
        if (!s) throw new HttpError(404, 'no subscription');
        return json(res, 200, { subscriptionId: s.id, plan: s.plan, address: s.address, albumUrl: this.albumUrl(s), confirmUrl: this.confirmBase(s) });
      }
      case 'plans':
        // Server 1 reads the extraction rules here when it runs the extraction itself.
        if (id !== undefined) throw new HttpError(404, 'not found');
        allowMethods(req, 'GET');
        return json(res, 200, { plans: this.#config.plans, defaultPlan: this.#defaultPlan() });
      case 'sync':
        if (id !== 'status' || sub !== undefined) throw new HttpError(404, 'not found');
        allowMethods(req, 'GET');
        return json(res, 200, this.syncStatus());
      default:
        throw new HttpError(404, 'not found');
    }
  }

  async #subscriptionsApi(req: IncomingMessage, res: ServerResponse, id: string | undefined, sub: string | undefined, n: string | undefined, q: Map<string, string>): Promise<void> {
    if (n !== undefined) throw new HttpError(404, 'not found');
    if (id === undefined || id === '') {
      allowMethods(req, 'POST');
      const r = subscriptionBody.safeParse(await readJson(req));
      if (!r.success) throw new HttpError(400, `${r.error.issues[0]!.path.join('.') || 'body'}: ${r.error.issues[0]!.message}`);
      const result = await this.#subscribe(r.data.address, r.data.plan);
      if ('error' in result) throw new HttpError(result.status, result.error, result.existing ? { subscriptionId: result.existing.id } : {});
      return json(res, 201, this.#subscriptionJson(result.created, true));
    }
    const s = this.db.getSubscription(id);
    if (!s) throw new HttpError(404, 'no such subscription');
    if (sub === 'messages') {
      allowMethods(req, 'GET');
      const limit = intParam(q, 'limit', 100, 1, MAX_LIMIT);
      return json(res, 200, { subscriptionId: s.id, messages: this.db.listBySubscription(s.id, limit, q.get('before')).map((m) => this.#messageJson(m)) });
    }
    if (sub === 'revoke') {
      allowMethods(req, 'POST');
      await this.db.revokeLinks(s.id);
      return json(res, 200, this.#subscriptionJson(this.db.getSubscription(s.id)!, true));
    }
    if (sub === 'links') {
      allowMethods(req, 'GET');
      return json(res, 200, this.#subscriptionJson(s, true));
    }
    if (sub !== undefined) throw new HttpError(404, 'not found');
    allowMethods(req, 'GET', 'DELETE');
    if (req.method === 'GET') return json(res, 200, this.#subscriptionJson(s, false));
    const plan = this.plans.get(s.plan);
    const deleteMessages = plan?.onDelete === 'delete';
    const ended = await this.db.endSubscription(s.id, deleteMessages);
    if (!ended) throw new HttpError(404, 'the subscription has already ended');
    this.#hintServer1();
    return json(res, 200, { ...this.#subscriptionJson(this.db.getSubscription(s.id)!, false), messagesKept: !deleteMessages });
  }

  async #subscribe(addressText: string, planName: string | undefined): Promise<SubscribeResult> {
    const address = normaliseAddress(addressText, this.#config.countryCode);
    if (address === undefined) return { status: 400, error: 'address: not a phone number or e-mail address' };
    const plan = planName ?? this.#defaultPlan();
    if (!this.plans.has(plan)) return { status: 400, error: `plan: no plan named ${plan}` };
    const r = await this.db.createSubscription(address, plan);
    if ('existing' in r) return { status: 409, error: 'the address already has a subscription', existing: r.existing };
    this.#log?.({ event: 'archive-subscribed', subscriptionId: r.created.id, plan });
    this.#hintServer1();
    return r;
  }

  /** Tells server 1 our feed moved; its periodic pull covers a lost hint. */
  #hintServer1(): void {
    const s1 = this.#config.sync.server1;
    if (!s1) return;
    void sendHint(s1.url, s1.token, { feed: 'subscriptions', head: this.db.changeHead() }, this.#config.sync.timeout);
  }

  #subscriptionJson(s: Subscription, withLinks: boolean): Record<string, unknown> {
    const out: Record<string, unknown> = {
      id: s.id,
      address: s.address,
      plan: s.plan,
      createdAt: s.createdAt.toISOString(),
      endedAt: s.endedAt?.toISOString() ?? null,
    };
    if (withLinks) {
      out.albumUrl = this.albumUrl(s);
      out.confirmUrl = this.confirmBase(s);
    }
    return out;
  }

  /** The tool API's message shape (issue 8: ids, original id, sender, date, subject, parts, dropped, additional data). */
  #messageJson(m: ArchivedMessage): Record<string, unknown> {
    return {
      id: m.archiveId,
      originalMessageId: m.originalId,
      subscriptionId: m.subscriptionId,
      recipient: m.recipient,
      sender: m.sender,
      date: (m.date ?? m.receivedAt).toISOString(),
      archivedAt: m.receivedAt.toISOString(),
      subject: m.subject ?? null,
      contentType: m.contentType,
      size: m.size,
      parts: m.parts.map((p) => ({
        index: p.index,
        contentType: p.contentType,
        contentId: p.contentId ?? null,
        contentLocation: p.contentLocation ?? null,
        size: p.size,
        url: `/api/messages/${encodeURIComponent(m.archiveId)}/parts/${p.index}`,
      })),
      extractedOn: m.extractedOn,
      dropped: m.dropped,
      trimmed: m.trimmed,
      additional: m.additional,
    };
  }

  // ------------------------------------------------------------------ sync

  async #sync(req: IncomingMessage, res: ServerResponse, path: string, q: Map<string, string>): Promise<void> {
    if (path === '/sync/subscriptions') {
      allowMethods(req, 'GET');
      const after = intParam(q, 'after', 0, 0, Number.MAX_SAFE_INTEGER);
      const limit = intParam(q, 'limit', 100, 1, 5000);
      this.#consumer = { position: after, at: this.#clock.now() };
      const page: SubscriptionFeedPage = {
        changes: this.db.changes(after, limit).map((c) => ({ seq: c.seq, address: c.address, subscriptionId: c.subscriptionId, plan: c.plan, at: c.at.toISOString() })),
        head: this.db.changeHead(),
      };
      return json(res, 200, page);
    }
    if (path === '/sync/hint') {
      allowMethods(req, 'POST');
      const r = syncHintSchema.safeParse(await readJson(req));
      if (!r.success) throw new HttpError(400, 'expected {"feed": "subscribers" | "subscriptions"}');
      // Our side pulls only the subscriber feed; a hint about ours is answered and ignored.
      if (r.data.feed === 'subscribers') void this.puller?.pullNow();
      return json(res, 202, { pulling: r.data.feed === 'subscribers' && this.puller !== undefined });
    }
    throw new HttpError(404, 'not found');
  }

  /** Positions and lag of both feeds (GET /api/sync/status). */
  syncStatus(): Record<string, unknown> {
    const head = this.db.changeHead();
    return {
      subscriptions: {
        head,
        server1Position: this.#consumer?.position ?? null,
        server1Lag: this.#consumer ? Math.max(0, head - this.#consumer.position) : null,
        server1LastPullAt: this.#consumer?.at.toISOString() ?? null,
      },
      subscribers: this.puller ? this.puller.status() : { position: this.db.position('subscribers').position, remoteHead: null, lag: null, lastPullAt: null, lastError: 'sync.server1 is not configured' },
    };
  }

}
