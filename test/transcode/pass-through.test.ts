import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { encodeMms } from '../../protocol/mms/codec.js';
import { parseMimeType, retrieveConf, retrieveConfSize } from '../../src/mmsc/convert.js';
import type { StoredMessage, StoredPart } from '../../src/mmsc/model.js';
import { Db1 } from '../../src/store/db1.js';
import {
  deserializeAdaptation,
  loadProfileRegistry,
  MemoryAdaptationCache,
  profileFromClass,
  readImageGeolocation,
  serializeAdaptation,
  SqliteAdaptationCache,
  TerminalTranscoder,
  type AdaptationCache,
  type TerminalProfile,
} from '../../src/transcode/index.js';
import { amrAudio, CountingBackend, head, photoJpeg } from './media.js';

// A carrier's MMS-C leaves content alone when the terminal can take it as
// it is: parts that suit the profile go out as the very Buffers stored, with
// no sharp encode; only what does not fit is adapted.

const registry = loadProfileRegistry(new URL('../../conf/terminals/', import.meta.url).pathname);
const TOKEN = 'T0k3n-0123456789abcdefghij';
const GIF = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==', 'base64');
const SMIL = '<smil><body><par dur="5s"><img src="photo.jpg"/><text src="hello.txt"/></par><par><img src="dot.gif"/><img src="logo.png"/><audio src="voice.amr"/><text src="plain.txt"/></par></body></smil>';
const mediaType = (p: StoredPart): string => parseMimeType(p.contentType).mediaType;

function transcoder(images: CountingBackend, cache: AdaptationCache = new MemoryAdaptationCache(1 << 20)): TerminalTranscoder {
  return new TerminalTranscoder({ profiles: registry, images, cache });
}

/** SMIL, a 64x48 JPEG, a 1x1 GIF, a 200x100 PNG, UTF-8 text, text naming no charset (UTF-8 octets in it), AMR: all suit the default profile. */
async function fittingParts(): Promise<StoredPart[]> {
  const png = await sharp({ create: { width: 200, height: 100, channels: 4, background: { r: 10, g: 200, b: 90, alpha: 0.5 } } }).png().toBuffer();
  return [
    { contentType: 'application/smil', contentId: 'smil', contentLocation: 'pres.smil', data: Buffer.from(SMIL) },
    { contentType: 'image/jpeg', contentId: 'photo', contentLocation: 'photo.jpg', data: await photoJpeg(64, 48) },
    { contentType: 'text/plain; charset=utf-8', contentLocation: 'hello.txt', data: Buffer.from('Grüße from the lab ☀', 'utf8') },
    { contentType: 'image/gif', contentLocation: 'dot.gif', data: GIF },
    { contentType: 'image/png', contentLocation: 'logo.png', data: png },
    { contentType: 'audio/amr', contentLocation: 'voice.amr', data: amrAudio(10) },
    // No charset: us-ascii by RFC 2046, though phones put UTF-8 in it; re-encoding it as us-ascii would turn ü into ?.
    { contentType: 'text/plain', contentLocation: 'plain.txt', data: Buffer.from('naïve', 'utf8') },
  ];
}

const multipart = (): ReturnType<typeof head> => head({ contentType: 'multipart/related; start="<smil>"; type="application/smil"' });

t.test('a message that suits the terminal goes out as stored: same Buffers, no encode', async (t) => {
  const parts = await fittingParts();
  const copies = parts.map((p) => Buffer.from(p.data));
  const images = new CountingBackend();
  const tc = transcoder(images);
  const profile = registry.byName('default')!;
  const r = await tc.adaptFor(multipart(), parts, { profile, by: 'default' }, TOKEN);
  t.equal(images.encodes, 0, 'no sharp encode');
  t.equal(images.probes, 3, 'each image probed once for its dimensions');
  t.equal(r.parts.length, parts.length);
  parts.forEach((p, i) => t.equal(r.parts[i]!.data, p.data, `${p.contentLocation}: the very Buffer`));
  parts.forEach((p, i) => t.equal(r.parts[i]!.contentType, p.contentType, `${p.contentLocation}: its content type unchanged`));
  t.same(
    r.actions.map((a) => a.action),
    parts.map(() => 'kept'),
  );
  t.ok(r.fits);
  t.equal(r.size, encodeMms(retrieveConf(multipart(), parts, TOKEN)).length, 'the reported size is the encoded size of the originals');
  t.ok(parts.every((p, i) => p.data.equals(copies[i]!)), 'the originals are unchanged');

  const again = await tc.adaptFor(multipart(), parts, { profile, by: 'default' }, TOKEN);
  t.ok(again.cached, 'the verdict is cached');
  t.equal(images.calls, 3, 'the second retrieval does no image work at all');
  parts.forEach((p, i) => t.equal(again.parts[i]!.data, p.data, `${p.contentLocation}: again the very Buffer`));

  // The Transcoder contract the MMS-C calls on every retrieval.
  const message: StoredMessage = { ...multipart(), recipients: [{ address: '+15550002222', kind: 'to', state: 'notified', token: TOKEN, updatedAt: new Date(0) }], size: 0, destroyed: false };
  const viaAdapt = await new TerminalTranscoder({ profiles: registry, images }).adapt(message, parts, {});
  t.equal(viaAdapt, parts, 'adapt() hands back the stored parts themselves');
  t.equal(images.encodes, 0, 'still no encode');
});

