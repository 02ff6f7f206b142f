/**
 * The subscriber's pages (issue 8, "Server 2's own surfaces"): the album
 * behind its signed link, the confirmation link that records a CDR, the
 * sign-up form. Links are checked here: a forged one is 404, an expired or
 * revoked one 403, and both get the same page that says nothing more.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ArchiveConfig, ArchivePlan } from '../config/archive.js';
import { send } from '../frontends/http-util.js';
import type { LogFn } from '../mmsc/log.js';
import type { Clock } from '../mmsc/model.js';
import type { Db2, Subscription } from '../store/db2.js';
import { albumPage, confirmPage, invalidLinkPage, isThumbnailable, makeThumbnail, messagePage, signupPage, type AlbumEntry } from './album.js';
import { allowMethods, html, HttpError, smallBody } from './http.js';
import { verifyToken, type TokenPurpose } from './tokens.js';

const ALBUM_PAGE = 30;
const TEXT_PREVIEW = 280;
/** Part types a browser may show in place; any other downloads as an attachment. */
const INLINE_SAFE = /^(image\/(jpeg|png|gif|webp|bmp|avif)|audio\/|video\/|text\/plain)/;

export type SubscribeResult = { created: Subscription } | { status: number; error: string; existing?: Subscription };

export interface SubscriberWebDeps {
  config: ArchiveConfig;
  db: Db2;
  clock: Clock;
  plans: ReadonlyMap<string, ArchivePlan>;
  defaultPlan: string;
  subscribe(address: string, plan: string | undefined): Promise<SubscribeResult>;
  albumUrl(s: Subscription): string;
  log?: LogFn;
}

function textOf(data: Buffer): string {
  return data.toString('utf8');
}

export class SubscriberWeb {
  #thumbnailsInFlight = new Map<string, Promise<Buffer | undefined>>();

  constructor(private readonly deps: SubscriberWebDeps) {}

  /** Waits for thumbnails being made (before DB2 closes). */
  async settle(): Promise<void> {
    await Promise.allSettled(this.#thumbnailsInFlight.values());
  }

  /** The subscription a link names, when it is genuine, unexpired and not revoked. */
  #subscriptionOfLink(token: string, purpose: TokenPurpose): { ok: true; subscription: Subscription } | { ok: false; status: 403 | 404 } {
    const v = verifyToken(this.deps.config.tokens.secret, token, purpose, this.deps.clock.now());
    if (!v.ok) return { ok: false, status: v.reason === 'expired' ? 403 : 404 };
    const s = this.deps.db.getSubscription(v.claims.subscriptionId);
    if (!s) return { ok: false, status: 404 };
    if (s.tokenVersion !== v.claims.version) return { ok: false, status: 403 };
    return { ok: true, subscription: s };
  }

  // ----------------------------------------------------------------- album

  async album(req: IncomingMessage, res: ServerResponse, segs: string[], q: Map<string, string>): Promise<void> {
    allowMethods(req, 'GET', 'HEAD');
    const [token, m, id, kind, n, ...rest] = segs;
    const link = this.#subscriptionOfLink(token ?? '', 'album');
    if (!link.ok) return html(res, link.status, invalidLinkPage());
    const s = link.subscription;
    const base = `/album/${token}`;
    if (m === undefined || (m === '' && id === undefined)) {
      const before = q.get('before');
      const list = this.deps.db.listBySubscription(s.id, ALBUM_PAGE + 1, before);
      const entries: AlbumEntry[] = list.slice(0, ALBUM_PAGE).map((message) => {
        const textPart = message.parts.find((p) => p.contentType.toLowerCase().startsWith('text/plain'));
        const text = textPart ? textOf(this.deps.db.getPart(message.archiveId, textPart.index)!.data) : undefined;
        return text !== undefined ? { message, text: text.length > TEXT_PREVIEW ? `${text.slice(0, TEXT_PREVIEW)}…` : text } : { message };
      });
      const older = list.length > ALBUM_PAGE ? `${base}?before=${encodeURIComponent(entries[entries.length - 1]!.message.archiveId)}` : undefined;
      return html(res, 200, albumPage(base, s.address, entries, older));
    }
    if (m !== 'm' || id === undefined) return html(res, 404, invalidLinkPage());
    const message = this.deps.db.getMessage(id);
    // Another subscription's message looks exactly like a missing one.
    if (!message || message.subscriptionId !== s.id) return html(res, 404, invalidLinkPage());
    if (kind === undefined) {
      const texts = new Map<number, string>();
      for (const p of message.parts) if (p.contentType.toLowerCase().startsWith('text/plain')) texts.set(p.index, textOf(this.deps.db.getPart(id, p.index)!.data));
      return html(res, 200, messagePage(base, message, texts));
    }
    if (rest.length > 0 || n === undefined || !/^[0-9]{1,4}$/.test(n)) return html(res, 404, invalidLinkPage());
    const index = Number(n);
    if (kind === 'parts') {
      const part = this.deps.db.getPart(id, index);
      if (!part) return html(res, 404, invalidLinkPage());
      const type = part.contentType.toLowerCase();
      const name = (part.contentLocation ?? `part-${index}`).replace(/[^A-Za-z0-9._-]/g, '_');
      return send(res, 200, part.data, {
        'Content-Type': part.contentType,
        'X-Content-Type-Options': 'nosniff',
        // A part is the subscriber's content, never a document of ours: no scripts, no plugins.
        'Content-Security-Policy': "default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'; sandbox",
        'Content-Disposition': `${INLINE_SAFE.test(type) ? 'inline' : 'attachment'}; filename="${name}"`,
        'Cache-Control': 'private, max-age=3600',
      });
    }
    if (kind === 'thumbs') {
      const part = message.parts.find((p) => p.index === index);
      if (!part || !isThumbnailable(part.contentType)) return html(res, 404, invalidLinkPage());
      const thumb = await this.#thumbnail(id, index);
      if (!thumb) return html(res, 404, invalidLinkPage());
      return send(res, 200, thumb, { 'Content-Type': 'image/jpeg', 'X-Content-Type-Options': 'nosniff', 'Cache-Control': 'private, max-age=86400' });
    }
    return html(res, 404, invalidLinkPage());
  }

