/**
 * The archive flow end to end (issue 8): server 1 (MmscNode, archive mode
 * `synchronized`, a no-op notifier) forwards each subscriber's message to
 * server 2 (ArchiveNode) as an MM7 DeliverReq from its durable outbox;
 * server 2 commits it to DB2 and answers 1000; server 1 marks the link
 * archived in DB1.
 *
 *   node dist/bench/archive.js [--n N] [--rate R] [--seconds S] [--rounds K]
 *                              [--connections C] [--concurrency F] [--server2 child|same]
 *
 * Defaults: N 2,000, R 500/s, S 4 s, K 2 rounds, C 32 MM7 connections, F the
 * outbox's own concurrency for 'archive-forward' (256; --concurrency
 * overrides it for this run, through MmscNode's jobKinds option, to see
 * how group-commit batch size moves the figures).
 *
 * Two subscribers on server 2: one on a plan that keeps everything
 * ("full"), one on a plan that keeps images only, and only the first
 * (extraction on server 2, on arrival). Each message is a text part and
 * two ~10 KB JPEGs of noise made by sharp. Server 1 runs with the
 * archive link's defaults otherwise: enrichment on (notice, album link,
 * EXIF geolocation looked up in the images), extraction on server 2.
 * First line: fsync'd commits per second of this disk, the floor under
 * both databases' group commits. Per subscriber and round:
 *
 *  (a) drain — server 1's outbox worker is stopped, N messages are
 *      accepted over MM7 as fast as C keep-alive connections go (each an
 *      'archive-forward' job committed with the message, plus its no-op
 *      push), then the worker is started: forwards archived per second is
 *      N over the time from start() to the last forward done (the worker's
 *      'job-done' log event, emitted after DB1 committed the link as
 *      archived), as after a restart with a backlog. DB2's record count is
 *      checked to have grown by exactly N.
 *      Baseline, same run, same subscriber: the raw rate of POSTing the
 *      same DeliverReq bodies (encodeArchiveForward over the parts stored
 *      in DB1, built before timing, unique LinkedIDs) straight to server 2
 *      with the outbox's own concurrency for 'archive-forward', over
 *      keep-alive node:http sockets as server 1 does. "drain / direct" is then the share of
 *      server 2's own rate that survives server 1's work per forward
 *      (reading DB1, building the request, decoding the answer, committing
 *      the link).
 *  (b) replication lag — messages submitted open-loop at R/s for S
 *      seconds; lag = time of the forward's 'job-done' minus time the
 *      client read the SubmitRsp, so it runs from the sender's answer to
 *      server 2's DeliverRsp plus server 1's commit of it (an upper bound
 *      of SubmitRsp → DeliverRsp). A forward done before the client read
 *      its SubmitRsp counts as 0 and is counted aside.
 *
 * Rounds alternate the order of the two subscribers (and of baseline and
 * drain), so a load spike on this shared machine hits all sides alike.
 *
 * Processes: server 2 runs in a child process by default (--server2 same:
 * in this process), because that is how the two nodes are deployed and
 * because on a 2-core machine one event loop would otherwise carry both
 * servers' MM7 codecs and both databases' commits. The MM7 client shares
 * server 1's process: during the drain it is idle; at 500/s it costs the
 * accept path a little. Both processes' CPU time per phase is printed, to
 * show which side is the bottleneck, with forwards per group commit of DB2
 * and DB1 (each commit's fsync blocks its node's event loop: better-sqlite3
 * is synchronous). Run with `node --cpu-prof` to profile
 * both (the child inherits the flag).
 *
 * Targets, printed and never enforced (exit 0): ≥ 2,000 forwards archived/s
 * in the drain; lag p99 < 200 ms at 500 messages/s.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { decodeMm7Http, encodeMm7Http } from '../protocol/mm7/http.js';
import type { MimeEntity } from '../protocol/mm7/mime-types.js';
import Database from 'better-sqlite3';
import sharp from 'sharp';
import { ArchiveNode } from '../src/archive/node.js';
import { encodeArchiveForward } from '../src/archive/forward.js';
import { loadArchiveConfig } from '../src/config/archive.js';
import { loadMmscConfig } from '../src/config/mmsc.js';
import { archiveJobKey } from '../src/mmsc/archiving.js';
import { MmscNode } from '../src/mmsc/node.js';
import type { JobKind } from '../src/outbox/types.js';
import type { KindOptions } from '../src/outbox/worker.js';
import { fmt, median, parseArgs, positiveInt, text, type Flags } from './harness.js';
import { submitEnvelope } from './submit-req.js';

const TARGET_RATE = 2000;
const TARGET_P99_MS = 200;
const USER = 'demo';
const PASSWORD = 'demo';
const AUTH = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;
const SERVE_ARCHIVE = '--serve-archive';

interface Variant {
  name: string;
  address: string;
  plan: string;
}

const VARIANTS: readonly Variant[] = [
  { name: 'full plan', address: '+15550001111', plan: 'full' },
  { name: 'extraction (images only, first 1)', address: '+15550003333', plan: 'first-image' },
];

interface Opts {
  n: number;
  rate: number;
  seconds: number;
  rounds: number;
  connections: number;
  /** 'archive-forward' jobs at once; default: the outbox's own (archiving.ts). */
  concurrency?: number;
  server2: 'child' | 'same';
}

