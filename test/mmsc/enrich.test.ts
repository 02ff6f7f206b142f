import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { addSmilSlide, Enricher, ENRICHMENT_CONTENT_ID, enrichmentText, withEnrichment, type EnrichmentConfig } from '../../src/mmsc/enrich.js';
import type { StoredPart } from '../../src/mmsc/model.js';

const base: EnrichmentConfig = { notice: true, link: true, geolocation: true, senderLocations: {}, timeoutMs: 1000 };
const JPEG = Buffer.from([0xff, 0xd8, 0xff, 0xd9]);
const SMIL =
  '<smil><head><layout><root-layout width="160" height="120"/><region id="Image" top="0" left="0" width="160" height="80"/></layout></head>' +
  '<body><par dur="5s"><img src="cid:img" region="Image"/></par></body></smil>';

t.test('the notice says archived or being archived; the link and a known sender location are added', async (t) => {
  const e = new Enricher({ ...base, senderLocations: { '+15550003333': { lat: 48.8584, lon: 2.2945, label: 'Paris' } } });
  const pending = await e.additionalData({ sender: '+15550009999', parts: [], archived: false });
  t.match(pending.notice, /being copied to your archive/);
  t.equal(pending.archiveLink, undefined, 'no link before server 2 gave one');
  t.equal(pending.geolocation, undefined, 'no location known for this sender');

  const done = await e.additionalData({ sender: '+15550003333', parts: [], archived: true, archiveId: 'A1', archiveLink: 'http://127.0.0.1:8090/album/tok' });
  t.match(done.notice, /kept in your archive \(reference A1\)/);
  t.equal(done.archiveLink, 'http://127.0.0.1:8090/album/tok');
  t.same(done.geolocation, { lat: 48.8584, lon: 2.2945, source: 'sender-location', label: 'Paris' });

  const off = new Enricher({ ...base, notice: false, link: false, geolocation: false });
  t.same(await off.additionalData({ sender: '+15550003333', parts: [], archived: true, archiveLink: 'x' }), {}, 'each piece can be switched off');
});

t.test("an image's EXIF GPS wins over the sender's location; a reader that throws is ignored", async (t) => {
  const seen: number[] = [];
  const reader = async (data: Buffer) => {
    seen.push(data.length);
    if (data.length === 1) throw new Error('corrupt');
    return data.length === 4 ? { lat: 51.5007, lon: -0.1246 } : undefined;
  };
  const e = new Enricher({ ...base, senderLocations: { '+15550003333': { lat: 1, lon: 2 } } }, reader);
  const parts: StoredPart[] = [
    { contentType: 'text/plain', data: Buffer.from('not an image') },
    { contentType: 'image/jpeg', data: Buffer.from([1]) },
    { contentType: 'image/jpeg; name=x.jpg', data: JPEG },
  ];
  const a = await e.additionalData({ sender: '+15550003333', parts, archived: true });
  t.same(a.geolocation, { lat: 51.5007, lon: -0.1246, source: 'exif' });
  t.same(seen, [1, 4], 'only images are read, in order, until one has GPS');
  const none = await e.additionalData({ sender: '+15550003333', parts: parts.slice(0, 2), archived: true });
  t.same(none.geolocation, { lat: 1, lon: 2, source: 'sender-location' }, 'falls back to the sender location');
});

t.test('the sender-location lookup service: used when configured, its failures are harmless', async (t) => {
  const server = createServer((req, res) => {
    const address = new URL(req.url ?? '/', 'http://x').searchParams.get('a');
    if (address === '+15550004444') return void res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ lat: 40.7, lon: -74, label: 'NYC' }));
    if (address === '+15550005555') return void res.writeHead(200).end('{"lat": 999, "lon": 0}');
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/where?a={address}`;
  const e = new Enricher({ ...base, senderLocationUrl: url });
  t.same((await e.additionalData({ sender: '+15550004444', parts: [], archived: true })).geolocation, { lat: 40.7, lon: -74, source: 'sender-location', label: 'NYC' });
  t.equal((await e.additionalData({ sender: '+15550005555', parts: [], archived: true })).geolocation, undefined, 'an impossible latitude is refused');
  t.equal((await e.additionalData({ sender: '+15550006666', parts: [], archived: true })).geolocation, undefined, '404: none');
  const down = new Enricher({ ...base, senderLocationUrl: 'http://127.0.0.1:1/where?a={address}' });
  t.equal((await down.additionalData({ sender: '+15550004444', parts: [], archived: true })).geolocation, undefined, 'unreachable: none, no throw');
});

t.test('withEnrichment adds a text part and a SMIL slide with its own region; a single part becomes multipart/mixed', async (t) => {
  const add = { notice: 'Kept.', archiveLink: 'http://a/album/t', geolocation: { lat: 1.5, lon: -2.25, source: 'exif' } };
  t.equal(enrichmentText(add), 'Kept.\nYour archive: http://a/album/t\nLocation: 1.50000, -2.25000 (from the photo)');

  const parts: StoredPart[] = [
    { contentType: 'application/smil', contentId: 'smil', data: Buffer.from(SMIL) },
    { contentType: 'image/jpeg', contentId: 'img', data: JPEG },
  ];
  const out = withEnrichment('multipart/related; start="<smil>"; type="application/smil"', parts, add);
  t.equal(out.contentType, 'multipart/related; start="<smil>"; type="application/smil"', 'the top-level type is kept');
  t.equal(out.parts.length, 3);
  const info = out.parts[2]!;
  t.same([info.contentType, info.contentId, info.data.toString()], ['text/plain; charset=utf-8', ENRICHMENT_CONTENT_ID, enrichmentText(add)]);
  const smil = out.parts[0]!.data.toString();
  t.match(smil, /<region id="ArchiveInfo"[^>]*\/><\/layout>/, 'a region in the layout');
  t.match(smil, new RegExp(`<par dur="5000ms"><text src="cid:${ENRICHMENT_CONTENT_ID}" region="ArchiveInfo"/></par></body>`), 'a last slide showing the part');
  t.equal(parts[0]!.data.toString(), SMIL, 'the original SMIL part is untouched');
  t.equal(out.parts[1], parts[1], 'other parts are passed through');

  const single = withEnrichment('image/jpeg', [{ contentType: 'image/jpeg', data: JPEG }], add);
  t.equal(single.contentType, 'multipart/mixed');
  t.equal(single.parts.length, 2);
  const nothing = withEnrichment('image/jpeg', [{ contentType: 'image/jpeg', data: JPEG }], {});
  t.same([nothing.contentType, nothing.parts.length], ['image/jpeg', 1], 'nothing to add: unchanged');
});

t.test('addSmilSlide: no layout → no region attribute; no body → undefined', async (t) => {
  t.equal(addSmilSlide('<smil><body><par><text src="a.txt"/></par></body></smil>'), `<smil><body><par><text src="a.txt"/></par><par dur="5000ms"><text src="cid:${ENRICHMENT_CONTENT_ID}"/></par></body></smil>`);
  t.equal(addSmilSlide('<smil><head/></smil>'), undefined);
});
