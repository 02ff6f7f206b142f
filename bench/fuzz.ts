/**
 * Mutation fuzzer for the decoders (mqtt-packet's testRandom, grown up).
 *
 *   node dist/bench/fuzz.js [--iterations N] [--seed S] [--from I]
 *
 * Every golden fixture (fixtures/pdu, plus the SMS user data of
 * fixtures/sms and a few PDUs built here) is mutated by bench/mutate.ts and
 * fed to its decoder chain:
 *
 *   mms   decodeMms → encodeMms → decodeMms of the re-encoding
 *   push  decodePush → encodePush, and the MMS chain on the body when the
 *         content type is application/vnd.wap.mms-message
 *   sms   decodeUserData → encodeUserData, and the push chain on the payload
 *
 * Findings (exit 1): any exception that is not a ProtocolError; a decode
 * ProtocolError without a known code or with an offset outside the input;
 * a decode slower than 50 ms (a potential hang) that stays slow when re-run;
 * a decode that never returns (a watchdog in the main thread stops the
 * fuzzing worker and names the iteration). Iteration I of seed S is built
 * from its own PRNG, so `--seed S --from I --iterations 1` replays it.
 */
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { ProtocolError, type ProtocolErrorCode } from '../protocol/errors.js';
import { decodeMms, encodeMms, type MmsPdu } from '../protocol/mms/index.js';
import { decodeUserData, encodeUserData } from '../protocol/wdp/index.js';
import { decodePush, encodePush, type MultipartEntry } from '../protocol/wsp/index.js';
import { loadHexFixtures, parseHex, type FixtureKind, type HexFixture } from '../test/helpers/fixtures.js';
import { parseArgs, type Flags, type Reader } from './harness.js';
import { iterationSeed, mulberry32, mutate } from './mutate.js';

export const PROTOCOL_ERROR_CODES: ReadonlySet<ProtocolErrorCode> = new Set<ProtocolErrorCode>([
  'TRUNCATED', 'BAD_LENGTH', 'BAD_VALUE', 'OVERFLOW', 'MISSING_HEADER', 'TRAILING_DATA', 'UNSUPPORTED', 'INCONSISTENT',
]);

/** A decode slower than this is a potential hang. */
export const SLOW_MS = 50;

const MMS_MESSAGE = 'application/vnd.wap.mms-message';

export type Stage = 'decodeUserData' | 'encodeUserData' | 'decodePush' | 'encodePush' | 'decodeMms' | 'encodeMms' | 'redecodeMms';

export const isDecode = (stage: Stage): boolean => stage.startsWith('decode');

/** One call of a codec function on the way down a chain. */
export interface Step {
  stage: Stage;
  /** What the stage was given (for encode stages: the octets the model was decoded from). */
  input: Uint8Array;
  ms: number;
  /** Whatever was thrown, or undefined when the call returned. */
  error: unknown;
}

/** What is wrong with a step, or null when it is fine. ProtocolErrors are fine; for decodes, only with a known code and an offset inside the input. */
export function problem(step: Step): string | null {
  const e = step.error;
  if (e === undefined) return null;
  if (!(e instanceof ProtocolError)) return `${step.stage} threw ${e instanceof Error ? e.name : typeof e}: ${e instanceof Error ? e.message : String(e)}`;
  if (!PROTOCOL_ERROR_CODES.has(e.code)) return `${step.stage} threw ProtocolError with unknown code ${String(e.code)}`;
  if (isDecode(step.stage) && step.stage !== 'redecodeMms' && !(e.offset >= 0 && e.offset <= step.input.length)) {
    return `${step.stage} threw ProtocolError ${e.code} with offset ${e.offset} outside 0..${step.input.length}`;
  }
  return null;
}

