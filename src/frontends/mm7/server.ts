import type { IncomingMessage, ServerResponse } from 'node:http';
import { Frontend } from '../frontend.js';
import { ProtocolError } from '../../../protocol/errors.js';
import { answer, faultAnswer, type Mm7Answer } from '../../../protocol/mm7/exchange.js';
import { decodeMm7Http, encodeMm7Http, type Mm7HttpRequest } from '../../../protocol/mm7/http.js';
import type { Mm7Address, Mm7Envelope } from '../../../protocol/mm7/model.js';
import { isSuccess } from '../../../protocol/mm7/status.js';
import { vaspReleases, type VaspAccount } from '../../config/mmsc.js';
import { expiryFor, messageFieldsFromMm7, partsFromMime, timeSpecToDate } from '../../mmsc/convert.js';
import type { RequestContext } from '../../mmsc/log.js';
import type { Metrics } from '../../mmsc/metrics.js';
import type { MmscService } from '../../mmsc/mmsc.js';
import type { NewRecipient, RecipientKind } from '../../mmsc/model.js';
import { fromMm7Address, recipientFor, type RoutingConfig } from '../../mmsc/routing.js';
import type { MessageChange, MessageStore } from '../../store/types.js';
import { basicCredentials, bodyChunks, BodyTooLarge, declaredLength, isLoopback, readBody, sameSecret, send } from '../http-util.js';

export interface Mm7FrontendOptions {
  host: string;
  port: number;
  path: string;
  maxBodyOctets: number;
  vasps: VaspAccount[];
  routing: RoutingConfig;
  ttl: { default: number; max: number };
  mmsc: MmscService;
  store: MessageStore;
  log?: (event: Record<string, unknown>) => void;
  metrics?: Metrics;
}

/**
 * Bodies declaring at most this many octets are read whole before they are
 * parsed: the streaming path's async iterators (the request's, the chunk
 * generator's, one promise per chunk) cost more than reading a text-only
 * SubmitReq and holding it, and 64 KiB held is nothing.
 */
const READ_WHOLE_OCTETS = 64 * 1024;

/** A token bucket per VASP: `rate` submits per second, bursts up to one second's worth. */
class Throttle {
  private tokens: number;
  private last: number;
  constructor(private readonly rate: number) {
    this.tokens = rate;
    this.last = Date.now();
  }
  /** 0 when allowed, else the seconds to wait. */
  take(): number {
    const now = Date.now();
    this.tokens = Math.min(this.rate, this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return Math.ceil((1 - this.tokens) / this.rate);
  }
}

/**
 * The MM7 front end (VASP → MMS-C): SubmitReq, CancelReq. Every answer is
 * in the requester's release with its TransactionID; a positive SubmitRsp
 * leaves only after the message is durable in DB1.
 */
export class Mm7Frontend extends Frontend {
  private readonly throttles = new Map<string, Throttle>();

  constructor(private readonly opts: Mm7FrontendOptions) {
    super(opts, 'mm7');
  }

  private account(req: IncomingMessage): VaspAccount | undefined {
    const creds = basicCredentials(req);
    if (!creds) return undefined;
    const vasp = this.opts.vasps.find((v) => v.user === creds.user);
    if (!vasp || !sameSecret(vasp.password, creds.password)) return undefined;
    if (vasp.loopbackOnly && !isLoopback(req.socket.remoteAddress)) return undefined;
    return vasp;
  }

  private reject(reason: string): void {
    this.opts.metrics?.rejected.inc({ interface: 'mm7', reason });
  }

  private async reply(res: ServerResponse, a: Mm7Answer, extraHeaders: Record<string, string> = {}): Promise<void> {
    const code = a.envelope.message.status?.code;
    if (code !== undefined && !isSuccess(code)) this.reject(String(code));
    const { contentType, body } = await encodeMm7Http(a.envelope);
    send(res, a.httpStatus, body, { 'Content-Type': contentType, ...extraHeaders });
  }

