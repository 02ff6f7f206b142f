import t from 'tap';
import { crc32 } from 'node:zlib';
import sharp from 'sharp';
import type { StoredPart } from '../../src/mmsc/model.js';
import { ImageAdaptationError, loadProfileRegistry, MemoryAdaptationCache, SharpImageBackend, TerminalTranscoder } from '../../src/transcode/index.js';
import { head, photoJpeg } from './media.js';

const registry = loadProfileRegistry(new URL('../../conf/terminals/', import.meta.url).pathname);

function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

/** A valid PNG header declaring 100 000 x 100 000 pixels (10 gigapixels) and almost no data: a decompression bomb's shape. */
function hugePng(): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(100_000, 0);
  ihdr.writeUInt32BE(100_000, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', Buffer.from([0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01])), chunk('IEND', Buffer.alloc(0))]);
}

t.test('bad images become text notices; the good ones are still adapted', async (t) => {
  const good = await photoJpeg(800, 600);
  const garbage = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) & 0xff));
  const parts: StoredPart[] = [
    { contentType: 'image/jpeg', contentLocation: 'truncated.jpg', data: good.subarray(0, Math.floor(good.length / 2)) },
    { contentType: 'image/png', contentLocation: 'bomb.png', data: hugePng() },
    { contentType: 'image/jpeg', contentLocation: 'garbage.jpg', data: garbage },
    { contentType: 'image/jpeg', contentLocation: 'empty.jpg', data: Buffer.alloc(0) },
    { contentType: 'image/jpeg', contentLocation: 'good.jpg', data: good },
  ];
  const tc = new TerminalTranscoder({ profiles: registry, cache: new MemoryAdaptationCache(1 << 20) });
  const r = await tc.adaptFor(head({ contentType: 'multipart/mixed' }), parts, { profile: registry.byName('default')!, by: 'default' });
  const codes = r.actions.map((a) => a.code ?? a.action);
  t.same(codes, ['IMAGE_UNREADABLE', 'IMAGE_TOO_LARGE', 'IMAGE_UNREADABLE', 'IMAGE_UNREADABLE', 'adapted']);
  for (const name of ['truncated', 'bomb', 'garbage', 'empty']) {
    const notice = r.parts.find((p) => p.contentLocation === `${name}.txt`);
    t.ok(notice, `${name}: replaced by ${name}.txt`);
    t.equal(notice?.contentType, 'text/plain; charset=utf-8');
    t.match(notice?.data.toString('utf8'), /could not be adapted/, `${name}: the notice says what happened`);
  }
  t.match(r.parts.find((p) => p.contentLocation === 'bomb.txt')!.data.toString('utf8'), /too large/);
  const m = await sharp(r.parts.find((p) => p.contentLocation === 'good.jpg')!.data).metadata();
  t.same([m.width, m.height], [640, 480], 'the good image beside them is adapted');
  t.ok(r.fits);
});

t.test('the sharp backend: pixel limit, time budget, typed errors', async (t) => {
  const backend = new SharpImageBackend({ limitInputPixels: 1_000_000 });
  const big = await photoJpeg(2000, 1000);
  await t.rejects(backend.encode(big, { maxWidth: 100, maxHeight: 100, format: 'jpeg', quality: 80, colours: 256, animated: false }), { code: 'IMAGE_TOO_LARGE' }, '2 MP over a 1 MP limit');
  await t.rejects(backend.probe(hugePng()), ImageAdaptationError);
  await t.rejects(backend.probe(Buffer.from('not an image')), { code: 'IMAGE_UNREADABLE' });
  // A time budget far below what decoding 12 MP takes: the operation is abandoned, not waited for.
  const slow = new SharpImageBackend({ timeoutMs: 1 });
  const huge = await photoJpeg(4000, 3000);
  await t.rejects(slow.encode(huge, { maxWidth: 1600, maxHeight: 1200, format: 'png', quality: 80, colours: 256, animated: false }), { code: 'IMAGE_TIMEOUT' });
  const ok = await new SharpImageBackend().encode(big, { maxWidth: 100, maxHeight: 100, format: 'jpeg', quality: 80, colours: 256, animated: false });
  t.same([ok.width, ok.height, ok.format], [100, 50, 'jpeg'], 'and the next image is served');
});
