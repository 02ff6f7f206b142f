/**
 * The `smpp` bearer: WAP pushes as binary SMS submitted to an SMSC over
 * SMPP 3.4 (spec README §d.4), with the `smpp` package doing the PDU framing.
 *
 * One bind (transmitter or transceiver) per notifier, kept alive with
 * enquire_link and re-established with exponential backoff. Each push is cut
 * by protocol/wdp into SMS user data (port 2948 UDH, concatenation when it
 * needs more than one SMS) and every segment goes out as a submit_sm with
 * esm_class UDHI (0x40) and data_coding 0x04, at most `window` outstanding
 * and at most `submitsPerSecond`.
 *
 * Truthfulness, which the durable outbox relies on (it retries a rejected
 * notify() and forgets a resolved one):
 *  - notify() RESOLVES only when every segment got submit_sm_resp with
 *    command_status 0 — the SMSC took responsibility for the whole push.
 *  - it REJECTS (SmppBearerError) as soon as one segment is refused, its
 *    response does not come, or the bind carrying it is lost. Segments of
 *    that push still queued are not sent.
 *
 * Why a retried push reaches the handset once: a handset (and our SMSC
 * simulator) only hands a concatenated datagram to WSP when ALL its segments
 * with one reference arrived. A rejected push is resubmitted whole under a
 * NEW reference, so the segments of the failed attempt that did get through
 * form an incomplete set that expires, never a second copy. The one case
 * SMPP cannot rule out is a submit the SMSC accepted whose submit_sm_resp
 * was lost with the connection (or came after responseTimeoutMs): we must
 * report that push as failed, the retry delivers it again. That is
 * at-least-once, the best any ESME can do — SMPP has no idempotency key.
 * An SMSC that answers before it closes (as ours does, and TCP keeps the
 * answer ahead of the FIN) gives exactly once.
 */
/// <reference path="./smpp-package.d.ts" />
import { randomInt } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import smpp from 'smpp';
import { z } from 'zod';
import { ProtocolError } from '../../protocol/errors.js';
import { segment } from '../../protocol/wdp/segment.js';
import { BearerError } from './errors.js';
import type { Notifier, PushRequest } from './notifier.js';

/** command_status values we act on (SMPP 3.4 §5.1.3). */
export const SMPP_STATUS = {
  ESME_ROK: 0x00,
  ESME_RINVMSGLEN: 0x01,
  ESME_RINVCMDID: 0x03,
  ESME_RINVBNDSTS: 0x04,
  ESME_RALYBND: 0x05,
  ESME_RSYSERR: 0x08,
  ESME_RINVSRCADR: 0x0a,
  ESME_RINVDSTADR: 0x0b,
  ESME_RBINDFAIL: 0x0d,
  ESME_RINVPASWD: 0x0e,
  ESME_RINVSYSID: 0x0f,
  ESME_RMSGQFUL: 0x14,
  ESME_RINVESMCLASS: 0x43,
  ESME_RSUBMITFAIL: 0x45,
  ESME_RTHROTTLED: 0x58,
  ESME_RX_T_APPN: 0x64,
  ESME_RX_P_APPN: 0x65,
  ESME_RX_R_APPN: 0x66,
} as const;

const STATUS_NAME = new Map<number, string>(Object.entries(SMPP_STATUS).map(([k, v]) => [v, k]));

/** `ESME_RTHROTTLED (0x58)`, or the bare hex for a status we have no name for. */
export function describeStatus(status: number): string {
  const hex = `0x${status.toString(16).padStart(2, '0')}`;
  const name = STATUS_NAME.get(status);
  return name === undefined ? hex : `${name} (${hex})`;
}

/** SMSC is busy: try again after a pause (the pause is ours to choose, SMPP gives none). */
const BUSY_STATUSES: ReadonlySet<number> = new Set([SMPP_STATUS.ESME_RTHROTTLED, SMPP_STATUS.ESME_RMSGQFUL]);
/** Transient failures of the SMSC rather than of the message. */
const TRANSIENT_STATUSES: ReadonlySet<number> = new Set([
  SMPP_STATUS.ESME_RINVBNDSTS,
  SMPP_STATUS.ESME_RSYSERR,
  SMPP_STATUS.ESME_RSUBMITFAIL,
  SMPP_STATUS.ESME_RX_T_APPN,
]);

