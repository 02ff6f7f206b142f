/**
 * The outbox's 'push' kind: hands a stored WSP push PDU to the bearer.
 * A bearer says how it failed through `retryable` / `afterMs` on its error
 * (BearerError); anything else it throws is taken as temporary.
 */
import type { PushPayload } from '../mmsc/mmsc.js';
import type { JobHandler, JobOutcome } from '../outbox/types.js';
import type { Notifier } from './notifier.js';

interface FailureHints {
  retryable?: unknown;
  afterMs?: unknown;
}

/** A bearer's error as an outbox outcome. */
export function outcomeOfBearerError(error: unknown): JobOutcome {
  const text = error instanceof Error ? error.message : String(error);
  const hints = (typeof error === 'object' && error !== null ? error : {}) as FailureHints;
  if (hints.retryable === false) return { status: 'failed', error: text };
  const afterMs = typeof hints.afterMs === 'number' && Number.isFinite(hints.afterMs) && hints.afterMs >= 0 ? hints.afterMs : undefined;
  return afterMs === undefined ? { status: 'retry', error: text } : { status: 'retry', error: text, afterMs };
}

export function pushJobHandler(notifier: Notifier): JobHandler {
  return async (job) => {
    const payload = job.payload as PushPayload;
    if (job.address === null || typeof payload?.pdu !== 'string') return { status: 'failed', error: 'push job without address or PDU' };
    try {
      await notifier.notify({ to: job.address, messageId: job.messageId ?? '', pushPdu: Buffer.from(payload.pdu, 'base64') });
      return { status: 'done' };
    } catch (error) {
      return outcomeOfBearerError(error);
    }
  };
}
