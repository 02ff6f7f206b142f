/**
 * MM7 HTTP binding throughput (protocol/mm7/binding.ts), parse direction
 * against baselines over the same octets, build direction for context.
 *
 *   node dist/bench/mm7-binding.js [--rounds N] [--round-ms MS]
 *
 * Method as in bench/pdu.ts: each benchmark is warmed up, then timed in
 * rounds made of 50 ms slices of the benchmarks of its group in turn; rates
 * are the median round, ratios the median of slices taken side by side.
 *
 * Baselines, over the bytes of the 100 KB SubmitReq:
 * - bare split: delimiter lines found with Buffer.indexOf, each part cut at
 *   its blank line, nested multiparts split the same way; nothing decoded.
 * - bare split + base64: the same, then the image's base64 decoded with
 *   Buffer#write in 48 KiB slices (the floor for any parser that hands out
 *   decoded octets).
 * - mailsplit alone: the library splitter the binding is built on, events
 *   counted and dropped.
 *
 * Targets, printed and never enforced (they depend on the machine): parse
 * ≤ 2× the bare split's time; text-only SubmitReq ≥ 20 000 parses/s.
 */
import { Splitter } from '@zone-eu/mailsplit';
import type { SplitterChunk } from '@zone-eu/mailsplit';
import { randomBytes } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { buildMm7Http, parseMm7Http } from '../protocol/mm7/binding.js';
import type { MimeEntity } from '../protocol/mm7/mime-types.js';

const TARGET_RATIO = 2;
const TARGET_TEXT_ONLY = 20_000;

const NS = 'http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-6-MM7-1-4';

/** The h.3 SubmitReq envelope (spec §h.3), CRLF line ends. */
function submitReq(): string {
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/">',
    '  <env:Header>',
    `    <mm7:TransactionID xmlns:mm7="${NS}" env:mustUnderstand="1">vasp-tx-0001</mm7:TransactionID>`,
    '  </env:Header>',
    '  <env:Body>',
    `    <SubmitReq xmlns="${NS}">`,
    '      <MM7Version>6.8.0</MM7Version>',
    '      <SenderIdentification>',
    '        <VASPID>acme</VASPID>',
    '        <VASID>news</VASID>',
    '        <SenderAddress>',
    '          <ShortCode>12345</ShortCode>',
    '        </SenderAddress>',
    '      </SenderIdentification>',
    '      <Recipients>',
    '        <To>',
    '          <Number>+447700900123</Number>',
    '        </To>',
    '      </Recipients>',
    '      <ServiceCode>ARCH-1</ServiceCode>',
    '      <MessageClass>Informational</MessageClass>',
    '      <TimeStamp>2024-05-01T10:00:00Z</TimeStamp>',
    '      <ExpiryDate>P2D</ExpiryDate>',
    '      <DeliveryReport>true</DeliveryReport>',
    '      <ReadReply>false</ReadReply>',
    '      <Priority>Normal</Priority>',
    '      <Subject>Archive test</Subject>',
    '      <DistributionIndicator>true</DistributionIndicator>',
    '      <Content href="cid:mms-content@acme" allowAdaptations="true"/>',
    '    </SubmitReq>',
    '  </env:Body>',
    '</env:Envelope>',
  ].join('\r\n');
}

function text(id: string, body: string): MimeEntity {
  return { mediaType: 'text/plain', params: { charset: 'utf-8' }, contentId: id, contentLocation: `${id}.txt`, headers: [], body: Buffer.from(body) };
}

/** SubmitReq content: text + a JPEG of `size` random octets, in a multipart/mixed (as h.3). */
function photoContent(size: number): MimeEntity {
  return {
    mediaType: 'multipart/mixed',
    params: {},
    contentId: 'mms-content@acme',
    headers: [],
    parts: [
      text('t1@acme', 'Hello from the archive test.'),
      { mediaType: 'image/jpeg', params: {}, contentId: 'i1@acme', contentLocation: 'photo.jpg', headers: [], body: randomBytes(size) },
    ],
  };
}

// ------------------------------------------------------------ baselines

interface Slice {
  headers: Buffer;
  body: Buffer;
}

const BOUNDARY_PARAM = /boundary\s*=\s*"?([^";\r\n]+)"?/i;

/** Parts of a multipart body: delimiter lines found with indexOf, each cut at its blank line, nested multiparts split too. */
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

/** 76-column base64 lines with CRLF (as nodemailer writes them) decoded 630 whole lines at a time. */
function decodeBase64Lines(b64: Buffer): Buffer {
  const out = Buffer.allocUnsafe(Math.ceil((b64.length * 3) / 4));
  const step = 78 * 630;
  let o = 0;
  for (let p = 0; p < b64.length; p += step) o += out.write(b64.toString('latin1', p, Math.min(b64.length, p + step)), o, 'base64');
  return out.subarray(0, o);
}

/** mailsplit's Splitter alone over the same body: the library share of a parse. */
function mailsplitOnly(contentType: string, body: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const splitter = new Splitter({ ignoreEmbedded: true });
    let n = 0;
    splitter.on('data', (chunk: SplitterChunk) => {
      n += chunk.type === 'node' ? 1 : chunk.value.length;
    });
    const events = splitter as unknown as EventEmitter;
    events.once('error', reject);
    events.once('end', () => resolve(n));
    splitter.write(Buffer.from(`Content-Type: ${contentType}\r\n\r\n`));
    splitter.end(body);
  });
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

