import t from 'tap';
import { api, forwardOf, image, sendForward, startNode, subscribe, TEXT_PART } from './helpers.js';

const SUBSCRIBER = '+15550001111';

interface MessageJson {
  id: string;
  originalMessageId: string;
  subscriptionId: string;
  recipient: string;
  sender: string;
  date: string;
  archivedAt: string;
  subject: string | null;
  contentType: string;
  size: number;
  parts: Array<{ index: number; contentType: string; contentId: string | null; contentLocation: string | null; size: number; url: string }>;
  extractedOn: string | null;
  dropped: unknown[];
  trimmed: unknown[];
  additional: Record<string, unknown>;
}

t.test('subscriptions: create, conflict, validation, auth', async (t) => {
  const { base } = await startNode(t);
  const created = await api(base, '/api/subscriptions', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ address: '+15550001111', plan: 'photos' }) });
  t.equal(created.status, 201);
  const sub = (await created.json()) as Record<string, unknown>;
  t.match(sub, { address: '+15550001111', plan: 'photos', endedAt: null, createdAt: /^\d{4}-/, albumUrl: /\/album\/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/, confirmUrl: /\/confirm\// });
  t.match(sub.id, /^[A-Za-z0-9_-]{22}$/, '128 random bits');
  const again = await api(base, '/api/subscriptions', { method: 'POST', body: JSON.stringify({ address: '+15550001111' }) });
  t.equal(again.status, 409);
  t.equal(((await again.json()) as { subscriptionId: string }).subscriptionId, sub.id);
  const badPlan = await api(base, '/api/subscriptions', { method: 'POST', body: JSON.stringify({ address: '+15550002222', plan: 'gold' }) });
  t.equal(badPlan.status, 400);
  const badAddress = await api(base, '/api/subscriptions', { method: 'POST', body: JSON.stringify({ address: 'not a number' }) });
  t.equal(badAddress.status, 400);
  const national = await api(base, '/api/subscriptions', { method: 'POST', body: JSON.stringify({ address: '5550004444' }) });
  t.equal(((await national.json()) as { address: string }).address, '+15550004444', 'normalised to E.164');
  t.equal((await fetch(`${base}/api/subscriptions/${String(sub.id)}`)).status, 401, 'no token');
  t.equal((await fetch(`${base}/api/subscriptions/${String(sub.id)}`, { headers: { Authorization: 'Bearer wrong' } })).status, 401, 'wrong token');
  const other = await subscribe(base, '+15550005555');
  t.not(other.id, sub.id);
  const plans = (await (await api(base, '/api/plans')).json()) as { plans: Array<{ name: string; extraction: object }>; defaultPlan: string };
  t.same(
    plans.plans.map((p) => p.name),
    ['full', 'photos', 'voice'],
  );
  t.same(plans.plans[1]!.extraction, { types: ['image/*'], maxImages: 2, text: true }, 'the rules server 1 needs to extract');
  t.equal(plans.defaultPlan, 'full');
  const wrongMethod = await api(base, '/api/plans', { method: 'DELETE' });
  t.equal(wrongMethod.status, 405);
  t.equal(wrongMethod.headers.get('allow'), 'GET');
});

