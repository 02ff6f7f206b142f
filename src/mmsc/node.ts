import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { AdminServer } from '../admin/server.js';
import type { MmscConfig } from '../config/mmsc.js';
import { Mm1Frontend } from '../frontends/mm1/server.js';
import { Mm7Frontend } from '../frontends/mm7/server.js';
import { SpoolNotifier, type Notifier } from '../push/notifier.js';
import { Db1 } from '../store/db1.js';
import { Outbox } from '../outbox/outbox.js';
import { OutboxWorker, type KindOptions } from '../outbox/worker.js';
import type { JobKind } from '../outbox/types.js';
import { pushJobHandler } from '../push/push-job.js';
import { Metrics } from './metrics.js';
import { MmscService, type JobPlanner, type PushPayload, type Transcoder } from './mmsc.js';
import { systemClock, type Clock } from './model.js';
import { Sweeper } from './sweeper.js';

export interface MmscNodeOptions {
  config: MmscConfig;
  clock?: Clock;
  notifier?: Notifier;
  transcoder?: Transcoder;
  log?: (event: Record<string, unknown>) => void;
  /** This node's instruments (default: a fresh registry per node); served at the admin listener's /metrics. */
  metrics?: Metrics;
  /** Outbox job kinds beyond 'push' (outbound MM3/MM4, VASP reports, archive forwards), given DB1. */
  jobKinds?: (db: Db1) => Partial<Record<JobKind, KindOptions>>;
  /** Jobs a new message brings beyond its notifications, given DB1. */
  planners?: (db: Db1) => JobPlanner[];
  /** Retry backoff of the outbox (tests shorten it). */
  backoff?: { baseMs?: number; maxMs?: number };
}

export interface Listener {
  what: string;
  url: string;
}

/**
 * Server 1 of DESIGN.md as one object: start() opens DB1 and the
 * listeners, stop() stops accepting, lets requests and notifications in
 * flight finish, and closes the database. Several can run in one process
 * (tests) on port 0.
 */
export class MmscNode {
  private db: Db1 | undefined;
  private mm7: Mm7Frontend | undefined;
  private mm1: Mm1Frontend | undefined;
  private sweeper: Sweeper | undefined;
  private service: MmscService | undefined;
  private admin: AdminServer | undefined;
  private worker: OutboxWorker | undefined;
  private box: Outbox | undefined;
  readonly listeners: Listener[] = [];
  readonly metrics: Metrics;

  constructor(private readonly opts: MmscNodeOptions) {
    this.metrics = opts.metrics ?? new Metrics();
  }

  get store(): Db1 {
    if (!this.db) throw new Error('MmscNode is not started');
    return this.db;
  }

  get outbox(): Outbox {
    if (!this.box) throw new Error('MmscNode is not started');
    return this.box;
  }

  get outboxWorker(): OutboxWorker {
    if (!this.worker) throw new Error('MmscNode is not started');
    return this.worker;
  }

  async start(): Promise<Listener[]> {
    const { config } = this.opts;
    const clock = this.opts.clock ?? systemClock;
    const log = this.opts.log;
    const dataDir = resolve(config.data);
    mkdirSync(dataDir, { recursive: true });
    const db = (this.db = Db1.open(join(dataDir, 'mmsc.sqlite'), { clock }));
    this.metrics.watchStore(() => (db.ping() ? db.totals() : undefined));
    const notifier = this.opts.notifier ?? new SpoolNotifier(resolve(config.notifier.dir ?? join(dataDir, 'spool')), clock);
    const outbox = (this.box = new Outbox(db, clock));
    const worker = (this.worker = new OutboxWorker({
      outbox,
      clock,
      ...(this.opts.backoff ? { backoff: this.opts.backoff } : {}),
      ...(log ? { log } : {}),
      kinds: {
        push: {
          handler: pushJobHandler(notifier),
          concurrency: 64,
          onDone: (job) => {
            const p = job.payload as PushPayload;
            if (job.messageId && job.address && p.carries === 'm-notification-ind') {
              db.setStateNow(job.messageId, job.address, 'notified', 'push handed to the bearer');
              log?.({ event: 'notified', messageId: job.messageId, to: job.address });
            }
          },
          onFailed: (job, error) => {
            const p = job.payload as PushPayload;
            if (job.messageId && job.address && p.carries === 'm-notification-ind') db.setStateNow(job.messageId, job.address, 'unroutable', `notification failed: ${error}`);
          },
        },
        ...this.opts.jobKinds?.(db),
      },
    }));

    // MM1 first: its address is the base of every Content-Location.
    let retrieveBase = config.mm1.publicUrl?.replace(/\/$/, '') ?? '';
    const service = new MmscService({
      store: this.db,
      outbox,
      worker,
      planners: this.opts.planners?.(db) ?? [],
      clock,
      get retrieveBase() {
        return retrieveBase;
      },
      ...(this.opts.transcoder ? { transcoder: this.opts.transcoder } : {}),
      ...(log ? { log } : {}),
    });
    this.service = service;
    const common = { routing: config.routing, ttl: config.ttl, mmsc: service, metrics: this.metrics, ...(log ? { log } : {}) };
    this.mm1 = new Mm1Frontend({ ...common, host: config.mm1.listen.host, port: config.mm1.listen.port, maxBodyOctets: config.mm1.maxBodyOctets, msisdnHeader: config.mm1.msisdnHeader });
    const mm1Port = await this.mm1.start();
    const mm1Url = `http://${config.mm1.listen.host}:${mm1Port}`;
    if (!retrieveBase) retrieveBase = mm1Url;
    this.mm7 = new Mm7Frontend({
      ...common,
      host: config.mm7.listen.host,
      port: config.mm7.listen.port,
      path: config.mm7.path,
      maxBodyOctets: config.mm7.maxBodyOctets,
      vasps: config.vasps,
      store: this.db,
    });
    const mm7Port = await this.mm7.start();
    // Jobs left pending by an earlier run (a crash, a stop mid-retry) go out now.
    worker.start();
    this.sweeper = new Sweeper(this.db, clock, config.ttl.sweepEvery, log, this.metrics);
    this.sweeper.start();
    const { admin } = config;
    this.admin = new AdminServer({ host: admin.listen.host, port: admin.listen.port, store: db, metrics: this.metrics, token: admin.token, loopbackOnly: admin.loopbackOnly, log });
    const adminPort = await this.admin.start();
    this.listeners.push(
      { what: 'MM7 (VASPs)', url: `http://${config.mm7.listen.host}:${mm7Port}${config.mm7.path}` },
      { what: 'MM1 (terminals)', url: `${mm1Url}/` },
      { what: 'admin/metrics', url: `http://${admin.listen.host}:${adminPort}/` },
    );
    return this.listeners;
  }

  /** Runs the TTL sweeper now (tests drive it with an injected clock). */
  sweep(): Promise<number> {
    if (!this.sweeper) throw new Error('MmscNode is not started');
    return this.sweeper.sweep();
  }

  async stop(): Promise<void> {
    this.sweeper?.stop();
    await Promise.all([this.mm7?.stop(), this.mm1?.stop(), this.admin?.stop()]);
    await this.worker?.stop();
    this.db?.close();
    this.db = undefined;
  }
}
