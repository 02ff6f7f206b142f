/**
 * MM7 request codec throughput (protocol/mm7/http.ts): a whole SubmitReq
 * parse (decodeMm7Http: MIME binding + SOAP + <Content href> lookup) and
 * build (encodeMm7Http), for the h.3 SubmitReq with a 100 KB JPEG and for a
 * text-only one, each beside a bare multipart split of the same octets.
 *
 *   node dist/bench/mm7.js [--rounds N] [--round-ms MS] [--in-flight N]
 *
 * Method as in bench/pdu.ts and bench/mm7-binding.ts: each benchmark is
 * warmed up, then timed in rounds made of 50 ms slices of the benchmarks of
 * its group taken in turn; rates are the median round, ratios the median of
 * the slices taken side by side (they hold while absolute rates wander on a
 * shared machine).
 *
 * Baseline: the bare split of bench/mm7-binding.ts, delimiter lines found
 * with Buffer.indexOf, each part cut at its blank line, nested multiparts
 * split the same way; nothing decoded. The floor for any MIME parser.
 *
 * Memory: in two fresh child processes (so one run's freed pages do not
 * serve the other), the 100 KB request is parsed 200 times (--in-flight)
 * all at once (Promise.all) and one at a time; each reports its peak RSS,
 * heapUsed and external (Buffers) growth over the settled state before.
 *
 * Targets, printed and never enforced (exit 0): text-only parse ≥ 20 000/s;
 * 100 KB parse ≤ 2× the bare split's time; parse memory proportional to one
 * request (a parse in flight costs at most a few times its request's size,
 * whatever the number in flight).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { decodeMm7Http, encodeMm7Http } from '../protocol/mm7/http.js';
import type { Mm7Envelope } from '../protocol/mm7/model.js';
import type { MimeEntity } from '../protocol/mm7/mime-types.js';

const TARGET_TEXT_ONLY = 20_000;
const TARGET_RATIO = 2;
/** Peak memory growth per parse in flight, in request sizes, that still counts as "proportional to one request". */
const TARGET_PER_REQUEST = 4;

// ------------------------------------------------------------- messages

/** The h.3 SubmitReq (spec §h.3) as a model; `who` replaces the sender and recipient (bench/accept uses the demo VASP). */
export function submitEnvelope(
  transactionId: string,
  who: { vaspId: string; vasId: string; shortCode: string; to: string } = { vaspId: 'acme', vasId: 'news', shortCode: '12345', to: '+447700900123' },
): Mm7Envelope {
  return {
    release: 'REL-6-MM7-1-4',
    transactionId,
    message: {
      type: 'SubmitReq',
      mm7Version: '6.8.0',
      senderIdentification: { vaspId: who.vaspId, vasId: who.vasId, senderAddress: { kind: 'ShortCode', value: who.shortCode } },
      recipients: { to: [{ kind: 'Number', value: who.to }], cc: [], bcc: [] },
      serviceCode: 'ARCH-1',
      messageClass: 'Informational',
      timeStamp: new Date('2024-05-01T10:00:00Z'),
      expiryDate: { relative: 'P2D' },
      deliveryReport: true,
      readReply: false,
      priority: 'Normal',
      subject: 'Archive test',
      distributionIndicator: true,
      content: { href: 'cid:mms-content@acme', allowAdaptations: true },
    },
  };
}

/** Text-only content: one text/plain entity. */
export function textContent(): MimeEntity {
  return { mediaType: 'text/plain', params: { charset: 'utf-8' }, contentLocation: 'text.txt', headers: [], body: Buffer.from('Your ticket code is 4711. Show this message at the gate.') };
}

/** Text + a JPEG of `size` random octets (incompressible, as a real JPEG), in a multipart/mixed as h.3. */
export function photoContent(size: number): MimeEntity {
  return {
    mediaType: 'multipart/mixed',
    params: {},
    headers: [],
    parts: [
      { mediaType: 'text/plain', params: { charset: 'utf-8' }, contentId: 't1@acme', contentLocation: 'hello.txt', headers: [], body: Buffer.from('Hello from the archive test.') },
      { mediaType: 'image/jpeg', params: {}, contentId: 'i1@acme', contentLocation: 'photo.jpg', headers: [], body: randomBytes(size) },
    ],
  };
}

// -------------------------------------------------------------- baseline

interface Slice {
  headers: Buffer;
  body: Buffer;
}

const BOUNDARY_PARAM = /boundary\s*=\s*"?([^";\r\n]+)"?/i;