t.test('tool API: JSON shapes, newest first, byte-identical parts', async (t) => {
  const { base } = await startNode(t);
  const sub = await subscribe(base, SUBSCRIBER);
  const png = await image('png', 30, 20);
  const additional = { notice: 'Archived', geolocation: { lat: 1.5, lon: -2.25 } };
  const first = await sendForward(base, forwardOf({ subscriptionId: sub.id, originalMessageId: 'old', subject: 'first' }));
  const second = await sendForward(
    base,
    forwardOf({
      subscriptionId: sub.id,
      originalMessageId: 'new',
      subject: 'second',
      parts: [{ contentType: 'image/png', contentId: 'pic', contentLocation: 'pic.png', data: png }, TEXT_PART],
      additional,
    }),
  );
  const firstId = first.headers.get('x-archive-id')!;
  const secondId = second.headers.get('x-archive-id')!;

  const byAddress = (await (await api(base, `/api/messages?address=${SUBSCRIBER}`)).json()) as { address: string; messages: MessageJson[] };
  t.same(
    byAddress.messages.map((m) => m.id),
    [secondId, firstId],
    'newest first',
  );
  const m = byAddress.messages[0]!;
  t.same(m, {
    id: secondId,
    originalMessageId: 'new',
    subscriptionId: sub.id,
    recipient: SUBSCRIBER,
    sender: '+15550009999',
    date: '2026-11-20T10:00:00.000Z',
    archivedAt: m.archivedAt,
    subject: 'second',
    contentType: 'multipart/related; type="text/plain"',
    size: png.length + TEXT_PART.data.length,
    parts: [
      { index: 0, contentType: 'image/png', contentId: 'pic', contentLocation: 'pic.png', size: png.length, url: `/api/messages/${secondId}/parts/0` },
      { index: 1, contentType: TEXT_PART.contentType, contentId: 'text1', contentLocation: null, size: TEXT_PART.data.length, url: `/api/messages/${secondId}/parts/1` },
    ],
    extractedOn: null,
    dropped: [],
    trimmed: [],
    additional: { ...additional, archiveLink: m.additional.archiveLink },
  });
  t.match(m.archivedAt, /^\d{4}-\d\d-\d\dT/);
  t.match(m.additional.archiveLink, /\/album\//, "server 2 adds the subscriber's album link to what server 1 sent");

  const bySub = (await (await api(base, `/api/subscriptions/${sub.id}/messages`)).json()) as { messages: MessageJson[] };
  t.same(bySub.messages, byAddress.messages, 'the same through the subscription');
  const one = (await (await api(base, `/api/messages/${secondId}`)).json()) as MessageJson;
  t.same(one, m);

  const part = await api(base, `/api/messages/${secondId}/parts/0`);
  t.equal(part.status, 200);
  t.equal(part.headers.get('content-type'), 'image/png');
  t.ok(Buffer.from(await part.arrayBuffer()).equals(png), 'byte-identical image');
  const text = await api(base, `/api/messages/${secondId}/parts/1`);
  t.equal(text.headers.get('content-type'), TEXT_PART.contentType);
  t.ok(Buffer.from(await text.arrayBuffer()).equals(TEXT_PART.data), 'byte-identical text');

  t.equal((await api(base, `/api/messages/${secondId}/parts/7`)).status, 404);
  t.equal((await api(base, '/api/messages/nope')).status, 404);
  t.equal((await api(base, '/api/messages')).status, 400, 'address required');
  const page = (await (await api(base, `/api/messages?address=${SUBSCRIBER}&limit=1&before=${secondId}`)).json()) as { messages: MessageJson[] };
  t.same(
    page.messages.map((x) => x.id),
    [firstId],
    'paging with before',
  );
});

t.test('lookup and ending a subscription, by plan policy', async (t) => {
  const { node, base } = await startNode(t);
  const keep = await subscribe(base, '+15550001111', 'full');
  const drop = await subscribe(base, '+15550002222', 'photos');
  const look = await api(base, '/api/lookup?address=+15550001111');
  t.equal(look.status, 200);
  t.match(await look.json(), { subscriptionId: keep.id, plan: 'full' });
  t.equal((await api(base, '/api/lookup?address=+15550003333')).status, 404);
  t.equal((await fetch(`${base}/api/lookup?address=+15550001111`)).status, 401, 'behind the token');

  await sendForward(base, forwardOf({ subscriptionId: keep.id, originalMessageId: 'k' }));
  await sendForward(base, forwardOf({ recipient: '+15550002222', subscriptionId: drop.id, originalMessageId: 'd', parts: [{ contentType: 'image/png', data: await image('png') }] }));
  t.equal(node.db.countMessages(), 2);

  const endKeep = await api(base, `/api/subscriptions/${keep.id}`, { method: 'DELETE' });
  t.equal(endKeep.status, 200);
  t.match(await endKeep.json(), { id: keep.id, messagesKept: true, endedAt: /^\d{4}-/ });
  const endDrop = await api(base, `/api/subscriptions/${drop.id}`, { method: 'DELETE' });
  t.match(await endDrop.json(), { messagesKept: false });
  t.equal(node.db.countMessages(), 1, 'the delete-policy plan removed its messages; the other stays');
  t.equal((await api(base, `/api/subscriptions/${keep.id}`, { method: 'DELETE' })).status, 404, 'already ended');
  t.equal((await api(base, '/api/lookup?address=+15550001111')).status, 404, 'no live subscription any more');
  const resub = await subscribe(base, '+15550001111');
  t.not(resub.id, keep.id, 'a new subscription gets a new id');
});
