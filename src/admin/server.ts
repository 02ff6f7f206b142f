/**
 * The admin listener (DESIGN.md defaults: http://127.0.0.1:9090/):
 * `/healthz` and `/metrics` without auth; `/api/...` behind
 * `Authorization: Bearer <token>`, loopback peers only when so configured.
 * Every API answer is JSON; errors are `{"error": "..."}`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { z } from 'zod';
import { BodyTooLarge, close, isLoopback, listen, readBody, sameSecret, send } from '../frontends/http-util.js';
import type { LogFn } from '../mmsc/log.js';
import type { Metrics } from '../mmsc/metrics.js';
import type { RecipientState } from '../mmsc/model.js';
import type { Archiving } from '../mmsc/archiving.js';
import type { SubscriptionSync } from '../mmsc/sync.js';
import type { Outbox } from '../outbox/outbox.js';
import type { Db1, MessageFilter } from '../store/db1.js';

/** What the admin API reads and writes in DB1. */
export type AdminStore = Pick<
  Db1,
  'ping' | 'listMessages' | 'getMessage' | 'partSummaries' | 'events' | 'getSubscriber' | 'listSubscribers' | 'putSubscriber' | 'deleteSubscriber'
>;

export interface AdminServerOptions {
  host: string;
  port: number;
  store: AdminStore;
  metrics: Metrics;
  /** Undefined: the API is disabled (403), /healthz and /metrics still answer. */
  token?: string;
  loopbackOnly: boolean;
  log?: LogFn;
  /** The DB1 ↔ DB2 sync: DB1's subscriber feed at /sync/subscribers, a hint at /sync/hint, /api/sync/status. */
  sync?: Pick<SubscriptionSync, 'feedPage' | 'status' | 'pull'>;
  /** The archive links (step b) at /api/archive-links?address=... or ?message=... */
  archive?: Pick<Archiving, 'links' | 'linksOf'>;
  /** The outbox at /api/outbox: pending and failed jobs per kind, recent failures. */
  outbox?: Pick<Outbox, 'counts' | 'recentFailures'>;
}

const STATES: ReadonlySet<string> = new Set<RecipientState>(['accepted', 'notified', 'retrieved', 'acknowledged', 'rejected', 'deferred', 'expired', 'cancelled', 'unroutable']);
/** E.164 (`+15550001111`), short code or national number, or an e-mail address. */
const ADDRESS = /^(\+?[0-9]{1,20}|[^\s@/]{1,64}@[^\s@/]{1,255})$/;
const MAX_LIMIT = 500;
const subscriberBody = z.strictObject({
  profile: z.string().max(1024).nullable().default(null),
  archiveSubscriptionId: z.string().min(1).max(256).nullable().default(null),
});

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly allow?: string,
  ) {
    super(message);
  }
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  send(res, status, JSON.stringify(body), { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store', ...headers });
}

/** Query parameters with `+` kept as `+` (addresses are E.164), not read as a space. */
function queryOf(search: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const pair of search.replace(/^\?/, '').split('&')) {
    if (!pair) continue;
    const eq = pair.indexOf('=');
    const [k, v] = eq < 0 ? [pair, ''] : [pair.slice(0, eq), pair.slice(eq + 1)];
    out.set(decode(k), decode(v));
  }
  return out;
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new HttpError(400, `cannot decode ${JSON.stringify(text)}`);
  }
}

function limitOf(q: Map<string, string>, fallback: number): number {
  const text = q.get('limit');
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!/^[0-9]+$/.test(text) || n < 1 || n > MAX_LIMIT) throw new HttpError(400, `limit must be an integer from 1 to ${MAX_LIMIT}`);
  return n;
}

export class AdminServer {
  private readonly server: Server;
  port = 0;

