/**
 * The `http` bearer, for test labs with their own terminal simulators: the
 * complete connectionless WSP push PDU (TID first, exactly the octets an
 * SMS bearer would split into segments) is POSTed to one URL.
 *
 *   POST <url>
 *   Content-Type: application/vnd.wap.connectionless-push   (configurable)
 *   X-Mms-Recipient: +15550002222        the normalised recipient address
 *   X-Mms-Message-Id: <message id>       the stored message the push is about
 *   Authorization: Bearer <token>        when configured
 *
 *   <WSP push PDU octets>
 *
 * No registered media type names a WSP push PDU, hence the vendor-style
 * default; a lab that expects another sets `contentType`. Any 2xx answer
 * means the receiver took the push. 5xx, 408, 429, a timeout or a refused
 * connection are retried (after Retry-After when given); any other answer
 * is permanent.
 *
 * This module also holds the one POST helper the MMS-C's HTTP clients
 * share (PAP bearer, MM7 client to VASPs).
 */
import { z } from 'zod';
import { BearerError } from './errors.js';
import type { Notifier, PushRequest } from './notifier.js';

export const HTTP_PUSH_CONTENT_TYPE = 'application/vnd.wap.connectionless-push';
export const RECIPIENT_HEADER = 'x-mms-recipient';
export const MESSAGE_ID_HEADER = 'x-mms-message-id';

const DURATION = /^(\d+)(ms|s|m|h)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * `10s`, `500ms`, `1h` → milliseconds, for the bearer configuration
 * fragments: the same form as config/mmsc.ts durations, parsed here so that
 * the configuration module can import these fragments without an import cycle.
 */
export const durationField = z.string().transform((s, ctx) => {
  const m = DURATION.exec(s.trim());
  if (!m) {
    ctx.addIssue({ code: 'custom', message: `"${s}" is not a duration such as 500ms, 10s, 5m or 1h` });
    return z.NEVER;
  }
  return Number(m[1]) * UNIT_MS[m[2]!]!;
});

export const httpBearerConfigSchema = z.object({
  url: z.url(),
  contentType: z.string().min(1).default(HTTP_PUSH_CONTENT_TYPE),
  /** Sent as `Authorization: Bearer <token>`. */
  token: z.string().min(1).optional(),
  timeout: durationField.default(10_000),
});
export type HttpBearerConfig = z.infer<typeof httpBearerConfigSchema>;

// ------------------------------------------------------------ shared POST

/** Largest answer body read from a peer; answers here are a few kilobytes. */
export const MAX_ANSWER_OCTETS = 256 * 1024;

export interface HttpAnswer {
  status: number;
  headers: Headers;
  body: Buffer;
}

/** Why a POST got no HTTP answer at all. */
export class HttpTransportError extends Error {
  override readonly name = 'HttpTransportError';
  constructor(
    readonly reason: 'timeout' | 'connect' | 'too-large' | 'network',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface PostOptions {
  headers: Record<string, string>;
  body: Uint8Array;
  timeoutMs: number;
  maxAnswerOctets?: number;
}

function causeCode(e: unknown): string | undefined {
  const cause = (e as { cause?: { code?: unknown } } | undefined)?.cause;
  return typeof cause?.code === 'string' ? cause.code : undefined;
}

/** One POST and its whole answer (bounded), or an HttpTransportError saying why there was none. */
export async function postOnce(url: string, opts: PostOptions): Promise<HttpAnswer> {
  const limit = opts.maxAnswerOctets ?? MAX_ANSWER_OCTETS;
  let res: Response;
  try {
    res = await fetch(url, { method: 'POST', headers: opts.headers, body: opts.body, signal: AbortSignal.timeout(opts.timeoutMs), redirect: 'manual' });
  } catch (e) {
    if (e instanceof Error && (e.name === 'TimeoutError' || e.name === 'AbortError')) throw new HttpTransportError('timeout', `no answer from ${url} within ${opts.timeoutMs} ms`, { cause: e });
    const code = causeCode(e);
    if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH' || code === 'ECONNRESET') {
      throw new HttpTransportError('connect', `cannot reach ${url}: ${code}`, { cause: e });
    }
    throw new HttpTransportError('network', `POST ${url} failed: ${code ?? (e instanceof Error ? e.message : String(e))}`, { cause: e });
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    if (res.body) {
      for await (const chunk of res.body) {
        size += chunk.length;
        if (size > limit) {
          await res.body.cancel().catch(() => undefined);
          throw new HttpTransportError('too-large', `the answer of ${url} is larger than ${limit} octets`);
        }
        chunks.push(Buffer.from(chunk));
      }
    }
  } catch (e) {
    if (e instanceof HttpTransportError) throw e;
    if (e instanceof Error && (e.name === 'TimeoutError' || e.name === 'AbortError')) throw new HttpTransportError('timeout', `the answer of ${url} did not end within ${opts.timeoutMs} ms`, { cause: e });
    throw new HttpTransportError('network', `reading the answer of ${url} failed: ${causeCode(e) ?? (e instanceof Error ? e.message : String(e))}`, { cause: e });
  }
  return { status: res.status, headers: res.headers, body: Buffer.concat(chunks, size) };
}

/** Retry-After (RFC 9110 §10.2.3) as milliseconds from `now`: delta-seconds or an HTTP-date. */
export function retryAfterMs(value: string | null, now: Date): number | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  if (/^[0-9]{1,9}$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now.getTime());
}

