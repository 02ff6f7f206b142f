/**
 * The `pap` bearer: each notification becomes a PAP 2.0 push submission
 * to a push proxy gateway (spec digest §e). The WSP push PDU the MMS-C
 * built is taken apart: its content (the MMS PDU) and content type go in
 * the content entity, its X-Wap-Application-Id in that entity's header;
 * the PPG builds its own WSP push from them.
 *
 * The push-id is derived from the push itself (message id, recipient and a
 * hash of the push PDU), so an outbox retry of the same push carries the
 * same id. A PPG that already took it answers 2007 "duplicate push ID":
 * that is taken as accepted, so a push whose first answer was lost is
 * neither lost nor sent twice. A deliberate second notification gets a new
 * TID from the MMS-C, hence a new id.
 */
import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import { ProtocolError } from '../../protocol/errors.js';
import { papCodeAction, papCodeText } from '../../protocol/pap/codes.js';
import { buildPushMessage, parsePapResponse, type PapDeliveryMethod, type PapResponse } from '../../protocol/pap/control.js';
import { formatWappushAddress } from '../../protocol/pap/address.js';
import { buildPapRequest, MMS_APPLICATION_ID, MMS_CONTENT_TYPE, type PapContent } from '../../protocol/pap/multipart.js';
import { findHeader } from '../../protocol/wsp/headers.js';
import { decodePush } from '../../protocol/wsp/push.js';
import { PUSH_APPLICATIONS } from '../../protocol/wsp/tables.js';
import { BearerError } from './errors.js';
import { durationField, HttpTransportError, isRetryableHttpStatus, postOnce, retryAfterMs, snippet, type HttpAnswer } from './http.js';
import type { Notifier, PushRequest } from './notifier.js';

export const papBearerConfigSchema = z.object({
  /** The PPG's PAP URL (Kannel: http://host:8080/wappush). */
  url: z.url(),
  /** The `@host` of WAPPUSH addresses: the PPG's own name. */
  ppgHost: z.string().min(1).default('ppg.local'),
  /** HTTP Basic credentials of this push initiator at the PPG. */
  user: z.string().min(1).optional(),
  password: z.string().min(1).optional(),
  /** Push ids are `<message id>.<hash>@<pushIdDomain>`: the domain keeps them unique across initiators. */
  pushIdDomain: z.string().min(1).default('mmsc.local'),
  /** PAP quality-of-service delivery-method; MMS notifications are unconfirmed pushes (spec c.6). */
  deliveryMethod: z.enum(['confirmed', 'preferconfirmed', 'unconfirmed', 'notspecified']).default('unconfirmed'),
  /** When set, the PPG is told to drop the push if it cannot deliver it within this time (deliver-before-timestamp). */
  deliverWithin: durationField.optional(),
  timeout: durationField.default(10_000),
});
export type PapBearerConfig = z.infer<typeof papBearerConfigSchema>;

export class PapBearerError extends BearerError {
  override readonly name = 'PapBearerError';
  constructor(
    message: string,
    retryable: boolean,
    /** The PAP result code, when the PPG gave one. */
    readonly papCode?: number,
    /** The HTTP status, when there was an answer. */
    readonly httpStatus?: number,
    afterMs?: number,
    options?: { cause?: unknown },
  ) {
    super('pap', message, retryable, afterMs, options);
  }
}

export interface PapNotifierOptions {
  url: string;
  ppgHost?: string;
  user?: string;
  password?: string;
  pushIdDomain?: string;
  deliveryMethod?: PapDeliveryMethod;
  /** Milliseconds from now for deliver-before-timestamp; absent: no deadline. */
  deliverWithinMs?: number;
  timeoutMs?: number;
  clock?: { now(): Date };
  /** Boundary source; injectable so a test can force a collision. */
  boundary?: () => string;
}

/** The parts of the submission taken from a WSP push PDU. */
export function papContentOfPush(pushPdu: Uint8Array): PapContent {
  let push;
  try {
    push = decodePush(pushPdu);
  } catch (e) {
    if (e instanceof ProtocolError) throw new PapBearerError(`the push PDU cannot be read: ${e.message}`, false, undefined, undefined, undefined, { cause: e });
    throw e;
  }
  const mediaType = push.contentType.mediaType;
  if (typeof mediaType !== 'string') throw new PapBearerError(`the push carries content type code 0x${mediaType.toString(16)}, which has no name to send`, false);
  const app = findHeader(push.headers, 'X-Wap-Application-Id');
  // The PPG defaults a missing id to the browser (wml.ua); an MMS push must name the MMS user agent.
  const applicationId =
    typeof app === 'string' ? app : typeof app === 'number' ? PUSH_APPLICATIONS.name(app) ?? String(app) : mediaType.toLowerCase() === MMS_CONTENT_TYPE ? MMS_APPLICATION_ID : undefined;
  const headers: Array<[string, string]> = [];
  if (applicationId !== undefined) headers.push(['X-Wap-Application-Id', applicationId]);
  headers.push(['Content-Transfer-Encoding', 'binary']);
  return { contentType: mediaType, headers, body: push.body };
}

export class PapNotifier implements Notifier {
  private readonly clock: { now(): Date };
  private readonly authorization: string | undefined;

