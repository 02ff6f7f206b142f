/**
 * The archive node's MM7-style receiver: POST /mm7 with a DeliverReq from
 * server 1 (issue 8, step d). The wire convention — recipient, LinkedID,
 * ApplicID, AuxApplicInfo `subscription=<id>;extracted=1`, the optional
 * `application/vnd.mmsgw.archive+json` part — is documented once, at the
 * top of forward.ts, which both servers use.
 *
 * Order of checks, so that nothing is stored for a request we refuse:
 * body size (413) → credentials or HMAC over the raw body (401) → MM7
 * decoding (SOAP Fault, RSErrorRsp 2007/4004) → DeliverReq fields (DeliverRsp
 * 4004, 2003, 2008) → DB2 commit → DeliverRsp 1000, sent only after the
 * group commit is durable. A repeat of the same (LinkedID, recipient) is
 * answered 1000 with the first archive id, and stores nothing. The archive
 * id is in the Status Details (`archive-id=<id>`) and in X-Archive-Id.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { ProtocolError } from '../../protocol/errors.js';
import { answer, faultAnswer, type Mm7Answer } from '../../protocol/mm7/exchange.js';
import { decodeMm7Http, encodeMm7Http } from '../../protocol/mm7/http.js';
import type { MimeEntity } from '../../protocol/mm7/mime-types.js';
import type { Mm7Envelope } from '../../protocol/mm7/model.js';
import type { ArchiveConfig, ArchivePlan } from '../config/archive.js';
import { basicCredentials, BodyTooLarge, isLoopback, readBody, sameSecret, send } from '../frontends/http-util.js';
import { partsFromMime } from '../mmsc/convert.js';
import type { LogFn } from '../mmsc/log.js';
import { fromMm7Address } from '../mmsc/routing.js';
import type { AdditionalData, Db2, DroppedPart, Subscription, TrimmedPart } from '../store/db2.js';
import { firstImageGps } from './exif.js';
import { extract, keepsEverything } from './extract.js';
import { ARCHIVE_INFO_TYPE, parseAuxApplicInfo, SIGNATURE_HEADER, verifySignature, type ArchiveInfo } from './forward.js';

const part = z.object({ contentType: z.string().max(512), contentId: z.string().max(512).optional(), reason: z.string().max(1024) });
const archiveInfoSchema = z.object({
  subscription: z.string().min(1).max(64).optional(),
  extracted: z.boolean().optional(),
  dropped: z.array(part).max(200).optional(),
  trimmed: z
    .array(z.object({ contentType: z.string().max(512), contentId: z.string().max(512).optional(), seconds: z.number(), originalSize: z.number().int(), size: z.number().int() }))
    .max(200)
    .optional(),
  additional: z
    .object({
      archiveLink: z.string().max(2048).optional(),
      notice: z.string().max(4096).optional(),
      geolocation: z
        .object({ lat: z.number().min(-90).max(90), lon: z.number().min(-180).max(180), source: z.string().max(64).optional(), label: z.string().max(256).optional() })
        .optional(),
    })
    .optional(),
});

/** A refusal of the DeliverReq's content: answered as a DeliverRsp with this status. */
class Refusal extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface ReceiverOptions {
  config: ArchiveConfig;
  db: Db2;
  plans: ReadonlyMap<string, ArchivePlan>;
  log?: LogFn;
  /** The subscriber's album link; given back in the DeliverRsp (`album=<url>`) for server 1's enrichment. */
  albumUrl?: (subscription: Subscription) => string | undefined;
}

export interface ReceiverStats {
  archived: number;
  duplicates: number;
  refused: number;
  unauthorized: number;
}

export class ArchiveReceiver {
  readonly stats: ReceiverStats = { archived: 0, duplicates: 0, refused: 0, unauthorized: 0 };

  constructor(private readonly opts: ReceiverOptions) {}

