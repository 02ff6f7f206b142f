/**
 * The durable outbox of server 1 (DESIGN.md: "outbox delivery is
 * at-least-once and the receiver is idempotent"). Everything that leaves
 * the MMS-C after the sender got its answer goes through it: WAP pushes,
 * reports and DeliverReqs to VASPs, MM3 mail, MM4 forwards and reports,
 * forwards to the archive node. A job is a row in DB1, written in the same
 * transaction as what caused it, so an acknowledged message never loses
 * its notification or its forward; it is deleted (done) or marked failed
 * only after its handler said so.
 */

/** What a job does; each kind has one handler in the worker. */
export type JobKind =
  /** A WAP push (M-Notification.ind, M-Delivery.ind, M-Read-Orig.ind) to a terminal, through a bearer. */
  | 'push'
  /** MM7 DeliveryReportReq to a VASP. */
  | 'mm7-delivery-report'
  /** MM7 ReadReplyReq to a VASP. */
  | 'mm7-read-reply'
  /** MM7 DeliverReq to a VASP (a terminal wrote to its short code). */
  | 'mm7-deliver'
  /** MM3: the message as e-mail to an e-mail recipient. */
  | 'mm3'
  /** MM4_forward.REQ to a peer MMS-C. */
  | 'mm4-forward'
  /** MM4_forward.RES, MM4_delivery_report.REQ, MM4_read_reply_report.REQ to a peer MMS-C. */
  | 'mm4-report'
  /** Step a of the archive flow, unsynchronized mode: ask the archive node for the subscription. */
  | 'archive-lookup'
  /** Step c: the message as an MM7 DeliverReq to the archive node. */
  | 'archive-forward';

export interface NewJob {
  kind: JobKind;
  /**
   * Unique per kind: enqueuing a key that is already there is a no-op, so
   * a retried request never doubles a job (e.g. `<messageId>/<address>`).
   */
  key: string;
  messageId?: string;
  address?: string;
  /** JSON-serialisable; binary as base64 strings. */
  payload: unknown;
  /** Not before (default: now). */
  dueAt?: Date;
  /** After this the job fails instead of retrying (default: never; e.g. the message's expiry). */
  giveUpAt?: Date;
  /**
   * While this job is pending the TTL sweeper does not destroy its message
   * (the retention guard of the archive flow).
   */
  holdsMessage?: boolean;
}

export interface OutboxJob {
  id: number;
  kind: JobKind;
  key: string;
  messageId: string | null;
  address: string | null;
  payload: unknown;
  /** Attempts started so far, this one included. */
  attempts: number;
  createdAt: Date;
  giveUpAt: Date | null;
  holdsMessage: boolean;
  lastError: string | null;
  /** The request that caused it, while this process runs it (never stored): its log lines carry the id. */
  requestId?: string;
}

/** What a handler says about one attempt. */
export type JobOutcome =
  /** Done: the peer took responsibility; the job is deleted. */
  | { status: 'done'; detail?: string }
  /** Try again later (peer down, throttled, 5xx): after `afterMs`, or the worker's backoff. */
  | { status: 'retry'; error: string; afterMs?: number }
  /** Permanent failure (peer said no for good): the job is kept as failed and not retried. */
  | { status: 'failed'; error: string };

/** A handler must not throw for expected failures; a throw counts as `retry` with the error's message. */
export type JobHandler = (job: OutboxJob) => Promise<JobOutcome>;
