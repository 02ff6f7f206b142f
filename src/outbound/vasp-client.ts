/**
 * The MMS-C as an MM7 client of a VASP: POSTs DeliverReq,
 * DeliveryReportReq and ReadReplyReq to the VASP's `deliveryUrl` with its
 * HTTP Basic credentials, reads the answer and says what the outbox does
 * next:
 *
 *   StatusCode 1000 (or 1100)                               → done
 *   no answer (timeout, refused), HTTP 5xx/408/429 without
 *   an MM7 body, 3xxx server errors, 4006 unavailable       → retry
 *   2xxx client errors, other 4xxx, an answer that is not
 *   the request's Rsp (or a Fault) or does not echo its
 *   TransactionID, any other HTTP status                    → failed, with the reason
 *
 * An MM7 status in the body wins over the HTTP status: SOAP 1.1 sends a
 * Fault with HTTP 500, and that Fault may carry a 2007 that no retry cures.
 */
import { ProtocolError } from '../../protocol/errors.js';
import { RESPONSE_OF } from '../../protocol/mm7/exchange.js';
import { decodeMm7Http, encodeMm7Http } from '../../protocol/mm7/http.js';
import type { MimeEntity } from '../../protocol/mm7/mime-types.js';
import type { Mm7Envelope } from '../../protocol/mm7/model.js';
import { statusText } from '../../protocol/mm7/status.js';
import type { Release } from '../../protocol/mm7/releases.js';
import {
  deliverReq,
  deliveryReportReq,
  readReplyReq,
  releaseForVasp,
  ReportError,
  type DeliveryStatus,
  type Mm7DeliverPayload,
  type Mm7DeliveryReportPayload,
  type Mm7ReadReplyPayload,
  type ReadStatus,
} from '../mmsc/reports.js';
import type { Clock, StoredMessage, StoredPart } from '../mmsc/model.js';
import type { JobHandler, JobOutcome, OutboxJob } from '../outbox/types.js';
import { HttpTransportError, isRetryableHttpStatus, postOnce, retryAfterMs, snippet, type HttpAnswer } from '../push/http.js';

export const DEFAULT_VASP_TIMEOUT_MS = 30_000;

/** Where and how to reach a VASP. */
export interface VaspEndpoint {
  url: string;
  user?: string;
  password?: string;
  timeoutMs?: number;
}

/** What the exchange came to: the outcome for the outbox, and the answer when there was one. */
export interface Mm7Exchange {
  outcome: JobOutcome;
  httpStatus?: number;
  answer?: Mm7Envelope;
}

const RETRY_STATUS = new Set([4006]);

/** The outbox outcome of an MM7 StatusCode in a VASP's answer. */
export function outcomeOfStatus(code: number, text?: string): JobOutcome {
  const what = `MM7 status ${code} ${text ?? statusText(code)}`;
  const cls = Math.floor(code / 1000);
  if (code === 1000 || code === 1100) return { status: 'done', detail: what };
  if (cls === 3 || RETRY_STATUS.has(code)) return { status: 'retry', error: what };
  return { status: 'failed', error: what };
}

/**
 * Judges a VASP's HTTP answer to `request` (pure: no I/O), so the rules
 * above are tested without a server.
 */
export async function classifyMm7Answer(request: Mm7Envelope, answer: HttpAnswer, now: Date): Promise<Mm7Exchange> {
  const httpStatus = answer.status;
  let decoded: Mm7Envelope | undefined;
  let unreadable: string | undefined;
  const contentType = answer.headers.get('content-type');
  if (answer.body.length > 0 && contentType !== null) {
    try {
      decoded = (await decodeMm7Http(contentType, answer.body)).envelope;
    } catch (e) {
      if (!(e instanceof ProtocolError)) throw e;
      unreadable = e.message;
    }
  } else {
    unreadable = answer.body.length === 0 ? 'empty body' : 'no Content-Type';
  }
  if (!decoded) {
    if (isRetryableHttpStatus(httpStatus)) {
      const after = retryAfterMs(answer.headers.get('retry-after'), now);
      const error = `HTTP ${httpStatus}${answer.body.length ? `: ${snippet(answer.body)}` : ''}`;
      return { httpStatus, outcome: after === undefined ? { status: 'retry', error } : { status: 'retry', error, afterMs: after } };
    }
    if (httpStatus >= 200 && httpStatus < 300) return { httpStatus, outcome: { status: 'failed', error: `malformed MM7 answer (HTTP ${httpStatus}): ${unreadable ?? ''}` } };
    return { httpStatus, outcome: { status: 'failed', error: `HTTP ${httpStatus}${answer.body.length ? `: ${snippet(answer.body)}` : ''}` } };
  }
  const expected = RESPONSE_OF[request.message.type];
  const type = decoded.message.type;
  const isError = type === 'VASPErrorRsp' || type === 'RSErrorRsp';
  if (type !== expected && !isError) {
    return { httpStatus, answer: decoded, outcome: { status: 'failed', error: `malformed MM7 answer: ${type} to a ${request.message.type} (expected ${expected ?? '?'})` } };
  }
  if (request.transactionId !== undefined && decoded.transactionId !== undefined && decoded.transactionId !== request.transactionId) {
    return { httpStatus, answer: decoded, outcome: { status: 'failed', error: `malformed MM7 answer: TransactionID "${decoded.transactionId}" answers another request than "${request.transactionId}"` } };
  }
  const status = decoded.message.status;
  if (!status) return { httpStatus, answer: decoded, outcome: { status: 'failed', error: `malformed MM7 answer: ${type} without Status` } };
  const outcome = outcomeOfStatus(status.code, status.text);
  // A success code in a Fault, or with an HTTP error, is a contradiction: not proof of delivery.
  if (outcome.status === 'done' && (isError || httpStatus < 200 || httpStatus >= 300)) {
    return { httpStatus, answer: decoded, outcome: { status: 'failed', error: `malformed MM7 answer: status ${status.code} in ${isError ? 'a Fault' : `HTTP ${httpStatus}`}` } };
  }
  return { httpStatus, answer: decoded, outcome };
}

