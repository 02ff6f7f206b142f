import type { MmscConfig } from '../../config/mmsc.js';
import type { LogFn } from '../../mmsc/log.js';
import type { Metrics } from '../../mmsc/metrics.js';
import type { JobPlanner, MmscService } from '../../mmsc/mmsc.js';
import type { Clock, StoredMessage, StoredPart } from '../../mmsc/model.js';
import { deliveryReportJobs, readReportJobs, type DeliveryStatus } from '../../mmsc/reports.js';
import { outboundJobs } from '../../mmsc/routing.js';
import type { Outbox } from '../../outbox/outbox.js';
import type { JobKind, OutboxJob } from '../../outbox/types.js';
import type { KindOptions } from '../../outbox/worker.js';
import { mm3Handler } from '../../outbound/mm3.js';
import { mm4ForwardHandler, mm4ReportHandler, Mm4Transactions, type Mm4Identity, type Mm4PeerTarget } from '../../outbound/mm4.js';
import type { Db1 } from '../../store/db1.js';
import { SmtpFrontend } from './server.js';

/**
 * What MmscNode needs to run SMTP interworking: the outbox kinds 'mm3',
 * 'mm4-forward' and 'mm4-report', the planner that gives a new message its
 * MM3/MM4 jobs, and the SMTP listener. Kept here so node.ts stays a list
 * of components.
 */

export function mm4Identity(config: MmscConfig): Mm4Identity {
  return { domain: config.smtp.domain, systemUser: config.smtp.systemUser };
}

export function peerTargets(config: MmscConfig): Mm4PeerTarget[] {
  return config.smtp.peers.map((p) => ({
    domain: p.domain,
    host: p.host.host,
    port: p.host.port,
    ...(p.outboundUser && p.outboundPassword ? { auth: { user: p.outboundUser, pass: p.outboundPassword } } : {}),
  }));
}

/** A recipient whose next hop refused for good ends `rejected`, in the transaction that fails the job. */
/** What a permanent MM3/MM4 failure does to its recipient (inside the failing job's transaction). */
export type RecipientFailed = (messageId: string, address: string, detail: string) => void;

function rejectOnFailure(db: Db1, what: string, failed?: RecipientFailed): (job: OutboxJob, error: string) => void {
  return (job, error) => {
    if (!job.messageId || !job.address) return;
    // With the core's hook the originator also gets its delivery report (Rejected).
    if (failed) failed(job.messageId, job.address, `${what}: ${error}`);
    else db.setStateNow(job.messageId, job.address, 'rejected', `${what}: ${error}`);
  };
}

/** Content adaptation for MM3 mail (the transcoder with smtp.outbound.adaptProfile). */
export type Mm3Adapt = (message: StoredMessage, parts: StoredPart[]) => Promise<StoredPart[]>;

export function smtpJobKinds(config: MmscConfig, db: Db1, clock: Clock, failed?: RecipientFailed, adapt?: Mm3Adapt): Partial<Record<JobKind, KindOptions>> {
  const { smtp } = config;
  const identity = mm4Identity(config);
  const peers = peerTargets(config);
  const timeoutMs = smtp.outbound.timeout;
  const smarthost = smtp.outbound.smarthost;
  return {
    mm3: {
      handler: smarthost
        ? mm3Handler({
            lookup: db,
            smarthost: { host: smarthost.host, port: smarthost.port },
            domain: smtp.domain,
            bounceAddress: smtp.outbound.from ?? `mmsc@${smtp.domain}`,
            timeoutMs,
            ...(adapt ? { adapt } : {}),
          })
        : async () => ({ status: 'failed', error: 'no smarthost configured (smtp.outbound.smarthost)' }),
      concurrency: 8,
      onFailed: rejectOnFailure(db, 'MM3', failed),
    },
    'mm4-forward': {
      handler: mm4ForwardHandler({ lookup: db, transactions: new Mm4Transactions(db), identity, peers, clock, timeoutMs }),
      concurrency: 8,
      onFailed: rejectOnFailure(db, 'MM4', failed),
    },
    'mm4-report': { handler: mm4ReportHandler({ identity, peers, clock, timeoutMs }), concurrency: 4 },
  };
}

export function smtpPlanner(config: MmscConfig): JobPlanner {
  return (stored, message) => outboundJobs(stored.messageId, message, config.routing);
}

export interface SmtpFrontendWiring {
  config: MmscConfig;
  service: MmscService;
  db: Db1;
  outbox: Outbox;
  worker: { run(jobs: readonly OutboxJob[]): void };
  log?: LogFn;
  metrics?: Metrics;
}

export function smtpFrontend(w: SmtpFrontendWiring): SmtpFrontend {
  let reportTid = 0;
  return new SmtpFrontend({
    smtp: w.config.smtp,
    routing: w.config.routing,
    ttl: w.config.ttl,
    mmsc: w.service,
    store: w.db,
    transactions: new Mm4Transactions(w.db),
    outbox: { enqueue: async (jobs) => w.worker.run(await w.outbox.enqueue(jobs)) },
    // A peer's report about a message we forwarded: on to our originator, in its own protocol.
    onPeerReport: async ({ messageId, address, kind, status }) => {
      const message = w.db.getMessage(messageId);
      if (!message) return;
      const at = w.service.clock.now();
      reportTid = (reportTid + 1) & 0xff;
      const jobs =
        kind === 'delivery'
          ? deliveryReportJobs(message, address, status as DeliveryStatus, at, reportTid)
          : readReportJobs(message, address, status === 'Read' ? 'Read' : 'Deleted-without-being-read', at, reportTid);
      if (jobs.length > 0) w.worker.run(await w.outbox.enqueue(jobs));
    },
    ...(w.log ? { log: w.log } : {}),
    ...(w.metrics ? { metrics: w.metrics } : {}),
  });
}
