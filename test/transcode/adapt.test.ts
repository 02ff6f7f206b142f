import t, { type Test } from 'tap';
import sharp from 'sharp';
import { encodeMms } from '../../protocol/mms/codec.js';
import { parseMimeType, retrieveConf } from '../../src/mmsc/convert.js';
import type { StoredPart } from '../../src/mmsc/model.js';
import {
  cutMarker,
  decodeText,
  fairShares,
  loadProfileRegistry,
  MEDIA_TYPE_OF,
  MemoryAdaptationCache,
  profileFromClass,
  readImageGeolocation,
  resolveSrc,
  smilReferences,
  TerminalTranscoder,
  accepts,
  type AdaptationReport,
  type TerminalProfile,
} from '../../src/transcode/index.js';
import { CountingBackend, fullMessage, head, photoJpeg, testMedia } from './media.js';

const CONF = new URL('../../conf/terminals/', import.meta.url).pathname;
const registry = loadProfileRegistry(CONF);
const TOKEN = 'T0k3n-0123456789abcdefghij';

function transcoder(images = new CountingBackend()): TerminalTranscoder {
  return new TerminalTranscoder({ profiles: registry, images, cache: new MemoryAdaptationCache(1 << 20) });
}

const byLocation = (parts: readonly StoredPart[], location: string): StoredPart | undefined => parts.find((p) => p.contentLocation === location);
const mediaType = (p: StoredPart): string => parseMimeType(p.contentType).mediaType;

/** Every src names a remaining part, every part but the SMIL is shown, every used region is declared and every declared one used. */
function checkSmil(t: Test, parts: readonly StoredPart[]): void {
  const smilPart = parts.find((p) => mediaType(p) === 'application/smil');
  t.ok(smilPart, 'the presentation is still there');
  const refs = smilReferences(smilPart!.data.toString('utf8'));
  const resolved = refs.srcs.map((src) => resolveSrc(src, parts));
  t.notOk(resolved.includes(-1), `every src resolves to a part (${refs.srcs.join(', ')})`);
  const shown = new Set(resolved);
  const unshown = parts.filter((p, i) => p !== smilPart && !shown.has(i)).map((p) => p.contentLocation);
  t.same(unshown, [], 'every part is presented');
  t.same([...new Set(refs.regionsUsed)].filter((r) => !refs.regionsDeclared.includes(r)), [], 'every region used is declared');
  t.same(refs.regionsDeclared.filter((r) => !refs.regionsUsed.includes(r)), [], 'no region is left empty');
}


async function encodedSize(parts: StoredPart[]): Promise<number> {
  return encodeMms(retrieveConf(head(), parts, TOKEN)).length;
}

interface Expect {
  image: { width: number; height: number };
  png: 'image/png' | 'image/gif';
  amr: 'kept' | 'replaced';
  video: 'kept' | 'replaced';
  textCut: boolean;
}

const EXPECT: Record<string, Expect> = {
  'feature-phone': { image: { width: 160, height: 120 }, png: 'image/gif', amr: 'replaced', video: 'replaced', textCut: true },
  default: { image: { width: 640, height: 480 }, png: 'image/png', amr: 'kept', video: 'replaced', textCut: true },
  'mid-range': { image: { width: 640, height: 480 }, png: 'image/png', amr: 'kept', video: 'kept', textCut: true },
  smartphone: { image: { width: 1600, height: 1200 }, png: 'image/png', amr: 'kept', video: 'kept', textCut: false },
};

