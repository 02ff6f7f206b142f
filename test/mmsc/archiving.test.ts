import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { decodeMm7Http, encodeMm7Http } from '../../protocol/mm7/http.js';
import type { MimeEntity } from '../../protocol/mm7/mime-types.js';
import { decodeMms } from '../../protocol/mms/codec.js';
import { ArchiveNode } from '../../src/archive/node.js';
import { loadArchiveConfig } from '../../src/config/archive.js';
import { loadMmscConfig } from '../../src/config/mmsc.js';
import { ENRICHMENT_CONTENT_ID } from '../../src/mmsc/enrich.js';
import { MmscNode } from '../../src/mmsc/node.js';
import type { Notifier, PushRequest } from '../../src/push/notifier.js';
import { decodeMmsPush } from '../../protocol/mms/push.js';
import { loopbackMmscConfig, submitEnvelope } from '../helpers/mm7.js';
import { photoJpeg } from '../transcode/media.js';
import { until } from '../helpers/wait.js';

// Server 1 forwards each archive subscriber's copy to server 2 before the
// TTL destroys it (issue 8, steps a–d and the retention guard), in both
// synchronization modes, and keeps the message while server 2 is down.

const SUBSCRIBER = '+15550001111';
const OTHER = '+15550002222';
const AUTH = `Basic ${Buffer.from('demo:demo').toString('base64')}`;
// A real 160x120 JPEG (a few KB): it suits the terminal as it is, so the transcoder passes it through and it stays byte-identical.
const JPEG = await photoJpeg(160, 120);
const content: MimeEntity = {
  mediaType: 'multipart/mixed',
  params: {},
  contentId: 'content-1',
  headers: [],
  parts: [
    { mediaType: 'text/plain', params: { charset: 'utf-8' }, contentId: 'txt', headers: [], body: Buffer.from('keep me ☀') },
    { mediaType: 'image/jpeg', params: {}, contentId: 'img', headers: [], body: JPEG },
  ],
};

class Clock {
  ms = Date.parse('2026-11-25T10:00:00Z');
  now(): Date {
    return new Date(this.ms);
  }
}

class Pushes implements Notifier {
  readonly taken: PushRequest[] = [];
  async notify(p: PushRequest): Promise<void> {
    this.taken.push(p);
  }
}

function tmp(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'mmsc-archiving-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function archiveNode(dir: string, port = 0): ArchiveNode {
  return new ArchiveNode({
    config: loadArchiveConfig({
      data: dir,
      listen: `127.0.0.1:${port}`,
      mm7: { basic: { user: 'demo', password: 'demo' }, loopbackOnly: true },
      api: { token: 'demo' },
      tokens: { secret: 'a-test-secret-of-some-length' },
      demo: { subscriptions: [{ address: SUBSCRIBER, plan: 'full' }] },
    }),
  });
}

function server1(dir: string, archiveUrl: string, mode: 'synchronized' | 'unsynchronized', clock: Clock, notifier: Notifier): MmscNode {
  return new MmscNode({
    clock,
    notifier,
    ...(process.env.DEBUG_ARCH ? { log: (e: Record<string, unknown>) => console.error(JSON.stringify(e)) } : {}),
    backoff: { baseMs: 20, maxMs: 100 },
    config: loadMmscConfig(loopbackMmscConfig(dir, { ttl: { default: '60s' }, archive: { mode, url: archiveUrl, timeout: '2s', lookupCache: '1s' } })),
  });
}

async function submit(node: MmscNode, tx: string, to: string[]): Promise<string> {
  const url = node.listeners.find((l) => l.what.startsWith('MM7'))!.url;
  const { contentType, body } = await encodeMm7Http(submitEnvelope(tx, to, { subject: 'for the archive' }), content);
  const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': contentType, Authorization: AUTH }, body });
  const answer = (await decodeMm7Http(res.headers.get('content-type')!, Buffer.from(await res.arrayBuffer()))).envelope.message;
  if (answer.status?.code !== 1000 || !answer.messageId) throw new Error(`submit refused: ${JSON.stringify(answer.status)}`);
  return answer.messageId;
}

interface ArchivedJson {
  archiveId: string;
  originalMessageId: string;
  sender: string;
  subject?: string;
  parts: Array<{ contentType: string; size: number; url: string }>;
}

async function archivedOf(archive: ArchiveNode, address: string): Promise<ArchivedJson[]> {
  const res = await fetch(`http://127.0.0.1:${archive.port}/api/messages?address=${encodeURIComponent(address)}`, { headers: { Authorization: 'Bearer demo' } });
  if (res.status !== 200) throw new Error(`archive API: ${res.status} ${await res.text()}`);
  const body = (await res.json()) as { messages: ArchivedJson[] };
  return body.messages;
}

