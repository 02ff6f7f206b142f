/**
 * MM7 request codec throughput (protocol/mm7/http.ts): a whole SubmitReq
 * parse (decodeMm7Http: MIME binding + SOAP + <Content href> lookup) and
 * build (encodeMm7Http), for the h.3 SubmitReq with a 100 KB JPEG and for a
 * text-only one, each beside a bare multipart split of the same octets; and
 * the MIME binding alone (parseMm7Http, protocol/mm7/binding.ts) over the
 * same octets, in memory and streamed (as a body still arriving); and
 * a ~60 KB archive-style DeliverReq (SMIL, text, 3 JPEGs) with the SOAP
 * step (parseMm7Soap) alone beside it, to show that step's share.
 *
 *   node dist/bench/mm7.js [--rounds N] [--round-ms MS] [--in-flight N]
 *
 * Method (bench/harness.ts, as bench/pdu.ts): each benchmark is warmed up,
 * then timed in rounds made of 50 ms slices of the benchmarks of its group
 * taken in turn; rates are the median round, ratios the median of the
 * slices taken side by side (they hold while absolute rates wander on a
 * shared machine). Every operation is awaited, the baselines' too.
 *
 * Rows, over the octets of the request they stand under (bench/baselines.ts):
 * - MIME binding alone: parseMm7Http, the first stage of decodeMm7Http.
 * - bare split: delimiter lines found with Buffer.indexOf, each part cut at
 *   its blank line, nested multiparts split the same way; nothing decoded.
 *   The floor for any MIME parser.
 * - bare split + base64: the same, then the image's base64 decoded with
 *   Buffer#write in 48 KiB slices (the floor for any parser that hands out
 *   decoded octets).
 * - MIME binding streamed: parseMm7Http on the same octets as a body still
 *   arriving in 64 KiB chunks with inMemoryUpTo 0, i.e. through the
 *   streaming splitter (protocol/mm7/multipart-stream.ts) that bodies
 *   arriving past 512 KiB take.
 * - SOAP step alone: parseMm7Soap (the XML reader and the model) on the
 *   request's envelope, for its share of a whole parse.
 * - sent binary: the 100 KB request with its JPEG as Content-Transfer-Encoding
 *   binary (bench/baselines.ts withBinaryLeaves): nothing left to decode, so
 *   parse / bare split is the codec's own overhead.
 * - SOAP-only body: the binding on the request's SOAP envelope alone, sent
 *   as text/xml.
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
import { parseMm7Http } from '../protocol/mm7/binding.js';
import { decodeMm7Http, encodeMm7Http } from '../protocol/mm7/http.js';
import type { MimeEntity } from '../protocol/mm7/mime-types.js';
import type { Mm7Envelope } from '../protocol/mm7/model.js';
import { buildMm7Soap, parseMm7Soap } from '../protocol/mm7/soap.js';
import { bareSplit, bareSplitDecode, boundaryOf, withBinaryLeaves } from './baselines.js';
import {
  asyncBench,
  consume,
  fmt,
  footer,
  header,
  measure,
  mib,
  parseArgs,
  positiveInt,
  rate,
  ROUND_DEFAULTS,
  ROUND_FLAGS,
  spread,
  timeRatio,
  us,
  type Bench,
  type Flags,
  type Reader,
  type RoundOpts,
} from './harness.js';
import { photoContent, submitEnvelope, textContent } from './submit-req.js';

/** parseMm7Http's streaming path: a body still arriving, never read whole first. */
const STREAMED = { inMemoryUpTo: 0 } as const;

/** A body as a request delivers it: 64 KiB chunks, each a promise away. */
async function* arriving(body: Buffer): AsyncGenerator<Buffer> {
  for (let at = 0; at < body.length; at += 65_536) yield body.subarray(at, at + 65_536);
}

const TARGET_TEXT_ONLY = 20_000;
const TARGET_RATIO = 2;
/** Peak memory growth per parse in flight, in request sizes, that still counts as "proportional to one request". */
const TARGET_PER_REQUEST = 4;

// ------------------------------------------------- multi-image DeliverReq