  /** From DB2's cache, else made once (concurrent requests share the work) and cached. */
  async #thumbnail(archiveId: string, index: number): Promise<Buffer | undefined> {
    const cached = this.deps.db.getThumbnail(archiveId, index);
    if (cached) return cached;
    const key = `${archiveId}/${index}`;
    let pending = this.#thumbnailsInFlight.get(key);
    if (!pending) {
      pending = (async () => {
        const part = this.deps.db.getPart(archiveId, index);
        if (!part) return undefined;
        try {
          const thumb = await makeThumbnail(part.data);
          await this.deps.db.putThumbnail(archiveId, index, thumb);
          return thumb;
        } catch (e) {
          this.deps.log?.({ event: 'archive-thumbnail-failed', archiveId, index, error: String(e) });
          return undefined;
        }
      })().finally(() => this.#thumbnailsInFlight.delete(key));
      this.#thumbnailsInFlight.set(key, pending);
    }
    return pending;
  }

  // ---------------------------------------------------- confirmation, CDRs

  /**
   * `<id>` is the archive id, or the MMS-C's message id (what server 1 knows
   * when it adds the link to the M-Retrieve.conf, before the forward is done).
   * A confirmed message records one CDR per visit, at the plan's price.
   */
  async confirm(req: IncomingMessage, res: ServerResponse, segs: string[]): Promise<void> {
    allowMethods(req, 'GET');
    const [token, rawId, ...rest] = segs;
    const link = this.#subscriptionOfLink(token ?? '', 'confirm');
    if (!link.ok) return html(res, link.status, invalidLinkPage());
    if (rawId === undefined || rawId === '' || rest.length > 0) return html(res, 404, invalidLinkPage());
    let id: string;
    try {
      id = decodeURIComponent(rawId);
    } catch {
      return html(res, 404, invalidLinkPage());
    }
    const s = link.subscription;
    const byId = this.deps.db.getMessage(id);
    const message = byId && byId.subscriptionId === s.id ? byId : this.deps.db.findByOriginal(id, s.address);
    const archived = message && message.recipient === s.address ? message : undefined;
    if (archived) {
      const plan = this.deps.plans.get(s.plan);
      await this.deps.db.addCdr({ subscriptionId: s.id, archiveId: archived.archiveId, event: 'confirm', amount: plan?.pricePerConfirmation ?? '0', currency: plan?.currency ?? 'EUR' });
    }
    return html(res, 200, confirmPage(archived, id));
  }

  // ---------------------------------------------------------------- signup

  async signup(req: IncomingMessage, res: ServerResponse): Promise<void> {
    allowMethods(req, 'GET', 'POST');
    if (!this.deps.config.signup.enabled) throw new HttpError(404, 'not found');
    const plans = [...this.deps.plans.keys()];
    if (req.method === 'GET') return html(res, 200, signupPage(plans, this.deps.defaultPlan));
    const body = await smallBody(req, 8 * 1024);
    const form = new URLSearchParams(body.toString('utf8'));
    const result = await this.deps.subscribe(form.get('address') ?? '', form.get('plan') ?? undefined);
    if ('error' in result) {
      // Never the existing subscription's id or link: whoever types a number must not get its album.
      return html(res, result.status, signupPage(plans, this.deps.defaultPlan, { ok: false, message: result.status === 409 ? 'This number already has an archive subscription.' : result.error }));
    }
    return html(res, 201, signupPage(plans, this.deps.defaultPlan, { ok: true, message: `Subscribed with plan ${result.created.plan}.`, albumUrl: this.deps.albumUrl(result.created) }));
  }
}
