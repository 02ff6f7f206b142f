import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { decodeMm7Http, encodeMm7Http } from '../../protocol/mm7/http.js';
import type { MimeEntity } from '../../protocol/mm7/mime-types.js';
import { ArchiveNode } from '../../src/archive/node.js';
import { loadArchiveConfig } from '../../src/config/archive.js';
import { loadMmscConfig } from '../../src/config/mmsc.js';
import { MmscNode } from '../../src/mmsc/node.js';
import { PlanRules } from '../../src/mmsc/plans.js';
import type { Notifier } from '../../src/push/notifier.js';
import { loopbackMmscConfig, submitEnvelope } from '../helpers/mm7.js';
import { photoJpeg } from '../transcode/media.js';

// Server 1 extracting before it forwards (archive.extraction.where =
// server1) reads the plans' rules from server 2 (GET /api/plans), so they
// are written once, in conf/archive.yaml (issue 8, "Variants").

const SUBSCRIBER = '+15550001111';
const PHOTOS_ONLY = { types: ['image/*'], maxImages: 1, text: true };

function tmp(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'mmsc-plans-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function startArchive(t: Test, dir: string): Promise<ArchiveNode> {
  const archive = new ArchiveNode({
    config: loadArchiveConfig({
      data: dir,
      listen: '127.0.0.1:0',
      mm7: { basic: { user: 'demo', password: 'demo' }, loopbackOnly: true },
      api: { token: 'demo' },
      tokens: { secret: 'a-test-secret-of-some-length' },
      plans: [{ name: 'full' }, { name: 'photos', extraction: PHOTOS_ONLY }],
      demo: { subscriptions: [{ address: SUBSCRIBER, plan: 'photos' }] },
    }),
  });
  await archive.start();
  t.teardown(() => archive.stop());
  return archive;
}

t.test('PlanRules: server 2\'s rules, this node\'s own first, the last known kept while server 2 is away', async (t) => {
  const archive = await startArchive(t, tmp(t));
  const url = `http://127.0.0.1:${archive.port}`;
  const events: Array<Record<string, unknown>> = [];
  const rules = new PlanRules({ url, apiToken: 'demo', pullEveryMs: 60_000, timeoutMs: 2_000, local: { full: { text: false } }, log: (e) => events.push(e) });
  t.equal(rules.rulesFor('photos'), undefined, 'unknown before the first pull');
  t.equal(rules.pulledAt, undefined);
  t.equal(await rules.pull(), 2, 'both plans read');
  t.same(rules.rulesFor('photos'), PHOTOS_ONLY, 'server 2\'s rules for photos');
  t.same(rules.rulesFor('full'), { text: false }, 'conf/mmsc.yaml\'s own rules win over server 2\'s {}');
  t.equal(rules.rulesFor('gold'), undefined, 'a plan nobody defines');
  t.ok(rules.pulledAt instanceof Date);

  const wrongToken = new PlanRules({ url, apiToken: 'nope', pullEveryMs: 60_000, timeoutMs: 2_000, local: {} });
  await t.rejects(wrongToken.pull(), /HTTP 401/, 'the API token is required');

  await archive.stop();
  await t.rejects(rules.pull(), 'server 2 is down');
  t.same(rules.rulesFor('photos'), PHOTOS_ONLY, 'the rules already known stay');
  t.match(events.at(-1), { event: 'archive-plans-sync-failed' }, 'the failure is logged (a warning, retried on the timer)');
});

t.test('server 1 extracts by the rules server 2 serves, and server 2 records it as done on server 1', async (t) => {
  const archive = await startArchive(t, tmp(t));
  const node = new MmscNode({
    notifier: { notify: async () => undefined } satisfies Notifier,
    backoff: { baseMs: 20, maxMs: 100 },
    config: loadMmscConfig(loopbackMmscConfig(tmp(t), { archive: { mode: 'unsynchronized', url: `http://127.0.0.1:${archive.port}`, timeout: '2s', extraction: { where: 'server1' } } })),
  });
  await node.start();
  t.teardown(() => node.stop());
  // The first pull runs at start; wait for it so that this forward is the one extracted here.
  await node.archivePlans!.pull();
  t.same(node.archivePlans!.rulesFor('photos'), PHOTOS_ONLY, 'server 2\'s rules known to server 1');

  const [first, second] = [await photoJpeg(160, 120), await photoJpeg(120, 90)];
  const content: MimeEntity = {
    mediaType: 'multipart/mixed',
    params: {},
    headers: [],
    parts: [
      { mediaType: 'text/plain', params: { charset: 'utf-8' }, contentId: 'txt', headers: [], body: Buffer.from('two photos') },
      { mediaType: 'image/jpeg', params: {}, contentId: 'img1', headers: [], body: first },
      { mediaType: 'image/jpeg', params: {}, contentId: 'img2', headers: [], body: second },
    ],
  };
  const { contentType, body } = await encodeMm7Http(submitEnvelope('plans-1', [SUBSCRIBER], { subject: 'photos plan' }), content);
  const mm7 = node.listeners.find((l) => l.what.startsWith('MM7'))!.url;
  const res = await fetch(mm7, { method: 'POST', headers: { 'Content-Type': contentType, Authorization: `Basic ${Buffer.from('demo:demo').toString('base64')}` }, body });
  const answer = (await decodeMm7Http(res.headers.get('content-type')!, Buffer.from(await res.arrayBuffer()))).envelope.message;
  t.equal(answer.status?.code, 1000, 'SubmitRsp 1000');

  interface Archived {
    extractedOn: string | null;
    parts: Array<{ contentType: string; size: number }>;
    dropped: Array<{ contentType: string }>;
  }
  let archived: Archived[] = [];
  const end = Date.now() + 30_000;
  while (archived.length === 0 && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 50));
    const api = await fetch(`http://127.0.0.1:${archive.port}/api/messages?address=${encodeURIComponent(SUBSCRIBER)}`, { headers: { Authorization: 'Bearer demo' } });
    archived = ((await api.json()) as { messages: Archived[] }).messages;
  }
  t.equal(archived.length, 1, 'archived once');
  const m = archived[0]!;
  t.equal(m.extractedOn, 'server1', 'extracted before the forward');
  t.same(
    m.parts.map((p) => [p.contentType.split(';')[0], p.size]),
    [
      ['text/plain', 'two photos'.length],
      ['image/jpeg', first.length],
    ],
    'the text and the first image kept (maxImages 1)',
  );
  t.same(m.dropped.map((d) => d.contentType.split(';')[0]), ['image/jpeg'], 'the second image recorded as dropped');
});