/** POSTs one MM7 request to a VASP and judges the answer. Never throws for a VASP's failure. */
export async function sendToVasp(endpoint: VaspEndpoint, request: Mm7Envelope, content: MimeEntity | undefined, clock: Clock): Promise<Mm7Exchange> {
  let body: { contentType: string; body: Buffer };
  try {
    body = await encodeMm7Http(request, content);
  } catch (e) {
    // Our own request cannot be written (a release that cannot say a field): no retry changes that.
    if (e instanceof ProtocolError) return { outcome: { status: 'failed', error: `cannot encode the ${request.message.type}: ${e.message}` } };
    throw e;
  }
  const headers: Record<string, string> = { 'content-type': body.contentType, soapaction: '""' };
  if (endpoint.user !== undefined) headers.authorization = `Basic ${Buffer.from(`${endpoint.user}:${endpoint.password ?? ''}`).toString('base64')}`;
  let answer: HttpAnswer;
  try {
    answer = await postOnce(endpoint.url, { headers, body: body.body, timeoutMs: endpoint.timeoutMs ?? DEFAULT_VASP_TIMEOUT_MS });
  } catch (e) {
    if (e instanceof HttpTransportError) return { outcome: { status: 'retry', error: e.message } };
    throw e;
  }
  return classifyMm7Answer(request, answer, clock.now());
}

// ------------------------------------------------------------------ job handlers

/** A VASP account as the handlers need it (config's `vasps[]` entries fit). */
export interface VaspAccountLike {
  vaspId: string;
  vasIds?: string[];
  user: string;
  password: string;
  deliveryUrl?: string;
  releases?: 'all' | Release[];
}

export interface VaspJobDeps {
  getMessage(messageId: string): StoredMessage | undefined;
  getParts(messageId: string): StoredPart[];
  vaspAccount(vaspId: string): VaspAccountLike | undefined;
  clock: Clock;
  /** MMSRelayServerID written in every request. */
  relayServerId?: string;
  timeoutMs?: number;
  log?: (event: Record<string, unknown>) => void;
}

/** The TransactionID of a job's request: the same on every retry, so a VASP can recognise a repeat. */
export function transactionIdOf(job: OutboxJob): string {
  return `mmsc-${job.kind}-${job.id}`;
}

function failed(error: string): JobOutcome {
  return { status: 'failed', error };
}

function endpointOf(account: VaspAccountLike, deps: VaspJobDeps): VaspEndpoint | string {
  if (account.deliveryUrl === undefined) return `VASP ${account.vaspId} has no deliveryUrl configured`;
  return { url: account.deliveryUrl, user: account.user, password: account.password, ...(deps.timeoutMs !== undefined ? { timeoutMs: deps.timeoutMs } : {}) };
}

