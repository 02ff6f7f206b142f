/**
 * The one error type every notification bearer (smpp, pap, http) throws
 * when a push did not go out, so the outbox worker can map any bearer's
 * failure to a JobOutcome without knowing the bearer: `retryable` → retry
 * (after `afterMs` when the peer said how long), otherwise failed.
 *
 * Bearers subclass it (SmppBearerError, PapBearerError, ...) to add their
 * protocol's own code; the outbox only reads the fields below
 * (push-job.ts outcomeOfBearerError).
 */
export class BearerError extends Error {
  override readonly name: string = 'BearerError';
  constructor(
    /** The bearer that failed: 'smpp', 'pap', 'http', 'spool', 'select'. */
    readonly bearer: string,
    message: string,
    /** True when the same push may succeed later (peer down, throttled, 5xx). */
    readonly retryable: boolean,
    /** How long the peer asked us to wait, when it said so (HTTP Retry-After, throttling). */
    readonly afterMs?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function isBearerError(error: unknown): error is BearerError {
  return error instanceof BearerError;
}