  constructor(private readonly opts: AdminServerOptions) {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((e: unknown) => {
        if (e instanceof HttpError) return json(res, e.status, { error: e.message }, e.allow !== undefined ? { Allow: e.allow } : {});
        this.opts.log?.({ event: 'admin-internal-error', error: String(e) });
        if (!res.headersSent) json(res, 500, { error: 'internal error' });
      });
    });
  }

  async start(): Promise<number> {
    this.port = await listen(this.server, this.opts.host, this.opts.port);
    return this.port;
  }

  stop(): Promise<void> {
    return close(this.server);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const path = url.pathname;
    if (path === '/healthz' || path === '/metrics') {
      if (req.method !== 'GET') throw new HttpError(405, 'GET only', 'GET');
      if (path === '/healthz') return this.opts.store.ping() ? json(res, 200, { status: 'ok' }) : json(res, 503, { status: 'unavailable' });
      const text = await this.opts.metrics.registry.metrics();
      return send(res, 200, text, { 'Content-Type': this.opts.metrics.registry.contentType });
    }
    if (path.startsWith('/sync/')) {
      this.authorize(req);
      return this.syncRoute(req, res, path, queryOf(url.search));
    }
    if (!path.startsWith('/api/')) throw new HttpError(404, 'not found');
    this.authorize(req);
    const q = queryOf(url.search);
    if (path === '/api/sync/status' && this.opts.sync) return json(res, 200, this.opts.sync.status());
    if (path === '/api/archive-links' && this.opts.archive) {
      const address = q.get('address');
      const message = q.get('message');
      if (address !== undefined) return json(res, 200, { links: this.opts.archive.linksOf(address, limitOf(q, 100)) });
      if (message !== undefined) return json(res, 200, { links: this.opts.archive.links(message) });
      throw new HttpError(400, 'give address= or message=');
    }
    if (path === '/api/outbox' && this.opts.outbox) {
      return json(res, 200, { kinds: this.opts.outbox.counts(), recentFailures: this.opts.outbox.recentFailures(limitOf(q, 20)) });
    }
    const [, , collection, id, ...rest] = path.split('/');
    if (rest.length > 0 || id === '') throw new HttpError(404, 'not found');
    const key = id === undefined ? undefined : decode(id);
    if (collection === 'messages') {
      if (req.method !== 'GET') throw new HttpError(405, 'GET only', 'GET');
      return key === undefined ? json(res, 200, this.listMessages(q)) : json(res, 200, this.message(key));
    }
    if (collection === 'subscribers') {
      if (key === undefined) {
        if (req.method !== 'GET') throw new HttpError(405, 'GET only', 'GET');
        const subscribers = this.opts.store.listSubscribers(limitOf(q, 100), q.get('after'));
        return json(res, 200, { subscribers });
      }
      return this.subscriber(req, res, key);
    }
    throw new HttpError(404, 'not found');
  }

  /** Server 2 pulls DB1's subscriber feed and hints that its own moved. */
  private async syncRoute(req: IncomingMessage, res: ServerResponse, path: string, q: Map<string, string>): Promise<void> {
    const sync = this.opts.sync;
    if (!sync) throw new HttpError(404, 'no archive sync configured');
    if (path === '/sync/subscribers') {
      if (req.method !== 'GET') throw new HttpError(405, 'GET only', 'GET');
      const afterText = q.get('after') ?? '0';
      if (!/^[0-9]{1,15}$/.test(afterText)) throw new HttpError(400, 'after must be a sequence number');
      return json(res, 200, sync.feedPage(Number(afterText), limitOf(q, 500)));
    }
    if (path === '/sync/hint') {
      if (req.method !== 'POST') throw new HttpError(405, 'POST only', 'POST');
      await readBody(req, 4096).catch(() => undefined);
      void sync.pull().catch(() => undefined);
      return json(res, 202, { status: 'pulling' });
    }
    throw new HttpError(404, 'not found');
  }

  private authorize(req: IncomingMessage): void {
    if (this.opts.token === undefined) throw new HttpError(403, 'the admin API is disabled: no admin.token configured');
    if (this.opts.loopbackOnly && !isLoopback(req.socket.remoteAddress)) throw new HttpError(403, 'the admin API answers loopback peers only');
    const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    if (!m || !sameSecret(m[1]!, this.opts.token)) throw new HttpError(401, 'missing or wrong bearer token');
  }

  private listMessages(q: Map<string, string>): { messages: unknown[]; next: string | null } {
    const f: MessageFilter = { limit: limitOf(q, 50) };
    const state = q.get('state');
    if (state !== undefined) {
      if (!STATES.has(state)) throw new HttpError(400, `state must be one of ${[...STATES].join(', ')}`);
      f.state = state as RecipientState;
    }
    for (const k of ['from', 'to', 'before'] as const) {
      const v = q.get(k);
      if (v !== undefined && v !== '') f[k] = v;
    }
    const messages = this.opts.store.listMessages(f);
    return { messages, next: messages.length === f.limit ? messages[messages.length - 1]!.messageId : null };
  }

  /** The envelope, recipients (without their retrieval tokens), parts without data, and the event history. */
  private message(id: string): unknown {
    const m = this.opts.store.getMessage(id);
    if (!m) throw new HttpError(404, `no message ${id}`);
    return {
      messageId: m.messageId,
      size: m.size,
      destroyed: m.destroyed,
      envelope: m.envelope,
      recipients: m.recipients.map(({ token: _token, ...r }) => r),
      parts: this.opts.store.partSummaries(id),
      events: this.opts.store.events(id),
    };
  }

  private async subscriber(req: IncomingMessage, res: ServerResponse, address: string): Promise<void> {
    if (!ADDRESS.test(address)) throw new HttpError(400, `${JSON.stringify(address)} is not an MSISDN, short code or e-mail address`);
    const store = this.opts.store;
    switch (req.method) {
      case 'GET': {
        const s = store.getSubscriber(address);
        if (!s) throw new HttpError(404, `no subscriber ${address}`);
        return json(res, 200, s);
      }
      case 'PUT': {
        let raw: unknown;
        try {
          raw = JSON.parse((await readBody(req, 64 << 10)).toString('utf8'));
        } catch (e) {
          throw new HttpError(e instanceof BodyTooLarge ? 413 : 400, e instanceof BodyTooLarge ? 'body too large' : 'body is not JSON');
        }
        const body = subscriberBody.safeParse(raw);
        if (!body.success) {
          const issue = body.error.issues[0]!;
          throw new HttpError(400, `${issue.path.join('.') || 'body'}: ${issue.message}`);
        }
        const s = { address, ...body.data };
        const result = await store.putSubscriber(s);
        return json(res, result === 'created' ? 201 : 200, s);
      }
      case 'DELETE':
        if (!(await store.deleteSubscriber(address))) throw new HttpError(404, `no subscriber ${address}`);
        res.writeHead(204).end();
        return;
      default:
        throw new HttpError(405, 'GET, PUT or DELETE', 'GET, PUT, DELETE');
    }
  }
}