/** esm_class bit 6: the short message starts with a user data header. */
export const ESM_CLASS_UDHI = 0x40;
/** data_coding 0x04: 8-bit binary (README §d.3). */
export const DATA_CODING_8BIT = 0x04;
/** SMPP 3.4 in bind interface_version. */
const INTERFACE_VERSION_34 = 0x34;

const ton = z.number().int().min(0).max(6);
const npi = z.number().int().min(0).max(18);
const ms = z.number().int().positive();

/**
 * The `smpp` bearer's configuration (to be merged under `notifier` in
 * src/config/mmsc.ts). No transforms, so a parsed value parses to itself.
 * Field limits are SMPP 3.4's C-Octet String sizes minus the NUL.
 */
export const smppBearerConfigSchema = z.object({
  host: z.string().min(1).default('127.0.0.1'),
  port: z.number().int().min(1).max(65535).default(2775),
  systemId: z.string().max(15).default('mmsc'),
  password: z.string().max(8).default(''),
  systemType: z.string().max(12).default(''),
  bindMode: z.enum(['transmitter', 'transceiver']).default('transmitter'),
  /** Originator of the SMS: TON 5 (alphanumeric) `MMSC` as in spec h.1; a short code would be TON 3. */
  source: z.object({ address: z.string().max(20).default('MMSC'), ton: ton.default(5), npi: npi.default(0) }).prefault({}),
  /** TON/NPI of the recipient; with TON 1 (international) a leading `+` is dropped. */
  destination: z.object({ ton: ton.default(1), npi: npi.default(1) }).prefault({}),
  /** Ask for SMSC delivery receipts (registered_delivery 1); they only say the SMS reached the handset. */
  registeredDelivery: z.boolean().default(false),
  /** submit_sm sent and not yet answered, at most. */
  window: z.number().int().min(1).max(1000).default(10),
  submitsPerSecond: z.number().positive().default(100),
  /** Concatenation reference width (8: what Kannel sends; 16 makes reuse rarer). */
  referenceBits: z.union([z.literal(8), z.literal(16)]).default(8),
  /** Idle time after which an enquire_link is sent. */
  enquireLinkMs: ms.default(30_000),
  /** How long a bind, submit or enquire_link may wait for its response before the link is declared dead. */
  responseTimeoutMs: ms.default(10_000),
  /** A push that finds no bind for this long is rejected (retryable). */
  bindTimeoutMs: ms.default(30_000),
  reconnect: z.object({ initialMs: ms.default(500), maxMs: ms.default(30_000) }).prefault({}),
  /** Pause after ESME_RTHROTTLED / ESME_RMSGQFUL, also the afterMs of the rejection. */
  throttleDelayMs: ms.default(1_000),
});

export type SmppBearerConfig = z.infer<typeof smppBearerConfigSchema>;
/** What the constructor takes: the config with defaults left out, plus hooks. */
export type SmppNotifierOptions = z.input<typeof smppBearerConfigSchema> & {
  log?: (event: Record<string, unknown>) => void;
  /** Called for each SMSC delivery receipt (transceiver binds only). */
  onReceipt?: (receipt: DeliveryReceipt) => void;
};

export interface DeliveryReceipt {
  /** The message_id the SMSC gave the submit. */
  messageId: string;
  /** `stat:` of the receipt text, e.g. DELIVRD, UNDELIV. */
  stat: string;
  /** The handset the SMS was for (the receipt's source_addr). */
  recipient: string;
  text: string;
}

export type SmppBearerErrorCode =
  | 'THROTTLED'
  | 'SUBMIT_FAILED'
  | 'REJECTED'
  | 'BIND_LOST'
  | 'NOT_BOUND'
  | 'RESPONSE_TIMEOUT'
  | 'CLOSED'
  | 'UNENCODABLE';

/** Why a notify() was not acknowledged, and whether to try again. */
export class SmppBearerError extends BearerError {
  override readonly name = 'SmppBearerError';
  constructor(
    readonly code: SmppBearerErrorCode,
    message: string,
    /** True: the same push may succeed later (the outbox retries it). */
    retryable: boolean,
    /** The earliest sensible retry, in ms from now. */
    afterMs?: number,
    /** The SMSC's command_status, when it answered. */
    readonly commandStatus?: number,
  ) {
    super('smpp', message, retryable, afterMs);
  }
}

/**
 * A token bucket: `ratePerSecond` tokens a second, at most `burst` saved up.
 * Pure (time is passed in), so it is unit-tested without a clock.
 */
