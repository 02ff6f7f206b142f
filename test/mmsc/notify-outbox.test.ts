import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { decodeMm7Http, encodeMm7Http } from '../../protocol/mm7/http.js';
import type { MimeEntity } from '../../protocol/mm7/mime-types.js';
import { decodeMmsPush } from '../../protocol/mms/push.js';
import { loadMmscConfig } from '../../src/config/mmsc.js';
import { MmscNode } from '../../src/mmsc/node.js';
import type { Notifier, PushRequest } from '../../src/push/notifier.js';
import { submitEnvelope } from '../helpers/mm7.js';

// Notifications go through DB1's outbox: a bearer that fails is retried
// until it takes the push, exactly once; a node stopped (or crashed) before
// the bearer took it sends it after the restart.

const AUTH = `Basic ${Buffer.from('demo:demo').toString('base64')}`;
const content: MimeEntity = { mediaType: 'text/plain', params: { charset: 'utf-8' }, contentId: 'content-1', headers: [], body: Buffer.from('hello') };

function config(dir: string) {
  return loadMmscConfig({
    data: dir,
    mm7: { listen: '127.0.0.1:0' },
    mm1: { listen: '127.0.0.1:0' },
    admin: { listen: '127.0.0.1:0' },
    vasps: [{ vaspId: 'demo', vasIds: ['demo'], user: 'demo', password: 'demo', shortCodes: ['12345'], loopbackOnly: true, submitsPerSecond: 1000 }],
  });
}

/** A bearer that refuses its first `failures` pushes (temporary errors), then records them. */
class FlakyBearer implements Notifier {
  readonly taken: PushRequest[] = [];
  attempts = 0;
  constructor(private failures: number) {}
  async notify(push: PushRequest): Promise<void> {
    this.attempts++;
    if (this.failures > 0) {
      this.failures--;
      throw Object.assign(new Error('SMSC throttled'), { retryable: true, afterMs: 10 });
    }
    this.taken.push(push);
  }
}

async function submit(node: MmscNode, tx: string, to: string[]): Promise<string> {
  const url = node.listeners.find((l) => l.what.startsWith('MM7'))!.url;
  const { contentType, body } = await encodeMm7Http(submitEnvelope(tx, to), content);
  const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': contentType, Authorization: AUTH }, body });
  const answer = (await decodeMm7Http(res.headers.get('content-type')!, Buffer.from(await res.arrayBuffer()))).envelope.message;
  if (answer.status?.code !== 1000 || !answer.messageId) throw new Error(`submit refused: ${JSON.stringify(answer.status)}`);
  return answer.messageId;
}

async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

t.test('a bearer that fails twice gets the push on the third try, once; the recipient is then notified', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mmsc-notify-'));
  const bearer = new FlakyBearer(2);
  const node = new MmscNode({ config: config(dir), notifier: bearer });
  await node.start();
  t.teardown(async () => {
    await node.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const id = await submit(node, 'flaky-1', ['+15550002222']);
  await until(() => bearer.taken.length === 1);
  await node.outboxWorker.idle();
  t.equal(bearer.attempts, 3);
  t.equal(bearer.taken.length, 1);
  const push = decodeMmsPush(bearer.taken[0]!.pushPdu);
  t.equal(push.mms.messageType, 'm-notification-ind');
  t.equal(node.store.getMessage(id)?.recipients[0]?.state, 'notified');
  t.same(node.outbox.forMessage(id), [], 'the job is gone once the bearer took it');
  const retries = node.store.events(id).filter((e) => e.type === 'notified');
  t.equal(retries.length, 1, 'one notified event');
});

t.test('a permanent bearer refusal ends the recipient as unroutable with the reason', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mmsc-notify-'));
  const node = new MmscNode({
    config: config(dir),
    notifier: {
      notify: async () => {
        throw Object.assign(new Error('invalid destination address'), { retryable: false });
      },
    },
  });
  await node.start();
  t.teardown(async () => {
    await node.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const id = await submit(node, 'perm-1', ['+15550002222']);
  await until(() => node.store.getMessage(id)?.recipients[0]?.state === 'unroutable');
  t.match(node.store.getMessage(id)?.recipients[0]?.reason, /notification failed: invalid destination address/);
  t.equal(node.outbox.forMessage(id)[0]?.lastError, 'invalid destination address', 'the failed job stays for the admin');
});

t.test('a push the bearer never took survives a restart and goes out once after it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mmsc-notify-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // First life: the bearer is down for good (a long retry delay keeps the job waiting).
  const down: Notifier = { notify: async () => Promise.reject(Object.assign(new Error('bind failed'), { afterMs: 3_600_000 })) };
  const first = new MmscNode({ config: config(dir), notifier: down });
  await first.start();
  const ids = [await submit(first, 'restart-1', ['+15550002222']), await submit(first, 'restart-2', ['+15550003333', '+15550004444'])];
  await first.outboxWorker.idle();
  await first.stop();

  // Second life: the jobs are in DB1, but not due for an hour. A worker kick
  // at start finds none due; moving their due time is what an operator's
  // "retry now" would do. Here the restart itself must not lose them.
  const bearer = new FlakyBearer(0);
  const second = new MmscNode({ config: config(dir), notifier: bearer, clock: { now: () => new Date(Date.now() + 3_700_000) } });
  await second.start();
  t.teardown(() => second.stop());
  await until(() => bearer.taken.length === 3);
  await second.outboxWorker.idle();
  t.same(bearer.taken.map((p) => p.to).sort(), ['+15550002222', '+15550003333', '+15550004444']);
  for (const id of ids) for (const r of second.store.getMessage(id)!.recipients) t.equal(r.state, 'notified', `${r.address} notified after the restart`);
});