/** HTTP statuses that say "not now" rather than "never". */
export function isRetryableHttpStatus(status: number): boolean {
  return status >= 500 || status === 408 || status === 429;
}

/** One line of an answer body for an error message. */
export function snippet(body: Buffer, max = 200): string {
  const text = body.toString('utf8').replace(/\s+/g, ' ').trim();
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

// ------------------------------------------------------------ the bearer

export class HttpBearerError extends BearerError {
  override readonly name = 'HttpBearerError';
  constructor(
    message: string,
    retryable: boolean,
    /** The HTTP status answered, when there was an answer. */
    readonly httpStatus?: number,
    afterMs?: number,
    options?: { cause?: unknown },
  ) {
    super('http', message, retryable, afterMs, options);
  }
}

export interface HttpNotifierOptions {
  url: string;
  contentType?: string;
  token?: string;
  timeoutMs?: number;
  clock?: { now(): Date };
}

export class HttpNotifier implements Notifier {
  private readonly clock: { now(): Date };

  constructor(private readonly options: HttpNotifierOptions) {
    new URL(options.url); // a bad URL is a configuration error, found at start, not at the first push
    this.clock = options.clock ?? { now: () => new Date() };
  }

  static fromConfig(config: HttpBearerConfig, clock?: { now(): Date }): HttpNotifier {
    return new HttpNotifier({ url: config.url, contentType: config.contentType, ...(config.token !== undefined ? { token: config.token } : {}), timeoutMs: config.timeout, ...(clock ? { clock } : {}) });
  }

  async notify(push: PushRequest): Promise<void> {
    const headers: Record<string, string> = {
      'content-type': this.options.contentType ?? HTTP_PUSH_CONTENT_TYPE,
      [RECIPIENT_HEADER]: push.to,
      [MESSAGE_ID_HEADER]: push.messageId,
    };
    if (this.options.token !== undefined) headers.authorization = `Bearer ${this.options.token}`;
    let answer: HttpAnswer;
    try {
      answer = await postOnce(this.options.url, { headers, body: push.pushPdu, timeoutMs: this.options.timeoutMs ?? 10_000 });
    } catch (e) {
      if (e instanceof HttpTransportError) throw new HttpBearerError(e.message, true, undefined, undefined, { cause: e });
      throw e;
    }
    if (answer.status >= 200 && answer.status < 300) return;
    const retryable = isRetryableHttpStatus(answer.status);
    const after = retryable ? retryAfterMs(answer.headers.get('retry-after'), this.clock.now()) : undefined;
    throw new HttpBearerError(`${this.options.url} answered HTTP ${answer.status}${answer.body.length ? `: ${snippet(answer.body)}` : ''}`, retryable, answer.status, after);
  }
}
