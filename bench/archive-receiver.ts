/**
 * The archive node's receiver (server 2 side of issue 8's bench/archive):
 * forwards archived per second, and the receiver's share of the
 * replication lag (DeliverReq sent → DeliverRsp 1000, which waits for the
 * fsynced group commit) at a steady rate. Server 1's outbox is not in this
 * measure; bench/archive (the lead's) adds it.
 *
 *   node dist/bench/archive-receiver.js [--rounds N] [--seconds S] [--clients C] [--rate R]
 *
 * - Throughput: C clients in a closed loop (each sends its next forward when
 *   the last is answered), `--seconds` per round, rounds alternating the
 *   `full` plan and the `photos` plan (extraction on server 2: SMIL and the
 *   third image dropped), median round and the ratio of the two.
 * - Lag: an open loop at `--rate` forwards/s for `--seconds`, p50/p99/max of
 *   the answer time, with and without extraction.
 * Each forward: SMIL, 3 × 20 KB JPEG, text — a typical MMS. Every one has a
 * fresh LinkedID (no duplicate short-cut). The node runs in this process on
 * loopback, with its DB2 in a temporary directory (WAL, synchronous=FULL).
 * Targets (printed, not enforced): ≥ 2 000 forwards/s; p99 < 200 ms at 500/s.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import sharp from 'sharp';
import { encodeArchiveForward, type ForwardAuth } from '../src/archive/forward.js';
import { ArchiveNode } from '../src/archive/node.js';
import { loadArchiveConfig } from '../src/config/archive.js';
import type { StoredPart } from '../src/mmsc/model.js';
import { fmt, median, parseArgs, positiveInt, type Flags } from './harness.js';

interface Opts {
  rounds: number;
  seconds: number;
  clients: number;
  rate: number;
}
const DEFAULTS: Opts = { rounds: 3, seconds: 3, clients: 32, rate: 500 };
const FLAGS: Flags<Opts> = { '--rounds': ['rounds', positiveInt], '--seconds': ['seconds', positiveInt], '--clients': ['clients', positiveInt], '--rate': ['rate', positiveInt] };
const AUTH: ForwardAuth = { kind: 'basic', user: 'bench', password: 'bench-password' };

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2), DEFAULTS, FLAGS, 'node dist/bench/archive-receiver.js [--rounds N] [--seconds S] [--clients C] [--rate R]');
  const dir = mkdtempSync(join(tmpdir(), 'bench-archive-'));
  const node = new ArchiveNode({
    config: loadArchiveConfig({
      data: dir,
      listen: '127.0.0.1:0',
      mm7: { basic: { user: 'bench', password: 'bench-password' } },
      api: { token: 'bench' },
      tokens: { secret: 'bench-secret-bench-secret' },
      plans: [{ name: 'full' }, { name: 'photos', extraction: { types: ['image/*'], maxImages: 2, text: true } }],
    }),
  });
  await node.start();
  const url = `http://127.0.0.1:${node.port}/mm7`;
  const full = await node.db.createSubscription('+15550001111', 'full');
  const photos = await node.db.createSubscription('+15550002222', 'photos');
  const subs = { full: 'created' in full ? full.created : full.existing, photos: 'created' in photos ? photos.created : photos.existing };

  // Noise, so the JPEG has a photo's size (~20 KB) rather than a flat colour's few hundred octets.
  const jpeg = await sharp({ create: { width: 200, height: 150, channels: 3, background: 'grey', noise: { type: 'gaussian', mean: 128, sigma: 40 } } })
    .jpeg({ quality: 80 })
    .toBuffer();
  const parts: StoredPart[] = [
    { contentType: 'application/smil', contentId: 'smil', data: Buffer.from('<smil><body><par dur="5s"><img src="a.jpg"/><text src="t.txt"/></par></body></smil>') },
    { contentType: 'image/jpeg', contentLocation: 'a.jpg', data: jpeg },
    { contentType: 'image/jpeg', contentLocation: 'b.jpg', data: jpeg },
    { contentType: 'image/jpeg', contentLocation: 'c.jpg', data: jpeg },
    { contentType: 'text/plain; charset=utf-8', contentLocation: 't.txt', data: Buffer.from('Greetings from the bench') },
  ];
  // One body per plan, built once; each send copies it with a fresh LinkedID
  // written over a fixed-width placeholder (Basic auth: no signature to redo).
  const PLACEHOLDER = 'bench-0000000000';
  const template = async (plan: 'full' | 'photos'): Promise<{ body: Buffer; headers: Record<string, string>; at: number }> => {
    const s = subs[plan];
    const f = await encodeArchiveForward(
      { release: 'REL-6-MM7-1-4', transactionId: 'bench', recipient: s.address, subscriptionId: s.id, originalMessageId: PLACEHOLDER, sender: '+15550009999', date: new Date(), contentType: 'multipart/related; type="application/smil"', parts },
      AUTH,
    );
    return { ...f, at: f.body.indexOf(PLACEHOLDER) };
  };
  const templates = { full: await template('full'), photos: await template('photos') };
  let seq = 0;
  const bodyOf = (plan: 'full' | 'photos'): { body: Buffer; headers: Record<string, string> } => {
    const t = templates[plan];
    const body = Buffer.from(t.body);
    body.write(`bench-${String(++seq).padStart(10, '0')}`, t.at, 'latin1');
    return { body, headers: t.headers };
  };
  const send = async (b: { body: Buffer; headers: Record<string, string> }): Promise<boolean> => {
    const res = await fetch(url, { method: 'POST', headers: b.headers, body: b.body });
    const text = await res.text();
    return res.status === 200 && text.includes('<StatusCode>1000</StatusCode>');
  };

  console.log(`node ${process.version}; load average before: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  console.log(`each forward ${fmt(templates.full.body.length)} octets (SMIL, 3 × ${fmt(jpeg.length)} octet JPEG, text)\n`);

  // ---- throughput, closed loop
  const rates: Record<'full' | 'photos', number[]> = { full: [], photos: [] };
  for (let r = 0; r < opts.rounds; r++) {
    for (const plan of r % 2 ? (['photos', 'full'] as const) : (['full', 'photos'] as const)) {
      let ok = 0;
      const start = performance.now();
      const end = start + opts.seconds * 1000;
      await Promise.all(
        Array.from({ length: opts.clients }, async () => {
          while (performance.now() < end) if (await send(bodyOf(plan))) ok++;
        }),
      );
      rates[plan].push(ok / ((performance.now() - start) / 1000));
    }
  }
  const fullRate = median(rates.full);
  const photosRate = median(rates.photos);
  console.log(`throughput, ${opts.clients} clients, ${opts.rounds} rounds of ${opts.seconds} s (median):`);
  console.log(`  archived whole        ${fmt(fullRate).padStart(7)} forwards/s   rounds ${rates.full.map(fmt).join(', ')}`);
  console.log(`  extraction on arrival ${fmt(photosRate).padStart(7)} forwards/s   rounds ${rates.photos.map(fmt).join(', ')}`);
  console.log(`  extraction / whole    ${(photosRate / fullRate).toFixed(2)}×   (target ≥ 2,000/s)\n`);

  // ---- lag at a steady rate, open loop
  console.log(`lag (DeliverReq sent → DeliverRsp 1000) at a steady ${opts.rate}/s for ${opts.seconds} s:`);
  for (const plan of ['full', 'photos'] as const) {
    const total = opts.rate * opts.seconds;
    const lags: number[] = [];
    let failed = 0;
    const start = performance.now();
    const pending: Array<Promise<unknown>> = [];
    for (let i = 0; i < total; i++) {
      const due = start + (i * 1000) / opts.rate;
      const wait = due - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      const sent = performance.now();
      pending.push(
        send(bodyOf(plan)).then(
          (ok) => (ok ? lags.push(performance.now() - sent) : failed++),
          () => failed++,
        ),
      );
    }
    await Promise.all(pending);
    lags.sort((a, b) => a - b);
    const q = (p: number): number => lags[Math.min(lags.length - 1, Math.floor(p * lags.length))] ?? NaN;
    console.log(`  ${plan === 'full' ? 'archived whole       ' : 'extraction on arrival'} p50 ${q(0.5).toFixed(1)} ms  p99 ${q(0.99).toFixed(1)} ms  max ${(lags.at(-1) ?? NaN).toFixed(1)} ms  failed ${failed}   (target p99 < 200 ms)`);
  }
  console.log(`\nDB2: ${fmt(node.db.stats.commits)} commits for ${fmt(node.db.stats.writes)} writes (largest batch ${node.db.stats.largestBatch}); load average after: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  await node.stop();
  rmSync(dir, { recursive: true, force: true });
}

await main();