function call<T>(stage: Stage, input: Uint8Array, fn: () => T, on: (s: Step) => void): { value: T } | null {
  const t0 = performance.now();
  try {
    const value = fn();
    on({ stage, input, ms: performance.now() - t0, error: undefined });
    return { value };
  } catch (error) {
    on({ stage, input, ms: performance.now() - t0, error });
    return null;
  }
}

function mmsChain(bytes: Uint8Array, on: (s: Step) => void): void {
  const pdu = call('decodeMms', bytes, () => decodeMms(bytes), on);
  if (!pdu) return;
  const again = call('encodeMms', bytes, () => encodeMms(pdu.value), on);
  // What we encode we must be able to read back; a ProtocolError here is a
  // counted oddity (the decoder accepted what the encoder cannot express), not a crash.
  if (again) call('redecodeMms', again.value, () => decodeMms(again.value), on);
}

function pushChain(bytes: Uint8Array, on: (s: Step) => void): void {
  const push = call('decodePush', bytes, () => decodePush(bytes), on);
  if (!push) return;
  call('encodePush', bytes, () => encodePush(push.value), on);
  const mt = push.value.contentType.mediaType;
  if (typeof mt === 'string' && mt.toLowerCase() === MMS_MESSAGE) mmsChain(push.value.body, on);
}

function smsChain(bytes: Uint8Array, on: (s: Step) => void): void {
  const ud = call('decodeUserData', bytes, () => decodeUserData(bytes), on);
  if (!ud) return;
  call('encodeUserData', bytes, () => encodeUserData(ud.value.header, ud.value.payload), on);
  pushChain(ud.value.payload, on);
}

/** Runs the decoder chain for `kind` on `bytes`; never throws, reports every call to `on`. */
export function runChain(kind: FixtureKind, bytes: Uint8Array, on: (s: Step) => void): void {
  if (kind === 'mms') mmsChain(bytes, on);
  else if (kind === 'push') pushChain(bytes, on);
  else smsChain(bytes, on);
}

/** Spec h.1: SMS user data = UDH (7) + WSP push (6) + M-Notification.ind (91). */
const H1_USER_DATA = parseHex(`
  06 05 04 0B 84 23 F0 07 06 03 BE AF 84 8C 82 98 41 31 62 32 43 33 00 8D
  92 89 17 80 2B 34 34 37 35 35 35 30 31 32 33 2F 54 59 50 45 3D 50 4C 4D
  4E 00 96 07 EA 50 68 6F 74 6F 00 8A 80 8E 02 79 18 88 05 81 03 02 A3 00
  83 68 74 74 70 3A 2F 2F 6D 6D 73 63 2E 65 78 61 6D 70 6C 65 2E 6E 65 74
  2F 72 2F 37 4B 71 32 00`);

function part(mediaType: string, headers: MultipartEntry['headers'], data: string | Uint8Array, params: MultipartEntry['contentType']['params'] = []): MultipartEntry {
  return { contentType: { mediaType, params }, headers, data: typeof data === 'string' ? Buffer.from(data, 'utf8') : data };
}

/**
 * Seeds that exist whatever fixtures are on disk: spec h.1 at its three
 * layers, an h.2-like M-Retrieve.conf and an M-Send.req that carries most
 * header kinds (so mutations reach every value reader).
 */
