import { createServer, type Server } from 'node:http';
import t from 'tap';
import type { SubscriberFeedEntry, SubscriptionFeedPage, SyncHint } from '../../src/archive/sync.js';
import { listen, close } from '../../src/frontends/http-util.js';
import { api, startNode, subscribe, tempDir } from './helpers.js';

/** Polls `check` until it holds (convergence of an asynchronous pull), failing after ~5 s of tries. */
async function until(check: () => boolean | Promise<boolean>): Promise<boolean> {
  for (let i = 0; i < 250; i++) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}

/** A stand-in for server 1's side of the sync: its subscriber feed, and a record of the hints it got. */
async function fakeServer1(t: { teardown(fn: () => unknown): void }): Promise<{ url: string; feed: SubscriberFeedEntry[]; afters: number[]; hints: SyncHint[]; broken: { on: boolean } }> {
  const state = { feed: [] as SubscriberFeedEntry[], afters: [] as number[], hints: [] as SyncHint[], broken: { on: false } };
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (req.headers.authorization !== 'Bearer s1-token') {
      res.writeHead(401).end();
      return;
    }
    if (url.pathname === '/sync/subscribers') {
      const after = Number(url.searchParams.get('after'));
      const limit = Number(url.searchParams.get('limit'));
      state.afters.push(after);
      const head = state.feed.at(-1)?.seq ?? 0;
      const body = state.broken.on ? { changes: [{ seq: 'x' }], head } : { changes: state.feed.filter((c) => c.seq > after).slice(0, limit), head };
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
      return;
    }
    if (url.pathname === '/sync/hint' && req.method === 'POST') {
      let text = '';
      req.on('data', (d: Buffer) => (text += d.toString()));
      req.on('end', () => {
        state.hints.push(JSON.parse(text) as SyncHint);
        res.writeHead(202).end();
      });
      return;
    }
    res.writeHead(404).end();
  });
  const port = await listen(server, '127.0.0.1', 0);
  t.teardown(() => close(server));
  return { url: `http://127.0.0.1:${port}`, ...state };
}

t.test('the subscription feed pages by seq and records server 1\'s position', async (t) => {
  const { base } = await startNode(t);
  const ids: string[] = [];
  for (let i = 1; i <= 5; i++) ids.push((await subscribe(base, `+1555000100${i}`)).id);
  t.equal((await api(base, `/api/subscriptions/${ids[1]}`, { method: 'DELETE' })).status, 200);
  const pages: SubscriptionFeedPage[] = [];
  let after = 0;
  for (;;) {
    const res = await api(base, `/sync/subscriptions?after=${after}&limit=2`);
    t.equal(res.status, 200);
    const page = (await res.json()) as SubscriptionFeedPage;
    pages.push(page);
    if (page.changes.length === 0) break;
    after = page.changes.at(-1)!.seq;
  }
  t.same(
    pages.map((p) => p.changes.map((c) => c.seq)),
    [[1, 2], [3, 4], [5, 6], []],
    'pages of two, then an empty page',
  );
  t.ok(pages.every((p) => p.head === 6), 'head on every page');
  const all = pages.flatMap((p) => p.changes);
  t.same(all[0], { seq: 1, address: '+15550001001', subscriptionId: ids[0], plan: 'full', at: all[0]!.at });
  t.same(all[5], { seq: 6, address: '+15550001002', subscriptionId: null, plan: null, at: all[5]!.at }, 'the end of a subscription');
  const status = (await (await api(base, '/api/sync/status')).json()) as { subscriptions: { head: number; server1Position: number; server1Lag: number } };
  t.match(status.subscriptions, { head: 6, server1Position: 6, server1Lag: 0 });
  t.equal((await fetch(`${base}/sync/subscriptions?after=0`)).status, 401, 'behind the token');
  t.equal((await api(base, '/sync/subscriptions?after=-1')).status, 400);
});

t.test('server 1\'s subscriber feed: pulled at start and on a hint, position kept across a restart', async (t) => {
  const s1 = await fakeServer1(t);
  s1.feed.push({ seq: 1, address: '+15550001111', profile: 'nokia-n95' }, { seq: 2, address: '+15550002222', profile: null }, { seq: 3, address: '+15550003333', profile: 'iphone' });
  const dir = tempDir(t);
  const raw = { sync: { server1: { url: s1.url, token: 's1-token' }, pullEvery: '1h', pageSize: 2 } };
  const first = await startNode(t, { dir, raw });
  t.ok(await until(() => first.node.db.position('subscribers').position === 3), 'pulled all three pages at start');
  t.equal(first.node.db.getSubscriber('+15550001111')?.profile, 'nokia-n95');

  // A subscription made here is hinted to server 1 at once.
  await subscribe(first.base, '+15550001111');
  t.ok(await until(() => s1.hints.some((h) => h.feed === 'subscriptions' && h.head === 1)), 'server 1 got a hint');

  s1.feed.push({ seq: 4, address: '+15550001111', profile: 'nokia-n97' }, { seq: 5, address: '+15550002222', profile: null, deleted: true });
  const hint = await api(first.base, '/sync/hint', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ feed: 'subscribers', head: 5 }) });
  t.equal(hint.status, 202);
  t.ok(await until(() => first.node.db.position('subscribers').position === 5), 'the hint made it pull');
  t.equal(first.node.db.getSubscriber('+15550001111')?.profile, 'nokia-n97', 'updated');
  t.equal(first.node.db.getSubscriber('+15550002222'), undefined, 'deleted');
  const status = (await (await api(first.base, '/api/sync/status')).json()) as { subscribers: { position: number; remoteHead: number; lag: number; lastError: string | null } };
  t.match(status.subscribers, { position: 5, remoteHead: 5, lag: 0, lastError: null });

  // Stopped while server 1 changed: the restart resumes from the stored position.
  await first.node.stop();
  s1.feed.push({ seq: 6, address: '+15550004444', profile: 'lg' });
  s1.afters.length = 0;
  const second = await startNode(t, { dir, raw });
  t.ok(await until(() => second.node.db.position('subscribers').position === 6), 'converged after the restart');
  t.equal(s1.afters[0], 5, 'resumed after 5, not from the start');
  t.equal(second.node.db.getSubscriber('+15550004444')?.profile, 'lg');

  // A bad page is refused whole and reported.
  s1.broken.on = true;
  s1.feed.push({ seq: 7, address: '+15550005555', profile: null });
  await api(second.base, '/sync/hint', { method: 'POST', body: JSON.stringify({ feed: 'subscribers' }) });
  t.ok(
    await until(async () => ((await (await api(second.base, '/api/sync/status')).json()) as { subscribers: { lastError: string | null } }).subscribers.lastError !== null),
    'the error shows in the status',
  );
  t.equal(second.node.db.position('subscribers').position, 6, 'position unchanged');
  t.equal((await api(second.base, '/sync/hint', { method: 'POST', body: '{"feed":"nope"}' })).status, 400);
});