/** An archive-style DeliverReq (src/archive/forward.ts's shape): SMIL, text and three JPEGs of `jpeg` octets in a multipart/related. */
function deliverEnvelope(): Mm7Envelope {
  return {
    release: 'REL-6-MM7-1-4',
    transactionId: 'mmsc-dlv-0042',
    message: {
      type: 'DeliverReq',
      mm7Version: '6.8.0',
      linkedId: 'msg-0042',
      sender: { kind: 'Number', value: '+447700900001' },
      recipients: { to: [{ kind: 'Number', value: '+447700900123' }], cc: [], bcc: [] },
      timeStamp: new Date('2024-05-01T10:00:00Z'),
      subject: 'Holiday photos',
      applicId: 'archive',
      content: { href: 'cid:mms-content@mmsc' },
    },
  };
}

function slideshowContent(jpeg: number): MimeEntity {
  const smil =
    '<smil><head><layout><region id="Image" top="0" height="80%"/><region id="Text" top="80%" height="20%"/></layout></head><body>' +
    [1, 2, 3].map((i) => `<par dur="5s"><img src="cid:img${i}@mmsc" region="Image"/><text src="cid:txt@mmsc" region="Text"/></par>`).join('') +
    '</body></smil>';
  return {
    mediaType: 'multipart/related',
    params: { type: 'application/smil', start: '<smil@mmsc>' },
    headers: [],
    parts: [
      { mediaType: 'application/smil', params: { charset: 'utf-8' }, contentId: 'smil@mmsc', contentLocation: 'pres.smil', headers: [], body: Buffer.from(smil) },
      { mediaType: 'text/plain', params: { charset: 'utf-8' }, contentId: 'txt@mmsc', contentLocation: 'caption.txt', headers: [], body: Buffer.from('Greetings from the beach, three photos.') },
      ...[1, 2, 3].map((i): MimeEntity => ({ mediaType: 'image/jpeg', params: {}, contentId: `img${i}@mmsc`, contentLocation: `photo${i}.jpg`, headers: [], body: randomBytes(jpeg) })),
    ],
  };
}

// ---------------------------------------------------------------- memory

type MemoryMode = 'concurrent' | 'sequential';