const FLAGS: Flags<Opts> = {
  '--n': ['n', positiveInt],
  '--rate': ['rate', positiveInt],
  '--seconds': ['seconds', positiveInt],
  '--rounds': ['rounds', positiveInt],
  '--connections': ['connections', positiveInt],
  '--concurrency': ['concurrency', positiveInt],
  '--server2': [
    'server2',
    (raw, flag) => {
      const v = text(raw, flag);
      if (v !== 'child' && v !== 'same') throw new Error(`${flag} is child or same`);
      return v;
    },
  ],
};
const USAGE = '--n N --rate R --seconds S --rounds K --connections C --concurrency F --server2 child|same';

// ------------------------------------------------------------- server 2

function archiveNode(dir: string): ArchiveNode {
  return new ArchiveNode({
    config: loadArchiveConfig({
      data: dir,
      listen: '127.0.0.1:0',
      mm7: { basic: { user: USER, password: PASSWORD }, loopbackOnly: true },
      api: { token: 'bench' },
      tokens: { secret: randomBytes(24).toString('hex') },
      plans: [{ name: 'full' }, { name: 'first-image', extraction: { types: ['image/*'], maxImages: 1 } }],
      demo: { subscriptions: VARIANTS.map((v) => ({ address: v.address, plan: v.plan })) },
    }),
  });
}

interface Server2Report {
  count: number;
  cpuMs: number;
  /** DB2 group commits so far. */
  commits: number;
}

/** Server 2 as the bench sees it, in a child process or in this one. */
interface Server2 {
  port: number;
  report(): Promise<Server2Report>;
  stop(): Promise<void>;
}

const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

async function server2Here(dir: string): Promise<Server2> {
  const node = archiveNode(dir);
  await node.start();
  return { port: node.port, report: async () => ({ count: node.db.countMessages(), cpuMs: NaN, commits: node.db.stats.commits }), stop: () => node.stop() };
}

/** The child's side: serves until the parent says stop; answers `report` with DB2's count and its CPU time. */
async function serveArchive(dir: string): Promise<void> {
  const node = archiveNode(dir);
  await node.start();
  process.send!({ port: node.port });
  process.on('message', (m: { id: number; cmd: 'report' | 'stop' }) => {
    if (m.cmd === 'report') process.send!({ id: m.id, count: node.db.countMessages(), cpuMs: cpuMs(), commits: node.db.stats.commits });
    else void node.stop().then(() => process.send!({ id: m.id }, () => process.disconnect()));
  });
}

