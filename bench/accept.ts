/**
 * MM7 acceptance over loopback HTTP: SubmitReqs (text-only, and with a
 * 30 KB JPEG) posted by N keep-alive connections for a fixed time to the
 * MMS-C's MM7 front end, beside a bare node:http server that reads the same
 * requests and answers a fixed 200, measured in the same run.
 *
 *   node dist/bench/accept.js [--seconds S] [--connections N]
 *                             [--external URL [--user U --password P] [--pid PID]]
 *
 * Defaults: 10 s per server and message kind, 50 connections. The time is
 * cut into 1 s slices that alternate between the two servers (order
 * reversed every other pair), so a load spike on this shared machine hits
 * both; the ratio is the median of the slice pairs' accepted/bare rates.
 *
 * In-process (default): an MmscNode on 127.0.0.1, ports 0, DB1 in a temp
 * directory (WAL; a 1000 answer leaves after the fsync of the WAL, which runs
 * in libuv's thread pool, and checkpoints run in a thread of their own),
 * the demo VASP with submitsPerSecond 1e6, and a notifier that does nothing,
 * so WAP-push spooling is not part of the figure. Client, gateway and bare
 * server then share one process, one event loop and the machine's cores:
 * the client's own cost is in every figure, on both sides of the ratio.
 *
 * --external URL drives an already running gateway (`npm start`, e.g.
 * http://127.0.0.1:8080/mm7) instead; the bare server still runs here. Its
 * VASP must allow the load (the demo account of conf/mmsc.yaml is throttled
 * to 200 submits/s: throttled requests count as errors) and its RSS is not
 * ours: --pid PID samples it from /proc.
 *
 * Every request carries a unique TransactionID (DB1 answers a repeated one
 * as a duplicate, without a new message). Accepted = HTTP 200 with
 * StatusCode 1000. Before the load (so its RSS is not hidden in pages the
 * load left behind), one ~10 MB SubmitReq (a 7.3 MB JPEG, base64) is posted
 * alone: time and RSS growth over 10 MB tell whether the body is buffered
 * once or several times.
 *
 * Targets, printed and never enforced (exit 0): text-only acceptance ≥ 15 %
 * of the bare server's rate; p99 < 50 ms at 50 connections; peak RSS
 * < 300 MB; RSS growth for the 10 MB request ≤ 2× its size.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { encodeMm7Http } from '../protocol/mm7/http.js';
import type { MimeEntity } from '../protocol/mm7/mime-types.js';
import { loadMmscConfig } from '../src/config/mmsc.js';
import { MmscNode } from '../src/mmsc/node.js';
import { fmt, median, mib, parseArgs, text, type Flags, type Reader } from './harness.js';
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
  '--external': ['external', (raw, flag) => new URL(text(raw, flag)).href],
  '--user': ['user', text],
  '--password': ['password', text],
  '--pid': ['pid', rounded],
};

const USAGE = '--seconds S --connections N --external URL --user U --password P --pid PID';

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

/** `connections` workers, each posting one request after the other until `ms` has passed; adds to `tally` (none: warm-up). */
async function drive(target: Target, maker: RequestMaker, connections: number, ms: number, tally: Tally | undefined): Promise<void> {
  const start = performance.now();
  const deadline = start + ms;
  let ok = 0;
  const worker = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const body = maker.next();
      const t0 = performance.now();
      try {
        const r = await post(target, maker.contentType, body);
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
  await Promise.all(Array.from({ length: connections }, worker));
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
const maxRssMiB = (): number => process.resourceUsage().maxRSS / 1024;

function describe(name: string, t: Tally): { p99: number } {
  const sorted = [...t.latencies].sort((a, b) => a - b);
  const p99 = percentile(sorted, 0.99);
  const kinds = [...t.kinds].map(([k, n]) => `${n}× ${k}`).join(', ');
  console.log(
    `  ${name.padEnd(22)} ${fmt((t.ok * 1000) / t.ms).padStart(7)} req/s  p50 ${msf(percentile(sorted, 0.5)).padStart(8)}  p99 ${msf(p99).padStart(8)}  ` +
      `max ${msf(sorted[sorted.length - 1] ?? NaN).padStart(9)}  ok ${fmt(t.ok)}  errors ${t.errors}${kinds ? ` (${kinds})` : ''}`,
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

/** RSS of another process (the --external gateway), from /proc; undefined when not readable. */
function rssOf(pid: number | undefined): number | undefined {
  if (pid === undefined) return process.memoryUsage.rss();
  try {
    const kb = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb === undefined ? undefined : Number(kb) * 1024;
  } catch {
    return undefined;
  }
}

/** One big request alone: time, and the RSS growth of the process that serves it while it is read, parsed and stored. */
async function bigRequest(target: Target, maker: RequestMaker, pid: number | undefined): Promise<number | undefined> {
  const body = maker.next();
  await settle();
  const before = rssOf(pid);
  let peak = before ?? 0;
  const timer = setInterval(() => (peak = Math.max(peak, rssOf(pid) ?? 0)), 2);
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
  peak = Math.max(peak, rssOf(pid) ?? 0);
  await settle();
  const after = rssOf(pid);
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
  const opts = parseArgs<Opts>(process.argv.slice(2), { seconds: 10, connections: 50, user: 'demo', password: 'demo' }, FLAGS, USAGE);
  const started = performance.now();
  const sliceMs = Math.min(SLICE_MS, opts.seconds * 1000);
  const slices = Math.max(1, Math.round((opts.seconds * 1000) / sliceMs));

  // The bare server: reads the body, answers a fixed SubmitRsp-sized 200.
  const fixed = Buffer.from(`<?xml version="1.0" encoding="UTF-8"?>\n<env:Envelope>${' '.repeat(600)}</env:Envelope>`);
  const bare: Server = createServer((req, res) => {
    req.on('data', () => {});
    req.on('end', () => {
      res.writeHead(200, { 'Content-Type': 'text/xml; charset="utf-8"', 'Content-Length': String(fixed.length) });
      res.end(fixed);
    });
  });
  await new Promise<void>((r) => bare.listen(0, '127.0.0.1', r));
  const bareUrl = new URL(`http://127.0.0.1:${(bare.address() as AddressInfo).port}/mm7`);

  let node: MmscNode | undefined;
  let dir: string | undefined;
  const events = new Map<string, number>();
  let gatewayUrl: URL;
  if (opts.external) {
    gatewayUrl = new URL(opts.external);
  } else {
    dir = mkdtempSync(join(tmpdir(), 'mmsc-bench-accept-'));
    const config = loadMmscConfig({
      data: dir,
      mm7: { listen: '127.0.0.1:0' },
      mm1: { listen: '127.0.0.1:0' },
      admin: { listen: '127.0.0.1:0' }, // where the schema has an admin listener: not its fixed default port
      vasps: [
        { vaspId: 'demo', vasIds: ['demo'], user: opts.user, password: opts.password, shortCodes: ['12345'], loopbackOnly: true, submitsPerSecond: 1e6, maxMessageOctets: 16 << 20 },
      ],
    });
    node = new MmscNode({
      config,
      notifier: { notify: async () => {} },
      log: (e) => events.set(String(e.event), (events.get(String(e.event)) ?? 0) + 1),
    });
    const listeners = await node.start();
    gatewayUrl = new URL(listeners.find((l) => l.what.startsWith('MM7'))!.url);
  }

  const agentOpts = { keepAlive: true, maxSockets: opts.connections, maxFreeSockets: opts.connections };
  const gateway: Target = {
    name: opts.external ? 'external gateway' : 'MM7 accept (durable)',
    url: gatewayUrl,
    agent: new Agent(agentOpts),
    auth: `Basic ${Buffer.from(`${opts.user}:${opts.password}`).toString('base64')}`,
    ok: (status, body) => status === 200 && body.includes(ACCEPTED),
    okText: 'accepted (1000)',
  };
  const baseline: Target = { name: 'bare node:http 200', url: bareUrl, agent: new Agent(agentOpts), auth: gateway.auth, ok: (status) => status === 200, okText: 'answered 200' };

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

  console.log(`node ${process.version}, ${opts.connections} keep-alive connections (node:http Agent), ${opts.seconds} s per server and message, in ${sliceMs} ms slices alternating between the two servers`);
  if (opts.external) {
    console.log(`gateway: ${gatewayUrl.href} (external process${opts.pid ? `, pid ${opts.pid}` : ''}); bare server and client in this process`);
  } else {
    console.log(`gateway: in-process MmscNode at ${gatewayUrl.href}, DB1 in ${dir} (WAL, fsync per group commit off the event loop, checkpoints in a thread), demo VASP at 1e6 submits/s`);
    console.log('         notifier: a no-op (notify: async () => {}): no WAP push is spooled; the push PDU is still built and the recipient marked notified in DB1');
  }
  console.log(`note: ${opts.external ? 'client and bare server' : 'client, bare server and gateway'} share one Node process and event loop on a ${availableParallelism()}-core machine; the client's cost is on both sides of the ratio`);

  console.log('');
  console.log(`one ~10 MB SubmitReq (${big.size.toLocaleString('en-US')} octets, a ${BIG_IMAGE_OCTETS.toLocaleString('en-US')}-octet JPEG in base64), alone:`);
  if (opts.external && opts.pid === undefined) console.log('  (RSS below is this client process; pass --pid to sample the gateway)');
  // The bare server first: it keeps nothing, so it leaves no freed pages for the gateway's run to reuse.
  await bigRequest(baseline, big, undefined);
  const bigGrowth = await bigRequest(gateway, big, opts.external ? opts.pid : undefined);

  const verdict = (ok: boolean): string => (ok ? 'PASS' : 'FAIL');
  const results: Array<{ name: string; ratio: number; p99: number }> = [];
  for (const k of kinds) {
    console.log('');
    console.log(`${k.name} (${k.maker.size.toLocaleString('en-US')} octets):`);
    // Warm-up: connections opened, code paths compiled.
    await drive(gateway, k.maker, opts.connections, Math.min(1000, sliceMs), undefined);
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
    console.log(`  peak RSS so far: ${maxRssMiB().toFixed(0)} MiB`);
    results.push({ name: k.name, ratio, p99 });
  }


  const text = results[0]!;
  const peakRss = maxRssMiB();
  console.log('');
  console.log('targets:');
  console.log(`  text-only accepted / bare ≥ ${TARGET_RATIO * 100} %: ${(text.ratio * 100).toFixed(1)} % ${verdict(text.ratio >= TARGET_RATIO)}`);
  for (const r of results) {
    console.log(`  p99 < ${TARGET_P99_MS} ms at ${opts.connections} connections (${r.name}): ${msf(r.p99)} ${verdict(r.p99 < TARGET_P99_MS)}`);
  }
  console.log(
    `  peak RSS < ${TARGET_RSS_MB} MB: ${peakRss.toFixed(0)} MiB (process.resourceUsage().maxRSS, ${opts.external ? 'client and bare server' : 'client, bare server and gateway together'}) ${verdict(peakRss * 1.048576 < TARGET_RSS_MB)}`,
  );
  if (bigGrowth !== undefined) {
    console.log(`  10 MB request streamed, not buffered several times (RSS growth ≤ ${TARGET_BIG_GROWTH}x the request): ${bigGrowth.toFixed(2)}x ${verdict(bigGrowth <= TARGET_BIG_GROWTH)}`);
  }
  if (node) {
    const s = node.store.stats;
    const counted = [...events].map(([k, n]) => `${k} ${fmt(n)}`).join(', ');
    console.log(`gateway: ${counted}; DB1 ${fmt(s.writes)} writes in ${fmt(s.commits)} commits (largest batch ${s.largestBatch}, failed ${s.failedCommits})`);
  }

  gateway.agent.destroy();
  baseline.agent.destroy();
  await new Promise<void>((r) => {
    bare.close(() => r());
    bare.closeAllConnections();
  });
  await node?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
  console.log(`(${((performance.now() - started) / 1000).toFixed(1)} s)`);
}

await main();
