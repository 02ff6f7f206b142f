import t, { type Test } from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { decodeMms, encodeMms } from '../../protocol/mms/codec.js';
import { MmscService } from '../../src/mmsc/mmsc.js';
import type { NewMessage, StoredPart } from '../../src/mmsc/model.js';
import { Db1 } from '../../src/store/db1.js';
import { Outbox } from '../../src/outbox/outbox.js';
import {
  deserializeAdaptation,
  loadProfileRegistry,
  MemoryAdaptationCache,
  serializeAdaptation,
  SqliteAdaptationCache,
  TieredAdaptationCache,
  TerminalTranscoder,
  createTranscoder,
  transcoderConfigSchema,
  type Adaptation,
} from '../../src/transcode/index.js';
import { amrAudio, CountingBackend, photoJpeg, transparentPng } from './media.js';

const registry = loadProfileRegistry(new URL('../../conf/terminals/', import.meta.url).pathname);
const T0 = Date.UTC(2024, 4, 1, 10);

function tmpDb(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'mmsgw-transcode-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'db1.sqlite');
}

async function message(): Promise<NewMessage> {
  const parts: StoredPart[] = [
    { contentType: 'image/jpeg', contentLocation: 'photo.jpg', data: await photoJpeg(2048, 1536) },
    { contentType: 'image/png', contentLocation: 'logo.png', data: await transparentPng() },
    { contentType: 'audio/amr', contentLocation: 'voice.amr', data: amrAudio(20) },
  ];
  return {
    envelope: {
      from: '12345',
      to: ['+15550002222', '+15550003333'],
      cc: [],
      bcc: [],
      subject: 'Cached',
      date: new Date(T0),
      expiresAt: new Date(T0 + 86_400_000),
      deliveryReport: false,
      readReport: false,
      contentType: 'multipart/mixed',
      allowAdaptations: true,
      origin: { interface: 'mm7', vaspId: 'demo', release: 'REL-5-MM7-1-0', mm7Version: '5.3.0' },
    },
    parts,
    recipients: [
      { address: '+15550002222', kind: 'to', state: 'accepted' },
      { address: '+15550003333', kind: 'to', state: 'accepted' },
    ],
  };
}

function service(db: Db1, images: CountingBackend, memoryBytes = 8 << 20): MmscService {
  const transcoder = new TerminalTranscoder({
    profiles: registry,
    images,
    cache: new TieredAdaptationCache(new MemoryAdaptationCache(memoryBytes), new SqliteAdaptationCache(db)),
    subscriberProfile: (a) => db.getSubscriber(a)?.profile ?? undefined,
  });
  const clock = { now: () => new Date(T0) };
  // Messages are put in DB1 directly here: no job ever reaches the worker.
  return new MmscService({ store: db, outbox: new Outbox(db, clock), worker: { run: () => {} }, clock, retrieveBase: 'http://127.0.0.1:1', transcoder });
}

async function imageSizes(pdu: ReturnType<typeof decodeMms>): Promise<string[]> {
  const body = 'body' in pdu && Array.isArray(pdu.body) ? pdu.body : [];
  const out: string[] = [];
  for (const e of body) {
    if (typeof e.contentType.mediaType === 'string' && e.contentType.mediaType.startsWith('image/')) {
      const m = await sharp(Buffer.from(e.data)).metadata();
      out.push(`${m.format} ${m.width}x${m.height}`);
    }
  }
  return out;
}

t.test('retrieval through MmscService: the second retrieval does no image work, even after a restart', async (t) => {
  const path = tmpDb(t);
  let db = Db1.open(path);
  t.teardown(() => db.close());
  const m = await message();
  const accepted = await db.accept(m);
  await db.putSubscriber({ address: '+15550003333', profile: 'feature-phone', archiveSubscriptionId: null });
  const [tokenA, tokenB] = [accepted.tokens.get('+15550002222')!, accepted.tokens.get('+15550003333')!];

  const images = new CountingBackend();
  const mmsc = service(db, images);
  const first = await mmsc.retrieve(tokenA, { userAgent: 'Mozilla/5.0 (Linux; Android 14)' });
  if (first.kind !== 'ok') throw new Error(first.kind);
  const cold = images.calls;
  t.ok(cold >= 2, `the first retrieval adapts (${cold} image operations)`);
  const encoded = encodeMms(first.pdu);
  t.ok(encoded.length <= 600 * 1024, 'fits the smartphone');
  t.same(await imageSizes(decodeMms(encoded)), ['jpeg 1600x1200', 'png 800x600'], 'adapted for the smartphone (User-Agent)');

  const second = await mmsc.retrieve(tokenA, { userAgent: 'Mozilla/5.0 (Linux; Android 14)' });
  t.equal(images.calls, cold, 'second retrieval: no sharp call at all');
  if (second.kind !== 'ok') throw new Error(second.kind);
  t.same(encodeMms(second.pdu), encoded, 'and the same M-Retrieve.conf');

  // The other recipient is a subscriber with a feature-phone profile in DB1 and sends no hints.
  const forB = await mmsc.retrieve(tokenB);
  if (forB.kind !== 'ok') throw new Error(forB.kind);
  t.ok(images.calls > cold, 'another profile is adapted anew');
  t.same(await imageSizes(forB.pdu), ['jpeg 160x120', 'gif 160x120'], "the subscriber's DB1 profile is used");
  const afterB = images.calls;
  await mmsc.retrieve(tokenB);
  t.equal(images.calls, afterB, 'and cached too');

  const stored = db.getParts(accepted.messageId);
  t.ok(
    stored.every((p, i) => p.data.equals(m.parts[i]!.data) && p.contentType === m.parts[i]!.contentType),
    'DB1 still holds the originals',
  );
  await db.write(() => undefined); // group commits are in order: the cache rows queued before are durable now
  const rows = db.sqlite.prepare('SELECT count(*) AS n FROM transcode_cache').get() as { n: number };
  t.equal(rows.n, 2, 'one cache row per (content, profile)');

  // A restart: a new process has an empty memory cache but the same DB1.
  db.close();
  db = Db1.open(path);
  const images2 = new CountingBackend();
  const restarted = service(db, images2);
  const again = await restarted.retrieve(tokenA, { userAgent: 'Mozilla/5.0 (Linux; Android 14)' });
  if (again.kind !== 'ok') throw new Error(again.kind);
  t.equal(images2.calls, 0, 'after a restart the DB1 cache answers: no sharp call');
  t.same(encodeMms(again.pdu), encoded);
});

