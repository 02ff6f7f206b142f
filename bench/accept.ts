/**
 * MM7 acceptance over loopback HTTP: SubmitReqs (text-only, and with a
 * 30 KB JPEG) posted by N keep-alive connections for a fixed time to the
 * MMS-C's MM7 front end, beside a bare node:http server that reads the same
 * requests and answers a fixed 200, measured in the same run.
 *
 *   node dist/bench/accept.js [--seconds S] [--connections N] [--warmup W] [--log]
 *                             [--external URL [--user U --password P] [--pid PID]]
 *
 * Defaults: 10 s per server and message kind, 50 connections. The time is
 * cut into 1 s slices that alternate between the two servers (order
 * reversed every other pair), so a load spike on this shared machine hits
 * both; the ratio is the median of the slice pairs' accepted/bare rates.
 *
 * Before each kind's slices, a warm-up that is printed but not counted:
 * the gateway is driven for W s (3 by default), the bare server for 1 s.
 * A fresh process is slower for its first seconds on a code path (V8's
 * compiler tiers, the young generation growing to its size): three 4 s
 * photo loads one after the other on one gateway process, each after 1 s
 * of warm-up, had 3.7 %, 0 % and 0.01 % of their requests over 40 ms, and
 * p99s of 62, 29 and 30 ms, the DB1 file growing all along. With 1 s of
 * warm-up, that ramp was a quarter of a 6 s run's photo samples and set its
 * p99. The figures are those of a gateway that has served the kind for W
 * seconds; the warm-up line shows what its first seconds cost.
 *
 * Logging: the gateway's events are counted, not written, unless --log:
 * then each is also a pino JSON line to /dev/null, as `npm start` writes
 * them to stderr (two per message: mm7-accepted, notified; ~5 us each on
 * this machine, a turn's lines in one write), so the figure is what a
 * logging node does.
 *
 * The client's connections are plain sockets speaking keep-alive HTTP/1.1
 * (RawConnection below, as wrk does): with node:http's client the bare
 * server was held to 8,700-15,800 text requests/s by the client itself, which
 * flattered the ratio; with these it answers 18,000-24,000/s.
 *
 * Processes (default): three. The client runs in this process; the
 * gateway (an MmscNode on 127.0.0.1, ports 0, DB1 in a temp directory:
 * WAL, a 1000 answer leaves after the fsync of the WAL, which runs in
 * libuv's thread pool, and checkpoints run in a thread of their own; the
 * demo VASP with submitsPerSecond 1e6; a notifier that does nothing, so
 * WAP-push spooling is not part of the figure) and the bare server each
 * run in a child process of their own. A test lab's traffic comes from
 * other hosts: with the client in the gateway's process, its own work (a
 * 43 KB write per photo request, the largest single item of that
 * process's profile) ran on the gateway's event loop and was counted in
 * the gateway's latency; and a sampler of RSS inside the gateway's process
 * missed the peaks of its synchronous steps. Both servers are driven by the
 * same client, so the ratio compares like with like. RSS is the gateway
 * process's (maxRSS), the 10 MB growth sampled from /proc every 2 ms.
 *
 * --external URL drives an already running gateway (`npm start`, e.g.
 * http://127.0.0.1:8080/mm7) instead; the bare server then runs here. Its
 * VASP must allow the load (the demo account of conf/mmsc.yaml is throttled
 * to 200 submits/s: throttled requests count as errors) and its RSS is not
 * ours: --pid PID samples it from /proc.
 *
 * Every request carries a unique TransactionID (DB1 answers a repeated one
 * as a duplicate, without a new message). Accepted = HTTP 200 with
 * StatusCode 1000. Before the load (so its RSS is not hidden in pages the
 * load left behind), one ~10 MB SubmitReq (a 7.3 MB JPEG, base64) is posted
 * alone: time and RSS growth over 10 MB tell whether the body is buffered
 * once or several times. It is posted three times: the first one's growth
 * (the verdict) also holds SQLite's page cache filling up to its bound and
 * the allocator growing, once; the later ones show the steady state. The
 * gateway scavenges every 2 MiB of such a body when Node runs with
 * --expose-gc (`npm run bench:accept` passes it; src/util/gc-pacer.ts):
 * without it, the socket's chunks, garbage once split, wait for V8's own GC
 * and the growth is about 2x (the body once more).
 *
 * Targets, printed and never enforced (exit 0): text-only acceptance ≥ 15 %
 * of the bare server's rate; p99 < 50 ms at 50 connections; peak RSS
 * < 300 MB; RSS growth for the 10 MB request ≤ 2× its size.
 */
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { Agent, createServer, request, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { encodeMm7Http } from '../protocol/mm7/http.js';
import type { MimeEntity } from '../protocol/mm7/mime-types.js';
import { loadMmscConfig } from '../src/config/mmsc.js';
import { createLogger } from '../src/mmsc/log.js';
import { MmscNode } from '../src/mmsc/node.js';
import { fmt, median, mib, parseArgs, present, text, type Flags, type Reader } from './harness.js';
import { photoContent, submitEnvelope, textContent } from './submit-req.js';

const TARGET_RATIO = 0.15;
const TARGET_P99_MS = 50;
const TARGET_RSS_MB = 300;
/** RSS growth while one 10 MB request is served, in request sizes: held once (plus its decoded content) is streaming; more is copying. */
const TARGET_BIG_GROWTH = 2;
const SLICE_MS = 1000;
const BIG_IMAGE_OCTETS = 7_290_000; // ≈ 10 000 000 octets once base64 in 76-column lines: under the 10 MiB body limit

interface Opts {
  seconds: number;
  connections: number;
  warmup: number;
  log: boolean;
  external?: string;
  user: string;
  password: string;
  pid?: number;
}

/** A positive number (--seconds may be fractional). */
const positive: Reader<number> = (raw, flag) => {
  const v = Number(text(raw, flag));
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${flag} needs a positive number`);
  return v;
};
const rounded: Reader<number> = (raw, flag) => Math.round(positive(raw, flag));

const FLAGS: Flags<Opts> = {
  '--seconds': ['seconds', positive],
  '--connections': ['connections', rounded],
  '--warmup': ['warmup', positive],
  '--log': ['log', present],
  '--external': ['external', (raw, flag) => new URL(text(raw, flag)).href],
  '--user': ['user', text],
  '--password': ['password', text],
  '--pid': ['pid', rounded],
};

const USAGE = '--seconds S --connections N --warmup W --log --external URL --user U --password P --pid PID';

// -------------------------------------------------------------- requests

/**
 * A SubmitReq body built once with a placeholder TransactionID; each
 * request is a copy with a fresh ID of the same length written in, so the
 * client spends a memcpy per request, not a MIME build.
 */
class RequestMaker {
  private seq = 0;
  private readonly at: number;
  private constructor(
    readonly contentType: string,
    private readonly template: Buffer,
    placeholder: string,
    private readonly tag: string,
  ) {
    this.at = template.indexOf(placeholder);
    if (this.at < 0 || template.indexOf(placeholder, this.at + 1) >= 0) throw new Error('the TransactionID placeholder must occur exactly once');
  }

  static async create(content: MimeEntity, tag: string): Promise<RequestMaker> {
    const placeholder = `${tag}-${'0'.repeat(12)}`;
    const env = submitEnvelope(placeholder, { vaspId: 'demo', vasId: 'demo', shortCode: '12345', to: '+15550002222' });
    const { contentType, body } = await encodeMm7Http(env, content);
    return new RequestMaker(contentType, body, placeholder, tag);
  }

  get size(): number {
    return this.template.length;
  }

  next(): Buffer {
    const body = Buffer.from(this.template);
    body.write(`${this.tag}-${String(++this.seq).padStart(12, '0')}`, this.at, 'latin1');
    return body;
  }
}

interface Target {
  name: string;
  url: URL;
  agent: Agent;
  auth: string;
  /** Accepted (counted as a success)? */
  ok: (status: number, body: Buffer) => boolean;
  /** What a success is called in the output. */
  okText: string;
  /** drive()'s keep-alive connections, one per worker, kept from slice to slice. */
  pool?: Array<RawConnection | undefined>;
}

interface Reply {
  status: number;
  body: Buffer;
}

function post(t: Target, contentType: string, body: Buffer): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      t.url,
      {
        method: 'POST',
        agent: t.agent,
        headers: { 'Content-Type': contentType, 'Content-Length': String(body.length), SOAPAction: '""', Authorization: t.auth },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * The load's connections: keep-alive HTTP/1.1 over plain sockets, one
 * request at a time each, written as head + body in one writev and read by
 * Content-Length (both servers always send one), as wrk does. node:http's
 * client cost this process more than the bare server it drove, and a client
 * that saturates adds its own queueing to every latency it measures.
 */
class RawConnection {
  #chunks: Buffer[] = [];
  #octets = 0;
  #waiting: { resolve: (r: Reply) => void; reject: (e: Error) => void } | undefined;
  #failed: Error | undefined;

  private constructor(private readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.#chunks.push(chunk);
      this.#octets += chunk.length;
      this.#answer();
    });
    const fail = (e: Error): void => {
      this.#failed ??= e;
      const w = this.#waiting;
      this.#waiting = undefined;
      w?.reject(e);
    };
    socket.on('error', fail);
    socket.on('close', () => fail(Object.assign(new Error('connection closed'), { code: 'ECONNRESET' })));
  }

  static open(url: URL): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: url.hostname, port: Number(url.port) }, () => {
        socket.off('error', reject);
        resolve(new RawConnection(socket));
      });
      socket.once('error', reject);
    });
  }

  get usable(): boolean {
    return this.#failed === undefined;
  }

  request(head: Buffer, body: Buffer): Promise<Reply> {
    if (this.#failed) return Promise.reject(this.#failed);
    return new Promise((resolve, reject) => {
      this.#waiting = { resolve, reject };
      this.socket.cork();
      this.socket.write(head);
      this.socket.write(body);
      this.socket.uncork();
    });
  }

  /** A whole answer read: status line, headers, Content-Length octets of body. */
  #answer(): void {
    const w = this.#waiting;
    if (!w) return;
    const all = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks, this.#octets);
    this.#chunks = [all];
    const end = all.indexOf('\r\n\r\n');
    if (end < 0) return;
    const head = all.toString('latin1', 0, end);
    const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? NaN);
    if (!Number.isFinite(length)) return w.reject(new Error('an answer without Content-Length'));
    if (all.length < end + 4 + length) return;
    this.#waiting = undefined;
    const rest = all.subarray(end + 4 + length);
    this.#chunks = rest.length > 0 ? [rest] : [];
    this.#octets = rest.length;
    w.resolve({ status: Number(head.slice(9, 12)), body: all.subarray(end + 4, end + 4 + length) });
  }

  close(): void {
    this.socket.destroy();
  }
}

/** The request head for `maker`'s bodies to `target` (they all have the same length). */
function requestHead(target: Target, maker: RequestMaker): Buffer {
  return Buffer.from(
    `POST ${target.url.pathname} HTTP/1.1\r\nHost: ${target.url.host}\r\nContent-Type: ${maker.contentType}\r\nContent-Length: ${maker.size}\r\n` +
      `SOAPAction: ""\r\nAuthorization: ${target.auth}\r\nConnection: keep-alive\r\n\r\n`,
    'latin1',
  );
}

const ACCEPTED = Buffer.from('<StatusCode>1000</StatusCode>');

/** What a failed answer was: HTTP status and MM7 StatusCode, for the error tally. */
function failure(r: Reply): string {
  const code = /<StatusCode>(\d+)<\/StatusCode>/.exec(r.body.toString('latin1'))?.[1];
  return code ? `HTTP ${r.status} / MM7 ${code}` : `HTTP ${r.status}`;
}

// ------------------------------------------------------------------ load

interface Tally {
  ok: number;
  errors: number;
  kinds: Map<string, number>;
  latencies: number[];
  ms: number;
  sliceRates: number[];
}

const newTally = (): Tally => ({ ok: 0, errors: 0, kinds: new Map(), latencies: [], ms: 0, sliceRates: [] });

function countError(t: Tally, kind: string): void {
  t.errors++;
  t.kinds.set(kind, (t.kinds.get(kind) ?? 0) + 1);
}

/** `connections` workers, each posting one request after the other on its own connection until `ms` has passed; adds to `tally` (none: warm-up). */
async function drive(target: Target, maker: RequestMaker, connections: number, ms: number, tally: Tally | undefined): Promise<void> {
  const head = requestHead(target, maker);
  const start = performance.now();
  const deadline = start + ms;
  let ok = 0;
  const pool = (target.pool ??= []);
  const worker = async (i: number): Promise<void> => {
    while (performance.now() < deadline) {
      const body = maker.next();
      const t0 = performance.now();
      try {
        let conn = pool[i];
        if (!conn?.usable) pool[i] = conn = await RawConnection.open(target.url);
        const r = await conn.request(head, body);
        const dt = performance.now() - t0;
        if (!tally) continue;
        if (target.ok(r.status, r.body)) {
          ok++;
          tally.latencies.push(dt);
        } else countError(tally, failure(r));
      } catch (e) {
        if (tally) countError(tally, (e as NodeJS.ErrnoException).code ?? String(e));
        await new Promise((r) => setTimeout(r, 10));
      }
    }
  };
  await Promise.all(Array.from({ length: connections }, (_, i) => worker(i)));
  const elapsed = performance.now() - start;
  if (tally) {
    tally.ok += ok;
    tally.ms += elapsed;
    tally.sliceRates.push((ok * 1000) / elapsed);
  }
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]! : NaN;
}

const msf = (n: number): string => (Number.isFinite(n) ? `${n.toFixed(1)} ms` : 'n/a');

function describe(name: string, t: Tally, note?: string): { p99: number } {
  const sorted = [...t.latencies].sort((a, b) => a - b);
  const p99 = percentile(sorted, 0.99);
  const kinds = [...t.kinds].map(([k, n]) => `${n}× ${k}`).join(', ');
  console.log(
    `  ${name.padEnd(22)} ${fmt((t.ok * 1000) / t.ms).padStart(7)} req/s  p50 ${msf(percentile(sorted, 0.5)).padStart(8)}  p99 ${msf(p99).padStart(8)}  ` +
      `max ${msf(sorted[sorted.length - 1] ?? NaN).padStart(9)}  ok ${fmt(t.ok)}  errors ${t.errors}${kinds ? ` (${kinds})` : ''}${note ? `  (${note})` : ''}`,
  );
  return { p99 };
}

// ---------------------------------------------------------------- memory

let gc: (() => void) | undefined;
try {
  setFlagsFromString('--expose-gc');
  gc = runInNewContext('gc') as () => void;
} catch {
  gc = undefined;
}

function settle(): Promise<void> {
  gc?.();
  return new Promise((r) => setTimeout(r, 50));
}

/** RSS of a process, from /proc; undefined when not readable. */
function rssOf(pid: number): number | undefined {
  if (pid === process.pid) return process.memoryUsage.rss();
  try {
    const kb = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb === undefined ? undefined : Number(kb) * 1024;
  } catch {
    return undefined;
  }
}

// ------------------------------------------------------------ the servers

/** What the servers' process tells at the end. */
interface ServeReport {
  dir: string;
  events: Record<string, number>;
  stats: { writes: number; commits: number; largestBatch: number; failedCommits: number };
}

/** The measured process, as the client sees it. */
interface ServerSide {
  gatewayUrl: URL;
  bareUrl: URL;
  /** Whose RSS the 10 MB request is measured in, per server; undefined: not readable. */
  bigRequestPid(target: 'gateway' | 'bare'): number | undefined;
  dir?: string;
  /** A full GC in the measured process (and here), then a pause. */
  settle(): Promise<void>;
  maxRssMiB(): Promise<number>;
  report(): Promise<ServeReport | undefined>;
  stop(): Promise<void>;
}

const SERVE = '--serve';

/** The bare server: reads the body, answers a fixed SubmitRsp-sized 200. */
async function bareServer(): Promise<{ server: Server; url: URL }> {
  const fixed = Buffer.from(`<?xml version="1.0" encoding="UTF-8"?>\n<env:Envelope>${' '.repeat(600)}</env:Envelope>`);
  const server: Server = createServer((req, res) => {
    req.on('data', () => {});
    req.on('end', () => {
      res.writeHead(200, { 'Content-Type': 'text/xml; charset="utf-8"', 'Content-Length': String(fixed.length) });
      res.end(fixed);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/mm7`) };
}

