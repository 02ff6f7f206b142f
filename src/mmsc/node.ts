import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { AdminServer } from '../admin/server.js';
import { ConfigError, type MmscConfig } from '../config/mmsc.js';
import { Mm1Frontend } from '../frontends/mm1/server.js';
import { Mm7Frontend } from '../frontends/mm7/server.js';
import type { SmtpFrontend } from '../frontends/smtp/server.js';
import { smtpFrontend, smtpJobKinds, smtpPlanner, type Mm3Adapt } from '../frontends/smtp/wiring.js';
import type { Notifier } from '../push/notifier.js';
import { buildBearers, type Bearers } from '../push/bearers.js';
import { Db1 } from '../store/db1.js';
import { Outbox } from '../outbox/outbox.js';
import { OutboxWorker, type KindOptions } from '../outbox/worker.js';
import type { JobKind } from '../outbox/types.js';
import { pushJobHandler } from '../push/push-job.js';
import { vaspJobHandlers } from '../outbound/vasp-client.js';
import { readImageGeolocation } from '../transcode/exif.js';
import { jpegFirstGeolocation } from '../archive/exif.js';
import { createTranscoder } from '../transcode/setup.js';
import { TerminalTranscoder } from '../transcode/transcoder.js';
import { Archiving } from './archiving.js';
import { Enricher, withEnrichment } from './enrich.js';
import { PlanRules } from './plans.js';
import { SubscriptionSync } from './sync.js';
import { Metrics } from './metrics.js';
import { MmscService, type JobPlanner, type MmscServiceOptions, type PushPayload, type Transcoder } from './mmsc.js';
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
  private admin: AdminServer | undefined;
  private worker: OutboxWorker | undefined;
  private archiving: Archiving | undefined;
  private planRules: PlanRules | undefined;
  private sync: SubscriptionSync | undefined;
  private bearers: Bearers | undefined;
  private box: Outbox | undefined;
  private smtp: SmtpFrontend | undefined;
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

  /** The archive links of server 1 (undefined when archive.mode is off). */
  get archive(): Archiving | undefined {
    return this.archiving;
  }

  /** Server 2's plan rules, read when server 1 extracts (undefined unless archive.extraction.where is server1). */
  get archivePlans(): PlanRules | undefined {
    return this.planRules;
  }

  /** DB1's side of the subscription sync (undefined when archive.mode is off). */
  get subscriptionSync(): SubscriptionSync | undefined {
    return this.sync;
  }

  private enricherFor(): Enricher | undefined {
    const a = this.opts.config.archive;
    if (a.mode === 'off' || !a.enrichment.enabled) return undefined;
    const { notice, link, geolocation, senderLocations, senderLocationUrl } = a.enrichment;
    return new Enricher({ notice, link, geolocation, senderLocations, timeoutMs: a.timeout, ...(senderLocationUrl !== undefined ? { senderLocationUrl } : {}) }, jpegFirstGeolocation(readImageGeolocation));
  }

  private archivingFor(db: Db1, outbox: Outbox, clock: Clock, kick: () => void, enricher: Enricher | undefined): Archiving | undefined {
    const a = this.opts.config.archive;
    if (a.mode === 'off') return undefined;
    if (a.extraction.where === 'server1') {
      this.planRules = new PlanRules({
        url: a.url,
        apiToken: a.apiToken,
        pullEveryMs: a.pullEvery,
        timeoutMs: a.timeout,
        local: a.extraction.plans,
        ...(this.opts.log ? { log: this.opts.log } : {}),
      });
    }
    const planRules = this.planRules;
    this.archiving = new Archiving({
      ...(planRules ? { planRules: (plan: string) => planRules.rulesFor(plan) } : {}),
      db,
      outbox,
      clock,
      kick,
      ...(enricher ? { enricher } : {}),
      config: {
        mode: a.mode,
        url: a.url,
        path: a.path,
        auth: a.auth,
        apiToken: a.apiToken,
        release: a.release,
        transferEncoding: a.transferEncoding,
        service: a.service,
        timeoutMs: a.timeout,
        lookupCacheMs: a.lookupCache,
        extraction: a.extraction,
      },
      ...(this.opts.log ? { log: this.opts.log } : {}),
    });
    return this.archiving;
  }

  private syncFor(db: Db1, clock: Clock): SubscriptionSync | undefined {
    const a = this.opts.config.archive;
    if (a.mode === 'off') return undefined;
    return new SubscriptionSync({ db, clock, url: a.url, apiToken: a.apiToken, pullEveryMs: a.pullEvery, timeoutMs: a.timeout, ...(this.opts.log ? { log: this.opts.log } : {}) });
  }

  async start(): Promise<Listener[]> {
    const { config } = this.opts;
    const clock = this.opts.clock ?? systemClock;
    const log = this.opts.log;
    const dataDir = resolve(config.data);
    mkdirSync(dataDir, { recursive: true });
    const db = (this.db = Db1.open(join(dataDir, 'mmsc.sqlite'), { clock }));
    this.metrics.watchStore(() => (db.ping() ? db.totals() : undefined));
    const bearers = this.opts.notifier ? undefined : buildBearers(config, resolve(config.notifier.dir ?? join(dataDir, 'spool')), clock, log);
    this.bearers = bearers;
    const notifier = this.opts.notifier ?? bearers!.notifier;
    bearers?.start();
    const transcoder = this.opts.transcoder ?? createTranscoder(config.transcoder, db, log);
    const outbox = (this.box = new Outbox(db, clock));
    const enricher = this.enricherFor();
    const archiving = this.archivingFor(db, outbox, clock, () => worker.kick(), enricher);
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
            if (!job.messageId || !job.address || p.carries !== 'm-notification-ind') return undefined;
            db.setStateNow(job.messageId, job.address, 'notified', 'push handed to the bearer');
            // Logged by the worker once durable, in place of job-done: one line per notification, not two.
            return { event: 'notified', messageId: job.messageId, to: job.address };
          },
          onFailed: (job, error) => {
            const p = job.payload as PushPayload;
            // A terminal no bearer can reach: the originator hears Unreachable (issue 5's report statuses).
            if (job.messageId && job.address && p.carries === 'm-notification-ind') service.recipientFailedNow(job.messageId, job.address, 'unroutable', `notification failed: ${error}`, 'Unreachable');
          },
        },
        ...archiving?.kinds(),
        ...vaspKinds(db, config, clock, log),
        ...smtpJobKinds(config, db, clock, (messageId, address, detail) => service.recipientFailedNow(messageId, address, 'rejected', detail, 'Rejected'), mm3Adapt(config, transcoder)),
        ...this.opts.jobKinds?.(db),
      },
    }));
    const sync = (this.sync = this.syncFor(db, clock));

    // MM1 first: its address is the base of every Content-Location.
    let retrieveBase = config.mm1.publicUrl?.replace(/\/$/, '') ?? '';
    const service = new MmscService({
      store: this.db,
      outbox,
      worker,
      planners: [...(archiving ? [archiving.planner] : []), smtpPlanner(config), ...(this.opts.planners?.(db) ?? [])],
      mm4Identity: { domain: config.smtp.domain, systemUser: config.smtp.systemUser },
      ...(archiving && enricher ? { enrich: retrievalEnrichment(archiving, enricher) } : {}),
      clock,
      get retrieveBase() {
        return retrieveBase;
      },
      transcoder,
      ...(log ? { log } : {}),
    });
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
    // SMTP (MM3/MM4): same service, same group commit; its MM4 answers go through the outbox.
    let smtpPort: number | undefined;
    if (config.smtp.enabled) {
      this.smtp = smtpFrontend({ config, service, db, outbox, worker, metrics: this.metrics, ...(log ? { log } : {}) });
      smtpPort = await this.smtp.start();
    }
    // Jobs left pending by an earlier run (a crash, a stop mid-retry) go out now.
    worker.start();
    // Only the synchronized mode reads subscriptions from DB1; DB1's own feed is served in both.
    if (config.archive.mode === 'synchronized') sync?.start();
    this.planRules?.start();
    this.sweeper = new Sweeper(this.db, clock, config.ttl.sweepEvery, log, this.metrics, service, config.ttl.keepTombstones);
    this.sweeper.start();
    const { admin } = config;
    this.admin = new AdminServer({
      host: admin.listen.host,
      port: admin.listen.port,
      store: db,
      metrics: this.metrics,
      token: admin.token,
      loopbackOnly: admin.loopbackOnly,
      log,
      outbox,
      ...(sync ? { sync } : {}),
      ...(archiving ? { archive: archiving } : {}),
    });
    const adminPort = await this.admin.start();
    this.listeners.push(
      { what: 'MM7 (VASPs)', url: `http://${config.mm7.listen.host}:${mm7Port}${config.mm7.path}` },
      { what: 'MM1 (terminals)', url: `${mm1Url}/` },
      { what: 'admin/metrics', url: `http://${admin.listen.host}:${adminPort}/` },
      ...(smtpPort !== undefined ? [{ what: 'SMTP (MM3/MM4)', url: `smtp://${config.smtp.listen.host}:${smtpPort}` }] : []),
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
    await Promise.all([this.mm7?.stop(), this.mm1?.stop(), this.smtp?.stop(), this.admin?.stop()]);
    await this.sync?.stop();
    await this.planRules?.stop();
    // The worker takes no new job from here; closing the bearers then rejects the pushes
    // still waiting for a bind (retryable: they stay in the outbox), so the stop does not wait for them.
    const workerStopped = this.worker?.stop();
    await this.bearers?.close();
    await workerStopped;
    this.archiving?.close();
    this.db?.close();
    this.db = undefined;
  }
}