function isoDate(text: unknown): Date | undefined {
  if (typeof text !== 'string') return undefined;
  const d = new Date(text);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

const DELIVERY_STATUSES: readonly DeliveryStatus[] = ['Expired', 'Retrieved', 'Rejected', 'Deferred', 'Unrecognised', 'Indeterminate', 'Forwarded', 'Unreachable'];
const READ_STATUSES: readonly ReadStatus[] = ['Read', 'Deleted-without-being-read'];

/** A message and the VASP it came from, or why the job cannot go on. */
function originVasp(job: OutboxJob, deps: VaspJobDeps): { message: StoredMessage; account: VaspAccountLike; endpoint: VaspEndpoint } | string {
  if (job.messageId === null || job.address === null) return `${job.kind} job without message id or address`;
  const message = deps.getMessage(job.messageId);
  if (!message) return `message ${job.messageId} is not in the store`;
  const origin = message.envelope.origin;
  if (origin.interface !== 'mm7') return `message ${job.messageId} did not come from a VASP`;
  const account = deps.vaspAccount(origin.vaspId);
  if (!account) return `VASP ${origin.vaspId} is not configured`;
  const endpoint = endpointOf(account, deps);
  return typeof endpoint === 'string' ? endpoint : { message, account, endpoint };
}

async function run(deps: VaspJobDeps, job: OutboxJob, endpoint: VaspEndpoint, request: Mm7Envelope, content?: MimeEntity): Promise<JobOutcome> {
  const exchange = await sendToVasp(endpoint, request, content, deps.clock);
  deps.log?.({ event: job.kind, jobId: job.id, messageId: job.messageId, address: job.address, url: endpoint.url, httpStatus: exchange.httpStatus, outcome: exchange.outcome.status, ...(exchange.outcome.status === 'done' ? {} : { error: exchange.outcome.error }) });
  return exchange.outcome;
}

/** Handler of 'mm7-delivery-report' jobs (payload: Mm7DeliveryReportPayload). */
export function deliveryReportHandler(deps: VaspJobDeps): JobHandler {
  return async (job) => {
    const found = originVasp(job, deps);
    if (typeof found === 'string') return failed(found);
    const p = job.payload as Partial<Mm7DeliveryReportPayload> | null;
    const at = isoDate(p?.at);
    if (!p || !DELIVERY_STATUSES.includes(p.status as DeliveryStatus) || !at) return failed('mm7-delivery-report job with a bad payload');
    let request: Mm7Envelope;
    try {
      request = deliveryReportReq(found.message, job.address!, p.status as DeliveryStatus, at, {
        transactionId: transactionIdOf(job),
        ...(deps.relayServerId !== undefined ? { relayServerId: deps.relayServerId } : {}),
        ...(p.statusText !== undefined ? { statusText: p.statusText } : {}),
      });
    } catch (e) {
      if (e instanceof ReportError) return failed(e.message);
      throw e;
    }
    return run(deps, job, found.endpoint, request);
  };
}

/** Handler of 'mm7-read-reply' jobs (payload: Mm7ReadReplyPayload). */
export function readReplyHandler(deps: VaspJobDeps): JobHandler {
  return async (job) => {
    const found = originVasp(job, deps);
    if (typeof found === 'string') return failed(found);
    const p = job.payload as Partial<Mm7ReadReplyPayload> | null;
    const at = isoDate(p?.at);
    if (!p || !READ_STATUSES.includes(p.readStatus as ReadStatus) || !at) return failed('mm7-read-reply job with a bad payload');
    const request = readReplyReq(found.message, job.address!, p.readStatus as ReadStatus, at, {
      transactionId: transactionIdOf(job),
      ...(deps.relayServerId !== undefined ? { relayServerId: deps.relayServerId } : {}),
    });
    return run(deps, job, found.endpoint, request);
  };
}

/** Handler of 'mm7-deliver' jobs (payload: Mm7DeliverPayload; job.address is the short code). */
export function deliverHandler(deps: VaspJobDeps): JobHandler {
  return async (job) => {
    if (job.messageId === null) return failed('mm7-deliver job without message id');
    const p = job.payload as Partial<Mm7DeliverPayload> | null;
    if (!p || typeof p.vaspId !== 'string') return failed('mm7-deliver job with a bad payload');
    const message = deps.getMessage(job.messageId);
    if (!message) return failed(`message ${job.messageId} is not in the store`);
    const account = deps.vaspAccount(p.vaspId);
    if (!account) return failed(`VASP ${p.vaspId} is not configured`);
    const endpoint = endpointOf(account, deps);
    if (typeof endpoint === 'string') return failed(endpoint);
    let built: { envelope: Mm7Envelope; content: MimeEntity };
    try {
      built = deliverReq(message, deps.getParts(job.messageId), {
        transactionId: transactionIdOf(job),
        release: releaseForVasp(account.releases ?? 'all'),
        vaspId: account.vaspId,
        ...(account.vasIds?.[0] !== undefined ? { vasId: account.vasIds[0] } : {}),
        ...(p.linkedId !== undefined ? { linkedId: p.linkedId } : {}),
        ...(deps.relayServerId !== undefined ? { relayServerId: deps.relayServerId } : {}),
      });
    } catch (e) {
      if (e instanceof ReportError) return failed(e.message);
      throw e;
    }
    return run(deps, job, endpoint, built.envelope, built.content);
  };
}

/** The three handlers, by job kind, for OutboxWorker's `kinds`. */
export function vaspJobHandlers(deps: VaspJobDeps): { 'mm7-delivery-report': JobHandler; 'mm7-read-reply': JobHandler; 'mm7-deliver': JobHandler } {
  return { 'mm7-delivery-report': deliveryReportHandler(deps), 'mm7-read-reply': readReplyHandler(deps), 'mm7-deliver': deliverHandler(deps) };
}
