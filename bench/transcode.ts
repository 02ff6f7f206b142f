/**
 * The transcoder (src/transcode) against bare sharp, per terminal profile.
 *
 *   node dist/bench/transcode.js [--rounds N] [--round-ms MS] [--seconds S]
 *
 * For a 2048x1536 JPEG and each profile of conf/terminals, side by side in
 * 50 ms slices (bench/harness.ts): the transcoder's cold adaptation (no
 * cache: content hash, format choice, budget check, encode), the bare sharp
 * resize+encode of the same image to the same box and quality, and the
 * warm-cache adaptation (memory, then DB1 alone as after a restart).
 * "cold / bare" is the transcoder's overhead (target ≤ 1.2); "cold / warm"
 * what the cache saves (target ≥ 50x).
 *
 * Then the concurrency setting: adapted images/s with 1, 2 and 4
 * retrievals in flight (distinct images, no cache), and the event loop's
 * delay meanwhile — both cores should work (2 in flight ≈ 2x 1) while the
 * loop, which serves the accept path, stays responsive.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import sharp from 'sharp';
import type { MessageHead } from '../src/mmsc/convert.js';
import type { StoredMessage, StoredPart } from '../src/mmsc/model.js';
import { Db1 } from '../src/store/db1.js';
import {
  configureSharp,
  defaultProfileDir,
  loadProfileRegistry,
  MemoryAdaptationCache,
  SqliteAdaptationCache,
  TerminalTranscoder,
  type Adaptation,
  type AdaptationCache,
  type ProfileMatch,
} from '../src/transcode/index.js';
import { asyncBench, fmt, footer, header, measure, parseArgs, positiveInt, rate, ROUND_DEFAULTS, ROUND_FLAGS, spread, timeRatio, type Bench, type Flags, type RoundOpts } from './harness.js';

const OVERHEAD_LIMIT = 1.2;
const WARM_TARGET = 50;

/** No cache: every adaptation is cold. */
const noCache: AdaptationCache = { get: () => undefined, set: () => Promise.resolve() };