export class TokenBucket {
  private tokens: number;
  private lastMs: number | undefined;

  constructor(
    readonly ratePerSecond: number,
    readonly burst: number,
  ) {
    if (!(ratePerSecond > 0) || !(burst >= 1)) throw new RangeError('rate must be > 0 and burst >= 1');
    this.tokens = burst;
  }

  /** Takes a token (returns 0) or returns the ms until one is available (takes none). */
  take(nowMs: number): number {
    if (this.lastMs !== undefined) this.tokens = Math.min(this.burst, this.tokens + ((nowMs - this.lastMs) * this.ratePerSecond) / 1000);
    this.lastMs = nowMs;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return ((1 - this.tokens) * 1000) / this.ratePerSecond;
  }
}

interface Job {
  push: PushRequest;
  segments: Buffer[];
  acked: number;
  messageIds: string[];
  done: boolean;
  resolve: () => void;
  reject: (e: SmppBearerError) => void;
  bindTimer: NodeJS.Timeout | undefined;
}

interface Outstanding {
  job: Job;
  index: number;
  sentMs: number;
}

type LinkState = 'idle' | 'connecting' | 'binding' | 'bound' | 'waiting' | 'closed';

/** Queue of segments with O(1) take from the front. */
class SegmentQueue {
  private items: Array<{ job: Job; index: number }> = [];
  private head = 0;
  get length(): number {
    return this.items.length - this.head;
  }
  push(item: { job: Job; index: number }): void {
    this.items.push(item);
  }
  peek(): { job: Job; index: number } | undefined {
    return this.items[this.head];
  }
  shift(): void {
    this.head++;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
  *jobs(): Iterable<Job> {
    for (let i = this.head; i < this.items.length; i++) yield this.items[i]!.job;
  }
  clear(): void {
    this.items = [];
    this.head = 0;
  }
}

export class SmppNotifier implements Notifier {
  readonly config: SmppBearerConfig;
  private readonly log: ((event: Record<string, unknown>) => void) | undefined;
  private readonly onReceipt: ((receipt: DeliveryReceipt) => void) | undefined;
  private state: LinkState = 'idle';
  private session: smpp.Session | undefined;
  /** Bumped per connection, so events of a dead session are ignored. */
  private generation = 0;
  private readonly queue = new SegmentQueue();
  private readonly outstanding = new Map<number, Outstanding>();
  private readonly bucket: TokenBucket;
  private nextRef: number;
  private backoffMs: number;
  private pausedUntilMs = 0;
  private lastReceivedMs = 0;
  private enquireSentMs: number | undefined;
  private pumpTimer: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private tickTimer: NodeJS.Timeout | undefined;
  private boundWaiters: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  /** command_status of the last refused bind, for the NOT_BOUND rejection. */
  private lastBindStatus: number | undefined;
  private lastError: string | undefined;
  readonly stats = { connects: 0, binds: 0, bindsRefused: 0, submits: 0, acknowledged: 0, refused: 0, linksLost: 0 };

  constructor(options: SmppNotifierOptions) {
    const { log, onReceipt, ...config } = options;
    this.config = smppBearerConfigSchema.parse(config);
    this.log = log;
    this.onReceipt = onReceipt;
    this.backoffMs = this.config.reconnect.initialMs;
    // A random first reference: after a restart, an incomplete set of ours still
    // pending on a handset must not be completed by a new datagram.
    this.nextRef = randomInt(this.config.referenceBits === 8 ? 0x100 : 0x10000);
    this.bucket = new TokenBucket(this.config.submitsPerSecond, Math.max(1, Math.ceil(this.config.submitsPerSecond / 50)));
  }

  /** True while the bind is up. */
  get bound(): boolean {
    return this.state === 'bound';
  }

  /** Starts connecting (notify() does it too). */
  start(): void {
    if (this.state === 'idle') this.connect();
  }

  /** Resolves at the next successful bind (at once if bound); rejects if closed first. */
  whenBound(): Promise<void> {
    if (this.state === 'bound') return Promise.resolve();
    if (this.state === 'closed') return Promise.reject(new SmppBearerError('CLOSED', 'the SMPP bearer is closed', true));
    this.start();
    return new Promise((resolve, reject) => this.boundWaiters.push({ resolve, reject }));
  }

