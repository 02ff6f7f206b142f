import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import t, { type Test } from 'tap';
import { decodeMm7Http, encodeMm7Http } from '../../protocol/mm7/http.js';
import type { MimeEntity } from '../../protocol/mm7/mime-types.js';
import { ArchiveNode } from '../../src/archive/node.js';
import { loadArchiveConfig } from '../../src/config/archive.js';
import { loadMmscConfig } from '../../src/config/mmsc.js';
import { MmscNode } from '../../src/mmsc/node.js';
import { submitEnvelope } from '../helpers/mm7.js';
import { until } from '../helpers/wait.js';

// Issue 8, proof: "Server 1 killed in the middle of forwarding: after
// restart every message is archived exactly once." Server 1 runs in a
// child process and is SIGKILLed while it accepts a burst for an archive
// subscriber and forwards it. To make the kill land where at-least-once
// delivery hurts, a proxy in front of server 2 lets the first forwards
// through, then passes the next ones to server 2 (which commits them) but
// never answers: at the kill, server 2 holds copies that DB1 still has as
// pending. The restarted server 1 must send those again, and server 2 must
// store them once.

const SUBSCRIBER = '+15550001111';
const AUTH = `Basic ${Buffer.from('demo:demo').toString('base64')}`;
/** A safety cap: the submitters run until the kill. */
const BURST = 5000;
/** Forwards answered before the proxy starts withholding answers. */
const PASSED_BEFORE_HOLD = 24;
/** Answers withheld before the kill: at most the outbox's concurrency for 'archive-forward' (16, archiving.ts) can be. */
const HELD_BEFORE_KILL = 8;
/** Acknowledged submits before the kill: the burst is still being accepted when it lands. */
const ACKED_BEFORE_KILL = 64;

const JPEG = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(1500, 0x5a), Buffer.from([0xff, 0xd9])]);
const content: MimeEntity = {
  mediaType: 'multipart/mixed',
  params: {},
  contentId: 'content-1',
  headers: [],
  parts: [
    { mediaType: 'text/plain', params: { charset: 'utf-8' }, contentId: 'txt', headers: [], body: Buffer.from('a burst for the archive') },
    { mediaType: 'image/jpeg', params: {}, contentId: 'img', headers: [], body: JPEG },
  ],
};

function tmp(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'mmsc-archiving-kill-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Server 1's configuration, the same for the child and the restarted node. */
function server1Config(dir: string, archiveUrl: string): Record<string, unknown> {
  return {
    data: dir,
    mm7: { listen: '127.0.0.1:0' },
    mm1: { listen: '127.0.0.1:0' },
    admin: { listen: '127.0.0.1:0', token: 'demo' },
    ttl: { default: '1h' },
    // Long timeout: a withheld answer keeps its forward in flight until the kill.
    archive: { mode: 'synchronized', url: archiveUrl, timeout: '120s' },
    vasps: [{ vaspId: 'demo', vasIds: ['demo'], user: 'demo', password: 'demo', shortCodes: ['12345'], loopbackOnly: true, submitsPerSecond: 100_000 }],
  };
}

const ext = import.meta.url.endsWith('.ts') ? 'ts' : 'js';
const NODE_MODULE = new URL(`../../src/mmsc/node.${ext}`, import.meta.url).href;
const CONFIG_MODULE = new URL(`../../src/config/mmsc.${ext}`, import.meta.url).href;
const TS_LOADER = process.execArgv.filter((a) => /typescript/.test(a));

/** Server 1 in a child node (tap's TypeScript loader); resolves with its MM7 URL once it has pulled the subscription. */
function server1Child(t: Test, config: Record<string, unknown>): Promise<{ mm7: string; kill: () => Promise<NodeJS.Signals | null> }> {
  const script = `
    import { writeSync } from 'node:fs';
    import { MmscNode } from ${JSON.stringify(NODE_MODULE)};
    import { loadMmscConfig } from ${JSON.stringify(CONFIG_MODULE)};
    const node = new MmscNode({
      config: loadMmscConfig(${JSON.stringify(config)}),
      notifier: { notify: async () => {} },
      backoff: { baseMs: 50, maxMs: 200 },
    });
    const listeners = await node.start();
    await node.subscriptionSync.pull();
    if (!node.store.getSubscriber(${JSON.stringify(SUBSCRIBER)})?.archiveSubscriptionId) throw new Error('the subscription did not reach DB1');
    writeSync(1, 'READY ' + listeners.find((l) => l.what.startsWith('MM7')).url + '\\n');
  `;
  const proc = spawn(process.execPath, [...TS_LOADER, '--input-type=module', '--eval', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exit = new Promise<NodeJS.Signals | null>((res) => proc.once('exit', (_code, signal) => res(signal)));
  t.teardown(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  });
  let out = '';
  let err = '';
  proc.stderr.on('data', (c: Buffer) => (err += c.toString()));
  return new Promise((resolve, reject) => {
    proc.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      const ready = /^READY (\S+)$/m.exec(out);
      if (ready) resolve({ mm7: ready[1]!, kill: () => (proc.kill('SIGKILL'), exit) });
    });
    proc.once('exit', (code, signal) => reject(new Error(`server 1 exited ${code} ${signal} before it was ready: ${err}`)));
  });
}

