import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import { decodeMms } from '../../protocol/mms/codec.js';
import type { MNotificationInd, MRetrieveConf } from '../../protocol/mms/model.js';
import { decodeMmsPush } from '../../protocol/mms/push.js';
import { loadMmscConfig, type MmscConfig } from '../../src/config/mmsc.js';
import type { Transcoder } from '../../src/mmsc/mmsc.js';
import type { Clock } from '../../src/mmsc/model.js';
import { MmscNode } from '../../src/mmsc/node.js';
import type { Db1 } from '../../src/store/db1.js';

/**
 * Server 1 (MmscNode) for SMTP tests, every listener on 127.0.0.1 port 0,
 * DB1 and the push spool in a temp dir. SMTP is on; `raw` adds to the
 * configuration (deep enough for the keys the tests use).
 */
export interface Lab {
  node: MmscNode;
  config: MmscConfig;
  db: Db1;
  smtpPort: number;
  mm1Url: string;
  spool: string;
  stop(): Promise<void>;
}

export interface LabOptions {
  clock?: Clock;
  /** Instead of the node's own (which adapts images to the terminal on retrieval). */
  transcoder?: Transcoder;
}

export async function startLab(raw: { smtp?: Record<string, unknown>; routing?: Record<string, unknown> } & Record<string, unknown> = {}, o: LabOptions = {}): Promise<Lab> {
  const dir = mkdtempSync(join(tmpdir(), 'mmsc-smtp-'));
  const spool = join(dir, 'spool');
  const config = loadMmscConfig({
    data: dir,
    mm7: { listen: '127.0.0.1:0' },
    mm1: { listen: '127.0.0.1:0' },
    admin: { listen: '127.0.0.1:0' },
    notifier: { kind: 'spool', dir: spool },
    ...raw,
    smtp: { enabled: true, listen: '127.0.0.1:0', ...raw.smtp },
  });
  const node = new MmscNode({ config, ...(o.clock ? { clock: o.clock } : {}), ...(o.transcoder ? { transcoder: o.transcoder } : {}), backoff: { baseMs: 20, maxMs: 200 } });
  const listeners = await node.start();
  const smtpUrl = listeners.find((l) => l.what.startsWith('SMTP'))!.url;
  return {
    node,
    config,
    db: node.store,
    smtpPort: Number(new URL(smtpUrl).port),
    mm1Url: listeners.find((l) => l.what.startsWith('MM1'))!.url.replace(/\/$/, ''),
    spool,
    async stop() {
      await node.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface SwaksResult {
  code: number;
  output: string;
}

/** Runs swaks (the real SMTP client of the tests); resolves with its exit code and transcript. */
export function swaks(args: string[]): Promise<SwaksResult> {
  return new Promise((resolve) => {
    // POSIXLY_CORRECT: Getopt::Long then no longer reads `+15550002222/TYPE=…` as a `+option`.
    execFile('swaks', ['--hide-informational', ...args], { timeout: 30_000, maxBuffer: 8 << 20, env: { ...process.env, POSIXLY_CORRECT: '1' } }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, output: `${stdout}${stderr}` });
    });
  });
}

/**
 * Server replies of a swaks transcript (`<-  250 …`, `<** 550 …`, and
 * `<~`/`<~*` inside TLS), as [code, text without the enhanced status code].
 */
export function replies(output: string): Array<[number, string]> {
  return output
    .split('\n')
    .map((l) => /^<(?:-|\*\*|~|~\*)\s+(\d{3})[ -](?:\d\.\d{1,3}\.\d{1,3} )?(.*)$/.exec(l.trim()))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => [Number(m[1]), m[2]!]);
}

export interface Spooled {
  to: string;
  messageId: string;
  file: string;
}

export async function spooledPushes(spool: string, count: number): Promise<Spooled[]> {
  const index = join(spool, 'index.jsonl');
  for (let i = 0; i < 500; i++) {
    if (existsSync(index)) {
      const lines = readFileSync(index, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Spooled);
      if (lines.length >= count) return lines;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`fewer than ${count} pushes spooled`);
}

/** Reads the spooled push, fetches its Content-Location over MM1, decodes the M-Retrieve.conf. */
export async function retrieve(spool: string, push: Spooled): Promise<{ notification: MNotificationInd; conf: MRetrieveConf }> {
  const { mms } = decodeMmsPush(readFileSync(join(spool, push.file)));
  const notification = mms as MNotificationInd;
  const res = await fetch(notification.contentLocation);
  if (res.status !== 200) throw new Error(`retrieval answered ${res.status}`);
  const conf = decodeMms(Buffer.from(await res.arrayBuffer())) as MRetrieveConf;
  return { notification, conf };
}

/** A loopback SMTP sink (smtp-server) that parses what it gets; `refuse` answers DATA with that code while set. */
export interface Sink {
  port: number;
  received: Array<{ envelope: { from: string; to: string[] }; raw: Buffer; mail: ParsedMail }>;
  refuse: number | undefined;
  attempts: number;
  stop(): Promise<void>;
}

export async function startSink(): Promise<Sink> {
  const sink: Sink = { port: 0, received: [], refuse: undefined, attempts: 0, stop: async () => undefined };
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    disableReverseLookup: true,
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        sink.attempts++;
        if (sink.refuse !== undefined) return cb(Object.assign(new Error('Try again later'), { responseCode: sink.refuse }));
        const raw = Buffer.concat(chunks);
        void simpleParser(raw, { keepCidLinks: true }).then((mail) => {
          sink.received.push({
            envelope: { from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', to: session.envelope.rcptTo.map((r) => r.address) },
            raw,
            mail,
          });
          cb();
        });
      });
    },
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  sink.port = (server.server.address() as { port: number }).port;
  sink.stop = () => new Promise((r) => server.close(() => r()));
  return sink;
}

/**
 * A real baseline JPEG (a gradient with noise, so it does not compress to
 * nothing): the node's transcoder decodes images on retrieval, and a small
 * valid one that fits every terminal profile is delivered as it is.
 */
export async function realJpeg(width = 96, height = 72): Promise<Buffer> {
  const { default: sharp } = await import('sharp');
  const pixels = Buffer.alloc(width * height * 3);
  for (let i = 0; i < pixels.length; i++) pixels[i] = ((i * 7) ^ (i >> 5) ^ ((i * 2654435761) >>> 27)) & 0xff;
  return sharp(pixels, { raw: { width, height, channels: 3 } }).jpeg({ quality: 80 }).toBuffer();
}