/** bench/mm7-binding.ts's bare split: delimiter lines found with indexOf, each part cut at its blank line, nested multiparts split too. */
function bareSplit(body: Buffer, boundary: string, out: Slice[] = []): Slice[] {
  const delimiter = Buffer.from(`--${boundary}`, 'latin1');
  let at = body.indexOf(delimiter);
  while (at >= 0) {
    const lineEnd = body.indexOf(0x0a, at);
    if (lineEnd < 0 || body[at + delimiter.length] === 0x2d) break;
    let next = body.indexOf(delimiter, lineEnd);
    while (next > 0 && body[next - 1] !== 0x0a) next = body.indexOf(delimiter, next + 1);
    if (next < 0) break;
    const part = body.subarray(lineEnd + 1, next - 2);
    const blank = part.indexOf('\r\n\r\n');
    const headers = part.subarray(0, blank);
    const inner = BOUNDARY_PARAM.exec(headers.toString('latin1'));
    if (inner?.[1]) bareSplit(part.subarray(blank + 4), inner[1], out);
    else out.push({ headers, body: part.subarray(blank + 4) });
    at = next;
  }
  return out;
}

// --------------------------------------------------------------- harness

interface Bench {
  name: string;
  /** One operation; returns a number so the work cannot be optimised away. */
  op: () => number | Promise<number>;
  batch: number;
  rates: number[];
  sliceMs: number[];
}

let sink = 0;

function bench(name: string, op: () => number | Promise<number>): Bench {
  return { name, op, batch: 1, rates: [], sliceMs: [] };
}

async function run(b: Bench): Promise<void> {
  const r = b.op();
  sink += typeof r === 'number' ? r : await r;
}

async function warmUp(b: Bench, ms: number): Promise<void> {
  const start = performance.now();
  let n = 0;
  while (performance.now() - start < ms) {
    await run(b);
    n++;
  }
  b.batch = Math.max(1, Math.round(5 / ((performance.now() - start) / n)));
}

async function slice(b: Bench, ms: number): Promise<[number, number]> {
  const start = performance.now();
  let ops = 0;
  let elapsed = 0;
  do {
    for (let i = 0; i < b.batch; i++) await run(b);
    ops += b.batch;
    elapsed = performance.now() - start;
  } while (elapsed < ms);
  b.sliceMs.push(elapsed / ops);
  return [ops, elapsed];
}

const SLICE_MS = 50;

/** One round: every benchmark of the group runs for `ms` in all, in 50 ms slices taken in turn (order reversed every other turn). */
async function round(benches: readonly Bench[], ms: number): Promise<void> {
  const ops = benches.map(() => 0);
  const time = benches.map(() => 0);
  const turns = Math.max(1, Math.round(ms / SLICE_MS));
  for (let turn = 0; turn < turns; turn++) {
    for (let k = 0; k < benches.length; k++) {
      const i = turn % 2 === 0 ? k : benches.length - 1 - k;
      const [n, t] = await slice(benches[i]!, SLICE_MS);
      ops[i]! += n;
      time[i]! += t;
    }
  }
  benches.forEach((b, i) => b.rates.push((ops[i]! * 1000) / time[i]!));
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Median over the slices taken side by side of a's time per operation divided by b's. */
function timeRatio(a: Bench, b: Bench): number {
  return median(a.sliceMs.map((t, i) => t / b.sliceMs[i]!));
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
const mb = (octets: number): string => `${(octets / 2 ** 20).toFixed(1)} MiB`;

// ---------------------------------------------------------------- memory

interface MemoryResult {
  mode: 'concurrent' | 'sequential';
  n: number;
  bodyOctets: number;
  ms: number;
  rss: number;
  heapUsed: number;
  external: number;
}

/**
 * Child process: parses the 100 KB request `n` times, all at once or one at
 * a time, sampling memory every millisecond and at each completion. Growth
 * is measured from the settled state after warm-up and a full GC; results
 * are dropped as they resolve, so what is measured is the parser's working
 * memory for the requests in flight.
 */
async function memoryChild(mode: 'concurrent' | 'sequential', n: number): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run the memory child with --expose-gc');
  const { contentType, body } = await encodeMm7Http(submitEnvelope('vasp-tx-0001'), photoContent(100 * 1024));
  const parse = async (): Promise<number> => (await decodeMm7Http(contentType, body)).content?.parts?.length ?? 0;
  for (let i = 0; i < 50; i++) sink += await parse();
  gc();
  await new Promise((r) => setTimeout(r, 20));
  gc();
  const base = process.memoryUsage();
  const peak = { rss: base.rss, heapUsed: base.heapUsed, external: base.external + base.arrayBuffers };
  const sample = (): void => {
    const m = process.memoryUsage();
    peak.rss = Math.max(peak.rss, m.rss);
    peak.heapUsed = Math.max(peak.heapUsed, m.heapUsed);
    peak.external = Math.max(peak.external, m.external + m.arrayBuffers);
  };
  const timer = setInterval(sample, 1);
  const start = performance.now();
  if (mode === 'concurrent') {
    const all: Array<Promise<void>> = [];
    for (let i = 0; i < n; i++) all.push(parse().then((k) => ((sink += k), sample())));
    await Promise.all(all);
  } else {
    for (let i = 0; i < n; i++) {
      sink += await parse();
      sample();
    }
  }
  const ms = performance.now() - start;
  clearInterval(timer);
  sample();
  const result: MemoryResult = {
    mode,
    n,
    bodyOctets: body.length,
    ms,
    rss: peak.rss - base.rss,
    heapUsed: peak.heapUsed - base.heapUsed,
    external: peak.external - (base.external + base.arrayBuffers),
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

function runMemoryChild(mode: 'concurrent' | 'sequential', n: number): Promise<MemoryResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), '--memory-child', mode, '--in-flight', String(n)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`memory child (${mode}) exited with ${code}`));
      try {
        resolve(JSON.parse(out.trim().split('\n').pop()!) as MemoryResult);
      } catch (e) {
        reject(e);
      }
    });
  });
}