async function server2Child(dir: string): Promise<Server2> {
  // execArgv is inherited: `node --cpu-prof` profiles the child too.
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), [SERVE_ARCHIVE, dir], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m) => resolve((m as { port: number }).port));
    child.once('exit', (code) => reject(new Error(`server 2 exited ${code} before listening`)));
  });
  let seq = 0;
  const call = <T>(cmd: 'report' | 'stop'): Promise<T> =>
    new Promise((resolve) => {
      const id = ++seq;
      const on = (m: unknown): void => {
        if ((m as { id?: number }).id !== id) return;
        child.off('message', on);
        resolve(m as T);
      };
      child.on('message', on);
      child.send({ id, cmd });
    });
  return {
    port,
    report: () => call<Server2Report>('report'),
    stop: async () => {
      const exited = new Promise((r) => child.once('exit', r));
      await call('stop');
      await exited;
    },
  };
}

// ------------------------------------------------------------- MM7 client

/** A real JPEG of noise (so the EXIF look-up of the enrichment reads a real header), about 10 KB. */
async function noiseJpeg(): Promise<Buffer> {
  const side = 100;
  return sharp(randomBytes(side * side * 3), { raw: { width: side, height: side, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
}

const images: Buffer[] = [];

function content(): MimeEntity {
  return {
    mediaType: 'multipart/mixed',
    params: {},
    headers: [],
    parts: [
      { mediaType: 'text/plain', params: { charset: 'utf-8' }, contentId: 't1@bench', headers: [], body: Buffer.from('Two photos for the archive.') },
      { mediaType: 'image/jpeg', params: {}, contentId: 'i1@bench', contentLocation: 'one.jpg', headers: [], body: images[0]! },
      { mediaType: 'image/jpeg', params: {}, contentId: 'i2@bench', contentLocation: 'two.jpg', headers: [], body: images[1]! },
    ],
  };
}

/** SubmitReqs to one address, built once; each request is a copy with a fresh TransactionID of the same length. */
class Submits {
  #seq = 0;
  readonly #at: number;
  private constructor(
    readonly contentType: string,
    private readonly template: Buffer,
    private readonly tag: string,
  ) {
    this.#at = template.indexOf(`${tag}-${'0'.repeat(10)}`);
    if (this.#at < 0) throw new Error('no TransactionID placeholder');
  }

  static async create(to: string, tag: string): Promise<Submits> {
    const env = submitEnvelope(`${tag}-${'0'.repeat(10)}`, { vaspId: 'demo', vasId: 'demo', shortCode: '12345', to });
    const { contentType, body } = await encodeMm7Http(env, content());
    return new Submits(contentType, body, tag);
  }

  next(): Buffer {
    const body = Buffer.from(this.template);
    body.write(`${this.tag}-${String(++this.#seq).padStart(10, '0')}`, this.#at, 'latin1');
    return body;
  }
}

const MESSAGE_ID = /<(?:[\w-]+:)?MessageID>([^<]+)</;
const ACCEPTED = /<(?:[\w-]+:)?StatusCode>1000</;

/** A POST over `agent`: a SubmitReq (its Content-Type given) or a forward (its headers given). */
function post(url: URL, agent: Agent, type: string | Record<string, string>, body: Buffer): Promise<{ status: number; contentType: string; body: string }> {
  const headers = typeof type === 'string' ? { 'Content-Type': type, SOAPAction: '""', Authorization: AUTH } : type;
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent, headers: { ...headers, 'Content-Length': String(body.length) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: res.headers['content-type'] ?? '', body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * A request that met a keep-alive connection the server had just closed
 * (ECONNRESET/EPIPE before any answer) is sent again, as is: the same
 * TransactionID or LinkedID is answered as a duplicate, never stored twice.
 */
async function again<T>(send: () => Promise<T>, tries = 3): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await send();
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? ((e as Error).cause as NodeJS.ErrnoException | undefined)?.code;
      if (i >= tries || (code !== 'ECONNRESET' && code !== 'EPIPE' && code !== 'UND_ERR_SOCKET')) throw e;
    }
  }
}

/** One SubmitReq; resolves with the message id and when the client read the answer. */
async function submit(url: URL, agent: Agent, submits: Submits): Promise<{ messageId: string; at: number; ms: number }> {
  const body = submits.next();
  const t0 = performance.now();
  const r = await again(() => post(url, agent, submits.contentType, body));
  const at = performance.now();
  const id = MESSAGE_ID.exec(r.body)?.[1];
  if (r.status !== 200 || !ACCEPTED.test(r.body) || id === undefined) throw new Error(`SubmitReq not accepted: HTTP ${r.status} ${r.body.slice(0, 300)}`);
  return { messageId: id, at, ms: at - t0 };
}

// ------------------------------------------------------------------ forwards seen done

/** Times of the 'archive-forward' job-done events, by job key, and waiters for sets of keys. */
class Forwards {
  readonly doneAt = new Map<string, number>();
  readonly #waiters = new Set<{ keys: Set<string>; resolve: () => void }>();

  readonly log = (e: Record<string, unknown>): void => {
    if (e.event !== 'job-done' || e.kind !== 'archive-forward') return;
    const key = String(e.key);
    this.doneAt.set(key, performance.now());
    for (const w of this.#waiters) {
      w.keys.delete(key);
      if (w.keys.size === 0) {
        this.#waiters.delete(w);
        w.resolve();
      }
    }
  };

  /** Resolves true when every key is done, false after `ms`. */
  wait(keys: readonly string[], ms: number): Promise<boolean> {
    const left = new Set(keys.filter((k) => !this.doneAt.has(k)));
    if (left.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const w = { keys: left, resolve: () => (clearTimeout(timer), resolve(true)) };
      const timer = setTimeout(() => (this.#waiters.delete(w), resolve(false)), ms);
      this.#waiters.add(w);
    });
  }
}

// ------------------------------------------------------------------ phases

function percentile(sorted: readonly number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]! : NaN;
}

const msf = (n: number): string => (Number.isFinite(n) ? `${n.toFixed(1)} ms` : 'n/a');
const load = (): string => loadavg().map((x) => x.toFixed(2)).join(', ');

interface Ctx {
  opts: Opts;
  node: MmscNode;
  server2: Server2;
  forwards: Forwards;
  mm7: URL;
  agent: Agent;
  /** Keep-alive sockets to server 2 for the direct baseline, as many as server 1's forwards in flight (as archiving.ts posts). */
  archiveAgent: Agent;
  archiveUrl: string;
  /** The 'archive-forward' concurrency of server 1's outbox (archiving.ts). */
  concurrency: number;
  submits: Map<string, Submits>;
  subscription: Map<string, string>;
}

/** `n` submits over `connections` workers; message ids in order of the answers. */
async function submitMany(c: Ctx, v: Variant, n: number): Promise<{ ids: string[]; ms: number }> {
  const submits = c.submits.get(v.address)!;
  const ids: string[] = [];
  let started = 0;
  const t0 = performance.now();
  const worker = async (): Promise<void> => {
    while (started < n) {
      started++;
      ids.push((await submit(c.mm7, c.agent, submits)).messageId);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, c.opts.connections) }, worker));
  return { ids, ms: performance.now() - t0 };
}

/** The DeliverReq bodies server 1 would send for this subscriber's message `sample`, with fresh LinkedIDs. */
async function directBodies(c: Ctx, v: Variant, sample: string, n: number): Promise<Array<{ headers: Record<string, string>; body: Buffer }>> {
  const db = c.node.store;
  const m = db.getMessage(sample)!;
  const parts = db.getParts(sample);
  const tag = randomBytes(4).toString('hex');
  const out: Array<{ headers: Record<string, string>; body: Buffer }> = [];
  for (let i = 0; i < n; i++) {
    const r = await encodeArchiveForward(
      {
        release: 'REL-6-MM7-1-4',
        transactionId: `direct-${tag}-${i}`,
        recipient: v.address,
        subscriptionId: c.subscription.get(v.address)!,
        originalMessageId: `direct-${tag}-${i}`,
        sender: m.envelope.from,
        date: m.envelope.date,
        ...(m.envelope.subject !== undefined ? { subject: m.envelope.subject } : {}),
        contentType: m.envelope.contentType,
        parts,
        // As server 1 sends them (archive.transferEncoding, default binary).
        binary: true,
      },
      { kind: 'basic', user: USER, password: PASSWORD },
    );
    out.push({ headers: r.headers, body: r.body });
  }
  return out;
}

interface RateResult {
  rate: number;
  ms: number;
  s1CpuMs: number;
  s2CpuMs: number;
  /** Group commits during the phase: DB1's (all writes: links, outbox rows, pushes; NaN: not in the path) and DB2's. */
  db1Commits: number;
  db2Commits: number;
}

/** The baseline: the same bodies POSTed straight to server 2, `concurrency` at a time. */
async function direct(c: Ctx, bodies: ReadonlyArray<{ headers: Record<string, string>; body: Buffer }>): Promise<RateResult> {
  const before = await c.server2.report();
  const cpu0 = cpuMs();
  let next = 0;
  let refused = 0;
  const url = new URL(c.archiveUrl);
  const t0 = performance.now();
  const worker = async (): Promise<void> => {
    while (next < bodies.length) {
      const b = bodies[next++]!;
      const answer = (await again(() => post(url, c.archiveAgent, b.headers, b.body))).body;
      if (!ACCEPTED.test(answer)) refused++;
    }
  };
  await Promise.all(Array.from({ length: c.concurrency }, worker));
  const ms = performance.now() - t0;
  const s1CpuMs = cpuMs() - cpu0;
  const after = await c.server2.report();
  if (refused > 0 || after.count - before.count !== bodies.length) throw new Error(`direct POSTs: ${refused} refused, DB2 grew by ${after.count - before.count} of ${bodies.length}`);
  return { rate: (bodies.length * 1000) / ms, ms, s1CpuMs, s2CpuMs: after.cpuMs - before.cpuMs, db1Commits: NaN, db2Commits: after.commits - before.commits };
}

/** (a): a backlog of n accepted messages drained by server 1's outbox worker. */
async function drain(c: Ctx, v: Variant, n: number): Promise<RateResult & { acceptRate: number; complete: boolean }> {
  await c.node.outboxWorker.stop();
  const { ids, ms: acceptMs } = await submitMany(c, v, n);
  const keys = ids.map((id) => archiveJobKey(id, v.address));
  const before = await c.server2.report();
  const db1Before = c.node.store.stats.commits;
  const cpu0 = cpuMs();
  const t0 = performance.now();
  c.node.outboxWorker.start();
  const complete = await c.forwards.wait(keys, 120_000);
  const last = Math.max(...keys.map((k) => c.forwards.doneAt.get(k) ?? performance.now()));
  const s1CpuMs = cpuMs() - cpu0;
  const after = await c.server2.report();
  const ms = last - t0;
  if (complete && after.count - before.count !== n) throw new Error(`drain: DB2 grew by ${after.count - before.count}, expected ${n}`);
  const db1Commits = c.node.store.stats.commits - db1Before;
  return { rate: (keys.filter((k) => c.forwards.doneAt.has(k)).length * 1000) / ms, ms, s1CpuMs, s2CpuMs: after.cpuMs - before.cpuMs, db1Commits, db2Commits: after.commits - before.commits, acceptRate: (n * 1000) / acceptMs, complete };
}

interface LagResult {
  lags: number[];
  early: number;
  sent: number;
  achievedRate: number;
  acceptMs: number[];
  missing: number;
}

/** (b): open-loop submits at `rate`/s for `seconds`; lag from each SubmitRsp to its forward done. */
async function steady(c: Ctx, v: Variant, rate: number, seconds: number): Promise<LagResult> {
  const submits = c.submits.get(v.address)!;
  const total = rate * seconds;
  const answers: Array<Promise<{ messageId: string; at: number; ms: number }>> = [];
  const t0 = performance.now();
  while (answers.length < total) {
    const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * rate) + 1);
    while (answers.length < due) {
      const answer = submit(c.mm7, c.agent, submits);
      answer.catch(() => undefined); // handled by the Promise.all below, once every submit is sent
      answers.push(answer);
    }
    await new Promise((r) => setTimeout(r, 2));
  }
  const sendMs = performance.now() - t0;
  const done = await Promise.all(answers);
  const keys = done.map((d) => archiveJobKey(d.messageId, v.address));
  await c.forwards.wait(keys, 60_000);
  const lags: number[] = [];
  let early = 0;
  let missing = 0;
  done.forEach((d, i) => {
    const at = c.forwards.doneAt.get(keys[i]!);
    if (at === undefined) return void missing++;
    if (at < d.at) early++;
    lags.push(Math.max(0, at - d.at));
  });
  return { lags: lags.sort((a, b) => a - b), early, sent: total, achievedRate: (total * 1000) / sendMs, acceptMs: done.map((d) => d.ms).sort((a, b) => a - b), missing };
}