function closeBare(server: Server): Promise<void> {
  return new Promise<void>((r) => {
    server.close(() => r());
    server.closeAllConnections();
  });
}

/** --external: the gateway runs elsewhere, the bare server here. */
async function bareHere(external: string, pid: number | undefined): Promise<ServerSide> {
  const bare = await bareServer();
  return {
    gatewayUrl: new URL(external),
    bareUrl: bare.url,
    // The bare server is here; without --pid, the gateway's is this process's too (said in the output).
    bigRequestPid: (target) => (target === 'bare' ? process.pid : (pid ?? process.pid)),
    settle,
    maxRssMiB: async () => process.resourceUsage().maxRSS / 1024,
    report: async () => undefined,
    stop: () => closeBare(bare.server),
  };
}

type Command = 'settle' | 'rss' | 'report' | 'stop';

/**
 * A child's side (--serve gateway|bare): one server, until the parent says
 * stop. Each server has a process of its own: sharing one, the bare
 * server's garbage (a 43 KB body per request at 4,000-7,000 requests/s)
 * was collected during the gateway's slices, and the gateway's background
 * work (fsyncs, checkpoints, the outbox) ran during the bare server's.
 */
async function serve(kind: string, user: string, password: string, logLines: boolean): Promise<void> {
  let url: string;
  let stop: () => Promise<void>;
  let report: () => ServeReport | undefined = () => undefined;
  if (kind === 'bare') {
    const bare = await bareServer();
    url = bare.url.href;
    stop = () => closeBare(bare.server);
  } else {
    const dir = mkdtempSync(join(tmpdir(), 'mmsc-bench-accept-'));
    const events: Record<string, number> = {};
    const write = logLines ? createLogger(openSync('/dev/null', 'w')) : undefined;
    const node = new MmscNode({
      config: loadMmscConfig({
        data: dir,
        mm7: { listen: '127.0.0.1:0' },
        mm1: { listen: '127.0.0.1:0' },
        admin: { listen: '127.0.0.1:0' }, // where the schema has an admin listener: not its fixed default port
        vasps: [{ vaspId: 'demo', vasIds: ['demo'], user, password, shortCodes: ['12345'], loopbackOnly: true, submitsPerSecond: 1e6, maxMessageOctets: 16 << 20 }],
      }),
      notifier: { notify: async () => {} },
      log: (e) => {
        events[String(e.event)] = (events[String(e.event)] ?? 0) + 1;
        write?.(e);
      },
    });
    const listeners = await node.start();
    url = listeners.find((l) => l.what.startsWith('MM7'))!.url;
    report = () => {
      const st = node.store.stats;
      return { dir, events, stats: { writes: st.writes, commits: st.commits, largestBatch: st.largestBatch, failedCommits: st.failedCommits } };
    };
    stop = async () => {
      await node.stop();
      rmSync(dir, { recursive: true, force: true });
    };
  }
  process.send!({ url });
  process.on('message', (m: { id: number; cmd: Command }) => {
    const answer = (value: unknown): void => void process.send!({ id: m.id, value });
    if (m.cmd === 'settle') void settle().then(() => answer(null));
    else if (m.cmd === 'rss') answer(process.resourceUsage().maxRSS / 1024);
    else if (m.cmd === 'report') answer(report() ?? null);
    else void stop().then(() => process.send!({ id: m.id, value: null }, () => process.disconnect()));
  });
}