export function builtinSeeds(): HexFixture[] {
  const retrieveConf: MmsPdu = {
    messageType: 'm-retrieve-conf',
    transactionId: 'R9x',
    mmsVersion: '1.2',
    messageId: 'mid-001',
    date: new Date(1_700_000_000_000),
    from: { text: '+4475550123/TYPE=PLMN' },
    to: [{ text: '+4475550999/TYPE=PLMN' }],
    subject: { text: 'Hi é', charset: 106 },
    messageClass: 'Personal',
    previouslySentBy: [{ forwardCount: 1, address: { text: 'a@example.org' } }],
    previouslySentDate: [{ forwardCount: 1, date: new Date(1_600_000_000_000) }],
    contentType: { mediaType: 'application/vnd.wap.multipart.related', params: [{ name: 'start', value: '<smil>' }, { name: 'type', value: 'application/smil' }] },
    body: [
      part('application/smil', [{ name: 'Content-ID', value: '<smil>' }, { name: 'Content-Location', value: 's.smil' }], '<smil><body><par dur="5s"><img src="i.gif"/><text src="t.txt"/></par></body></smil>'),
      part('text/plain', [{ name: 'Content-ID', value: '<txt1>' }, { name: 'Content-Location', value: 't.txt' }], 'Hi é', [{ name: 'charset', value: 'utf-8' }]),
      part('image/gif', [{ name: 'Content-ID', value: '<img1>' }, { name: 'Content-Location', value: 'i.gif' }], Buffer.from('47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b', 'hex')),
    ],
  };
  const sendReq: MmsPdu = {
    messageType: 'm-send-req',
    transactionId: 'T-1',
    mmsVersion: '1.3',
    date: new Date(1_700_000_000_000),
    from: 'insert-address',
    to: [{ text: '+4475550999/TYPE=PLMN' }, { text: 'ü@example.org', charset: 106 }],
    cc: [{ text: '192.0.2.1/TYPE=IPv4' }],
    bcc: [{ text: 'b@example.org' }],
    subject: { text: 'Ωmega', charset: 1000 },
    messageClass: 'x-custom',
    expiry: { absolute: new Date(1_700_086_400_000) },
    deliveryTime: { relative: 3600 },
    priority: 'High',
    senderVisibility: 'Show',
    deliveryReport: true,
    readReport: false,
    store: true,
    mmState: ['Draft'],
    mmFlags: [{ action: 'Add', flag: { text: 'urgent' } }],
    replyCharging: 'Requested',
    replyChargingDeadline: { relative: 86400 },
    replyChargingSize: 1000,
    applicId: 'app',
    contentClass: 'image-basic',
    drmContent: false,
    adaptationAllowed: true,
    otherHeaders: [{ name: 'X-Extra', value: 'yes' }],
    contentType: { mediaType: 'text/plain', params: [{ name: 'charset', value: 'utf-8' }] },
    body: Buffer.from('hello', 'utf8'),
  };
  return [
    { name: 'builtin:h1-sms', as: 'sms', bytes: H1_USER_DATA },
    { name: 'builtin:h1-push', as: 'push', bytes: H1_USER_DATA.subarray(7) },
    { name: 'builtin:h1-mms', as: 'mms', bytes: H1_USER_DATA.subarray(13) },
    { name: 'builtin:retrieve-conf', as: 'mms', bytes: encodeMms(retrieveConf) },
    { name: 'builtin:send-req', as: 'mms', bytes: encodeMms(sendReq) },
  ];
}

/** Golden fixtures of fixtures/pdu, SMS user data of fixtures/sms, then the built-in seeds. */
export function allSeeds(): HexFixture[] {
  return [
    ...loadHexFixtures('fixtures/pdu').map((f) => ({ ...f, name: `pdu/${f.name}` })),
    ...loadHexFixtures('fixtures/sms', 'sms').map((f) => ({ ...f, name: `sms/${f.name}` })),
    ...builtinSeeds(),
  ];
}

/** The input of iteration `i` of run `seed`. */
export function fuzzInput(seeds: readonly HexFixture[], seed: number, i: number): { fixture: HexFixture; bytes: Buffer } {
  const fixture = seeds[i % seeds.length]!;
  const rng = mulberry32(iterationSeed(seed, i));
  return { fixture, bytes: mutate(fixture.bytes, rng, seeds.map((s) => s.bytes)) };
}

// ---------------------------------------------------------------------------
// The script.

interface Options {
  iterations: number;
  seed: number;
  from: number;
}

const count: Reader<number> = (raw, flag) => {
  const v = Number(raw);
  if (!Number.isInteger(v) || v < 0) throw new Error(`${flag} needs a non-negative integer`);
  return v;
};