  protected async handle(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== this.opts.path) return send(res, 404, 'not found');
    if (req.method !== 'POST') return send(res, 405, 'MM7 takes POST', { Allow: 'POST' });
    const vasp = this.account(req);
    if (!vasp) {
      this.reject('unauthorized');
      return send(res, 401, 'unauthorized', { 'WWW-Authenticate': 'Basic realm="MM7"' });
    }
    let request: Mm7HttpRequest;
    try {
      request = await this.read(req);
    } catch (e) {
      if (e instanceof BodyTooLarge) {
        this.reject('too-large');
        res.setHeader('Connection', 'close');
        return send(res, 413, 'request too large');
      }
      if (e instanceof ProtocolError) return this.reply(res, faultAnswer(e, 'relay'));
      throw e;
    }
    ctx.operation = request.envelope.message.type;
    const a = await this.dispatch(vasp, request, ctx);
    return this.reply(res, a.answer, a.headers);
  }

  /**
   * The body, decoded. A body that declares at most READ_WHOLE_OCTETS is
   * read whole (events: one promise for the body) and parsed in memory; any
   * other is decoded as it arrives: the raw body is never held whole (a
   * base64 part is decoded chunk by chunk), and nothing here holds on to it
   * once the decoded request is returned. BodyTooLarge and the request's
   * own errors come out as they are, ahead of any parse error, as when the
   * body was read before being parsed.
   */
  private async read(req: IncomingMessage): Promise<Mm7HttpRequest> {
    const expected = declaredLength(req);
    const contentType = req.headers['content-type'] ?? '';
    if (expected !== undefined && expected <= READ_WHOLE_OCTETS) return decodeMm7Http(contentType, await readBody(req, this.opts.maxBodyOctets));
    return decodeMm7Http(contentType, bodyChunks(req, this.opts.maxBodyOctets), {}, expected !== undefined ? { expectedOctets: expected } : {});
  }

  private async dispatch(vasp: VaspAccount, request: Mm7HttpRequest, ctx: RequestContext): Promise<{ answer: Mm7Answer; headers?: Record<string, string> }> {
    const env = request.envelope;
    const m = env.message;
    if (!['SubmitReq', 'CancelReq', 'ReplaceReq'].includes(m.type)) {
      // Not something a VASP sends to the relay: answer as a fault, the request has no Rsp of ours.
      return { answer: faultAnswer(new ProtocolError('UNSUPPORTED', m.type, 'not a VASP-to-relay operation'), 'relay', env.release) };
    }
    if (!vaspReleases(vasp).includes(env.release)) return { answer: answer(env, 4002, {}, `${env.release} is not enabled for this VASP`) };
    const id = m.senderIdentification;
    if ((id?.vaspId !== undefined && id.vaspId !== vasp.vaspId) || (id?.vasId !== undefined && vasp.vasIds.length > 0 && !vasp.vasIds.includes(id.vasId))) {
      return { answer: answer(env, 4001) };
    }
    if (m.type === 'CancelReq') return { answer: await this.cancel(vasp, env) };
    if (m.type === 'ReplaceReq') return { answer: await this.replace(vasp, env, request) };
    const wait = this.throttle(vasp).take();
    if (wait > 0) return { answer: answer(env, 4006), headers: { 'Retry-After': String(wait) } };
    return { answer: await this.submit(vasp, env, request, ctx) };
  }

  private throttle(vasp: VaspAccount): Throttle {
    let t = this.throttles.get(vasp.vaspId);
    if (!t) this.throttles.set(vasp.vaspId, (t = new Throttle(vasp.submitsPerSecond)));
    return t;
  }

  /** ReplaceReq (23.140 §8.7.6): new content or delivery options for a message nobody retrieved yet. */
  private async replace(vasp: VaspAccount, env: Mm7Envelope, request: Mm7HttpRequest): Promise<Mm7Answer> {
    const m = env.message;
    const change: MessageChange = { envelope: {} };
    if (m.readReply !== undefined) change.envelope!.readReport = m.readReply;
    if (m.content?.allowAdaptations !== undefined) change.envelope!.allowAdaptations = m.content.allowAdaptations;
    if (m.earliestDeliveryTime !== undefined) {
      try {
        change.envelope!.earliestDelivery = timeSpecToDate(m.earliestDeliveryTime, this.opts.mmsc.clock.now());
      } catch {
        return answer(env, 4004, {}, 'EarliestDeliveryTime cannot be read');
      }
    }
    if (request.content) {
      const { contentType, parts } = partsFromMime(request.content);
      const size = parts.reduce((n, p) => n + p.data.length, 0);
      if (size > vasp.maxMessageOctets) return answer(env, 2004, {}, `content of ${size} octets exceeds ${vasp.maxMessageOctets}`);
      change.contentType = contentType;
      change.parts = parts;
    }
    const result = await this.opts.store.replace(m.messageId!, `mm7:${vasp.vaspId}`, change);
    if (result === 'replaced') return answer(env, 1000);
    return result === 'not-found' ? answer(env, 2005) : answer(env, 3001, {}, 'already retrieved');
  }