/** The retrieval of `address`'s copy through MM1: 'expired' or the M-Retrieve.conf's type. */
async function retrieve(node: MmscNode, pushes: Pushes, messageId: string, address: string): Promise<string> {
  const push = pushes.taken.find((p) => p.messageId === messageId && p.to === address);
  if (!push) throw new Error(`no push for ${address}`);
  const ind = decodeMmsPush(push.pushPdu).mms;
  if (ind.messageType !== 'm-notification-ind') throw new Error('not a notification');
  const res = await fetch(ind.contentLocation!);
  if (res.status !== 200) return res.status === 404 || res.status === 410 ? 'expired' : `HTTP ${res.status}`;
  const pdu = decodeMms(Buffer.from(await res.arrayBuffer()));
  return pdu.messageType === 'm-retrieve-conf' ? (pdu.retrieveStatus === undefined || pdu.retrieveStatus === 'Ok' ? 'ok' : 'expired') : pdu.messageType;
}

/** The parts of `address`'s M-Retrieve.conf, with their Content-IDs and, for text, the text. */
async function retrievedParts(pushes: Pushes, messageId: string, address: string): Promise<Array<{ contentId?: string; text?: string }>> {
  const push = pushes.taken.find((p) => p.messageId === messageId && p.to === address)!;
  const ind = decodeMmsPush(push.pushPdu).mms;
  if (ind.messageType !== 'm-notification-ind') throw new Error('not a notification');
  const pdu = decodeMms(Buffer.from(await (await fetch(ind.contentLocation!)).arrayBuffer()));
  if (pdu.messageType !== 'm-retrieve-conf' || !Array.isArray(pdu.body)) throw new Error('not a multipart M-Retrieve.conf');
  return pdu.body.map((e) => {
    const cid = e.headers.find((h) => String(h.name).toLowerCase() === 'content-id')?.value;
    const out: { contentId?: string; text?: string } = {};
    if (typeof cid === 'string') out.contentId = cid.replace(/^<|>$/g, '');
    if (String(e.contentType.mediaType).startsWith('text/')) out.text = Buffer.from(e.data).toString('utf8');
    return out;
  });
}

t.test('synchronized: the subscriber copy is archived, then both copies expire; server 2 serves it byte-identical', async (t) => {
  const clock = new Clock();
  const archive = archiveNode(tmp(t));
  await archive.start();
  t.teardown(() => archive.stop());
  const pushes = new Pushes();
  const node = server1(tmp(t), `http://127.0.0.1:${archive.port}`, 'synchronized', clock, pushes);
  await node.start();
  t.teardown(() => node.stop());

  await node.subscriptionSync!.pull();
  const subscriber = node.store.getSubscriber(SUBSCRIBER);
  t.ok(subscriber?.archiveSubscriptionId, 'the demo subscription reached DB1 through the feed');

  const id = await submit(node, 'arch-1', [SUBSCRIBER, OTHER]);
  await until('archived', () => node.archive!.links(id).some((l) => l.state === 'archived'));
  const [link] = node.archive!.links(id);
  t.equal(link?.address, SUBSCRIBER, 'only the subscriber has a link (step b)');
  t.equal(link?.subscriptionId, subscriber?.archiveSubscriptionId);
  t.ok(link?.archiveId, 'server 2 named its record');
  t.equal(node.archive!.links(id).length, 1);

  const [archived] = await archivedOf(archive, SUBSCRIBER);
  t.equal(archived?.originalMessageId, id);
  t.equal(archived?.subject, 'for the archive');
  t.same(archived?.parts.map((p) => p.contentType.split(';')[0]), ['text/plain', 'image/jpeg']);
  const img = await fetch(`http://127.0.0.1:${archive.port}${archived!.parts[1]!.url}`, { headers: { Authorization: 'Bearer demo' } });
  t.same(Buffer.from(await img.arrayBuffer()), JPEG, 'the image comes back byte-identical');
  t.same(await archivedOf(archive, OTHER), [], 'nothing for the non-subscriber');

  await until('pushed', () => pushes.taken.length === 2);
  const enriched = await retrievedParts(pushes, id, SUBSCRIBER);
  const info = enriched.find((p) => p.contentId === ENRICHMENT_CONTENT_ID);
  t.match(info?.text, /kept in your archive \(reference \S+\)/, "the subscriber's M-Retrieve.conf says where the copy is");
  t.equal(enriched.length, 3, 'the two parts and the notice');
  const album = /Your archive: (\S+)/.exec(info?.text ?? '')?.[1];
  t.equal(album, node.archive!.links(id)[0]?.archiveLink, "with the link server 2 gave in its DeliverRsp");
  t.match(album, new RegExp(`^http://127\\.0\\.0\\.1:${archive.port}/album/`));
  const page = await fetch(album!);
  t.equal(page.status, 200, 'the link opens the subscriber album');
  t.match(await page.text(), /for the archive/, 'which lists the message');
  const plainParts = await retrievedParts(pushes, id, OTHER);
  t.same(
    plainParts.map((p) => p.contentId),
    ['txt', 'img'],
    'the non-subscriber gets the message as sent',
  );
  clock.ms += 61_000;
  await node.sweep();
  t.ok(node.store.getMessage(id)?.destroyed, 'the TTL destroyed it once archived');
  t.equal(await retrieve(node, pushes, id, OTHER), 'expired', "the non-subscriber's retrieval says expired");
  t.equal((await archivedOf(archive, SUBSCRIBER)).length, 1, 'and server 2 still has it, once');
});