t.test('per profile: 4000x3000 JPEG, transparent PNG, animated GIF, long text, AMR, 3GP, SMIL', async (t) => {
  const media = await testMedia();
  const original = fullMessage(media);
  const copies = original.map((p) => Buffer.from(p.data));
  for (const [name, e] of Object.entries(EXPECT)) {
    await t.test(name, async (t) => {
      const profile = registry.byName(name)!;
      const report: AdaptationReport = await transcoder().adaptFor(head(), original, { profile, by: 'default' }, TOKEN);
      const parts = report.parts;

      const size = await encodedSize(parts);
      t.ok(size <= profile.maxMessageSize, `the encoded M-Retrieve.conf (${size} octets) fits ${profile.maxMessageSize}`);
      t.equal(report.size, size, 'the reported size is the encoded size');
      t.ok(report.fits);
      for (const p of parts) t.ok(accepts(profile, mediaType(p)), `${p.contentLocation}: ${mediaType(p)} is accepted`);

      const photo = byLocation(parts, 'photo.jpg')!;
      const pm = await sharp(photo.data).metadata();
      t.same([pm.format, pm.width, pm.height], ['jpeg', e.image.width, e.image.height], '4000x3000 → the profile box, 4:3 kept');
      t.equal(pm.exif, undefined, 'no metadata left');

      const logo = parts.find((p) => p.contentId === 'logo')!;
      t.equal(mediaType(logo), e.png, 'PNG kept where accepted, else GIF (which keeps transparency)');
      t.equal(logo.contentLocation, e.png === 'image/png' ? 'logo.png' : 'logo.gif', 'renamed with its new type');
      const lm = await sharp(logo.data).metadata();
      t.ok(lm.hasAlpha, 'transparency survives');
      t.ok(lm.width! <= e.image.width && lm.height! <= e.image.height, `PNG ${lm.width}x${lm.height} within the box`);
      t.equal(lm.width! / lm.height!, 4 / 3, 'aspect ratio kept');
      const { data: px, info } = await sharp(logo.data).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
      t.equal(px[info.width * 4 - 1], 0, 'the right edge is still transparent');
      t.equal(px[3], 255, 'the left edge is still opaque');

      const anim = byLocation(parts, 'anim.gif')!;
      const am = await sharp(anim.data, { animated: true }).metadata();
      t.same([am.format, am.pages], ['gif', 3], 'the animation is kept: GIF is accepted');
      t.ok(am.width! <= e.image.width && am.pageHeight! <= e.image.height, 'frames within the box');

      const story = parts.find((p) => p.contentId === 'story')!;
      const text = decodeText(story.data, parseMimeType(story.contentType).params.charset);
      if (e.textCut) {
        t.ok(text.length < media.text.length, `the long text is cut (${story.data.length} octets)`);
        t.ok(media.text.startsWith(text.slice(0, text.indexOf('\n['))), 'what remains is the beginning');
        t.match(text, /\[… \d+ more characters cut to fit this phone\]$/, 'with a marker');
        const removed = Number(/\[… (\d+) more/.exec(text)![1]);
        t.equal(Array.from(text).length - Array.from(cutMarker(removed)).length + removed, Array.from(media.text).length, 'the marker counts what was cut');
      } else {
        t.equal(text, media.text, 'the text fits and is whole');
      }

      const voice = parts.find((p) => p.contentId === 'voice')!;
      const clip = parts.find((p) => p.contentId === 'clip')!;
      const checkMedia = (p: StoredPart, what: 'kept' | 'replaced', originalData: Buffer, label: string): void => {
        if (what === 'kept') t.ok(p.data.equals(originalData), `${label} kept as it is`);
        else {
          t.equal(mediaType(p), 'text/plain', `${label} replaced by a text part`);
          t.match(p.data.toString('utf8'), /removed: /, `${label}: the notice says why`);
        }
      };
      checkMedia(voice, e.amr, media.amr, 'AMR audio');
      checkMedia(clip, e.video, media.video, '3GP video');
      const actions = report.actions.map((a) => a.action);
      t.equal(actions.length, original.length, 'one action per original part');

      checkSmil(t, parts);
      const smil = parts.find((p) => p.contentId === 'smil')!.data.toString('utf8');
      if (e.video === 'replaced') {
        t.match(smil, /<text src="clip\.txt" region="Video"\/>/, 'the removed video becomes a text in its region');
        t.notMatch(smil, /<video/);
      }
      if (e.amr === 'replaced') t.match(smil, /<text src="voice\.txt" region="Text"\/>/, 'removed audio: its notice goes to the Text region');
      if (e.png === 'image/gif') t.match(smil, /<img src="cid:logo" region="Image"\/>/, 'a cid: reference stays a cid: reference');
    });
  }
  t.ok(
    original.every((p, i) => p.data.equals(copies[i]!)),
    'the stored originals are untouched',
  );
});

t.test('images share the budget fairly, JPEG quality goes down step by step', async (t) => {
  const photos = await Promise.all([photoJpeg(1600, 1200), photoJpeg(1200, 1600), photoJpeg(2000, 1500)]);
  const parts: StoredPart[] = photos.map((data, i) => ({ contentType: 'image/jpeg', contentLocation: `p${i}.jpg`, data }));
  // First at 30 KB, where the three 160x120 JPEGs fit at quality 80; then with room for 60 % of that.
  const roomy = await transcoder().adaptFor(head({ contentType: 'multipart/mixed' }), parts, { profile: registry.byName('feature-phone')!, by: 'default' }, TOKEN);
  const full = roomy.parts.reduce((n, p) => n + p.data.length, 0);
  t.ok(roomy.actions.every((a) => a.action === 'adapted'));
  const tight: TerminalProfile = { ...profileFromClass('tight', 'image-basic'), maxMessageSize: Math.round(full * 0.6) + 1024 };
  const images = new CountingBackend();
  const r = await transcoder(images).adaptFor(head({ contentType: 'multipart/mixed' }), parts, { profile: tight, by: 'default' }, TOKEN);
  t.ok(r.fits, `fits (${r.size} of ${tight.maxMessageSize})`);
  t.ok(images.requests.some((q) => q.quality < 80), 'a lower quality was tried');
  t.ok(
    images.requests.filter((q) => q.quality === 80).every((q) => q.maxWidth === 160),
    'the first attempt is at full quality and the full box',
  );
  const sizes = r.parts.map((p) => p.data.length);
  const max = Math.max(...sizes);
  const min = Math.min(...sizes);
  t.ok(max / min < 2, `no image starves the others (${sizes.join(', ')})`);
  const portrait = await sharp(r.parts[1]!.data).metadata();
  t.ok(portrait.height! <= 120 && portrait.width! <= 160 && portrait.height! > portrait.width!, 'the portrait photo stays portrait');
  t.same(fairShares([100, 5000, 5000], 3000), [100, 1450, 1450], 'water-filling: the small one keeps its size, the rest split');
  t.same(fairShares([10, 20], 1000), [10, 20]);
});

t.test('EXIF orientation is honoured and metadata (GPS) stripped', async (t) => {
  // Stored landscape 400x200, EXIF orientation 6: the camera was held upright, show it 200x400.
  const stored = await sharp({ create: { width: 400, height: 200, channels: 3, background: '#3060a0' } })
    .jpeg()
    .withMetadata({ orientation: 6 })
    .withExifMerge({ IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '48/1 51/1 30/1', GPSLongitudeRef: 'E', GPSLongitude: '2/1 17/1 40/1' } })
    .toBuffer();
  t.equal((await sharp(stored).metadata()).orientation, 6);
  t.ok(await readImageGeolocation(stored), 'the original has a position');
  const parts: StoredPart[] = [{ contentType: 'image/jpeg', contentLocation: 'upright.jpg', data: stored }];
  for (const [name, box] of [
    ['default', { width: 200, height: 400 }],
    ['feature-phone', { width: 60, height: 120 }],
  ] as const) {
    const r = await transcoder().adaptFor(head({ contentType: 'multipart/mixed' }), parts, { profile: registry.byName(name)!, by: 'default' }, TOKEN);
    const m = await sharp(r.parts[0]!.data).metadata();
    t.same([m.width, m.height], [box.width, box.height], `${name}: upright and never enlarged`);
    t.notOk(m.orientation !== undefined && m.orientation !== 1, 'no orientation tag left to apply twice');
    t.equal(await readImageGeolocation(r.parts[0]!.data), undefined, `${name}: the position is not sent to the terminal`);
  }
});

