import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ArchiveNode } from '../../src/archive/node.js';
import { loadArchiveConfig } from '../../src/config/archive.js';
import { loadMmscConfig } from '../../src/config/mmsc.js';
import { MmscNode } from '../../src/mmsc/node.js';
import type { Notifier } from '../../src/push/notifier.js';
import { until } from '../helpers/wait.js';

// DB1 <-> DB2 synchronization (issue 8): each side pulls the other's
// sequence-numbered change feed from the position it stored, so the two
// converge after one of them was stopped while the other changed.

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

const quiet: Notifier = { notify: async () => undefined };
const BEARER = { Authorization: 'Bearer demo', 'Content-Type': 'application/json' };

t.test('the feeds converge after either node was stopped while the other changed', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mmsc-sync-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const [archivePort, adminPort] = [await freePort(), await freePort()];
  const archive = (): ArchiveNode =>
    new ArchiveNode({
      config: loadArchiveConfig({
        data: join(dir, 'archive'),
        listen: `127.0.0.1:${archivePort}`,
        mm7: { basic: { user: 'demo', password: 'demo' }, loopbackOnly: true },
        api: { token: 'demo' },
        tokens: { secret: 'a-test-secret-of-some-length' },
        sync: { server1: { url: `http://127.0.0.1:${adminPort}`, token: 'demo' }, pullEvery: '200ms' },
        demo: { subscriptions: [{ address: '+15550001111', plan: 'full' }] },
      }),
    });
  const server1 = (): MmscNode =>
    new MmscNode({
      notifier: quiet,
      config: loadMmscConfig({
        data: join(dir, 'mmsc'),
        mm7: { listen: '127.0.0.1:0' },
        mm1: { listen: '127.0.0.1:0' },
        admin: { listen: `127.0.0.1:${adminPort}`, token: 'demo' },
        archive: { mode: 'synchronized', url: `http://127.0.0.1:${archivePort}`, pullEvery: '200ms' },
      }),
    });

  let s2 = archive();
  await s2.start();
  let s1 = server1();
  await s1.start();
  await until('the demo subscription in DB1', () => s1.store.getSubscriber('+15550001111')?.archiveSubscriptionId != null);

  // Server 1 down; subscriptions change on server 2: one created, the demo one ended.
  await s1.stop();
  const created = await fetch(`http://127.0.0.1:${archivePort}/api/subscriptions`, { method: 'POST', headers: BEARER, body: JSON.stringify({ address: '+15550007777', plan: 'full' }) });
  t.equal(created.status, 201);
  const newId = ((await created.json()) as { id?: string; subscriptionId?: string }).id;
  const demo = s2.db.liveSubscriptionFor('+15550001111')!;
  const ended = await fetch(`http://127.0.0.1:${archivePort}/api/subscriptions/${demo.id}`, { method: 'DELETE', headers: BEARER });
  t.equal(ended.status < 300, true, 'the demo subscription ended');

  s1 = server1();
  await s1.start();
  t.teardown(() => s1.stop());
  await until('DB1 caught up with DB2', () => s1.store.getSubscriber('+15550007777')?.archiveSubscriptionId === newId && s1.store.getSubscriber('+15550001111')?.archiveSubscriptionId === null);
  t.pass('after its restart, DB1 has the new subscription and no longer the ended one');
  const status1 = (await (await fetch(`http://127.0.0.1:${adminPort}/api/sync/status`, { headers: BEARER })).json()) as { position: number; lag: number | null };
  t.ok(status1.position > 0, 'DB1 shows its position in the feed');
  t.equal(status1.lag, 0, 'and no lag');

  // Server 2 down; a subscriber's terminal profile changes on server 1.
  await s2.stop();
  const put = await fetch(`http://127.0.0.1:${adminPort}/api/subscribers/${encodeURIComponent('+15550007777')}`, {
    method: 'PUT',
    headers: BEARER,
    body: JSON.stringify({ profile: 'smartphone', archiveSubscriptionId: newId }),
  });
  t.ok(put.status < 300, 'the profile is set on server 1');
  s2 = archive();
  await s2.start();
  t.teardown(() => s2.stop());
  await until('DB2 caught up with DB1', () => s2.db.getSubscriber('+15550007777')?.profile === 'smartphone');
  t.pass('after its restart, DB2 has the terminal profile set while it was down');
  const status2 = (await (await fetch(`http://127.0.0.1:${archivePort}/api/sync/status`, { headers: BEARER })).json()) as Record<string, unknown>;
  t.ok(JSON.stringify(status2).includes('subscribers'), 'DB2 shows its position in DB1\'s feed');
});
