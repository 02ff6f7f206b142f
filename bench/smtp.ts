/**
 * SMTP (MM3) acceptance over loopback: mails with a 30 KB JPEG sent to a
 * local subscriber over N parallel SMTP connections (nodemailer pooled
 * transport, one mail per connection at a time) to the MMS-C's SMTP front
 * end, beside a bare smtp-server that parses the same mails with
 * mailparser and discards them, measured in the same run.
 *
 *   node dist/bench/smtp.js [--seconds S] [--connections N]
 *
 * Defaults: 6 s per server, 4 connections. The time is cut into 1 s
 * slices that alternate between the two servers (order reversed every
 * other pair), so a load spike on this shared machine hits both; the ratio
 * is the median of the slice pairs' rates.
 *
 * The MMS-C: an MmscNode on 127.0.0.1 (ports 0, DB1 in a temp dir, WAL,
 * synchronous=FULL: the 250 after DATA leaves after the fsync) with a
 * notifier that does nothing (the push job still runs, nothing is spooled).
 * Each mail: MIME check, mailparser, SMIL generation, DB1 commit with its
 * notification job. Client and both servers share one process.
 *
 * Target, printed and never enforced (exit 0): accepted mails/s ≥ 0.5× the
 * bare server's rate.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { simpleParser } from 'mailparser';
import { createTransport } from 'nodemailer';
import { SMTPServer } from 'smtp-server';
import { loadMmscConfig } from '../src/config/mmsc.js';
import { MmscNode } from '../src/mmsc/node.js';
import { fmt, median, parseArgs, positiveInt, type Flags } from './harness.js';

const TARGET_RATIO = 0.5;
const SLICE_MS = 1000;
const TO = '+15550002222/TYPE=PLMN@mms.local';

interface Opts {
  seconds: number;
  connections: number;
}
const FLAGS: Flags<Opts> = { '--seconds': ['seconds', positiveInt], '--connections': ['connections', positiveInt] };
const opts = parseArgs(process.argv.slice(2), { seconds: 6, connections: 4 }, FLAGS, '--seconds S --connections N');

// A baseline JPEG-like body: SOI, 30 KB of varied octets (base64 does not shrink it), EOI.
const jpeg = Buffer.alloc(30 * 1024);
for (let i = 0; i < jpeg.length; i++) jpeg[i] = (i * 2654435761) >>> 24;
jpeg.set([0xff, 0xd8, 0xff, 0xe0], 0);
jpeg.set([0xff, 0xd9], jpeg.length - 2);

/** The mail, composed once by nodemailer (its stream transport hands back the octets). */
async function composeMail(): Promise<Buffer> {
  const info = await createTransport({ streamTransport: true, buffer: true }).sendMail({
    from: 'bench@example.org',
    to: TO,
    subject: 'Bench picture',
    messageId: `<${ID_STAMP}@bench.example.org>`,
    text: 'A picture from the bench.',
    attachments: [{ filename: 'photo.jpg', content: jpeg, contentType: 'image/jpeg' }],
  });
  return info.message as Buffer;
}

function bareServer(): Promise<{ port: number; stop: () => Promise<void> }> {
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    disableReverseLookup: true,
    size: 4 << 20,
    onData(stream, _session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        simpleParser(Buffer.concat(chunks)).then(
          (mail) => cb(null, `discarded ${mail.attachments.length}`),
          (e: unknown) => cb(e as Error),
        );
      });
    },
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({ port: (server.server.address() as { port: number }).port, stop: () => new Promise((r) => server.close(() => r())) }),
    ),
  );
}

interface Side {
  name: string;
  port: number;
  transport: ReturnType<typeof createTransport>;
  sent: number;
  errors: number;
  latencies: number[];
  rates: number[];
}

function side(name: string, port: number): Side {
  const transport = createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true, pool: true, maxConnections: opts.connections, maxMessages: Infinity });
  return { name, port, transport, sent: 0, errors: 0, latencies: [], rates: [] };
}

/**
 * Each mail gets its own Message-ID: the MMS-C stores a repeated one (same
 * sender and recipients) once, as a retry of the same mail, which would
 * make the figure a duplicate check instead of an acceptance.
 */