t.test('text: charset conversion to one the terminal accepts', async (t) => {
  const latin1Only: TerminalProfile = { ...profileFromClass('latin', 'text'), charsets: ['iso-8859-1'] };
  const parts: StoredPart[] = [{ contentType: 'text/plain; charset=utf-16', contentLocation: 'a.txt', data: Buffer.from([0xfe, 0xff, 0x00, 0x47, 0x00, 0xfc, 0x20, 0xac]) }];
  const r = await transcoder().adaptFor(head({ contentType: 'multipart/mixed' }), parts, { profile: latin1Only, by: 'default' }, TOKEN);
  t.equal(r.parts[0]!.contentType, 'text/plain; charset=iso-8859-1');
  t.same([...r.parts[0]!.data], [0x47, 0xfc, 0x3f], '"Gü€" in Latin-1, the euro sign (not in Latin-1) as ?');
  const utf8: StoredPart[] = [{ contentType: 'text/plain; charset=utf-8', contentLocation: 'b.txt', data: Buffer.from('Grüße', 'utf8') }];
  const same = await transcoder().adaptFor(head({ contentType: 'multipart/mixed' }), utf8, { profile: registry.byName('default')!, by: 'default' }, TOKEN);
  t.equal(same.parts[0], utf8[0], 'an accepted charset and a text that fits: the part itself');
  t.equal(same.actions[0]!.action, 'kept');
});