// ------------------------------------------------------------------ main

interface Opts {
  rounds: number;
  roundMs: number;
  inFlight: number;
  memoryChild?: 'concurrent' | 'sequential';
}

function parseArgs(argv: readonly string[]): Opts {
  const opts: Opts = { rounds: 3, roundMs: 1000, inFlight: 200 };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const raw = argv[++i] ?? '';
    if (arg === '--memory-child') {
      if (raw !== 'concurrent' && raw !== 'sequential') throw new Error('--memory-child takes concurrent or sequential');
      opts.memoryChild = raw;
      continue;
    }
    const v = Number(raw);
    if (!Number.isInteger(v) || v < 1) throw new Error(`${arg} needs a positive integer`);
    if (arg === '--rounds') opts.rounds = v;
    else if (arg === '--round-ms') opts.roundMs = v;
    else if (arg === '--in-flight') opts.inFlight = v;
    else throw new Error(`unknown argument ${arg} (use --rounds N --round-ms MS --in-flight N)`);
  }
  return opts;
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.memoryChild) return memoryChild(opts.memoryChild, opts.inFlight);
  const { rounds, roundMs } = opts;
  const started = performance.now();

  const env = submitEnvelope('vasp-tx-0001');
  const photo = photoContent(100 * 1024);
  const text = textContent();
  const big = await encodeMm7Http(env, photo);
  const small = await encodeMm7Http(env, text);
  const bigBoundary = BOUNDARY_PARAM.exec(big.contentType)?.[1] ?? '';
  const smallBoundary = BOUNDARY_PARAM.exec(small.contentType)?.[1] ?? '';

  // Check what is measured before measuring it.
  const image = photo.parts![1]!.body!;
  const bigBack = await decodeMm7Http(big.contentType, big.body);
  if (bigBack.envelope.transactionId !== 'vasp-tx-0001' || bigBack.envelope.message.subject !== 'Archive test' || !bigBack.content?.parts?.[1]?.body?.equals(image)) {
    throw new Error('the 100 KB SubmitReq does not decode back');
  }
  const smallBack = await decodeMm7Http(small.contentType, small.body);
  if (!smallBack.content?.body?.equals(text.body!) || smallBack.envelope.message.type !== 'SubmitReq') throw new Error('the text-only SubmitReq does not decode back');
  if (bareSplit(big.body, bigBoundary).length !== 3) throw new Error('the bare split does not find the 3 leaves of the 100 KB SubmitReq');
  if (bareSplit(small.body, smallBoundary).length !== 2) throw new Error('the bare split does not find the 2 parts of the text-only SubmitReq');

  const benches = {
    parseBig: bench(`parse SubmitReq + 100 KB JPEG (${fmt(big.body.length)} octets)`, async () => (await decodeMm7Http(big.contentType, big.body)).content?.parts?.length ?? 0),
    splitBig: bench('  baseline: bare split (indexOf), same octets', () => bareSplit(big.body, bigBoundary).length),
    parseSmall: bench(`parse text-only SubmitReq (${fmt(small.body.length)} octets)`, async () => (await decodeMm7Http(small.contentType, small.body)).content?.body?.length ?? 0),
    splitSmall: bench('  baseline: bare split (indexOf), same octets', () => bareSplit(small.body, smallBoundary).length),
    buildBig: bench('build SubmitReq + 100 KB JPEG', async () => (await encodeMm7Http(env, photo)).body.length),
    buildSmall: bench('build text-only SubmitReq', async () => (await encodeMm7Http(env, text)).body.length),
  };
  // Interleaved within a group (side-by-side ratios); groups run apart, so the
  // 100 KB bodies' garbage is not collected in the small parses' time.
  const groups: Bench[][] = [
    [benches.parseBig, benches.splitBig],
    [benches.parseSmall, benches.splitSmall],
    [benches.buildBig, benches.buildSmall],
  ];

  console.log(`node ${process.version}, ${rounds} rounds of ${roundMs} ms per benchmark, median reported; one core (single thread)`);
  for (const group of groups) {
    for (const b of group) await warmUp(b, 250);
    for (let r = 0; r < rounds; r++) await round(group, roundMs);
  }

  const rate = (b: Bench): number => median(b.rates);
  const spread = (b: Bench): string => {
    const lo = Math.min(...b.rates);
    const hi = Math.max(...b.rates);
    return `±${(((hi - lo) / 2 / rate(b)) * 100).toFixed(1)}%`;
  };
  const us = (b: Bench): string => `${(1e6 / rate(b)).toFixed(1)} µs`;
  console.log('');
  for (const b of Object.values(benches)) console.log(`${b.name.padEnd(52)} ${fmt(rate(b)).padStart(10)} ops/s ${us(b).padStart(11)}  (${spread(b)})`);

  const bigRatio = timeRatio(benches.parseBig, benches.splitBig);
  const smallRatio = timeRatio(benches.parseSmall, benches.splitSmall);
  const textRate = rate(benches.parseSmall);
  const verdict = (ok: boolean): string => (ok ? 'PASS' : 'FAIL');
  console.log('');
  console.log(`100 KB SubmitReq: parse ${fmt(rate(benches.parseBig))}/s, build ${fmt(rate(benches.buildBig))}/s, bare split ${fmt(rate(benches.splitBig))}/s`);
  console.log(`  parse / bare split time: ${bigRatio.toFixed(1)}x (target ≤ ${TARGET_RATIO}x: ${verdict(bigRatio <= TARGET_RATIO)})`);
  console.log(`text-only SubmitReq: parse ${fmt(textRate)}/s, build ${fmt(rate(benches.buildSmall))}/s, bare split ${fmt(rate(benches.splitSmall))}/s`);
  console.log(`  parse / bare split time: ${smallRatio.toFixed(1)}x (for context)`);
  console.log(`  parse rate: ${fmt(textRate)}/s (target ≥ ${fmt(TARGET_TEXT_ONLY)}/s on one core: ${verdict(textRate >= TARGET_TEXT_ONLY)})`);

  // Memory, each mode in a fresh process.
  const seq = await runMemoryChild('sequential', opts.inFlight);
  const con = await runMemoryChild('concurrent', opts.inFlight);
  const total = (m: MemoryResult): number => m.heapUsed + m.external;
  console.log('');
  console.log(`memory: ${opts.inFlight} parses of the 100 KB SubmitReq (${fmt(con.bodyOctets)} octets), peak growth over the settled state (fresh process each)`);
  for (const m of [seq, con]) {
    const label = m.mode === 'concurrent' ? `all ${m.n} at once (Promise.all)` : 'one at a time';
    console.log(`  ${label.padEnd(30)} RSS +${mb(m.rss).padStart(9)}  heapUsed +${mb(m.heapUsed).padStart(9)}  external +${mb(m.external).padStart(9)}  (${m.ms.toFixed(0)} ms)`);
  }
  const ratio = (a: number, b: number): string => (b > 0 ? `${(a / b).toFixed(1)}x` : 'n/a');
  console.log(`  at once / one at a time: RSS ${ratio(con.rss, seq.rss)}, heapUsed ${ratio(con.heapUsed, seq.heapUsed)}, heap+external ${ratio(total(con), total(seq))}`);
  const perRequest = total(con) / con.n / con.bodyOctets;
  console.log(
    `  heap+external per parse in flight: ${fmt(total(con) / con.n / 1024)} KiB = ${perRequest.toFixed(1)}x the request ` +
      `(target ≤ ${TARGET_PER_REQUEST}x, i.e. proportional to one request: ${verdict(perRequest <= TARGET_PER_REQUEST)})`,
  );
  console.log(`(${((performance.now() - started) / 1000).toFixed(1)} s, checksum ${sink % 1000})`);
}

// bench/accept.ts imports the messages above; only a direct run measures.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
