import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { AdminServer } from '../admin/server.js';
import type { MmscConfig } from '../config/mmsc.js';
import { Mm1Frontend } from '../frontends/mm1/server.js';
import { Mm7Frontend } from '../frontends/mm7/server.js';
import { SpoolNotifier, type Notifier } from '../push/notifier.js';
import { Db1 } from '../store/db1.js';
import { Metrics } from './metrics.js';
import { MmscService, type Transcoder } from './mmsc.js';
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
  readonly listeners: Listener[] = [];
  readonly metrics: Metrics;

  constructor(private readonly opts: MmscNodeOptions) {
    this.metrics = opts.metrics ?? new Metrics();
  }

  get store(): Db1 {
    if (!this.db) throw new Error('MmscNode is not started');
    return this.db;
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

    // MM1 first: its address is the base of every Content-Location.
    let retrieveBase = config.mm1.publicUrl?.replace(/\/$/, '') ?? '';
    const service = new MmscService({
      store: this.db,
      notifier,
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
    await this.service?.drain();
    this.db?.close();
    this.db = undefined;
  }
}