t.test('allowAdaptations=false: delivered unadapted, or refused when configured and it does not fit', async (t) => {
  const media = await testMedia();
  const parts = fullMessage(media);
  const images = new CountingBackend();
  const deliver = new TerminalTranscoder({ profiles: registry, images });
  const r = await deliver.adaptFor(head({ allowAdaptations: false }), parts, { profile: registry.byName('feature-phone')!, by: 'default' }, TOKEN);
  t.equal(r.parts, parts, 'the very parts, unadapted');
  t.notOk(r.fits, 'and it is known not to fit');
  t.equal(images.calls, 0, 'no image work');
  const refuse = new TerminalTranscoder({ profiles: registry, images, notAllowed: 'refuse' });
  await t.rejects(refuse.adaptFor(head({ allowAdaptations: false }), parts, { profile: registry.byName('feature-phone')!, by: 'default' }), {
    name: 'AdaptationRefusedError',
    code: 'TRANSCODE_ADAPTATION_NOT_ALLOWED',
    retrieveStatus: 'Error-permanent-content-unsupported',
  });
  const small: StoredPart[] = [{ contentType: 'text/plain; charset=utf-8', data: Buffer.from('hi') }];
  const ok = await refuse.adaptFor(head({ allowAdaptations: false, contentType: 'multipart/mixed' }), small, { profile: registry.byName('feature-phone')!, by: 'default' });
  t.equal(ok.parts, small, 'what fits is delivered even under refuse');
});

t.test('a single-part message keeps its type (the envelope names it)', async (t) => {
  const png = await sharp({ create: { width: 1200, height: 900, channels: 3, background: '#808080' } }).png().toBuffer();
  const parts: StoredPart[] = [{ contentType: 'image/png', data: png }];
  const r = await transcoder().adaptFor(head({ contentType: 'image/png' }), parts, { profile: registry.byName('default')!, by: 'default' }, TOKEN);
  t.equal(r.parts[0]!.contentType, MEDIA_TYPE_OF.png);
  const m = await sharp(r.parts[0]!.data).metadata();
  t.same([m.format, m.width, m.height], ['png', 640, 480]);
});

