/**
 * The MMS-C's Prometheus instruments, on a registry of their own (never
 * prom-client's global one), so several nodes can run in one process.
 * Front ends and the sweeper are handed this object; the admin listener
 * serves `registry.metrics()` at /metrics.
 */
import type { ServerResponse } from 'node:http';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export type FrontendInterface = 'mm7' | 'mm1';

/** What the store holds now: live (not destroyed) messages and their content octets. */
export interface StoreTotals {
  messages: number;
  bytes: number;
}

export class Metrics {
  readonly registry = new Registry();
  /** Messages stored (an idempotent retry is not counted again). */
  readonly accepted: Counter<'interface'>;
  /** Requests refused; reason is an MM7 status code, an M-Send.conf status, or unauthorized / too-large / malformed. */
  readonly rejected: Counter<'interface' | 'reason'>;
  /** M-Retrieve.conf served to a terminal. */
  readonly retrieved: Counter;
  /** Messages destroyed by the TTL sweeper. */
  readonly expired: Counter;
  readonly requestDuration: Histogram<'interface' | 'operation'>;
  #storeTotals: (() => StoreTotals | undefined) | undefined;

  constructor() {
    const registers = [this.registry];
    this.accepted = new Counter({ name: 'mmsc_accepted_total', help: 'Messages accepted into the TTL store', labelNames: ['interface'], registers });
    this.rejected = new Counter({ name: 'mmsc_rejected_total', help: 'Requests refused by a front end', labelNames: ['interface', 'reason'], registers });
    this.retrieved = new Counter({ name: 'mmsc_retrieved_total', help: 'Messages retrieved by terminals', registers });
    this.expired = new Counter({ name: 'mmsc_expired_total', help: 'Messages destroyed by the TTL sweeper', registers });
    this.requestDuration = new Histogram({
      name: 'mmsc_request_duration_seconds',
      help: 'Front end request durations, until the answer is sent',
      labelNames: ['interface', 'operation'],
      registers,
    });
    // Series exist from the start, so rate() works before the first message.
    for (const i of ['mm7', 'mm1'] as const) this.accepted.inc({ interface: i }, 0);
    const totals = (): StoreTotals | undefined => this.#storeTotals?.();
    new Gauge({
      name: 'mmsc_store_messages',
      help: 'Live messages in the TTL store',
      registers,
      collect() {
        const t = totals();
        if (t) this.set(t.messages);
      },
    });
    new Gauge({
      name: 'mmsc_store_bytes',
      help: 'Content octets of the live messages in the TTL store',
      registers,
      collect() {
        const t = totals();
        if (t) this.set(t.bytes);
      },
    });
  }

  /** Where the store gauges read on each scrape (undefined: store closed, gauges keep their last value). */
  watchStore(totals: () => StoreTotals | undefined): void {
    this.#storeTotals = totals;
  }

  /** Observes the request's duration when its response is done (or its connection gone); `operation` is read then. */
  timeRequest(res: ServerResponse, iface: FrontendInterface, operation: () => string): void {
    const end = this.requestDuration.startTimer({ interface: iface });
    res.once('close', () => end({ operation: operation() }));
  }
}