  notify(push: PushRequest): Promise<void> {
    if (this.state === 'closed') return Promise.reject(new SmppBearerError('CLOSED', 'the SMPP bearer is closed', true));
    let segments: Buffer[];
    try {
      segments = segment(push.pushPdu, this.takeRef(), { referenceBits: this.config.referenceBits });
    } catch (e) {
      if (e instanceof ProtocolError) return Promise.reject(new SmppBearerError('UNENCODABLE', `push for ${push.to} cannot be sent as SMS: ${e.message}`, false));
      throw e;
    }
    return new Promise<void>((resolve, reject) => {
      const job: Job = { push, segments, acked: 0, messageIds: [], done: false, resolve, reject, bindTimer: undefined };
      for (let i = 0; i < segments.length; i++) this.queue.push({ job, index: i });
      if (this.state !== 'bound') this.armBindTimer(job);
      this.start();
      this.pump();
    });
  }

  /** Unbinds and closes. Pushes not yet acknowledged are rejected (retryable: CLOSED). */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    const session = this.session;
    const wasBound = this.state === 'bound';
    this.state = 'closed';
    this.clearTimers();
    for (const job of this.queue.jobs()) this.fail(job, new SmppBearerError('CLOSED', 'the SMPP bearer was closed before the push was sent', true));
    this.queue.clear();
    if (session !== undefined) {
      if (wasBound) {
        // Answers to submits in flight come before the unbind_resp; wait for it a little.
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.min(1000, this.config.responseTimeoutMs));
          if (!session.send(new smpp.PDU('unbind'), () => (clearTimeout(timer), resolve()))) {
            clearTimeout(timer);
            resolve();
          }
        });
      }
      await new Promise<void>((resolve) => {
        if (session.socket.destroyed) return resolve();
        session.socket.once('close', () => resolve());
        session.close();
        setTimeout(() => session.destroy(), 1000).unref();
      });
    }
    this.failOutstanding(new SmppBearerError('CLOSED', 'the SMPP bearer was closed before the SMSC answered', true));
    this.session = undefined;
    for (const w of this.boundWaiters.splice(0)) w.reject(new SmppBearerError('CLOSED', 'the SMPP bearer was closed before it bound', true));
  }

  // ------------------------------------------------------------ link

  private connect(): void {
    if (this.state === 'closed') return;
    this.state = 'connecting';
    this.stats.connects++;
    const gen = ++this.generation;
    const { host, port } = this.config;
    const session = smpp.connect({ host, port });
    this.session = session;
    const live = (): boolean => gen === this.generation && this.state !== 'closed';
    let bindTimer: NodeJS.Timeout | undefined;

    session.on('connect', () => {
      if (!live()) return;
      this.state = 'binding';
      const bind = new smpp.PDU(this.config.bindMode === 'transceiver' ? 'bind_transceiver' : 'bind_transmitter', {
        system_id: this.config.systemId,
        password: this.config.password,
        system_type: this.config.systemType,
        interface_version: INTERFACE_VERSION_34,
      });
      bindTimer = setTimeout(() => live() && this.linkLost(`no bind response within ${this.config.responseTimeoutMs} ms`), this.config.responseTimeoutMs);
      session.send(bind, (resp) => {
        clearTimeout(bindTimer);
        if (!live()) return;
        if (resp.command_status !== SMPP_STATUS.ESME_ROK) {
          this.stats.bindsRefused++;
          this.lastBindStatus = resp.command_status;
          this.log?.({ event: 'smpp-bind-refused', host, port, status: describeStatus(resp.command_status) });
          this.linkLost(`bind refused: ${describeStatus(resp.command_status)}`);
          return;
        }
        this.onBound();
      });
    });
    session.on('pdu', () => {
      this.lastReceivedMs = performance.now();
    });
    session.on('enquire_link', (pdu) => {
      session.send(pdu.response());
    });
    session.on('deliver_sm', (pdu) => {
      session.send(pdu.response());
      this.receipt(pdu);
    });
    session.on('unbind', (pdu) => {
      session.send(pdu.response());
      if (live()) this.linkLost('the SMSC unbound');
    });
    session.on('error', (e) => {
      this.lastError = e.message;
      // 'close' follows a socket error; a framing error of the package does not close, so close here.
      if (live()) this.linkLost(`connection error: ${e.message}`);
    });
    session.on('close', () => {
      clearTimeout(bindTimer);
      if (live()) this.linkLost(this.lastError ?? 'connection closed');
    });
  }

  private onBound(): void {
    this.state = 'bound';
    this.stats.binds++;
    this.backoffMs = this.config.reconnect.initialMs;
    this.lastError = undefined;
    this.lastReceivedMs = performance.now();
    this.enquireSentMs = undefined;
    this.log?.({ event: 'smpp-bound', host: this.config.host, port: this.config.port, mode: this.config.bindMode });
    const period = Math.max(5, Math.min(1000, this.config.enquireLinkMs / 2, this.config.responseTimeoutMs / 2));
    this.tickTimer = setInterval(() => this.tick(), period);
    this.tickTimer.unref();
    for (const w of this.boundWaiters.splice(0)) w.resolve();
    // Waiting is over for what is queued; a later loss of the bind starts a new clock.
    for (const job of this.queue.jobs()) {
      clearTimeout(job.bindTimer);
      job.bindTimer = undefined;
    }
    this.pump();
  }

  /** The link is gone (or must go): fail what is in flight, keep what is queued, reconnect later. */
  private linkLost(reason: string): void {
    const session = this.session;
    this.session = undefined;
    this.generation++;
    if (this.state === 'bound') this.stats.linksLost++;
    this.state = 'waiting';
    clearInterval(this.tickTimer);
    clearTimeout(this.pumpTimer);
    this.pumpTimer = undefined;
    session?.destroy();
    this.log?.({ event: 'smpp-link-down', reason, retryInMs: this.backoffMs });
    this.failOutstanding(new SmppBearerError('BIND_LOST', `SMPP link lost before the SMSC answered: ${reason}`, true, this.backoffMs));
    for (const job of this.queue.jobs()) if (!job.done) this.armBindTimer(job);
    const jitter = 0.8 + Math.random() * 0.4;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.connect();
    }, Math.round(this.backoffMs * jitter));
    this.backoffMs = Math.min(this.backoffMs * 2, this.config.reconnect.maxMs);
  }

  /** Housekeeping while bound: enquire_link when idle, and response timeouts. */
  private tick(): void {
    const session = this.session;
    if (this.state !== 'bound' || session === undefined) return;
    const now = performance.now();
    const { responseTimeoutMs, enquireLinkMs } = this.config;
    if (this.enquireSentMs !== undefined && now - this.enquireSentMs > responseTimeoutMs) {
      this.linkLost(`no enquire_link_resp within ${responseTimeoutMs} ms`);
      return;
    }
    for (const o of this.outstanding.values()) {
      // Map order is send order: the first one young enough ends the scan.
      if (now - o.sentMs <= responseTimeoutMs) break;
      this.linkLost(`no submit_sm_resp within ${responseTimeoutMs} ms`);
      return;
    }
    if (this.enquireSentMs === undefined && now - this.lastReceivedMs >= enquireLinkMs) {
      this.enquireSentMs = now;
      const gen = this.generation;
      session.send(new smpp.PDU('enquire_link'), () => {
        if (gen === this.generation) this.enquireSentMs = undefined;
      });
    }
  }

  // ------------------------------------------------------------ submits

  private takeRef(): number {
    const ref = this.nextRef;
    this.nextRef = (this.nextRef + 1) % (this.config.referenceBits === 8 ? 0x100 : 0x10000);
    return ref;
  }

  private pump(): void {
    const session = this.session;
    if (this.state !== 'bound' || session === undefined || this.pumpTimer !== undefined) return;
    while (this.outstanding.size < this.config.window) {
      const next = this.queue.peek();
      if (next === undefined) return;
      if (next.job.done) {
        this.queue.shift();
        continue;
      }
      const now = performance.now();
      const wait = now < this.pausedUntilMs ? this.pausedUntilMs - now : this.bucket.take(now);
      if (wait > 0) {
        this.pumpTimer = setTimeout(() => {
          this.pumpTimer = undefined;
          this.pump();
        }, Math.ceil(wait));
        return;
      }
      this.queue.shift();
      if (!this.submit(session, next.job, next.index)) return;
    }
  }

  /** Sends one segment; false when the socket refused it (the link is then torn down). */
  private submit(session: smpp.Session, job: Job, index: number): boolean {
    const { source, destination } = this.config;
    const to = destination.ton === 1 ? job.push.to.replace(/^\+/, '') : job.push.to;
    const pdu = new smpp.PDU('submit_sm', {
      source_addr_ton: source.ton,
      source_addr_npi: source.npi,
      source_addr: source.address,
      dest_addr_ton: destination.ton,
      dest_addr_npi: destination.npi,
      destination_addr: to,
      esm_class: ESM_CLASS_UDHI,
      registered_delivery: this.config.registeredDelivery ? 1 : 0,
      data_coding: DATA_CODING_8BIT,
      short_message: job.segments[index]!,
    });
    const gen = this.generation;
    const sent = session.send(pdu, (resp) => {
      if (gen === this.generation) this.answered(resp);
    });
    if (!sent) {
      // Nothing reached the SMSC: the segment is still pending, it goes out on the next bind.
      this.queue.push({ job, index });
      this.linkLost('socket not writable');
      return false;
    }
    this.stats.submits++;
    this.outstanding.set(pdu.sequence_number, { job, index, sentMs: performance.now() });
    return true;
  }

  private answered(resp: smpp.PDU): void {
    const o = this.outstanding.get(resp.sequence_number);
    if (o === undefined) return;
    this.outstanding.delete(resp.sequence_number);
    const { job } = o;
    const status = resp.command_status;
    if (status === SMPP_STATUS.ESME_ROK) {
      this.stats.acknowledged++;
      job.messageIds[o.index] = resp.message_id ?? '';
      job.acked++;
      if (!job.done && job.acked === job.segments.length) {
        job.done = true;
        clearTimeout(job.bindTimer);
        job.resolve();
      }
    } else {
      this.stats.refused++;
      const what = `submit_sm ${o.index + 1}/${job.segments.length} for ${job.push.to} refused: ${describeStatus(status)}`;
      if (BUSY_STATUSES.has(status)) {
        this.pausedUntilMs = performance.now() + this.config.throttleDelayMs;
        this.fail(job, new SmppBearerError('THROTTLED', what, true, this.config.throttleDelayMs, status));
      } else if (TRANSIENT_STATUSES.has(status)) {
        this.fail(job, new SmppBearerError('SUBMIT_FAILED', what, true, this.config.throttleDelayMs, status));
      } else {
        this.fail(job, new SmppBearerError('REJECTED', what, false, undefined, status));
      }
    }
    this.pump();
  }

  private fail(job: Job, error: SmppBearerError): void {
    if (job.done) return;
    job.done = true;
    clearTimeout(job.bindTimer);
    this.log?.({ event: 'smpp-push-failed', to: job.push.to, messageId: job.push.messageId, code: error.code, retryable: error.retryable, error: error.message });
    job.reject(error);
  }

  private failOutstanding(error: SmppBearerError): void {
    for (const o of this.outstanding.values()) this.fail(o.job, error);
    this.outstanding.clear();
  }

  /** Armed while a job waits for a bind; re-arming does not restart the clock. */
  private armBindTimer(job: Job): void {
    if (job.bindTimer !== undefined) return;
    job.bindTimer = setTimeout(() => {
      job.bindTimer = undefined;
      if (this.state === 'bound' || job.done) return;
      const status = this.lastBindStatus;
      const why = status !== undefined ? `the last bind was refused with ${describeStatus(status)}` : (this.lastError ?? 'no connection');
      this.fail(job, new SmppBearerError('NOT_BOUND', `not bound to the SMSC within ${this.config.bindTimeoutMs} ms (${why})`, true, this.backoffMs, status));
    }, this.config.bindTimeoutMs);
  }

  private clearTimers(): void {
    clearTimeout(this.pumpTimer);
    clearTimeout(this.reconnectTimer);
    clearInterval(this.tickTimer);
    this.pumpTimer = undefined;
  }

  /** A deliver_sm on a transceiver bind: a delivery receipt (esm_class message type 0x04) or nothing for us. */
  private receipt(pdu: smpp.PDU): void {
    if (((pdu.esm_class ?? 0) & 0x3c) !== 0x04) return;
    const sm = pdu.short_message;
    const text = sm === undefined ? '' : typeof sm === 'string' ? sm : Buffer.isBuffer(sm) ? sm.toString('latin1') : String(sm.message);
    const receipt: DeliveryReceipt = {
      messageId: pdu.receipted_message_id ?? /\bid:(\S+)/.exec(text)?.[1] ?? '',
      stat: /\bstat:(\S+)/.exec(text)?.[1] ?? '',
      recipient: pdu.source_addr ?? '',
      text,
    };
    this.log?.({ event: 'smpp-receipt', ...receipt });
    this.onReceipt?.(receipt);
  }
}