/** A photo-like 2048x1536 JPEG (gradients and detail, ~quality 90); `seed` makes distinct contents. */
async function photo(seed = 0): Promise<Buffer> {
  const width = 2048;
  const height = 1536;
  const raw = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 3;
      raw[o] = ((x * 255) / width + seed * 37) & 0xff;
      raw[o + 1] = (y * 255) / height;
      raw[o + 2] = ((x >> 3) ^ (y >> 3) ^ seed) & 0xff;
    }
  }
  return sharp(raw, { raw: { width, height, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
}

const RECIPIENT = '+15550002222';

/** A stored message as MmscService.retrieve hands it to the transcoder; `id` varies for cold runs (a new message each time). */
function stored(parts: StoredPart[], id = 'BENCH-1'): StoredMessage {
  return {
    ...head(),
    messageId: id,
    recipients: [{ address: RECIPIENT, kind: 'to', state: 'notified', token: 'AbCdEfGhIjKlMnOpQrStUv', updatedAt: new Date(0) }],
    size: parts.reduce((n, p) => n + p.data.length, 0),
    destroyed: false,
  };
}

function head(): MessageHead {
  return {
    messageId: 'BENCH-1',
    envelope: {
      from: '12345',
      to: ['+15550002222'],
      cc: [],
      bcc: [],
      subject: 'Bench',
      date: new Date(0),
      expiresAt: new Date(86_400_000),
      deliveryReport: false,
      readReport: false,
      contentType: 'multipart/mixed',
      allowAdaptations: true,
      origin: { interface: 'mm7', vaspId: 'demo', release: 'REL-5-MM7-1-0', mm7Version: '5.3.0' },
    },
  };
}

interface Opts extends RoundOpts {
  seconds: number;
}

const FLAGS: Flags<Opts> = { ...ROUND_FLAGS, '--seconds': ['seconds', positiveInt] };

/** Images/s with `inFlight` adaptations at once for `seconds`, and the event loop's delay meanwhile. */
async function throughput(tc: TerminalTranscoder, parts: StoredPart[][], match: ProfileMatch, inFlight: number, seconds: number): Promise<{ rate: number; p99: number; max: number }> {
  const h = monitorEventLoopDelay({ resolution: 5 });
  const until = performance.now() + seconds * 1000;
  let done = 0;
  h.enable();
  const start = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async (_, lane) => {
      for (let i = lane; performance.now() < until; i += inFlight) {
        await tc.adaptFor(head(), parts[i % parts.length]!, match);
        done++;
      }
    }),
  );
  const elapsed = performance.now() - start;
  h.disable();
  return { rate: (done * 1000) / elapsed, p99: h.percentile(99) / 1e6, max: h.max / 1e6 };
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2), { ...ROUND_DEFAULTS, seconds: 3 }, FLAGS, '--rounds N --round-ms MS --seconds S');
  const started = performance.now();
  configureSharp();
  const registry = loadProfileRegistry(defaultProfileDir());
  const jpeg = await photo();
  const parts: StoredPart[] = [{ contentType: 'image/jpeg', contentLocation: 'photo.jpg', data: jpeg }];
  const dir = mkdtempSync(join(tmpdir(), 'mmsgw-bench-transcode-'));
  const db = Db1.open(join(dir, 'db1.sqlite'));

  console.log(header(opts));
  console.log(`2048x1536 JPEG of ${fmt(jpeg.length)} octets; sharp ${sharp.versions.sharp}, libvips ${sharp.versions.vips}, sharp.concurrency ${sharp.concurrency()}, ${availableParallelism()} cores, UV_THREADPOOL_SIZE ${process.env.UV_THREADPOOL_SIZE ?? '4 (default)'}`);
  console.log('');

  const rows: Array<{ name: string; cold: Bench; bare: Bench; warm: Bench; warmDb: Bench; out: string }> = [];
  const groups: Bench[][] = [];
  for (const name of ['feature-phone', 'default', 'mid-range', 'smartphone']) {
    const profile = registry.byName(name)!;
    const match: ProfileMatch = { profile, by: 'default' };
    const box = profile.maxImage!;
    // The retrieval path: adapt() with the recipient, whose DB1 profile names this one.
    const subscriberProfile = (): string => name;
    const cold = new TerminalTranscoder({ profiles: registry, cache: noCache, subscriberProfile });
    const warm = new TerminalTranscoder({ profiles: registry, cache: new MemoryAdaptationCache(64 << 20), subscriberProfile });
    const sqlite = new SqliteAdaptationCache(db);
    const warmDb = new TerminalTranscoder({ profiles: registry, cache: sqlite, subscriberProfile });
    const message = stored(parts);
    const hints = { recipient: RECIPIENT };
    let coldIds = 0;
    const size = (ps: StoredPart[]): number => ps.reduce((n, p) => n + p.data.length, 0);

    // Check what is measured before measuring it: the same pixels and quality on both sides, and real hits.
    const first: Adaptation = await warm.adaptFor(head(), parts, match);
    await warmDb.adaptFor(head(), parts, match);
    await db.write(() => undefined); // the cache row is written by the next group commit
    const hit = await warm.adaptFor(head(), parts, match);
    const dbHit = await warmDb.adaptFor(head(), parts, match);
    if (!hit.cached || !dbHit.cached) throw new Error(`${name}: the warm cache does not hit`);
    if (warm.match(hints).profile !== profile) throw new Error(`${name}: the recipient does not match the profile`);
    const viaAdapt = await warm.adapt(message, parts, hints);
    if (!viaAdapt[0]!.data.equals(first.parts[0]!.data)) throw new Error(`${name}: adapt() and adaptFor() differ`);
    const bareOut = await sharp(jpeg).resize({ width: box.width, height: box.height, fit: 'inside', withoutEnlargement: true }).jpeg({ quality: 80 }).toBuffer({ resolveWithObject: true });
    const mine = await sharp(first.parts[0]!.data).metadata();
    if (mine.width !== bareOut.info.width || mine.height !== bareOut.info.height) throw new Error(`${name}: sizes differ (${mine.width}x${mine.height} vs ${bareOut.info.width}x${bareOut.info.height})`);

    const b = {
      // A new message id each time: the content hash is computed as for a first retrieval.
      cold: asyncBench(`${name}: transcoder, cold`, async () => size(await cold.adapt(stored(parts, `COLD-${coldIds++}`), parts, hints))),
      bare: asyncBench(`${name}: bare sharp resize+jpeg`, async () =>
        (await sharp(jpeg).resize({ width: box.width, height: box.height, fit: 'inside', withoutEnlargement: true }).jpeg({ quality: 80 }).toBuffer()).length,
      ),
      warm: asyncBench(`${name}: transcoder, warm (memory)`, async () => size(await warm.adapt(message, parts, hints))),
      warmDb: asyncBench(`${name}: transcoder, warm (DB1 only)`, async () => size(await warmDb.adapt(message, parts, hints))),
    };
    rows.push({ name, ...b, out: `${mine.width}x${mine.height}, ${fmt(first.parts[0]!.data.length)} octets` });
    groups.push(Object.values(b));
  }
  await measure(groups, opts);

  let ok = true;
  for (const r of rows) {
    const overhead = timeRatio(r.cold, r.bare);
    const warmGain = timeRatio(r.cold, r.warm);
    const warmDbGain = timeRatio(r.cold, r.warmDb);
    const pass = overhead <= OVERHEAD_LIMIT && warmGain >= WARM_TARGET;
    ok &&= pass;
    console.log(`${r.name} → ${r.out}`);
    for (const b of [r.cold, r.bare, r.warm, r.warmDb]) console.log(`  ${b.name.padEnd(44)} ${fmt(rate(b)).padStart(9)} images/s  (${spread(b)})`);
    console.log(`  cold / bare time = ${overhead.toFixed(2)} (target ≤ ${OVERHEAD_LIMIT})  cold / warm = ${fmt(warmGain)}x, cold / warm DB1 = ${fmt(warmDbGain)}x (target ≥ ${WARM_TARGET}x)  ${pass ? 'PASS' : 'FAIL'}`);
  }

  console.log('');
  console.log(`concurrency: mid-range, 4 distinct 2048x1536 JPEGs, no cache, ${opts.seconds} s each`);
  const distinct = await Promise.all([1, 2, 3, 4].map(async (seed) => [{ contentType: 'image/jpeg', contentLocation: `p${seed}.jpg`, data: await photo(seed) }]));
  const tc = new TerminalTranscoder({ profiles: registry, cache: noCache });
  const match: ProfileMatch = { profile: registry.byName('mid-range')!, by: 'default' };
  await throughput(tc, distinct, match, 1, 0.5);
  const results = [];
  for (const n of [1, 2, 4]) {
    const r = await throughput(tc, distinct, match, n, opts.seconds);
    results.push(r);
    console.log(`  ${n} in flight: ${r.rate.toFixed(1).padStart(6)} images/s, event loop delay p99 ${r.p99.toFixed(1)} ms, max ${r.max.toFixed(1)} ms`);
  }
  console.log(`  2 in flight / 1 in flight = ${(results[1]!.rate / results[0]!.rate).toFixed(2)}x (both cores: near 2 on an idle 2-core machine)`);
  console.log('');
  console.log(ok ? 'all profiles: PASS' : 'some profile: FAIL');
  console.log(footer(started));
  db.close();
  rmSync(dir, { recursive: true, force: true });
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 2;
});
