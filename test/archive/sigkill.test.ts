import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { encodeArchiveForward } from '../../src/archive/forward.js';
import { Db2 } from '../../src/store/db2.js';
import { BASIC, forwardOf, image, subscribe, tempDir, testRawConfig } from './helpers.js';

// Server 2 killed with SIGKILL in the middle of a burst of forwards. What
// it answered 1000 must survive (the answer waits for the fsynced commit);
// server 1 re-sends everything (at-least-once), and each message ends up
// archived exactly once in a sound file.

const CHILD = fileURLToPath(new URL('./child-node.ts', import.meta.url));
const FORWARDS = 1000;
const KILL_AFTER = 250;
const CONCURRENCY = 24;

async function startChild(t: { teardown(fn: () => unknown): void }, raw: Record<string, unknown>): Promise<{ child: ChildProcess; base: string; exited: Promise<number | null> }> {
  // process.execArgv carries tap's TypeScript loader, so the child runs the .ts sources too.
  const child = spawn(process.execPath, [...process.execArgv, CHILD, JSON.stringify(raw)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /PORT (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.on('exit', (code) => reject(new Error(`child exited (${code}) before listening`)));
  });
  return { child, base: `http://127.0.0.1:${port}`, exited };
}

t.test('SIGKILL during a burst: every acknowledged forward survives, a full re-send archives each once', async (t) => {
  const dir = tempDir(t);
  const raw = testRawConfig(dir);
  const first = await startChild(t, raw);
  const sub = await subscribe(first.base, '+15550001111');
  const png = await image('png', 40, 30);
  const bodies = await Promise.all(
    Array.from({ length: FORWARDS }, (_, i) =>
      encodeArchiveForward(
        forwardOf({
          subscriptionId: sub.id,
          originalMessageId: `burst-${i}`,
          transactionId: `tx-${i}`,
          parts: [{ contentType: 'text/plain; charset=utf-8', data: Buffer.from(`message ${i}`) }, { contentType: 'image/png', data: png }],
        }),
        BASIC,
      ),
    ),
  );
  const post = async (base: string, i: number): Promise<string | undefined> => {
    const { body, headers } = bodies[i]!;
    try {
      const res = await fetch(`${base}/mm7`, { method: 'POST', headers, body });
      const text = await res.text();
      return res.status === 200 && text.includes('<StatusCode>1000</StatusCode>') ? (res.headers.get('x-archive-id') ?? undefined) : undefined;
    } catch {
      return undefined; // the server died under this request
    }
  };

  const acked = new Map<number, string>();
  let next = 0;
  let killed = false;
  const worker = async (): Promise<void> => {
    while (next < FORWARDS && !killed) {
      const i = next++;
      const id = await post(first.base, i);
      if (id !== undefined && !killed) acked.set(i, id);
      if (acked.size >= KILL_AFTER && !killed) {
        killed = true;
        first.child.kill('SIGKILL');
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  t.ok(killed, 'killed during the burst');
  t.ok(acked.size >= KILL_AFTER && acked.size < FORWARDS, `killed mid-burst: ${acked.size} of ${FORWARDS} acknowledged`);
  await first.exited;

  // Restart on the same files; server 1 re-sends every forward.
  const second = await startChild(t, raw);
  const again = new Map<number, string>();
  next = 0;
  const resend = async (): Promise<void> => {
    while (next < FORWARDS) {
      const i = next++;
      const id = await post(second.base, i);
      if (id !== undefined) again.set(i, id);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, resend));
  t.equal(again.size, FORWARDS, 'every re-sent forward answered 1000');
  const lost = [...acked].filter(([i, id]) => again.get(i) !== id);
  t.same(lost, [], 'each acknowledged forward kept its archive id: it was on disk');

  second.child.kill('SIGTERM');
  t.equal(await second.exited, 0, 'clean stop');
  const db = new Db2(`${dir}/archive.sqlite`);
  t.teardown(() => db.close());
  t.equal(db.integrityCheck(), 'ok', 'PRAGMA integrity_check');
  t.equal(db.countMessages(), FORWARDS, 'each message archived exactly once');
  const ids = new Set(db.listBySubscription(sub.id, FORWARDS + 1).map((m) => m.originalId));
  t.equal(ids.size, FORWARDS, 'every original message id present');
  const sample = db.findByOriginal('burst-7', '+15550001111');
  t.equal(sample?.parts.length, 2);
  t.ok(db.getPart(sample!.archiveId, 1)?.data.equals(png), 'content intact');
});