/** An archive subscriber's retrieval shows the notice, the link to the archive and the geolocation. */
function retrievalEnrichment(archiving: Archiving, enricher: Enricher): NonNullable<MmscServiceOptions['enrich']> {
  return async ({ message, address, original, parts }) => {
    const link = archiving.linkFor(message.messageId, address);
    if (!link) return undefined;
    const additional = await enricher.additionalData({ sender: message.envelope.from, parts: original, archived: link.state === 'archived', archiveId: link.archiveId, archiveLink: link.archiveLink });
    return withEnrichment(message.envelope.contentType, parts, additional);
  };
}

/** Reports and DeliverReqs to VASPs, at the deliveryUrl of their account. */
function vaspKinds(db: Db1, config: MmscConfig, clock: Clock, log: MmscNodeOptions['log']): Partial<Record<JobKind, KindOptions>> {
  const handlers = vaspJobHandlers({
    getMessage: (id) => db.getMessage(id),
    getParts: (id) => db.getParts(id),
    vaspAccount: (id) => config.vasps.find((v) => v.vaspId === id),
    clock,
    ...(log ? { log } : {}),
  });
  return {
    'mm7-delivery-report': { handler: handlers['mm7-delivery-report'], concurrency: 8 },
    'mm7-read-reply': { handler: handlers['mm7-read-reply'], concurrency: 8 },
    'mm7-deliver': { handler: handlers['mm7-deliver'], concurrency: 8 },
  };
}

/** MM3 mail adapted to smtp.outbound.adaptProfile, when set (and the transcoder is the real one). */
function mm3Adapt(config: MmscConfig, transcoder: Transcoder): Mm3Adapt | undefined {
  const name = config.smtp.outbound.adaptProfile;
  if (name === undefined || !(transcoder instanceof TerminalTranscoder)) return undefined;
  const profile = transcoder.opts.profiles.lookup(name);
  if (!profile) throw new ConfigError(`smtp.outbound.adaptProfile: no terminal profile named ${name}`);
  return async (message, parts) => (await transcoder.adaptFor({ messageId: message.messageId, envelope: message.envelope }, parts, { profile, by: 'subscriber' })).parts;
}