const FLAGS: Flags<Options> = {
  '--iterations': ['iterations', count],
  '--seed': ['seed', (raw, flag) => count(raw, flag) >>> 0],
  '--from': ['from', count],
};

const MAX_HEX = 4096;

function hexOf(bytes: Uint8Array): string {
  const hex = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
  return bytes.length <= MAX_HEX ? hex : `${hex.slice(0, MAX_HEX * 2)}… (${bytes.length} octets, replay for all)`;
}

function replayHint(opts: Options, i: number): string {
  return `node dist/bench/fuzz.js --seed ${opts.seed} --from ${i} --iterations 1`;
}

/**
 * Progress shared with the watchdog: [what is being decoded, 1 when done].
 * Slot 0 holds the iteration, or -1 - k while unmutated seed k is decoded.
 */
const PROGRESS_SLOTS = 2;
const NOT_STARTED = -0x80000000;

function rerunMs(kind: FixtureKind, step: Step): number {
  // The minimum of three re-runs of the one stage separates a slow decoder from a GC pause.
  let best = Infinity;
  for (let k = 0; k < 3; k++) {
    const t0 = performance.now();
    try {
      if (step.stage === 'decodeMms' || step.stage === 'redecodeMms') decodeMms(step.input);
      else if (step.stage === 'decodePush') decodePush(step.input);
      else if (step.stage === 'decodeUserData') decodeUserData(step.input);
      else runChain(kind, step.input, () => undefined);
    } catch {
      // Only the time matters here.
    }
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}

function fuzz(opts: Options, progress: Int32Array): boolean {
  const seeds = allSeeds();
  const count = (prefix: string): number => seeds.filter((s) => s.name.startsWith(prefix)).length;
  console.log(`seed ${opts.seed}, iterations ${opts.from}..${opts.from + opts.iterations - 1}`);
  console.log(`seeds: ${seeds.length} (fixtures/pdu ${count('pdu/')}, fixtures/sms ${count('sms/')}, built-in ${count('builtin:')})`);
  if (count('pdu/') === 0) console.log('note: no fixtures/pdu/*.hex yet; fuzzing the built-in and SMS seeds only');

  // Unmutated seeds first: a golden fixture that does not decode is worth knowing.
  for (const [k, s] of seeds.entries()) {
    Atomics.store(progress, 0, -1 - k);
    let first = true;
    runChain(s.as, s.bytes, (st) => {
      if (st.error !== undefined && isDecode(st.stage) && s.name.startsWith('pdu/')) {
        const msg = st.error instanceof Error ? st.error.message : String(st.error);
        console.log(first ? `note: golden fixture ${s.name} (${s.as}) does not decode: ${msg}` : `note: golden fixture ${s.name} (${s.as}): its payload does not decode (${st.stage}: ${msg}); a fragment?`);
      }
      if (isDecode(st.stage)) first = false;
    });
  }

  const outcomes = new Map<string, number>();
  const bump = (key: string): void => void outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
  const findings = new Map<string, { count: number; report: string }>();
  const slowest = { ms: 0, where: '' };
  /** Octets the encoder wrote from a decoded PDU that the decoder then refused: not a crash, but worth a look. */
  const oddities = new Map<string, string>();
  let mmsInput: Uint8Array = new Uint8Array(0);
  let noisy = 0;
  let decodes = 0;
  let iteration = 0;
  let fixture: HexFixture = seeds[0]!;

  const onStep = (step: Step): void => {
    const e = step.error;
    bump(`${step.stage} ${e === undefined ? 'ok' : e instanceof ProtocolError ? e.code : 'CRASH'}`);
    if (isDecode(step.stage)) decodes++;
    const what = problem(step);
    if (what !== null) {
      const stack = e instanceof Error ? e.stack ?? String(e) : String(e);
      const key = `${what}\n${stack.split('\n').slice(1, 3).join('\n')}`;
      const known = findings.get(key);
      if (known) known.count++;
      else {
        findings.set(key, {
          count: 1,
          report: [
            `FINDING: ${what}`,
            `  seed ${opts.seed}, iteration ${iteration}, fixture ${fixture.name} (${fixture.as})`,
            `  replay: ${replayHint(opts, iteration)}`,
            `  ${step.stage} input (${step.input.length} octets): ${hexOf(step.input)}`,
            `  ${stack.replace(/\n/g, '\n  ')}`,
          ].join('\n'),
        });
      }
    }
    if (step.stage === 'redecodeMms' && e instanceof ProtocolError) {
      const key = e.message.replace(/\d+/g, 'N');
      if (!oddities.has(key)) oddities.set(key, `${e.message}\n    decoded from: ${hexOf(mmsInput)}\n    re-encoded:   ${hexOf(step.input)}`);
    }
    if (step.stage === 'decodeMms') mmsInput = step.input;
    if (isDecode(step.stage) && step.ms > slowest.ms) {
      slowest.ms = step.ms;
      slowest.where = `${step.stage}, iteration ${iteration}, fixture ${fixture.name}, ${step.input.length} octets`;
    }
    if (isDecode(step.stage) && step.ms > SLOW_MS) {
      const again = rerunMs(fixture.as, step);
      if (again > SLOW_MS) {
        findings.set(`slow ${iteration} ${step.stage}`, {
          count: 1,
          report: [
            `FINDING: ${step.stage} took ${step.ms.toFixed(1)} ms (re-run: ${again.toFixed(1)} ms, limit ${SLOW_MS} ms)`,
            `  seed ${opts.seed}, iteration ${iteration}, fixture ${fixture.name} (${fixture.as})`,
            `  replay: ${replayHint(opts, iteration)}`,
            `  input (${step.input.length} octets): ${hexOf(step.input)}`,
          ].join('\n'),
        });
      } else {
        noisy++;
      }
    }
  };

  const others = seeds.map((s) => s.bytes);
  const t0 = performance.now();
  for (let i = opts.from; i < opts.from + opts.iterations; i++) {
    iteration = i;
    Atomics.store(progress, 0, i);
    fixture = seeds[i % seeds.length]!;
    const input = mutate(fixture.bytes, mulberry32(iterationSeed(opts.seed, i)), others);
    runChain(fixture.as, input, onStep);
  }
  const seconds = (performance.now() - t0) / 1000;

  console.log(`\n${opts.iterations} iterations in ${seconds.toFixed(2)} s: ${Math.round(opts.iterations / seconds)} iterations/s, ${Math.round(decodes / seconds)} decodes/s`);
  const stages: Stage[] = ['decodeUserData', 'encodeUserData', 'decodePush', 'encodePush', 'decodeMms', 'encodeMms', 'redecodeMms'];
  for (const stage of stages) {
    const mine = [...outcomes].filter(([k]) => k.startsWith(`${stage} `)).map(([k, n]) => [k.slice(stage.length + 1), n] as const);
    if (mine.length === 0) continue;
    const total = mine.reduce((s, [, n]) => s + n, 0);
    const ok = mine.find(([k]) => k === 'ok')?.[1] ?? 0;
    const crashes = mine.find(([k]) => k === 'CRASH')?.[1] ?? 0;
    const errs = mine.filter(([k]) => k !== 'ok' && k !== 'CRASH').sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`);
    console.log(
      `  ${stage.padEnd(15)} ${String(total).padStart(7)} calls: ok ${ok}` +
        (errs.length ? `; ProtocolError ${errs.join(', ')}` : '') +
        (crashes ? `; OTHER EXCEPTIONS ${crashes}` : ''),
    );
  }
  console.log(`slowest decode: ${slowest.ms.toFixed(3)} ms (${slowest.where}); limit ${SLOW_MS} ms${noisy ? `; ${noisy} slow once but fast on re-run (GC/noise)` : ''}`);

  if (oddities.size > 0) {
    console.log(`note: ${oddities.size} kind(s) of PDU that decode, re-encode, and then fail to decode (encoder and decoder disagree; not counted as findings):`);
    for (const o of [...oddities.values()].slice(0, 5)) console.log(`  ${o}`);
  }
  if (findings.size === 0) {
    console.log('findings: none');
    return true;
  }
  const total = [...findings.values()].reduce((s, f) => s + f.count, 0);
  console.log(`\nfindings: ${findings.size} distinct, ${total} in all`);
  for (const f of findings.values()) console.log(`\n${f.report}${f.count > 1 ? `\n  (${f.count} occurrences)` : ''}`);
  return false;
}

/** How long one iteration may run before the watchdog calls it a hang. */
const HANG_MS = 10_000;

function main(): void {
  let opts: Options;
  try {
    opts = parseArgs<Options>(process.argv.slice(2), { iterations: 200_000, seed: 0x5eed, from: 0 }, FLAGS, '--iterations N --seed S --from I');
  } catch (e) {
    console.error((e as Error).message);
    process.exit(2);
  }
  const progress = new Int32Array(new SharedArrayBuffer(PROGRESS_SLOTS * 4));
  progress[0] = NOT_STARTED;
  const worker = new Worker(new URL(import.meta.url), {
    workerData: { fuzz: opts, progress },
    // A decoder that allocates without bound is a finding too.
    resourceLimits: { maxOldGenerationSizeMb: 1024 },
  });
  let last = NOT_STARTED;
  let since = performance.now();
  let failed = false;
  /** Names what the worker was doing when it hung or died, with the input, rebuilt here from the seed. */
  const current = (why: string): void => {
    const i = Atomics.load(progress, 0);
    console.log(`\nFINDING: ${why}`);
    if (i === NOT_STARTED) {
      console.log('  before the first decode (loading the seeds?)');
      return;
    }
    try {
      const seeds = allSeeds();
      if (i < 0) {
        const seed = seeds[-1 - i]!;
        console.log(`  while decoding the unmutated seed ${seed.name} (${seed.as}): ${hexOf(seed.bytes)}`);
        return;
      }
      const { fixture, bytes } = fuzzInput(seeds, opts.seed, i);
      console.log(`  seed ${opts.seed}, iteration ${i}, fixture ${fixture.name} (${fixture.as})`);
      console.log(`  replay: ${replayHint(opts, i)}`);
      console.log(`  input (${bytes.length} octets): ${hexOf(bytes)}`);
    } catch (e) {
      console.log(`  (cannot rebuild the input: ${(e as Error).message})`);
    }
  };
  const watchdog = setInterval(() => {
    const i = Atomics.load(progress, 0);
    if (i !== last) {
      last = i;
      since = performance.now();
    } else if (performance.now() - since > HANG_MS) {
      failed = true;
      current(`no progress for ${HANG_MS / 1000} s (hang)`);
      clearInterval(watchdog);
      void worker.terminate();
    }
  }, 500);
  worker.on('message', (m: { ok: boolean }) => {
    if (!m.ok) failed = true;
  });
  worker.on('error', (e) => {
    failed = true;
    current(`the fuzzing worker died: ${e.stack ?? String(e)}`);
  });
  worker.on('exit', () => {
    clearInterval(watchdog);
    if (Atomics.load(progress, 1) !== 1 && !failed) {
      failed = true;
      current('the fuzzing worker stopped before the last iteration');
    }
    process.exitCode = failed ? 1 : 0;
  });
}

if (!isMainThread && (workerData as { fuzz?: Options } | null)?.fuzz) {
  const data = workerData as { fuzz: Options; progress: Int32Array };
  const ok = fuzz(data.fuzz, data.progress);
  Atomics.store(data.progress, 1, 1);
  parentPort!.postMessage({ ok });
} else if (isMainThread && process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main();
}