  constructor(private readonly options: PapNotifierOptions) {
    new URL(options.url);
    if ((options.user === undefined) !== (options.password === undefined)) throw new Error('PapNotifier: user and password go together');
    this.clock = options.clock ?? { now: () => new Date() };
    this.authorization = options.user !== undefined ? `Basic ${Buffer.from(`${options.user}:${options.password ?? ''}`).toString('base64')}` : undefined;
  }

  static fromConfig(c: PapBearerConfig, clock?: { now(): Date }): PapNotifier {
    const o: PapNotifierOptions = { url: c.url, ppgHost: c.ppgHost, pushIdDomain: c.pushIdDomain, deliveryMethod: c.deliveryMethod, timeoutMs: c.timeout };
    if (c.user !== undefined) o.user = c.user;
    if (c.password !== undefined) o.password = c.password;
    if (c.deliverWithin !== undefined) o.deliverWithinMs = c.deliverWithin;
    if (clock) o.clock = clock;
    return new PapNotifier(o);
  }

  /** The push-id of a push: the same request always gets the same id (see the module comment). */
  pushIdOf(push: PushRequest): string {
    const hash = createHash('sha256').update(push.to).update('\0').update(push.pushPdu).digest('hex').slice(0, 20);
    const id = push.messageId.replace(/[^A-Za-z0-9._-]/g, '_');
    return `${id ? `${id}.` : ''}${hash}@${this.options.pushIdDomain ?? 'mmsc.local'}`;
  }

  async notify(push: PushRequest): Promise<void> {
    const content = papContentOfPush(push.pushPdu);
    let address: string;
    try {
      address = formatWappushAddress({ value: push.to, type: 'PLMN', ppg: this.options.ppgHost ?? 'ppg.local' });
    } catch (e) {
      throw new PapBearerError(`cannot address ${push.to} through a PPG: ${(e as Error).message}`, false, undefined, undefined, undefined, { cause: e });
    }
    const pushId = this.pushIdOf(push);
    const now = this.clock.now();
    const control = buildPushMessage({
      pushId,
      addresses: [address],
      ...(this.options.deliverWithinMs !== undefined ? { deliverBeforeTimestamp: new Date(now.getTime() + this.options.deliverWithinMs) } : {}),
      qualityOfService: { deliveryMethod: this.options.deliveryMethod ?? 'unconfirmed' },
    });
    const request = this.encode(control, content);
    const headers: Record<string, string> = { 'content-type': request.contentType, accept: 'application/xml' };
    if (this.authorization) headers.authorization = this.authorization;
    let answer: HttpAnswer;
    try {
      answer = await postOnce(this.options.url, { headers, body: request.body, timeoutMs: this.options.timeoutMs ?? 10_000 });
    } catch (e) {
      if (e instanceof HttpTransportError) throw new PapBearerError(e.message, true, undefined, undefined, undefined, { cause: e });
      throw e;
    }
    this.judge(answer, pushId);
  }

  private encode(control: string, content: PapContent): { contentType: string; body: Buffer } {
    for (let attempt = 0; ; attempt++) {
      const boundary = this.options.boundary?.() ?? `pap-${randomBytes(12).toString('hex')}`;
      try {
        return buildPapRequest({ control, content }, boundary);
      } catch (e) {
        // A random boundary inside the content is astronomically rare; a few tries settle it.
        if (!(e instanceof ProtocolError) || e.field !== 'boundary' || attempt >= 4) throw e;
      }
    }
  }

  /** Resolves when the PPG accepted the push; throws a PapBearerError saying whether to try again. */
  private judge(answer: HttpAnswer, pushId: string): void {
    const http = answer.status;
    let response: PapResponse | undefined;
    let unreadable: string | undefined;
    try {
      response = parsePapResponse(answer.body.toString('utf8'));
    } catch (e) {
      if (!(e instanceof ProtocolError)) throw e;
      unreadable = e.message;
    }
    const after = isRetryableHttpStatus(http) ? retryAfterMs(answer.headers.get('retry-after'), this.clock.now()) : undefined;
    if (!response) {
      if (http >= 200 && http < 300) {
        // The PPG may have taken it: the retry carries the same push-id, and 2007 then settles it.
        throw new PapBearerError(`the PPG answered HTTP ${http} without a readable PAP response (${unreadable ?? ''})`, true, undefined, http);
      }
      throw new PapBearerError(`the PPG answered HTTP ${http}${answer.body.length ? `: ${snippet(answer.body)}` : ''}`, isRetryableHttpStatus(http), undefined, http, after);
    }
    const code = response.code;
    const desc = response.desc ?? papCodeText(code);
    if (response.kind === 'badmessage-response') {
      throw new PapBearerError(`the PPG could not read the submission: ${code} ${desc}${response.badMessageFragment ? ` near "${response.badMessageFragment}"` : ''}`, false, code, http);
    }
    if (response.pushId !== pushId) {
      throw new PapBearerError(`the PPG answered for push-id "${response.pushId}", not "${pushId}"`, true, code, http);
    }
    if (code === 2007) return; // this very push is already at the PPG (module comment)
    const action = papCodeAction(code);
    if (action === 'accepted') return;
    throw new PapBearerError(`the PPG answered ${code} ${desc}`, action === 'retry', code, http, action === 'retry' ? after : undefined);
  }
}