/**
 * Forwards everything to server 2. Once `PASSED_BEFORE_HOLD` forwards
 * were answered and while `holding`, a forward still reaches server 2 (so
 * it is archived) but its answer is withheld.
 */
class Proxy {
  /** Withhold answers once enough have passed (false after the restart: answer everything). */
  armed = true;
  holding = false;
  passed = 0;
  held = 0;
  port = 0;
  readonly #server = createServer((req, res) => void this.#serve(req, res).catch(() => res.destroy()));

  constructor(private readonly upstream: string) {}

  async start(): Promise<void> {
    await new Promise<void>((r) => this.#server.listen(0, '127.0.0.1', r));
    this.port = (this.#server.address() as AddressInfo).port;
  }

  stop(): Promise<void> {
    this.#server.closeAllConnections();
    return new Promise((r) => this.#server.close(() => r()));
  }

  async #serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const headers: Record<string, string> = {};
    for (const h of ['content-type', 'authorization', 'x-archive-signature']) {
      const v = req.headers[h];
      if (typeof v === 'string') headers[h] = v;
    }
    const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
    const up = await fetch(`${this.upstream}${req.url ?? '/'}`, { method: req.method ?? 'GET', headers, ...(hasBody ? { body: Buffer.concat(chunks) } : {}) });
    const body = Buffer.from(await up.arrayBuffer());
    const isForward = req.method === 'POST' && (req.url ?? '').startsWith('/mm7');
    if (isForward && this.holding) {
      this.held++;
      return; // archived on server 2; server 1 never hears of it
    }
    if (isForward && ++this.passed >= PASSED_BEFORE_HOLD && this.armed) this.holding = true;
    const out: Record<string, string> = {};
    for (const h of ['content-type', 'x-archive-id']) {
      const v = up.headers.get(h);
      if (v !== null) out[h] = v;
    }
    res.writeHead(up.status, out);
    res.end(body);
  }
}

t.test('server 1 SIGKILLed while forwarding a burst: after restart every accepted message is archived exactly once', async (t) => {
  const archive = new ArchiveNode({
    config: loadArchiveConfig({
      data: tmp(t),
      listen: '127.0.0.1:0',
      mm7: { basic: { user: 'demo', password: 'demo' }, loopbackOnly: true },
      api: { token: 'demo' },
      tokens: { secret: 'a-test-secret-of-some-length' },
      demo: { subscriptions: [{ address: SUBSCRIBER, plan: 'full' }] },
    }),
  });
  await archive.start();
  t.teardown(() => archive.stop());
  const proxy = new Proxy(`http://127.0.0.1:${archive.port}`);
  await proxy.start();
  t.teardown(() => proxy.stop());

  const dir = tmp(t);
  const config = server1Config(dir, `http://127.0.0.1:${proxy.port}`);
  const started = Date.now();
  const child = await server1Child(t, config);
  t.comment(`server 1 (child) ready after ${Date.now() - started} ms`);

  // The VASP side: 4 submitters until the child dies; `acked` are the SubmitRsp 1000s.
  const { contentType, body: template } = await encodeMm7Http(submitEnvelope('kill-000000', [SUBSCRIBER], { subject: 'burst' }), content);
  const acked: string[] = [];
  let next = 0;
  let dead = false;
  const submitter = async (): Promise<void> => {
    while (!dead && next < BURST) {
      const tx = `kill-${String(next++).padStart(6, '0')}`;
      const body = Buffer.from(template.toString('latin1').replace('kill-000000', tx), 'latin1');
      try {
        const res = await fetch(child.mm7, { method: 'POST', headers: { 'Content-Type': contentType, Authorization: AUTH }, body });
        const answer = (await decodeMm7Http(res.headers.get('content-type') ?? '', Buffer.from(await res.arrayBuffer()))).envelope.message;
        if (answer.status?.code === 1000 && answer.messageId) acked.push(answer.messageId);
        else if (!dead) throw new Error(`submit ${tx} refused: ${JSON.stringify(answer.status)}`);
      } catch (e) {
        if (!dead) throw e;
      }
    }
  };
  let submitError: unknown;
  const submitters = Promise.all(Array.from({ length: 4 }, submitter)).catch((e: unknown) => void (submitError = e));

  // Forwards are stuck on withheld answers, and the burst is still coming in.
  await until('forwards withheld and submits acknowledged', () => {
    if (submitError !== undefined) throw submitError;
    return proxy.held >= HELD_BEFORE_KILL && acked.length >= ACKED_BEFORE_KILL;
  });
  dead = true;
  t.equal(await child.kill(), 'SIGKILL', 'server 1 died by SIGKILL');
  await submitters;
  const ackedAtKill = [...acked];
  t.comment(`killed after ${Date.now() - started} ms`);
  const heldAtKill = proxy.held;
  t.ok(ackedAtKill.length < BURST, `killed while accepting (${ackedAtKill.length} of ${BURST} acknowledged)`);

  // DB1 as the kill left it.
  const raw = new Database(join(dir, 'mmsc.sqlite'));
  t.equal(raw.pragma('integrity_check', { simple: true }), 'ok', 'DB1 intact after SIGKILL');
  const pending = (raw.prepare(`SELECT count(*) AS n FROM outbox WHERE kind = 'archive-forward' AND state = 'pending'`).get() as { n: number }).n;
  const archivedInDb1 = (raw.prepare(`SELECT count(*) AS n FROM archive_links WHERE address = ? AND state = 'archived'`).get(SUBSCRIBER) as { n: number }).n;
  raw.close();
  t.ok(pending >= heldAtKill, `killed in the middle of forwarding: ${pending} forwards pending, ${heldAtKill} of them already on server 2`);
  t.ok(archive.db.countMessages() > archivedInDb1, 'server 2 has copies that DB1 does not know are archived');

  // Restart on the same data dir; the proxy answers again.
  proxy.armed = false;
  proxy.holding = false;
  const duplicatesBefore = archive.receiver.stats.duplicates;
  const node = new MmscNode({ config: loadMmscConfig(config), notifier: { notify: async () => {} }, backoff: { baseMs: 50, maxMs: 200 } });
  await node.start();
  t.teardown(() => node.stop());
  const forwardsLeft = (): number =>
    (node.store.sqlite.prepare(`SELECT count(*) AS n FROM outbox WHERE kind = 'archive-forward'`).get() as { n: number }).n;
  await until('every forward done after the restart', () => forwardsLeft() === 0);
  t.comment(`all forwarded after ${Date.now() - started} ms`);

  const db1Ids = (node.store.sqlite.prepare('SELECT message_id FROM recipients WHERE address = ? ORDER BY message_id').all(SUBSCRIBER) as Array<{ message_id: string }>).map(
    (r) => r.message_id,
  );
  const records = archive.db.listByRecipient(SUBSCRIBER, 10_000);
  const perOriginal = new Map<string, number>();
  for (const r of records) perOriginal.set(r.originalId, (perOriginal.get(r.originalId) ?? 0) + 1);

  t.ok(db1Ids.length >= ackedAtKill.length, `DB1 kept every acknowledged message (${db1Ids.length} for the subscriber)`);
  t.same(
    ackedAtKill.filter((id) => perOriginal.get(id) !== 1),
    [],
    `each of the ${ackedAtKill.length} acknowledged messages is archived exactly once`,
  );
  t.same(
    [...perOriginal.entries()].filter(([, n]) => n !== 1),
    [],
    'no original message id has two records',
  );
  t.same([...perOriginal.keys()].sort(), db1Ids, "server 2's records are exactly DB1's messages for the subscriber");
  t.equal(records.length, db1Ids.length, 'one record per message');
  t.same(
    db1Ids.filter((id) => node.archive!.links(id).some((l) => l.state !== 'archived')),
    [],
    'every link is archived in DB1',
  );
  t.ok(
    archive.receiver.stats.duplicates - duplicatesBefore >= heldAtKill,
    `the ${heldAtKill} forwards whose answers were lost were sent again and stored once (${archive.receiver.stats.duplicates - duplicatesBefore} repeats answered)`,
  );
  const sample = records.find((r) => r.originalId === ackedAtKill[0]);
  t.same(
    sample && archive.db.getPart(sample.archiveId, 1)?.data,
    JPEG,
    'the content arrived whole',
  );
  t.equal(node.store.sqlite.pragma('integrity_check', { simple: true }), 'ok', 'DB1 intact after the restart');
});