function parseArgs(argv: readonly string[]): { rounds: number; roundMs: number } {
  const opts = { rounds: 3, roundMs: 1000 };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const v = Number(argv[++i]);
    if (!Number.isInteger(v) || v < 1) throw new Error(`${arg} needs a positive integer`);
    if (arg === '--rounds') opts.rounds = v;
    else if (arg === '--round-ms') opts.roundMs = v;
    else throw new Error(`unknown argument ${arg} (use --rounds N --round-ms MS)`);
  }
  return opts;
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
const us = (b: Bench): string => `${(1e6 / median(b.rates)).toFixed(1)} µs`;

async function main(): Promise<void> {
  const { rounds, roundMs } = parseArgs(process.argv.slice(2));
  const started = performance.now();
  const soap = submitReq();

  const photo = photoContent(100 * 1024);
  const big = await buildMm7Http(soap, photo, { boundary: 'outer-7b1e', soapContentId: 'soap-start@acme' });
  const textOnly = await buildMm7Http(soap, text('mms-content@acme', 'Your ticket code is 4711. Show this message at the gate.'), {
    boundary: 'outer-7b1e',
    soapContentId: 'soap-start@acme',
  });
  const bigBoundary = BOUNDARY_PARAM.exec(big.contentType)?.[1] ?? '';

  // Check what is measured before measuring it.
  const image = photo.parts![1]!.body!;
  const parsed = await parseMm7Http(big.contentType, big.body);
  if (parsed.soap !== soap || !parsed.content?.parts?.[1]?.body?.equals(image)) throw new Error('the 100 KB SubmitReq does not parse back');
  const slices = bareSplit(big.body, bigBoundary);
  if (slices.length !== 3 || !decodeBase64Lines(slices[2]!.body).equals(image)) throw new Error('the bare split does not find the image');
  if ((await parseMm7Http(textOnly.contentType, textOnly.body)).content?.body?.length !== 56) throw new Error('the text-only SubmitReq does not parse back');

  const benches = {
    parse: bench(`parse SubmitReq + 100 KB JPEG (${fmt(big.body.length)} octets)`, async () => (await parseMm7Http(big.contentType, big.body)).attachments.length),
    split: bench('  baseline: bare split (indexOf), same octets', () => bareSplit(big.body, bigBoundary).length),
    splitDecode: bench('  baseline: bare split + base64 decode', () => decodeBase64Lines(bareSplit(big.body, bigBoundary)[2]!.body).length),
    mailsplit: bench('  mailsplit Splitter alone, same octets', () => mailsplitOnly(big.contentType, big.body)),
    textOnly: bench(`parse text-only SubmitReq (${fmt(textOnly.body.length)} octets)`, async () => (await parseMm7Http(textOnly.contentType, textOnly.body)).soap.length),
    soapOnly: bench(`parse SOAP-only body (${fmt(soap.length)} octets)`, async () => (await parseMm7Http('text/xml; charset="utf-8"', Buffer.from(soap))).soap.length),
    buildBig: bench('build SubmitReq + 100 KB JPEG', async () => (await buildMm7Http(soap, photo, { soapContentId: 'soap-start@acme' })).body.length),
    buildText: bench('build text-only SubmitReq', async () => (await buildMm7Http(soap, text('mms-content@acme', 'Your ticket code is 4711.'))).body.length),
  };
  const all = Object.values(benches);
  // Interleaved within a group (for side-by-side ratios), groups run apart: the
  // 100 KB bodies' garbage would otherwise be collected in the small parses' time.
  const groups: Bench[][] = [
    [benches.parse, benches.split, benches.splitDecode, benches.mailsplit],
    [benches.textOnly, benches.soapOnly],
    [benches.buildBig, benches.buildText],
  ];

  console.log(`node ${process.version}, ${rounds} rounds of ${roundMs} ms per benchmark, median reported`);
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
  console.log('');
  for (const b of all) console.log(`${b.name.padEnd(52)} ${fmt(rate(b)).padStart(10)} ops/s ${us(b).padStart(11)}  (${spread(b)})`);

  const ratio = timeRatio(benches.parse, benches.split);
  const vsDecode = timeRatio(benches.parse, benches.splitDecode);
  const library = timeRatio(benches.mailsplit, benches.parse);
  const textRate = rate(benches.textOnly);
  console.log('');
  console.log(`parse / bare split time:          ${ratio.toFixed(1)}x (target ≤ ${TARGET_RATIO}x: ${ratio <= TARGET_RATIO ? 'PASS' : 'FAIL'})`);
  console.log(`parse / (bare split + base64):    ${vsDecode.toFixed(1)}x`);
  console.log(`mailsplit's share of a parse:     ${(library * 100).toFixed(0)}%`);
  console.log(`text-only SubmitReq:              ${fmt(textRate)}/s (target ≥ ${fmt(TARGET_TEXT_ONLY)}/s: ${textRate >= TARGET_TEXT_ONLY ? 'PASS' : 'FAIL'})`);
  console.log(`(${((performance.now() - started) / 1000).toFixed(1)} s, checksum ${sink % 1000})`);
}

await main();