t.test('a part that does not suit is adapted; the parts that do stay as they are', async (t) => {
  const parts = await fittingParts();
  const big = await photoJpeg(2000, 1500);
  parts[1] = { ...parts[1]!, data: big };
  const images = new CountingBackend();
  const r = await transcoder(images).adaptFor(multipart(), parts, { profile: registry.byName('default')!, by: 'default' }, TOKEN);
  t.ok(images.encodes >= 1, 'the large photo is encoded');
  t.ok(images.requests.every((q) => q.maxWidth === 640 && q.format === 'jpeg'), 'only the photo: at the box of the profile');
  const photo = r.parts[1]!;
  t.not(photo.data, big);
  const m = await sharp(photo.data).metadata();
  t.same([m.format, m.width, m.height], ['jpeg', 640, 480], '2000x1500 → 640x480');
  t.equal(r.actions[1]!.action, 'adapted');
  for (const i of [0, 2, 3, 4, 5, 6]) t.equal(r.parts[i]!.data, parts[i]!.data, `${parts[i]!.contentLocation}: the very Buffer`);
  t.equal(r.actions[0]!.action, 'kept', 'the SMIL is untouched: the photo kept its name');
  t.ok(r.fits);
});

t.test('parts that all suit but together are too big are shrunk to fit', async (t) => {
  const photos = await Promise.all([photoJpeg(640, 480, 95), photoJpeg(480, 360, 95)]);
  const parts: StoredPart[] = photos.map((data, i) => ({ contentType: 'image/jpeg', contentLocation: `p${i}.jpg`, data }));
  const total = photos.reduce((n, p) => n + p.length, 0);
  const tight: TerminalProfile = profileFromClass('tight', 'image-rich', { maxMessageSize: Math.round(total * 0.6) });
  const images = new CountingBackend();
  const r = await transcoder(images).adaptFor(head({ contentType: 'multipart/mixed' }), parts, { profile: tight, by: 'default' }, TOKEN);
  t.ok(r.fits, `fits (${r.size} of ${tight.maxMessageSize})`);
  t.ok(images.encodes >= 1, 'encoded');
  t.ok(r.parts.some((p, i) => !p.data.equals(parts[i]!.data)), 'not the originals');
  t.equal(r.size, encodeMms(retrieveConf(head({ contentType: 'multipart/mixed' }), r.parts, TOKEN)).length);
});