const ID_STAMP = 'bench-000000000000';
let mailCount = 0;
function nextMail(template: Buffer): Buffer {
  const copy = Buffer.from(template);
  const at = copy.indexOf(ID_STAMP);
  copy.write(`bench-${String(++mailCount).padStart(12, '0')}`, at, 'latin1');
  return copy;
}

/** `connections` senders, each one mail at a time, for `ms`; returns mails accepted. */
async function slice(s: Side, raw: Buffer, ms: number): Promise<number> {
  const end = performance.now() + ms;
  let accepted = 0;
  const sender = async (): Promise<void> => {
    while (performance.now() < end) {
      const t0 = performance.now();
      try {
        await s.transport.sendMail({ envelope: { from: 'bench@example.org', to: [TO] }, raw: nextMail(raw) });
        s.latencies.push(performance.now() - t0);
        accepted++;
      } catch {
        s.errors++;
      }
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: opts.connections }, sender));
  s.rates.push((accepted * 1000) / (performance.now() - start));
  s.sent += accepted;
  return accepted;
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}

async function main(): Promise<void> {
  const started = performance.now();
  const dir = mkdtempSync(join(tmpdir(), 'mmsc-bench-smtp-'));
  const config = loadMmscConfig({
    data: dir,
    mm7: { listen: '127.0.0.1:0' },
    mm1: { listen: '127.0.0.1:0' },
    admin: { listen: '127.0.0.1:0' },
    smtp: { enabled: true, listen: '127.0.0.1:0', maxClients: 1000 },
  });
  const node = new MmscNode({ config, notifier: { notify: async () => {} } });
  const listeners = await node.start();
  const mmscPort = Number(new URL(listeners.find((l) => l.what.startsWith('SMTP'))!.url).port);
  const bare = await bareServer();
  const raw = await composeMail();
  const mmsc = side('MMS-C SMTP front end', mmscPort);
  const base = side('bare smtp-server + mailparser', bare.port);

  // Warm-up: connections opened, JIT warm, DB1 pages in.
  await slice(mmsc, raw, 500);
  const warmUpStored = mmsc.sent;
  await slice(base, raw, 500);
  for (const s of [mmsc, base]) {
    s.latencies = [];
    s.rates = [];
    s.sent = 0;
    s.errors = 0;
  }
  const ratios: number[] = [];
  const pairs = Math.max(1, Math.round(opts.seconds));
  for (let i = 0; i < pairs; i++) {
    const order = i % 2 === 0 ? [mmsc, base] : [base, mmsc];
    for (const s of order) await slice(s, raw, SLICE_MS);
    ratios.push(mmsc.rates.at(-1)! / base.rates.at(-1)!);
  }
  const stored = (node.store.sqlite.prepare('SELECT count(*) AS n FROM messages').get() as { n: number }).n - warmUpStored;

  console.log(`bench/smtp — node ${process.version}, ${opts.connections} connections, ${pairs} × ${SLICE_MS} ms slices per server, mail ${fmt(raw.length)} octets (30 KB JPEG, base64)`);
  for (const s of [mmsc, base]) {
    console.log(
      `  ${s.name.padEnd(32)} ${fmt(median(s.rates)).padStart(6)} mails/s  p50 ${percentile(s.latencies, 50).toFixed(1)} ms  p99 ${percentile(s.latencies, 99).toFixed(1)} ms  (${fmt(s.sent)} sent, ${s.errors} errors)`,
    );
  }
  const ratio = median(ratios);
  console.log(`  accepted / bare (median of slice pairs): ${ratio.toFixed(2)}  target ≥ ${TARGET_RATIO.toFixed(2)}: ${ratio >= TARGET_RATIO ? 'PASS' : 'FAIL'}`);
  console.log(`  messages stored in DB1 during the run: ${fmt(stored)} (one per 250: ${stored === mmsc.sent ? 'yes' : 'NO'})`);
  console.log(`(${((performance.now() - started) / 1000).toFixed(1)} s)`);

  mmsc.transport.close();
  base.transport.close();
  await bare.stop();
  await node.stop();
  rmSync(dir, { recursive: true, force: true });
}

await main();