t.test('server 2 down for longer than the TTL: the message is held, then archived once when it comes back', async (t) => {
  const clock = new Clock();
  const archiveDir = tmp(t);
  // Learn a free port, and the subscription, from a first life of server 2.
  let archive = archiveNode(archiveDir);
  await archive.start();
  const port = archive.port;
  const pushes = new Pushes();
  const node = server1(tmp(t), `http://127.0.0.1:${port}`, 'synchronized', clock, pushes);
  await node.start();
  t.teardown(() => node.stop());
  await node.subscriptionSync!.pull();
  await archive.stop();

  const held = await submit(node, 'down-1', [SUBSCRIBER]);
  const plain = await submit(node, 'down-2', [OTHER]);
  await until('a failed attempt', () => node.outbox.forMessage(held).some((j) => j.attempts > 0));
  clock.ms += 10 * 61_000;
  await node.sweep();
  t.notOk(node.store.getMessage(held)?.destroyed, "the subscriber's message outlives its TTL while the forward is pending");
  t.equal(node.store.getParts(held).length, 2, 'with its content');
  t.ok(node.store.getMessage(plain)?.destroyed, "the non-subscriber's message expires as before");
  t.match(node.outbox.forMessage(held)[0]?.lastError, /unreachable/);

  archive = archiveNode(archiveDir, port);
  await archive.start();
  t.teardown(() => archive.stop());
  // The test clock stands still: let the retry delays (≤ 100 ms) pass before asking again.
  clock.ms += 1000;
  node.outboxWorker.kick();
  // An attempt begun before the restart may fail after the step above, due 100 ms past a clock
  // that no longer moves: time goes on while we wait.
  await until('archived after the outage', () => ((clock.ms += 100), node.archive!.links(held).every((l) => l.state === 'archived')));
  await node.sweep();
  t.ok(node.store.getMessage(held)?.destroyed, 'destroyed as soon as the copy is archived (TTL long past)');
  const archived = await archivedOf(archive, SUBSCRIBER);
  t.same(
    archived.map((m) => m.originalMessageId),
    [held],
    'archived exactly once',
  );
});

t.test('unsynchronized: server 1 asks server 2; a lookup that cannot be answered holds the message', async (t) => {
  const clock = new Clock();
  const archiveDir = tmp(t);
  let archive = archiveNode(archiveDir);
  await archive.start();
  const port = archive.port;
  await archive.stop();
  const pushes = new Pushes();
  const node = server1(tmp(t), `http://127.0.0.1:${port}`, 'unsynchronized', clock, pushes);
  await node.start();
  t.teardown(() => node.stop());
  t.equal(node.store.getSubscriber(SUBSCRIBER), undefined, 'DB1 knows no subscription in this mode');

  const id = await submit(node, 'unsync-1', [SUBSCRIBER, OTHER]);
  await until('lookups tried', () => node.outbox.forMessage(id).filter((j) => j.kind === 'archive-lookup' && j.attempts > 0).length === 2);
  clock.ms += 61_000;
  await node.sweep();
  t.notOk(node.store.getMessage(id)?.destroyed, 'held while server 2 cannot say who subscribes');

  archive = archiveNode(archiveDir, port);
  await archive.start();
  t.teardown(() => archive.stop());
  // The test clock stands still: let the retry delays (≤ 100 ms) pass before asking again.
  clock.ms += 1000;
  node.outboxWorker.kick();
  // As above: a lookup begun before the restart may fail after it; time goes on while we wait.
  await until('archived', () => ((clock.ms += 100), node.archive!.links(id).some((l) => l.state === 'archived')));
  await until('no job left', () => node.outbox.forMessage(id).length === 0);
  t.same(
    node.archive!.links(id).map((l) => l.address),
    [SUBSCRIBER],
    'the lookup found the subscriber only',
  );
  await node.sweep();
  t.ok(node.store.getMessage(id)?.destroyed);
  t.equal((await archivedOf(archive, SUBSCRIBER)).length, 1);
});