  /** Basic credentials or an HMAC signature, whichever the config enables. */
  #authorized(req: IncomingMessage, body: Buffer): boolean {
    const mm7 = this.opts.config.mm7;
    if (mm7.loopbackOnly && !isLoopback(req.socket.remoteAddress)) return false;
    if (mm7.basic) {
      const creds = basicCredentials(req);
      if (creds && sameSecret(creds.user, mm7.basic.user) && sameSecret(creds.password, mm7.basic.password)) return true;
    }
    if (mm7.hmacSecret !== undefined) {
      const header = req.headers[SIGNATURE_HEADER];
      if (verifySignature(mm7.hmacSecret, body, Array.isArray(header) ? header[0] : header)) return true;
    }
    return false;
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'POST') return send(res, 405, 'MM7 takes POST', { Allow: 'POST' });
    let body: Buffer;
    try {
      // Whole: the HMAC is over the raw body, checked before anything is parsed.
      body = await readBody(req, this.opts.config.mm7.maxBodyOctets);
    } catch (e) {
      if (e instanceof BodyTooLarge) {
        res.setHeader('Connection', 'close');
        return send(res, 413, 'request too large');
      }
      throw e;
    }
    if (!this.#authorized(req, body)) {
      this.stats.unauthorized++;
      this.opts.log?.({ event: 'archive-forward-refused', reason: 'unauthorized', peer: req.socket.remoteAddress });
      return send(res, 401, 'unauthorized', { 'WWW-Authenticate': 'Basic realm="archive"' });
    }
    let env: Mm7Envelope;
    let content: MimeEntity | undefined;
    try {
      const decoded = await decodeMm7Http(req.headers['content-type'] ?? '', [body]);
      env = decoded.envelope;
      content = decoded.content;
    } catch (e) {
      if (!(e instanceof ProtocolError)) throw e;
      this.stats.refused++;
      this.opts.log?.({ event: 'archive-forward-malformed', code: e.code, error: e.message });
      return this.#reply(res, faultAnswer(e, 'relay'));
    }
    if (env.message.type !== 'DeliverReq') {
      this.stats.refused++;
      return this.#reply(res, faultAnswer(new ProtocolError('UNSUPPORTED', env.message.type, 'the archive node takes DeliverReq only'), 'relay', env.release));
    }
    try {
      const { archiveId, duplicate, album } = await this.#archive(env, content);
      if (duplicate) this.stats.duplicates++;
      else this.stats.archived++;
      this.opts.log?.({ event: duplicate ? 'archive-duplicate' : 'archived', archiveId, linkedId: env.message.linkedId });
      const a = answer(env, 1000);
      a.envelope.message.status!.details = `archive-id=${archiveId}${album !== undefined ? `; album=${album}` : ''}`;
      return this.#reply(res, a, { 'X-Archive-Id': archiveId });
    } catch (e) {
      if (e instanceof Refusal) {
        this.stats.refused++;
        this.opts.log?.({ event: 'archive-forward-refused', status: e.status, reason: e.message, linkedId: env.message.linkedId });
        return this.#reply(res, answer(env, e.status, {}, e.message));
      }
      // DB2 could not commit (disk full, I/O): 3000, so server 1's outbox retries later.
      this.opts.log?.({ event: 'archive-store-error', error: String(e) });
      return this.#reply(res, answer(env, 3000, {}, 'the archive could not store the message; retry later'));
    }
  }

  async #reply(res: ServerResponse, a: Mm7Answer, headers: Record<string, string> = {}): Promise<void> {
    const { contentType, body } = await encodeMm7Http(a.envelope);
    send(res, a.httpStatus, body, { 'Content-Type': contentType, ...headers });
  }

  async #archive(env: Mm7Envelope, content: MimeEntity | undefined): Promise<{ archiveId: string; duplicate: boolean; album: string | undefined }> {
    const m = env.message;
    const cfg = this.opts.config;
    const routing = { countryCode: cfg.countryCode, numberRanges: [] };
    if (m.linkedId === undefined || m.linkedId.trim() === '') throw new Refusal(4004, 'LinkedID (the original message id) is required');
    const to = [...(m.recipients?.to ?? []), ...(m.recipients?.cc ?? []), ...(m.recipients?.bcc ?? [])].filter((a) => !a.displayOnly);
    if (to.length === 0) throw new Refusal(4004, 'the subscriber is the one recipient, and there is none');
    if (to.length > 1) throw new Refusal(3003, 'one subscriber per forward');
    if (!m.sender) throw new Refusal(4004, 'Sender is required');
    if (!content) throw new Refusal(4004, 'a forward without content');
    if (m.applicId !== undefined && m.applicId !== cfg.mm7.service) throw new Refusal(2008, `ApplicID ${m.applicId} is not this archive service`);
    const recipient = fromMm7Address(to[0]!, routing);
    const sender = fromMm7Address(m.sender, routing);

    const { contentType, parts: all } = partsFromMime(content);
    let info: ArchiveInfo = {};
    const infoParts = all.filter((p) => p.contentType.split(';')[0]!.trim().toLowerCase() === ARCHIVE_INFO_TYPE);
    if (infoParts.length > 1) throw new Refusal(4004, `more than one ${ARCHIVE_INFO_TYPE} part`);
    if (infoParts[0]) {
      let json: unknown;
      try {
        json = JSON.parse(infoParts[0].data.toString('utf8'));
      } catch {
        throw new Refusal(4004, `the ${ARCHIVE_INFO_TYPE} part is not JSON`);
      }
      const r = archiveInfoSchema.safeParse(json);
      if (!r.success) throw new Refusal(4004, `${ARCHIVE_INFO_TYPE}: ${r.error.issues[0]!.path.join('.')}: ${r.error.issues[0]!.message}`);
      info = r.data as ArchiveInfo;
    }
    const parts = all.filter((p) => !infoParts.includes(p));
    const aux = parseAuxApplicInfo(m.auxApplicInfo ?? '');

    // The subscription: named by the forward, else the recipient's live one. It must be this recipient's.
    const named = aux.get('subscription') ?? info.subscription;
    const subscription = named !== undefined ? this.opts.db.getSubscription(named) : this.opts.db.liveSubscriptionFor(recipient);
    if (!subscription) throw new Refusal(2003, named !== undefined ? 'unknown subscription' : `${recipient} has no archive subscription`);
    if (subscription.address !== recipient) throw new Refusal(2003, 'the subscription is not the recipient\'s');
    const plan = this.opts.plans.get(subscription.plan);

    const extractedOnServer1 = aux.get('extracted') === '1' || info.extracted === true;
    let kept = parts;
    let dropped: DroppedPart[] = info.dropped ?? [];
    let trimmed: TrimmedPart[] = info.trimmed ?? [];
    let extractedOn: 'server1' | 'server2' | null = extractedOnServer1 ? 'server1' : null;
    if (!extractedOnServer1 && cfg.mm7.extractOnArrival && plan && !keepsEverything(plan.extraction)) {
      const r = extract(parts, plan.extraction);
      kept = r.kept;
      dropped = [...dropped, ...r.dropped];
      trimmed = [...trimmed, ...r.trimmed];
      extractedOn = 'server2';
    }
    let additional: AdditionalData = info.additional ?? {};
    if (!additional.geolocation) {
      // Server 1 sent none: the first photo's own GPS tags, if it has any.
      const gps = firstImageGps(parts);
      if (gps) additional = { ...additional, geolocation: { ...gps, source: 'exif' } };
    }
    // The archived copy carries the link its subscriber was shown (server 1 learns it from this answer).
    const album = this.opts.albumUrl?.(subscription);
    if (!additional.archiveLink && album !== undefined) additional = { ...additional, archiveLink: album };
    const stored = await this.opts.db.archive({
      originalId: m.linkedId,
      recipient,
      subscriptionId: subscription.id,
      sender,
      ...(m.subject !== undefined ? { subject: m.subject } : {}),
      ...(m.timeStamp !== undefined ? { date: m.timeStamp } : {}),
      contentType,
      release: env.release,
      extractedOn,
      dropped,
      trimmed,
      additional,
      parts: kept,
    });
    // The same link goes in the DeliverRsp (signing it once: an HMAC and a DB2 read per forward).
    return { ...stored, album };
  }
}