  private async cancel(vasp: VaspAccount, env: Mm7Envelope): Promise<Mm7Answer> {
    const result = await this.opts.store.cancel(env.message.messageId!, `mm7:${vasp.vaspId}`);
    if (result === 'cancelled') return answer(env, 1000);
    return result === 'not-found' ? answer(env, 2005) : answer(env, 3001, {}, 'already retrieved');
  }

  private senderOf(vasp: VaspAccount, address: Mm7Address | undefined): string | undefined {
    const allowed = vasp.shortCodes.map((s) => fromMm7Address({ kind: s.length <= 8 && !s.startsWith('+') ? 'ShortCode' : 'Number', value: s }, this.opts.routing));
    if (!address) return allowed[0];
    const from = fromMm7Address(address, this.opts.routing);
    return allowed.includes(from) ? from : undefined;
  }

  private async submit(vasp: VaspAccount, env: Mm7Envelope, request: Mm7HttpRequest, ctx: RequestContext): Promise<Mm7Answer> {
    const m = env.message;
    const from = this.senderOf(vasp, m.senderIdentification?.senderAddress);
    if (from === undefined) return answer(env, 2001, {}, 'sender address not allowed for this VASP');
    if (!request.content) return answer(env, 4004, {}, 'SubmitReq without content');
    const { contentType, parts } = partsFromMime(request.content);
    const size = parts.reduce((n, p) => n + p.data.length, 0);
    if (size > vasp.maxMessageOctets) return answer(env, 2004, {}, `content of ${size} octets exceeds ${vasp.maxMessageOctets}`);

    const recipients: NewRecipient[] = [];
    const lists: Record<RecipientKind, string[]> = { to: [], cc: [], bcc: [] };
    for (const kind of ['to', 'cc', 'bcc'] as const) {
      for (const a of m.recipients?.[kind] ?? []) {
        if (a.displayOnly) continue;
        const address = fromMm7Address(a, this.opts.routing);
        lists[kind].push(address);
        // Local subscribers are notified; MM3/MM4 recipients are 'forwarded' (their outbox jobs: outboundJobs).
        recipients.push(recipientFor(address, kind, this.opts.routing));
      }
    }
    const accepted = recipients.filter((r) => r.state !== 'unroutable').length;
    if (accepted === 0) return answer(env, 2002, {}, recipients[0]?.reason ?? 'no recipient');

    const now = this.opts.mmsc.clock.now();
    let expiresAt: Date;
    try {
      expiresAt = expiryFor(m.expiryDate, now, this.opts.ttl);
    } catch {
      return answer(env, 4004, {}, 'ExpiryDate cannot be read');
    }
    const envelope = {
      from,
      ...lists,
      ...messageFieldsFromMm7(m),
      date: now,
      expiresAt,
      contentType,
      allowAdaptations: m.content?.allowAdaptations ?? true,
      origin: {
        interface: 'mm7' as const,
        vaspId: vasp.vaspId,
        release: env.release,
        mm7Version: m.mm7Version ?? '',
        ...(m.senderIdentification?.vasId !== undefined ? { vasId: m.senderIdentification.vasId } : {}),
        ...(env.transactionId !== undefined ? { transactionId: env.transactionId } : {}),
        ...(m.linkedId !== undefined ? { linkedId: m.linkedId } : {}),
        ...(m.serviceCode !== undefined ? { serviceCode: m.serviceCode } : {}),
      },
    };
    const key = env.transactionId !== undefined ? { source: `mm7:${vasp.vaspId}`, transactionId: env.transactionId } : undefined;
    const { messageId, duplicate } = await this.opts.mmsc.accept({ envelope, parts, recipients }, key, ctx.requestId);
    if (!duplicate) this.opts.metrics?.accepted.inc({ interface: 'mm7' });
    this.logFor(ctx)?.({ event: duplicate ? 'mm7-duplicate' : 'mm7-accepted', messageId, vaspId: vasp.vaspId, recipients: recipients.length, accepted });
    return accepted < recipients.length ? answer(env, 1100, { messageId }, `${recipients.length - accepted} recipient(s) not routable`) : answer(env, 1000, { messageId });
  }
}