t.test('what keeps an image from going as it is', async (t) => {
  const multi = head({ contentType: 'multipart/mixed' });
  const profile = registry.byName('default')!;
  const run = async (part: StoredPart): Promise<{ out: StoredPart; encodes: number }> => {
    const images = new CountingBackend();
    const r = await transcoder(images).adaptFor(multi, [part], { profile, by: 'default' }, TOKEN);
    return { out: r.parts[0]!, encodes: images.encodes };
  };
  // EXIF GPS on an image that suits: the bytes go as the sender sent them (metadata is dropped only by a re-encode).
  const located = await sharp({ create: { width: 120, height: 90, channels: 3, background: '#406080' } })
    .jpeg()
    .withExif({ IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '48/1 51/1 30/1', GPSLongitudeRef: 'E', GPSLongitude: '2/1 17/1 40/1' } })
    .toBuffer();
  const kept = await run({ contentType: 'image/jpeg', contentLocation: 'gps.jpg', data: located });
  t.equal(kept.out.data, located, 'a fitting JPEG with EXIF keeps its bytes');
  t.equal(kept.encodes, 0);
  t.ok(await readImageGeolocation(kept.out.data), 'EXIF included');

  // EXIF orientation 6: many MMS phones ignore the tag, so the photo is turned upright (and its metadata goes with the re-encode).
  const sideways = await sharp({ create: { width: 120, height: 90, channels: 3, background: '#406080' } })
    .jpeg()
    .withMetadata({ orientation: 6 })
    .withExifMerge({ IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '48/1 51/1 30/1', GPSLongitudeRef: 'E', GPSLongitude: '2/1 17/1 40/1' } })
    .toBuffer();
  const turned = await run({ contentType: 'image/jpeg', contentLocation: 'turned.jpg', data: sideways });
  t.equal(turned.encodes, 1, 'a rotation needs a re-encode');
  const tm = await sharp(turned.out.data).metadata();
  t.same([tm.width, tm.height], [90, 120], 'upright');
  t.equal(await readImageGeolocation(turned.out.data), undefined, 'the re-encoded image carries no position');

  // A label that lies: PNG octets called image/gif go out as what they are.
  const png = await sharp({ create: { width: 40, height: 30, channels: 3, background: '#808080' } }).png().toBuffer();
  const relabelled = await run({ contentType: 'image/gif', contentLocation: 'lie.gif', data: png });
  t.equal(relabelled.encodes, 1);
  t.equal(mediaType(relabelled.out), 'image/png', 'labelled by its real format');

  // Larger than the box.
  const wide = await sharp({ create: { width: 800, height: 300, channels: 3, background: '#808080' } }).png().toBuffer();
  const shrunk = await run({ contentType: 'image/png', contentLocation: 'wide.png', data: wide });
  t.equal(shrunk.encodes, 1);
  t.equal((await sharp(shrunk.out.data).metadata()).width, 640);

  // A format the terminal does not take.
  const jpegOnly = profileFromClass('jpeg-only', 'image-rich', { accept: ['text/plain', 'image/jpeg'] });
  const images = new CountingBackend();
  const r = await transcoder(images).adaptFor(multi, [{ contentType: 'image/gif', contentLocation: 'dot.gif', data: GIF }], { profile: jpegOnly, by: 'default' }, TOKEN);
  t.equal(mediaType(r.parts[0]!), 'image/jpeg', 'a GIF for a JPEG-only phone is converted');
  t.equal(images.encodes, 1);
});

t.test('text: kept as it is when readable and within budget, converted when not', async (t) => {
  const multi = head({ contentType: 'multipart/mixed' });
  const utf16 = Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from('Hi', 'utf16le').swap16()]);
  const parts: StoredPart[] = [
    { contentType: 'text/plain; charset=UTF-8', contentLocation: 'upper.txt', data: Buffer.from('Grüße', 'utf8') },
    { contentType: 'text/plain; charset=utf-16', contentLocation: 'wide.txt', data: utf16 },
    { contentType: 'text/plain; charset=UTF8', contentLocation: 'alias.txt', data: Buffer.from('Grüße', 'utf8') },
  ];
  const r = await transcoder(new CountingBackend()).adaptFor(multi, parts, { profile: registry.byName('default')!, by: 'default' }, TOKEN);
  t.equal(r.parts[0], parts[0], 'UTF-8 in capitals is an accepted charset: the part itself');
  t.equal(r.parts[1]!.contentType, 'text/plain; charset=utf-8', 'UTF-16 is not accepted: converted');
  t.same(r.parts[1]!.data, Buffer.from('Hi'));
  t.equal(r.parts[2]!.contentType, 'text/plain; charset=utf-8', 'the alias UTF8 has no WSP code: relabelled');
  t.same(r.parts[2]!.data, parts[2]!.data, 'with the same octets');
  t.equal(r.size, encodeMms(retrieveConf(multi, r.parts, TOKEN)).length, 'and the M-Retrieve.conf encodes');
  const anyCharset: TerminalProfile = profileFromClass('any', 'text', { charsets: ['*'] });
  const r2 = await transcoder(new CountingBackend()).adaptFor(multi, parts, { profile: anyCharset, by: 'default' }, TOKEN);
  t.equal(r2.parts[1], parts[1], 'a terminal that reads any charset gets the UTF-16 part itself');
  t.equal(r2.parts[2]!.contentType, 'text/plain; charset=utf-8', 'but the alias is still relabelled');
  const long: StoredPart[] = [{ contentType: 'text/plain; charset=utf-8', contentLocation: 'long.txt', data: Buffer.from('x'.repeat(40_000)) }];
  const r3 = await transcoder(new CountingBackend()).adaptFor(multi, long, { profile: registry.byName('feature-phone')!, by: 'default' }, TOKEN);
  t.ok(r3.parts[0]!.data.length < 30_720, `a text too long for the budget is still cut (${r3.parts[0]!.data.length} octets)`);
  t.match(r3.parts[0]!.data.toString('utf8'), /more characters cut to fit this phone\]$/);
  t.ok(r3.fits);
});