/** Reference for the disk: fsync'd commits per second (WAL, synchronous=FULL, one 20 KB row each), as DB1 and DB2 commit. */
function commitsPerSecond(dir: string, n = 200): number {
  const db = new Database(join(dir, 'fsync-reference.sqlite'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, data BLOB NOT NULL)');
  const insert = db.prepare('INSERT INTO t (data) VALUES (?)');
  const row = randomBytes(20 * 1024);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) insert.run(row);
  const ms = performance.now() - t0;
  db.close();
  return (n * 1000) / ms;
}

// ------------------------------------------------------------------ main

async function main(): Promise<void> {
  const opts = parseArgs<Opts>(process.argv.slice(2), { n: 2000, rate: 500, seconds: 4, rounds: 2, connections: 32, server2: 'child' }, FLAGS, USAGE);
  const started = performance.now();
  const loadBefore = load();
  images.push(await noiseJpeg(), await noiseJpeg());
  const fsyncDir = mkdtempSync(join(tmpdir(), 'mmsc-bench-archive-fsync-'));
  const commitRate = commitsPerSecond(fsyncDir);
  rmSync(fsyncDir, { recursive: true, force: true });
  const dir1 = mkdtempSync(join(tmpdir(), 'mmsc-bench-archive-1-'));
  const dir2 = mkdtempSync(join(tmpdir(), 'mmsc-bench-archive-2-'));
  const server2 = opts.server2 === 'child' ? await server2Child(dir2) : await server2Here(dir2);
  const forwards = new Forwards();
  const archiveBase = `http://127.0.0.1:${server2.port}`;
  const node: MmscNode = new MmscNode({
    config: loadMmscConfig({
      data: dir1,
      mm7: { listen: '127.0.0.1:0' },
      mm1: { listen: '127.0.0.1:0' },
      admin: { listen: '127.0.0.1:0' },
      ttl: { default: '1h' },
      archive: { mode: 'synchronized', url: archiveBase, auth: { kind: 'basic', user: USER, password: PASSWORD }, apiToken: 'bench', timeout: '30s' },
      vasps: [{ vaspId: 'demo', vasIds: ['demo'], user: USER, password: PASSWORD, shortCodes: ['12345'], loopbackOnly: true, submitsPerSecond: 1e6 }],
    }),
    notifier: { notify: async () => {} },
    log: forwards.log,
    // Same handler, another concurrency: jobKinds is applied after the archive kinds, which exist by then.
    ...(opts.concurrency !== undefined ? { jobKinds: (): Partial<Record<JobKind, KindOptions>> => ({ 'archive-forward': { ...node.archive!.kinds()['archive-forward'], concurrency: opts.concurrency } }) } : {}),
  });
  const listeners = await node.start();
  await node.subscriptionSync!.pull();
  const subscription = new Map<string, string>();
  for (const v of VARIANTS) {
    const id = node.store.getSubscriber(v.address)?.archiveSubscriptionId;
    if (!id) throw new Error(`${v.address}: the subscription did not reach DB1`);
    subscription.set(v.address, id);
  }
  const concurrency = opts.concurrency ?? node.archive!.kinds()['archive-forward'].concurrency ?? 16;
  const tag = randomBytes(3).toString('hex');
  const c: Ctx = {
    opts,
    node,
    server2,
    forwards,
    mm7: new URL(listeners.find((l) => l.what.startsWith('MM7'))!.url),
    agent: new Agent({ keepAlive: true, maxSockets: Math.max(opts.connections, 256) }),
    archiveAgent: new Agent({ keepAlive: true, maxSockets: concurrency }),
    archiveUrl: `${archiveBase}/mm7`,
    concurrency,
    subscription,
    submits: new Map(await Promise.all(VARIANTS.map(async (v, i) => [v.address, await Submits.create(v.address, `a${i}${tag}`)] as const))),
  };

  // Check what is measured: one message per subscriber, archived, parsed in full.
  const samples = new Map<string, string>();
  for (const v of VARIANTS) {
    const s = c.submits.get(v.address)!;
    const r = await post(c.mm7, c.agent, s.contentType, s.next());
    const answer = (await decodeMm7Http(r.contentType, Buffer.from(r.body))).envelope.message;
    const id = MESSAGE_ID.exec(r.body)?.[1];
    if (answer.status?.code !== 1000 || answer.messageId !== id || id === undefined) throw new Error(`SubmitRsp not read right: ${r.body.slice(0, 400)}`);
    if (!(await forwards.wait([archiveJobKey(id, v.address)], 30_000))) throw new Error(`${v.name}: the first forward was not archived`);
    samples.set(v.address, id);
  }

  // The flags (npm run bench:archive passes bin/mmsc's --max-semi-space-size) reach server 2's child too: fork() inherits them.
  console.log(`node ${process.version} ${process.execArgv.join(' ')}, ${availableParallelism()} cores; load average before: ${loadBefore}`);
  console.log(
    `server 1: in-process MmscNode (DB1 WAL, each group commit fsynced before its answers, no-op notifier), archive mode synchronized, 'archive-forward' concurrency ${concurrency}; ` +
      `server 2: ArchiveNode ${opts.server2 === 'child' ? 'in a child process' : 'in this process'} (DB2 WAL, each group commit fsynced before its DeliverRsps)`,
  );
  console.log(`disk reference: ${fmt(commitRate)} fsync'd SQLite commits/s (WAL, synchronous=FULL, one 20 KB row each, one at a time)`);
  console.log(`message: text + two JPEGs of ${images.map((i) => fmt(i.length)).join(' and ')} octets (${fmt(c.submits.get(VARIANTS[0]!.address)!.next().length)}-octet SubmitReq; DeliverReq ${fmt((await directBodies(c, VARIANTS[0]!, samples.get(VARIANTS[0]!.address)!, 1))[0]!.body.length)} octets)`);
  console.log(`drain: N = ${fmt(opts.n)} accepted over ${opts.connections} MM7 connections with the worker stopped, then drained; steady: ${opts.rate}/s for ${opts.seconds} s; ${opts.rounds} rounds`);

  // Warm-up: JIT, connections, both databases' first pages.
  for (const v of VARIANTS) {
    await direct(c, await directBodies(c, v, samples.get(v.address)!, Math.min(200, opts.n)));
    await drain(c, v, Math.min(200, opts.n));
  }

  const results = new Map(VARIANTS.map((v) => [v.name, { drains: [] as Array<Awaited<ReturnType<typeof drain>>>, directs: [] as RateResult[], lags: [] as LagResult[] }]));
  for (let round = 0; round < opts.rounds; round++) {
    const order = round % 2 === 0 ? VARIANTS : [...VARIANTS].reverse();
    for (const v of order) {
      const r = results.get(v.name)!;
      const batch = await directBodies(c, v, samples.get(v.address)!, opts.n);
      if (round % 2 === 0) {
        r.directs.push(await direct(c, batch));
        r.drains.push(await drain(c, v, opts.n));
      } else {
        r.drains.push(await drain(c, v, opts.n));
        r.directs.push(await direct(c, batch));
      }
      r.lags.push(await steady(c, v, opts.rate, opts.seconds));
    }
  }

  const verdict = (ok: boolean): string => (ok ? 'PASS' : 'FAIL');
  const cpu = (r: RateResult, n: number): string =>
    `CPU per forward: server 1 ${((r.s1CpuMs * 1000) / n).toFixed(0)} µs, server 2 ${Number.isFinite(r.s2CpuMs) ? `${((r.s2CpuMs * 1000) / n).toFixed(0)} µs` : 'n/a (same process)'}; ` +
    `forwards per commit: DB2 ${(n / Math.max(1, r.db2Commits)).toFixed(1)}${Number.isFinite(r.db1Commits) ? `, DB1 ${(n / Math.max(1, r.db1Commits)).toFixed(1)}` : ''}`;
  const targets: string[] = [];
  for (const v of VARIANTS) {
    const r = results.get(v.name)!;
    console.log('');
    console.log(`${v.name} (${v.address}):`);
    r.drains.forEach((d, i) => {
      const b = r.directs[i]!;
      console.log(
        `  round ${i + 1}: drain ${fmt(d.rate).padStart(6)} forwards archived/s (${fmt(opts.n)} in ${d.ms.toFixed(0)} ms${d.complete ? '' : ', INCOMPLETE after 120 s'}; accepted at ${fmt(d.acceptRate)}/s), ` +
          `direct to server 2 ${fmt(b.rate).padStart(6)}/s: ratio ${(d.rate / b.rate).toFixed(2)}`,
      );
      console.log(`           drain ${cpu(d, opts.n)}; direct ${cpu(b, opts.n)}`);
    });
    const drainRate = median(r.drains.map((d) => d.rate));
    const ratio = median(r.drains.map((d, i) => d.rate / r.directs[i]!.rate));
    console.log(`  drain (median) ${fmt(drainRate)}/s; direct (median) ${fmt(median(r.directs.map((d) => d.rate)))}/s; drain / direct ${ratio.toFixed(2)}`);
    const lags = r.lags.flatMap((l) => l.lags).sort((a, b) => a - b);
    const acc = r.lags.flatMap((l) => l.acceptMs).sort((a, b) => a - b);
    const early = r.lags.reduce((n, l) => n + l.early, 0);
    const missing = r.lags.reduce((n, l) => n + l.missing, 0);
    const p99 = percentile(lags, 0.99);
    console.log(
      `  steady ${opts.rate}/s (achieved ${r.lags.map((l) => fmt(l.achievedRate)).join(', ')}/s, ${fmt(lags.length)} messages): lag SubmitRsp → archived p50 ${msf(percentile(lags, 0.5))}, p99 ${msf(p99)}, max ${msf(lags[lags.length - 1] ?? NaN)}` +
        `${early ? `; ${early} archived before the client read the SubmitRsp (counted 0)` : ''}${missing ? `; ${missing} NOT archived within 60 s` : ''}`,
    );
    console.log(`  steady accept latency (SubmitReq → SubmitRsp) p50 ${msf(percentile(acc, 0.5))}, p99 ${msf(percentile(acc, 0.99))}`);
    targets.push(`  ${v.name}: ≥ ${fmt(TARGET_RATE)} forwards archived/s: ${fmt(drainRate)}/s ${verdict(drainRate >= TARGET_RATE)}${drainRate < TARGET_RATE ? ` (${((drainRate / TARGET_RATE) * 100).toFixed(0)} % of the target)` : ''}`);
    targets.push(`  ${v.name}: lag p99 < ${TARGET_P99_MS} ms at ${opts.rate}/s: ${msf(p99)} ${verdict(p99 < TARGET_P99_MS && missing === 0)}`);
  }
  console.log('');
  console.log('targets:');
  for (const line of targets) console.log(line);
  const s = node.store.stats;
  console.log(`DB1: ${fmt(s.writes)} writes in ${fmt(s.commits)} commits (largest batch ${s.largestBatch}); DB2 records: ${fmt((await server2.report()).count)}`);
  console.log(`load average after: ${load()}`);

  c.agent.destroy();
  c.archiveAgent.destroy();
  await node.stop();
  await server2.stop();
  rmSync(dir1, { recursive: true, force: true });
  rmSync(dir2, { recursive: true, force: true });
  console.log(`(${((performance.now() - started) / 1000).toFixed(1)} s)`);
}

if (process.argv[2] === SERVE_ARCHIVE) await serveArchive(process.argv[3]!);
else await main();