interface MemoryResult {
  mode: MemoryMode;
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
async function memoryChild(mode: MemoryMode, n: number): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run the memory child with --expose-gc');
  const { contentType, body } = await encodeMm7Http(submitEnvelope('vasp-tx-0001'), photoContent(100 * 1024));
  const parse = async (): Promise<number> => (await decodeMm7Http(contentType, body)).content?.parts?.length ?? 0;
  for (let i = 0; i < 50; i++) consume(await parse());
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
    for (let i = 0; i < n; i++) all.push(parse().then((k) => (consume(k), sample())));
    await Promise.all(all);
  } else {
    for (let i = 0; i < n; i++) {
      consume(await parse());
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

function runMemoryChild(mode: MemoryMode, n: number): Promise<MemoryResult> {
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

interface Opts extends RoundOpts {
  inFlight: number;
  memoryChild?: MemoryMode;
}

const memoryMode: Reader<MemoryMode> = (raw) => {
  if (raw !== 'concurrent' && raw !== 'sequential') throw new Error('--memory-child takes concurrent or sequential');
  return raw;
};

const FLAGS: Flags<Opts> = { ...ROUND_FLAGS, '--in-flight': ['inFlight', positiveInt], '--memory-child': ['memoryChild', memoryMode] };

async function main(): Promise<void> {
  const opts = parseArgs<Opts>(process.argv.slice(2), { ...ROUND_DEFAULTS, inFlight: 200 }, FLAGS, '--rounds N --round-ms MS --in-flight N');
  if (opts.memoryChild) return memoryChild(opts.memoryChild, opts.inFlight);
  const started = performance.now();

  const env = submitEnvelope('vasp-tx-0001');
  const soap = buildMm7Soap(env);
  const photo = photoContent(100 * 1024);
  const text = textContent();
  const big = await encodeMm7Http(env, photo);
  const small = await encodeMm7Http(env, text);
  const bigBinary = withBinaryLeaves(big.body, boundaryOf(big.contentType));
  const bigBoundary = boundaryOf(big.contentType);
  const smallBoundary = boundaryOf(small.contentType);
  const soapType = 'text/xml; charset="utf-8"';
  const deliverEnv = deliverEnvelope();
  const slideshow = slideshowContent(14 * 1024);
  const multi = await encodeMm7Http(deliverEnv, slideshow);
  const multiBoundary = boundaryOf(multi.contentType);
  const multiSoap = buildMm7Soap(deliverEnv);

  // Check what is measured before measuring it.
  const image = photo.parts![1]!.body!;
  const bigBack = await decodeMm7Http(big.contentType, big.body);
  if (bigBack.envelope.transactionId !== 'vasp-tx-0001' || bigBack.envelope.message.subject !== 'Archive test' || !bigBack.content?.parts?.[1]?.body?.equals(image)) {
    throw new Error('the 100 KB SubmitReq does not decode back');
  }
  const smallBack = await decodeMm7Http(small.contentType, small.body);
  if (!smallBack.content?.body?.equals(text.body!) || smallBack.envelope.message.type !== 'SubmitReq') throw new Error('the text-only SubmitReq does not decode back');
  const binaryBack = await decodeMm7Http(big.contentType, bigBinary);
  if (!binaryBack.content?.parts?.[1]?.body?.equals(image) || bareSplit(bigBinary, bigBoundary)[2]?.body.equals(image) !== true) {
    throw new Error('the binary-transfer 100 KB SubmitReq does not decode back');
  }
  const binding = await parseMm7Http(big.contentType, big.body);
  if (binding.soap !== soap || !binding.content?.parts?.[1]?.body?.equals(image)) throw new Error('the MIME binding alone does not parse the 100 KB SubmitReq back');
  if ((await parseMm7Http(soapType, Buffer.from(soap))).soap !== soap) throw new Error('the MIME binding does not parse the SOAP-only body back');
  if (bareSplit(big.body, bigBoundary).length !== 3) throw new Error('the bare split does not find the 3 leaves of the 100 KB SubmitReq');
  if (!bareSplitDecode(big.body, bigBoundary, 2).equals(image)) throw new Error('the bare split + base64 decode does not find the image');
  if (bareSplit(small.body, smallBoundary).length !== 2) throw new Error('the bare split does not find the 2 parts of the text-only SubmitReq');
  const multiBack = await decodeMm7Http(multi.contentType, multi.body);
  if (multiBack.envelope.message.type !== 'DeliverReq' || !multiBack.content?.parts?.[4]?.body?.equals(slideshow.parts![4]!.body!)) throw new Error('the multi-image DeliverReq does not decode back');
  if (bareSplit(multi.body, multiBoundary).length !== 6) throw new Error('the bare split does not find the 6 leaves of the multi-image DeliverReq');

  const benches = {
    parseBig: asyncBench(`parse SubmitReq + 100 KB JPEG (${fmt(big.body.length)} octets)`, async () => (await decodeMm7Http(big.contentType, big.body)).content?.parts?.length ?? 0),
    bindingBig: asyncBench('  MIME binding alone (parseMm7Http), same octets', async () => (await parseMm7Http(big.contentType, big.body)).attachments.length),
    splitBig: asyncBench('  baseline: bare split (indexOf), same octets', () => bareSplit(big.body, bigBoundary).length),
    splitDecodeBig: asyncBench('  baseline: bare split + base64 decode', () => bareSplitDecode(big.body, bigBoundary, 2).length),
    streamedBig: asyncBench('  MIME binding streamed (64 KiB chunks arriving)', async () => (await parseMm7Http(big.contentType, arriving(big.body), {}, STREAMED)).attachments.length),
    parseBinary: asyncBench(`parse the same, JPEG sent binary (${fmt(bigBinary.length)} octets)`, async () => (await decodeMm7Http(big.contentType, bigBinary)).content?.parts?.length ?? 0),
    splitBinary: asyncBench('  baseline: bare split (indexOf), same octets', () => bareSplit(bigBinary, bigBoundary).length),
    parseSmall: asyncBench(`parse text-only SubmitReq (${fmt(small.body.length)} octets)`, async () => (await decodeMm7Http(small.contentType, small.body)).content?.body?.length ?? 0),
    splitSmall: asyncBench('  baseline: bare split (indexOf), same octets', () => bareSplit(small.body, smallBoundary).length),
    soapOnly: asyncBench(`MIME binding alone, SOAP-only body (${fmt(soap.length)} octets)`, async () => (await parseMm7Http(soapType, Buffer.from(soap))).soap.length),
    parseMulti: asyncBench(`parse DeliverReq, SMIL + text + 3 JPEGs (${fmt(multi.body.length)} octets)`, async () => (await decodeMm7Http(multi.contentType, multi.body)).content?.parts?.length ?? 0),
    bindingMulti: asyncBench('  MIME binding alone (parseMm7Http), same octets', async () => (await parseMm7Http(multi.contentType, multi.body)).attachments.length),
    soapMulti: asyncBench(`  SOAP step alone (parseMm7Soap, ${fmt(multiSoap.length)} chars)`, () => parseMm7Soap(multiSoap).message.type.length),
    splitMulti: asyncBench('  baseline: bare split (indexOf), same octets', () => bareSplit(multi.body, multiBoundary).length),
    streamedMulti: asyncBench('  MIME binding streamed (64 KiB chunks arriving)', async () => (await parseMm7Http(multi.contentType, arriving(multi.body), {}, STREAMED)).attachments.length),
    soapSmall: asyncBench(`  SOAP step alone (parseMm7Soap, ${fmt(soap.length)} chars)`, () => parseMm7Soap(soap).message.type.length),
    buildBig: asyncBench('build SubmitReq + 100 KB JPEG', async () => (await encodeMm7Http(env, photo)).body.length),
    buildSmall: asyncBench('build text-only SubmitReq', async () => (await encodeMm7Http(env, text)).body.length),
  };
  // Interleaved within a group (side-by-side ratios); groups run apart, so the
  // 100 KB bodies' garbage is not collected in the small parses' time.
  const groups: Bench[][] = [
    [benches.parseBig, benches.bindingBig, benches.splitBig, benches.splitDecodeBig, benches.streamedBig],
    [benches.parseBinary, benches.splitBinary],
    [benches.parseSmall, benches.splitSmall, benches.soapOnly, benches.soapSmall],
    [benches.parseMulti, benches.bindingMulti, benches.soapMulti, benches.splitMulti, benches.streamedMulti],
    [benches.buildBig, benches.buildSmall],
  ];

  console.log(`${header(opts)}; one core (single thread)`);
  await measure(groups, opts);

  console.log('');
  for (const b of Object.values(benches)) console.log(`${b.name.padEnd(52)} ${fmt(rate(b)).padStart(10)} ops/s ${us(b).padStart(11)}  (${spread(b)})`);

  const bigRatio = timeRatio(benches.parseBig, benches.splitBig);
  const bindingRatio = timeRatio(benches.bindingBig, benches.splitBig);
  const bindingVsDecode = timeRatio(benches.bindingBig, benches.splitDecodeBig);
  const streamed = timeRatio(benches.streamedBig, benches.bindingBig);
  const smallRatio = timeRatio(benches.parseSmall, benches.splitSmall);
  const textRate = rate(benches.parseSmall);
  const verdict = (ok: boolean): string => (ok ? 'PASS' : 'FAIL');
  console.log('');
  console.log(`100 KB SubmitReq: parse ${fmt(rate(benches.parseBig))}/s, build ${fmt(rate(benches.buildBig))}/s, bare split ${fmt(rate(benches.splitBig))}/s`);
  console.log(`  parse / bare split time: ${bigRatio.toFixed(1)}x (target ≤ ${TARGET_RATIO}x: ${verdict(bigRatio <= TARGET_RATIO)})`);
  const decodeRatio = timeRatio(benches.parseBig, benches.splitDecodeBig);
  console.log(`  parse / (bare split + base64 decode) time: ${decodeRatio.toFixed(1)}x (the same target against a split that also decodes: ${verdict(decodeRatio <= TARGET_RATIO)})`);
  const binaryRatio = timeRatio(benches.parseBinary, benches.splitBinary);
  const soapShare = us(benches.soapSmall);
  console.log(`  sent binary: parse / bare split time: ${binaryRatio.toFixed(1)}x (${verdict(binaryRatio <= TARGET_RATIO)}); of a parse's ${us(benches.parseBinary)}, the 1.2 KB SOAP envelope alone takes ${soapShare}`);
  console.log(`  MIME binding alone / bare split time: ${bindingRatio.toFixed(1)}x, / (bare split + base64): ${bindingVsDecode.toFixed(1)}x (for context)`);
  console.log(`  MIME binding streamed / in memory time: ${streamed.toFixed(1)}x (bodies still arriving past 512 KiB are streamed)`);
  console.log(`text-only SubmitReq: parse ${fmt(textRate)}/s, build ${fmt(rate(benches.buildSmall))}/s, bare split ${fmt(rate(benches.splitSmall))}/s`);
  console.log(`  parse / bare split time: ${smallRatio.toFixed(1)}x (for context)`);
  console.log(`  parse rate: ${fmt(textRate)}/s (target ≥ ${fmt(TARGET_TEXT_ONLY)}/s on one core: ${verdict(textRate >= TARGET_TEXT_ONLY)})`);
  console.log(`  SOAP step (parseMm7Soap)'s share of a parse: ${(timeRatio(benches.soapSmall, benches.parseSmall) * 100).toFixed(0)}%`);
  console.log(`multi-image DeliverReq (${fmt(multi.body.length)} octets): parse ${fmt(rate(benches.parseMulti))}/s = ${us(benches.parseMulti)} each, bare split ${fmt(rate(benches.splitMulti))}/s`);
  console.log(`  parse / bare split time: ${timeRatio(benches.parseMulti, benches.splitMulti).toFixed(1)}x; MIME binding alone / bare split: ${timeRatio(benches.bindingMulti, benches.splitMulti).toFixed(1)}x (for context)`);
  console.log(`  MIME binding streamed / in memory time: ${timeRatio(benches.streamedMulti, benches.bindingMulti).toFixed(1)}x`);
  console.log(`  SOAP step's share of a parse: ${(timeRatio(benches.soapMulti, benches.parseMulti) * 100).toFixed(0)}%; MIME binding's: ${(timeRatio(benches.bindingMulti, benches.parseMulti) * 100).toFixed(0)}%`);

  // Memory, each mode in a fresh process.
  const seq = await runMemoryChild('sequential', opts.inFlight);
  const con = await runMemoryChild('concurrent', opts.inFlight);
  const total = (m: MemoryResult): number => m.heapUsed + m.external;
  console.log('');
  console.log(`memory: ${opts.inFlight} parses of the 100 KB SubmitReq (${fmt(con.bodyOctets)} octets), peak growth over the settled state (fresh process each)`);
  for (const m of [seq, con]) {
    const label = m.mode === 'concurrent' ? `all ${m.n} at once (Promise.all)` : 'one at a time';
    console.log(`  ${label.padEnd(30)} RSS +${mib(m.rss).padStart(9)}  heapUsed +${mib(m.heapUsed).padStart(9)}  external +${mib(m.external).padStart(9)}  (${m.ms.toFixed(0)} ms)`);
  }
  const ratio = (a: number, b: number): string => (b > 0 ? `${(a / b).toFixed(1)}x` : 'n/a');
  console.log(`  at once / one at a time: RSS ${ratio(con.rss, seq.rss)}, heapUsed ${ratio(con.heapUsed, seq.heapUsed)}, heap+external ${ratio(total(con), total(seq))}`);
  const perRequest = total(con) / con.n / con.bodyOctets;
  console.log(
    `  heap+external per parse in flight: ${fmt(total(con) / con.n / 1024)} KiB = ${perRequest.toFixed(1)}x the request ` +
      `(target ≤ ${TARGET_PER_REQUEST}x, i.e. proportional to one request: ${verdict(perRequest <= TARGET_PER_REQUEST)})`,
  );
  console.log(footer(started));
}

await main();