t.test('the as-is verdict is exact for each head, though heads of one size step share a cache entry', async (t) => {
  const parts: StoredPart[] = [
    { contentType: 'image/jpeg', contentLocation: 'photo.jpg', data: await photoJpeg(320, 240, 95) },
    { contentType: 'text/plain; charset=utf-8', contentLocation: 'note.txt', data: Buffer.from('see the photo') },
  ];
  // Two subjects whose heads differ by a few octets within one 512-octet step.
  const step = (s: string): number => Math.ceil((retrieveConfSize(head({ contentType: 'multipart/mixed', subject: s }), [], TOKEN) + 1) / 512);
  let short = 'S';
  while (step(short) !== step(`${short}-longer`)) short += 'S';
  const shortHead = head({ contentType: 'multipart/mixed', subject: short });
  const longHead = head({ contentType: 'multipart/mixed', subject: `${short}-longer` });
  // The limit is exactly the short message as stored: it fits, the long one does not.
  const exact = retrieveConfSize(shortHead, parts, TOKEN);
  const profile = profileFromClass('exact', 'image-rich', { maxMessageSize: exact });
  const match = { profile, by: 'default' as const };

  const check = async (order: 'short-first' | 'long-first'): Promise<void> => {
    const images = new CountingBackend();
    const tc = transcoder(images);
    const heads = order === 'short-first' ? [shortHead, longHead] : [longHead, shortHead];
    for (const h of heads) {
      const r = await tc.adaptFor(h, parts, match, TOKEN);
      t.ok(r.fits, `${order}, subject ${h.envelope.subject}: fits (${r.size} of ${exact})`);
      t.equal(r.size, encodeMms(retrieveConf(h, r.parts, TOKEN)).length, `${order}: the size is the encoded size`);
      if (h === shortHead) {
        t.equal(r.parts[0]!.data, parts[0]!.data, `${order}: the short one fits to the octet and goes as it is`);
        t.equal(r.size, exact);
      } else {
        t.not(r.parts[0]!.data, parts[0]!.data, `${order}: the long one is adapted`);
      }
    }
    t.ok(images.encodes >= 1);
  };
  await check('short-first');
  await check('long-first');
});

t.test('the DB1 cache keeps no copy of content that goes as it is; after a restart it still answers', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mmsgw-pass-through-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'db1.sqlite');
  const parts = await fittingParts();
  const profile = registry.byName('default')!;
  let db = Db1.open(path);
  t.teardown(() => db.close());
  const first = await transcoder(new CountingBackend(), new SqliteAdaptationCache(db)).adaptFor(multipart(), parts, { profile, by: 'default' }, TOKEN);
  t.ok(first.asIs);
  await db.write(() => undefined);
  const row = db.sqlite.prepare('SELECT length(content) AS n FROM transcode_cache').get() as { n: number } | undefined;
  t.ok(row && row.n < 4096, `the row holds the verdict, not the ${parts.reduce((n, p) => n + p.data.length, 0)} octets of content (${row?.n})`);
  db.close();
  db = Db1.open(path);
  const images = new CountingBackend();
  const again = await transcoder(images, new SqliteAdaptationCache(db)).adaptFor(multipart(), parts, { profile, by: 'default' }, TOKEN);
  t.ok(again.cached);
  t.equal(images.calls, 0, 'no image work after the restart');
  parts.forEach((p, i) => t.equal(again.parts[i]!.data, p.data, `${p.contentLocation}: the very Buffer`));

  const back = deserializeAdaptation(serializeAdaptation({ parts: [], actions: [], partsCost: 1234, asIs: true, asIsCost: 1234 }));
  t.same(back, { parts: [], actions: [], partsCost: 1234, asIs: true, asIsCost: 1234 }, 'the verdict survives serialisation');
});
