/**
 * DB1 accept throughput: what group commit buys.
 *
 *   node dist/bench/store.js [--n 1000] [--batch 50] [--rounds 3] [--dir DIR]
 *
 * Each round opens a fresh DB1 file under DIR (default: os.tmpdir(); put it
 * on the disk you will run on: the figure is mostly fsync time) and accepts
 * N messages of 1 KB content with one recipient, in two ways:
 *   batched:    N/B rounds of B accepts issued together (Promise.all), as
 *               B concurrent MM7/MM1 requests would;
 *   one by one: each accept awaited before the next, so every accept is its
 *               own transaction and its own fsync.
 * Every accept resolves only after its transaction is durable (WAL,
 * synchronous=FULL) in both modes. Rates are medians over the rounds; the
 * two modes alternate so a disk that slows down hits both.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { NewMessage } from '../src/mmsc/model.js';
import { Db1 } from '../src/store/db1.js';
import { fmt, median, parseArgs, positiveInt, text, type Flags } from './harness.js';

interface Opts {
  n: number;
  batch: number;
  rounds: number;
  dir: string;
}

const FLAGS: Flags<Opts> = { '--n': ['n', positiveInt], '--batch': ['batch', positiveInt], '--rounds': ['rounds', positiveInt], '--dir': ['dir', text] };

const CONTENT = Buffer.alloc(1024, 0x5a);

function message(i: number): NewMessage {
  const now = Date.now();
  const to = `+1555${String(i).padStart(7, '0')}`;
  return {
    envelope: {
      from: '12345',
      to: [to],
      cc: [],
      bcc: [],
      subject: `bench ${i}`,
      date: new Date(now),
      expiresAt: new Date(now + 86_400_000),
      deliveryReport: false,
      readReport: false,
      contentType: 'text/plain; charset=us-ascii',
      allowAdaptations: true,
      origin: { interface: 'mm7', vaspId: 'demo', release: 'REL-5-MM7-1-3', mm7Version: '5.6.0', transactionId: `t${i}` },
    },
    parts: [{ contentType: 'text/plain; charset=us-ascii', data: CONTENT }],
    recipients: [{ address: to, kind: 'to', state: 'accepted' }],
  };
}

interface Run {
  rate: number;
  commits: number;
}

async function run(opts: Opts, batched: boolean): Promise<Run> {
  const dir = mkdtempSync(join(opts.dir, 'mmsgw-bench-store-'));
  const db = Db1.open(join(dir, 'db1.sqlite'), { idPrefix: 'b' });
  try {
    const msgs = Array.from({ length: opts.n }, (_, i) => message(i));
    const start = performance.now();
    if (batched) {
      for (let i = 0; i < opts.n; i += opts.batch) await Promise.all(msgs.slice(i, i + opts.batch).map((m) => db.accept(m)));
    } else {
      for (const m of msgs) await db.accept(m);
    }
    const ms = performance.now() - start;
    return { rate: (opts.n * 1000) / ms, commits: db.stats.commits };
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const opts = parseArgs<Opts>(process.argv.slice(2), { n: 1000, batch: 50, rounds: 3, dir: tmpdir() }, FLAGS, '--n N --batch B --rounds R --dir DIR');
  console.log(`node ${process.version}, DB1 under ${opts.dir}: ${opts.n} accepts of 1 KB, ${opts.rounds} rounds, median reported`);
  const batched: Run[] = [];
  const single: Run[] = [];
  for (let r = 0; r < opts.rounds; r++) {
    if (r % 2 === 0) {
      batched.push(await run(opts, true));
      single.push(await run(opts, false));
    } else {
      single.push(await run(opts, false));
      batched.push(await run(opts, true));
    }
  }
  const b = median(batched.map((x) => x.rate));
  const s = median(single.map((x) => x.rate));
  const line = (name: string, runs: Run[], rate: number): string =>
    `${name.padEnd(34)} ${fmt(rate).padStart(8)} accepts/s  (${runs.map((x) => fmt(x.rate)).join(', ')}; ${runs[0]!.commits} commits)`;
  console.log(line(`batched, ${opts.batch} concurrent`, batched, b));
  console.log(line('one at a time', single, s));
  console.log(`group commit: ${(b / s).toFixed(1)}x`);
}

await main();