t.test('concurrent retrievals of the same content adapt it once', async (t) => {
  const db = Db1.open(tmpDb(t));
  t.teardown(() => db.close());
  const m = await message();
  const accepted = await db.accept(m);
  const images = new CountingBackend();
  const mmsc = service(db, images);
  const tokens = [...accepted.tokens.values()];
  const results = await Promise.all(tokens.map((tk) => mmsc.retrieve(tk, { userAgent: 'NokiaN73-1' })));
  t.ok(results.every((r) => r.kind === 'ok'));
  t.equal(images.encodes, 2, 'two images, each encoded once for both recipients');
});

function adaptation(octets: number, tag: number): Adaptation {
  return { parts: [{ contentType: 'image/jpeg', contentLocation: `${tag}.jpg`, data: Buffer.alloc(octets, tag) }], actions: [{ index: 0, action: 'adapted', detail: `#${tag}` }] };
}

t.test('memory cache: bounded in octets, least recently used first out', async (t) => {
  const c = new MemoryAdaptationCache(3000);
  await c.set('a', adaptation(900, 1));
  await c.set('b', adaptation(900, 2));
  await c.set('c', adaptation(900, 3));
  t.ok(c.get('a'), 'a is used: now the most recent');
  await c.set('d', adaptation(900, 4));
  t.ok(c.bytes <= 3000, `within the bound (${c.bytes})`);
  t.notOk(c.get('b'), 'b, least recently used, went');
  t.ok(c.get('a') && c.get('c') && c.get('d'));
  await c.set('huge', adaptation(10_000, 5));
  t.notOk(c.get('huge'), 'an entry above the bound is not kept');
  t.ok(c.get('d'), 'and does not flush the others');
});

t.test('SQLite cache: round trip, bound, corrupt rows are misses', async (t) => {
  const db = Db1.open(tmpDb(t));
  t.teardown(() => db.close());
  let now = 1000;
  const c = new SqliteAdaptationCache(db, { maxBytes: 5000, now: () => now++ });
  const a = adaptation(1500, 1);
  await c.set('k1:p@x:v1', a);
  const back = c.get('k1:p@x:v1')!;
  t.same(back.actions, a.actions);
  t.ok(back.parts[0]!.data.equals(a.parts[0]!.data));
  t.equal(back.parts[0]!.contentLocation, '1.jpg');
  await c.set('k2:p@x:v1', adaptation(1500, 2));
  await c.set('k3:p@x:v1', adaptation(1500, 3));
  await c.set('k4:p@x:v1', adaptation(1500, 4));
  t.notOk(c.get('k1:p@x:v1'), 'the oldest row went when the table passed its bound');
  t.ok(c.get('k4:p@x:v1'));
  t.ok(c.bytes <= 5000, `within the bound (${c.bytes})`);
  const row = db.sqlite.prepare("SELECT profile_id FROM transcode_cache WHERE key = 'k4:p@x:v1'").get() as { profile_id: string };
  t.equal(row.profile_id, 'p@x');
  await db.write(() => db.sqlite.prepare("UPDATE transcode_cache SET content = x'00000fff7b7d' WHERE key = 'k4:p@x:v1'").run());
  t.equal(c.get('k4:p@x:v1'), undefined, 'a corrupt row reads as a miss');
  t.equal(deserializeAdaptation(serializeAdaptation(a).subarray(0, 20)), undefined, 'a truncated entry too');
});

t.test('createTranscoder: from configuration to a node transcoder over DB1', async (t) => {
  const db = Db1.open(tmpDb(t));
  t.teardown(() => db.close());
  const m = await message();
  const accepted = await db.accept(m);
  await db.putSubscriber({ address: '+15550003333', profile: 'feature-phone', archiveSubscriptionId: null });
  const events: Array<Record<string, unknown>> = [];
  const transcoder = createTranscoder({ memoryCacheBytes: 1 << 20 }, db, (e) => events.push(e));
  const clock = { now: () => new Date(T0) };
  const mmsc = new MmscService({ store: db, outbox: new Outbox(db, clock), worker: { run: () => {} }, clock, retrieveBase: 'http://127.0.0.1:1', transcoder });
  const r = await mmsc.retrieve(accepted.tokens.get('+15550003333')!);
  if (r.kind !== 'ok') throw new Error(r.kind);
  t.same(await imageSizes(r.pdu), ['jpeg 160x120', 'gif 160x120']);
  t.match(events[0], { event: 'transcoded', profile: 'feature-phone', matchedBy: 'subscriber', cached: false });
  await db.write(() => undefined);
  t.equal((db.sqlite.prepare('SELECT count(*) AS n FROM transcode_cache').get() as { n: number }).n, 1, 'the result is in DB1');
  t.throws(() => transcoderConfigSchema.parse({ notAllowed: 'maybe' }));
  t.equal(transcoderConfigSchema.parse({}).notAllowed, 'deliver');
});