t.test('formats: WebP and AVIF become what the terminal takes; an animation becomes its first frame without GIF', async (t) => {
  const alphaWebp = await sharp({ create: { width: 1000, height: 500, channels: 4, background: { r: 0, g: 90, b: 200, alpha: 0.4 } } }).webp().toBuffer();
  const opaqueAvif = await sharp({ create: { width: 1000, height: 500, channels: 3, background: '#c08040' } }).avif().toBuffer();
  const parts: StoredPart[] = [
    { contentType: 'image/webp', contentLocation: 'a.webp', data: alphaWebp },
    { contentType: 'image/avif', contentLocation: 'b.avif', data: opaqueAvif },
  ];
  const multi = head({ contentType: 'multipart/mixed' });
  const formats = async (profile: TerminalProfile): Promise<string[]> => {
    const r = await transcoder().adaptFor(multi, parts, { profile, by: 'default' }, TOKEN);
    return Promise.all(r.parts.map(async (p) => `${p.contentLocation} ${(await sharp(p.data).metadata()).format} ${mediaType(p)}`));
  };
  t.same(await formats(registry.byName('default')!), ['a.png png image/png', 'b.jpg jpeg image/jpeg'], 'transparency → PNG where accepted, the rest → JPEG');
  t.same(await formats(registry.byName('feature-phone')!), ['a.gif gif image/gif', 'b.jpg jpeg image/jpeg'], 'no PNG: transparency → GIF');
  t.same(await formats(registry.byName('smartphone')!), ['a.png png image/png', 'b.jpg jpeg image/jpeg'], 'image/* accepted, but WebP and AVIF are not written: converted');

  const { animatedGif } = await import('./media.js');
  const jpegOnly: TerminalProfile = { ...profileFromClass('jpeg-only', 'image-rich'), accept: ['text/plain', 'image/jpeg'] };
  const r = await transcoder().adaptFor(multi, [{ contentType: 'image/gif', contentLocation: 'anim.gif', data: await animatedGif() }], { profile: jpegOnly, by: 'default' }, TOKEN);
  const m = await sharp(r.parts[0]!.data, { animated: true }).metadata();
  t.same([m.format, m.pages ?? 1, r.parts[0]!.contentLocation], ['jpeg', 1, 'anim.jpg'], 'first frame as JPEG');
  t.match(r.actions[0]!.detail, /first frame/);
  const { data } = await sharp(r.parts[0]!.data).raw().toBuffer({ resolveWithObject: true });
  t.ok(data[0]! < 30 && data[2]! > 220, 'and it is the first frame (blue), not another');

  const none: TerminalProfile = { ...profileFromClass('no-images', 'text') };
  const text = await transcoder().adaptFor(multi, parts, { profile: none, by: 'default' }, TOKEN);
  t.same(text.actions.map((a) => a.code), ['IMAGE_NO_FORMAT', 'IMAGE_NO_FORMAT'], 'a Text-class phone gets notices');
});

t.test('a single-part text keeps the charset its envelope names', async (t) => {
  const latin1Only: TerminalProfile = { ...profileFromClass('latin', 'text'), charsets: ['iso-8859-1'] };
  const parts: StoredPart[] = [{ contentType: 'text/plain; charset=utf-16', data: Buffer.from([0xfe, 0xff, 0x00, 0x47]) }];
  const r = await transcoder().adaptFor(head({ contentType: 'text/plain; charset=utf-16' }), parts, { profile: latin1Only, by: 'default' }, TOKEN);
  t.equal(r.parts[0]!.contentType, 'text/plain; charset=utf-16');
  t.same([...r.parts[0]!.data], [0xfe, 0xff, 0x00, 0x47]);
  const bad: StoredPart[] = [{ contentType: 'image/jpeg', data: Buffer.from('not a jpeg') }];
  const b = await transcoder().adaptFor(head({ contentType: 'image/jpeg' }), bad, { profile: registry.defaultProfile, by: 'default' }, TOKEN);
  t.equal(b.parts[0], bad[0], 'an unreadable single part is sent as it is: a text notice would contradict the envelope');
  t.equal(b.actions[0]!.code, 'IMAGE_UNREADABLE');
});

t.test('adapt(): an unexpected failure delivers the original parts and is logged', async (t) => {
  const events: Array<Record<string, unknown>> = [];
  const broken = new TerminalTranscoder({
    profiles: registry,
    cache: { get: () => { throw new Error('cache exploded'); }, set: () => Promise.resolve() },
    log: (e) => events.push(e),
  });
  const parts: StoredPart[] = [{ contentType: 'text/plain', data: Buffer.from('hi') }];
  const h = head({ contentType: 'multipart/mixed' });
  const message = { ...h, recipients: [], size: 2, destroyed: false };
  const out = await broken.adapt(message, parts, {});
  t.equal(out, parts);
  t.equal(events[0]?.event, 'transcode-failed');
  t.match(String(events[0]?.error), /cache exploded/);
});