interface Child {
  url: URL;
  pid: number;
  call<T>(cmd: Command): Promise<T>;
}

async function child(kind: 'gateway' | 'bare', opts: Opts): Promise<Child> {
  const proc = fork(fileURLToPath(import.meta.url), [SERVE, kind, opts.user, opts.password, opts.log ? 'log' : 'count'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const ready = await new Promise<{ url: string }>((resolve, reject) => {
    proc.once('message', (m) => resolve(m as { url: string }));
    proc.once('exit', (code) => reject(new Error(`the ${kind} server's process exited ${code} before listening`)));
  });
  let seq = 0;
  return {
    url: new URL(ready.url),
    pid: proc.pid!,
    call: <T>(cmd: Command): Promise<T> =>
      new Promise((resolve) => {
        const id = ++seq;
        const on = (m: unknown): void => {
          if ((m as { id?: number }).id !== id) return;
          proc.off('message', on);
          resolve((m as { value: T }).value);
        };
        proc.on('message', on);
        if (cmd === 'stop') proc.once('exit', () => resolve(null as T));
        proc.send({ id, cmd });
      }),
  };
}

/** The gateway and the bare server, each in a child process of its own; the client is this one. */
async function serverChildren(opts: Opts): Promise<ServerSide> {
  const [gateway, bare] = await Promise.all([child('gateway', opts), child('bare', opts)]);
  const { dir } = await gateway.call<ServeReport>('report');
  return {
    gatewayUrl: gateway.url,
    bareUrl: bare.url,
    bigRequestPid: (target) => (target === 'bare' ? bare.pid : gateway.pid),
    dir,
    settle: async () => {
      await Promise.all([gateway.call('settle'), bare.call('settle')]);
      await settle();
    },
    maxRssMiB: () => gateway.call<number>('rss'),
    report: () => gateway.call<ServeReport>('report'),
    stop: async () => {
      await Promise.all([gateway.call('stop'), bare.call('stop')]);
    },
  };
}

/** One big request alone: time, and the RSS growth of the process that serves it while it is read, parsed and stored. */
async function bigRequest(target: Target, which: 'gateway' | 'bare', maker: RequestMaker, server: ServerSide): Promise<number | undefined> {
  const body = maker.next();
  const pid = server.bigRequestPid(which);
  await server.settle();
  const before = pid === undefined ? undefined : rssOf(pid);
  let peak = before ?? 0;
  const timer = setInterval(() => (peak = Math.max(peak, (pid !== undefined && rssOf(pid)) || 0)), 2);
  const t0 = performance.now();
  let outcome: string;
  try {
    const r = await post(target, maker.contentType, body);
    outcome = target.ok(r.status, r.body) ? target.okText : failure(r);
  } catch (e) {
    outcome = String(e);
  }
  const ms = performance.now() - t0;
  clearInterval(timer);
  peak = Math.max(peak, (pid !== undefined && rssOf(pid)) || 0);
  await server.settle();
  const after = pid === undefined ? undefined : rssOf(pid);
  if (before === undefined || after === undefined) {
    console.log(`  ${target.name.padEnd(22)} ${outcome} in ${ms.toFixed(0)} ms (RSS not readable)`);
    return undefined;
  }
  const growth = peak - before;
  console.log(
    `  ${target.name.padEnd(22)} ${outcome} in ${ms.toFixed(0)} ms; RSS before ${mib(before)}, peak ${mib(peak)}, after ${mib(after)}: ` +
      `peak growth ${mib(growth)} = ${(growth / body.length).toFixed(2)}x the request`,
  );
  return growth / body.length;
}

// ------------------------------------------------------------------ main

async function main(): Promise<void> {
  const opts = parseArgs<Opts>(process.argv.slice(2), { seconds: 10, connections: 50, warmup: 3, log: false, user: 'demo', password: 'demo' }, FLAGS, USAGE);
  const started = performance.now();
  const sliceMs = Math.min(SLICE_MS, opts.seconds * 1000);
  const slices = Math.max(1, Math.round((opts.seconds * 1000) / sliceMs));

  const server: ServerSide = opts.external ? await bareHere(opts.external, opts.pid) : await serverChildren(opts);
  const gatewayUrl = server.gatewayUrl;
  const agentOpts = { keepAlive: true, maxSockets: opts.connections, maxFreeSockets: opts.connections };
  const gateway: Target = {
    name: opts.external ? 'external gateway' : 'MM7 accept (durable)',
    url: gatewayUrl,
    agent: new Agent(agentOpts),
    auth: `Basic ${Buffer.from(`${opts.user}:${opts.password}`).toString('base64')}`,
    ok: (status, body) => status === 200 && body.includes(ACCEPTED),
    okText: 'accepted (1000)',
  };
  const baseline: Target = { name: 'bare node:http 200', url: server.bareUrl, agent: new Agent(agentOpts), auth: gateway.auth, ok: (status) => status === 200, okText: 'answered 200' };

  const tag = randomBytes(6).toString('hex');
  const kinds = [
    { name: 'text-only SubmitReq', maker: await RequestMaker.create(textContent(), `bt${tag}`) },
    { name: 'SubmitReq + 30 KB JPEG', maker: await RequestMaker.create(photoContent(30 * 1024), `bj${tag}`) },
  ];
  const big = await RequestMaker.create(photoContent(BIG_IMAGE_OCTETS), `bb${tag}`);

  // Check what is measured before measuring it.
  for (const k of kinds) {
    const r = await post(gateway, k.maker.contentType, k.maker.next());
    if (!gateway.ok(r.status, r.body)) throw new Error(`${k.name} is not accepted: ${failure(r)} ${r.body.toString('utf8').slice(0, 400)}`);
  }

  console.log(`node ${process.version} ${process.execArgv.join(' ')} (the gateway's child inherits them), ${opts.connections} keep-alive connections (plain sockets, as wrk's), ${opts.seconds} s per server and message, in ${sliceMs} ms slices alternating between the two servers, after ${opts.warmup} s of warm-up of the gateway (1 s of the bare server)`);
  if (opts.external) {
    console.log(`gateway: ${gatewayUrl.href} (external process${opts.pid ? `, pid ${opts.pid}` : ''}); bare server and client in this process`);
  } else {
    console.log(`gateway: MmscNode at ${gatewayUrl.href} in a child process (pid ${server.bigRequestPid('gateway')}), DB1 in ${server.dir} (WAL, fsync per group commit off the event loop, checkpoints in a thread), demo VASP at 1e6 submits/s`);
    console.log('         notifier: a no-op (notify: async () => {}): no WAP push is spooled; the push PDU is still built and the recipient marked notified in DB1');
    console.log(`         log: ${opts.log ? 'each event a pino JSON line to /dev/null (--log), as npm start writes them to stderr' : 'events counted, not written (--log writes them as npm start does)'}`);
    console.log(`bare server: another child process; client: this process (${availableParallelism()} cores in all: the three share them)`);
  }
  console.log('');
  console.log(`one ~10 MB SubmitReq (${big.size.toLocaleString('en-US')} octets, a ${BIG_IMAGE_OCTETS.toLocaleString('en-US')}-octet JPEG in base64), alone:`);
  if (opts.external && opts.pid === undefined) console.log('  (RSS below is this client process; pass --pid to sample the gateway)');
  // The bare server first: it keeps nothing, so it leaves no freed pages for the gateway's run to reuse.
  await bigRequest(baseline, 'bare', big, server);
  // The first meets DB1's page cache (2 MiB) and the allocator still growing to their working
  // size, and its growth counts them; the next ones show what a request adds once they have. The
  // verdict is the first's: a later one can reuse what an earlier one freed, and hide a copy.
  const bigGrowth = await bigRequest(gateway, 'gateway', big, server);
  for (let i = 0; i < 2; i++) await bigRequest(gateway, 'gateway', big, server);

  const verdict = (ok: boolean): string => (ok ? 'PASS' : 'FAIL');
  const results: Array<{ name: string; ratio: number; p99: number }> = [];
  for (const k of kinds) {
    console.log('');
    console.log(`${k.name} (${k.maker.size.toLocaleString('en-US')} octets):`);
    // Warm-up (see the top): connections opened, code paths compiled, the heap grown.
    const warm = newTally();
    await drive(gateway, k.maker, opts.connections, opts.warmup * 1000, warm);
    describe(`${gateway.name.replace(/ \(.*/, '')} warm-up`, warm, `first ${opts.warmup} s, not counted`);
    await drive(baseline, k.maker, opts.connections, Math.min(1000, sliceMs), undefined);
    const g = newTally();
    const b = newTally();
    for (let i = 0; i < slices; i++) {
      const order: Array<[Target, Tally]> = i % 2 === 0 ? [[gateway, g], [baseline, b]] : [[baseline, b], [gateway, g]];
      for (const [t, tally] of order) await drive(t, k.maker, opts.connections, sliceMs, tally);
    }
    const { p99 } = describe(gateway.name, g);
    describe(baseline.name, b);
    const ratio = median(g.sliceRates.map((r, i) => r / b.sliceRates[i]!));
    console.log(`  accepted / bare: ${(ratio * 100).toFixed(1)} % (median of ${slices} slice pairs; totals give ${(((g.ok / g.ms) / (b.ok / b.ms)) * 100).toFixed(1)} %)`);
    console.log(`  peak RSS so far: ${(await server.maxRssMiB()).toFixed(0)} MiB`);
    results.push({ name: k.name, ratio, p99 });
  }


  const text = results[0]!;
  const peakRss = await server.maxRssMiB();
  console.log('');
  console.log('targets:');
  console.log(`  text-only accepted / bare ≥ ${TARGET_RATIO * 100} %: ${(text.ratio * 100).toFixed(1)} % ${verdict(text.ratio >= TARGET_RATIO)}`);
  for (const r of results) {
    console.log(`  p99 < ${TARGET_P99_MS} ms at ${opts.connections} connections (${r.name}): ${msf(r.p99)} ${verdict(r.p99 < TARGET_P99_MS)}`);
  }
  console.log(
    `  peak RSS < ${TARGET_RSS_MB} MB: ${peakRss.toFixed(0)} MiB (${opts.external ? 'client and bare server: this process' : "the gateway's process"}, maxRSS) ${verdict(peakRss * 1.048576 < TARGET_RSS_MB)}`,
  );
  if (bigGrowth !== undefined) {
    console.log(`  10 MB request streamed, not buffered several times (RSS growth ≤ ${TARGET_BIG_GROWTH}x the request): ${bigGrowth.toFixed(2)}x ${verdict(bigGrowth <= TARGET_BIG_GROWTH)}`);
  }
  const report = await server.report();
  if (report) {
    const counted = Object.entries(report.events).map(([k, n]) => `${k} ${fmt(n)}`).join(', ');
    const st = report.stats;
    console.log(`gateway: ${counted}; DB1 ${fmt(st.writes)} writes in ${fmt(st.commits)} commits (largest batch ${st.largestBatch}, failed ${st.failedCommits})`);
  }

  for (const t of [gateway, baseline]) {
    t.agent.destroy();
    for (const c of t.pool ?? []) c?.close();
  }
  await server.stop();
  console.log(`(${((performance.now() - started) / 1000).toFixed(1)} s)`);
}

if (process.argv[2] === SERVE) await serve(process.argv[3]!, process.argv[4]!, process.argv[5]!, process.argv[6] === 'log');
else await main();
