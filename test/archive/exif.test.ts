import sharp from 'sharp';
import t from 'tap';
import { exifGps, firstImageGps, jpegExif, jpegFirstGeolocation } from '../../src/archive/exif.js';
import { readImageGeolocation } from '../../src/transcode/exif.js';
import { forwardOf, sendForward, startNode, subscribe } from './helpers.js';

// The EXIF is written by libvips (sharp's withExif), not by us.
async function photoAt(lat: string, latRef: string, lon: string, lonRef: string): Promise<Buffer> {
  return sharp({ create: { width: 32, height: 32, channels: 3, background: { r: 10, g: 200, b: 10 } } })
    .withExif({ IFD0: { Make: 'TestCam' }, IFD3: { GPSLatitudeRef: latRef, GPSLatitude: lat, GPSLongitudeRef: lonRef, GPSLongitude: lon } })
    .jpeg()
    .toBuffer();
}

t.test('EXIF GPS of a JPEG written by libvips', async (t) => {
  const paris = await photoAt('48/1 51/1 3013/100', 'N', '2/1 17/1 4041/100', 'E');
  const exif = jpegExif(paris);
  t.ok(exif, 'the APP1 segment is found');
  t.same(exifGps(exif!), { lat: 48.858369, lon: 2.294558 });
  const rio = await photoAt('22/1 54/1 3024/100', 'S', '43/1 10/1 1240/100', 'W');
  t.same(firstImageGps([{ contentType: 'image/jpeg', data: rio }]), { lat: -22.9084, lon: -43.170111 }, 'south and west are negative');
  const plain = await sharp({ create: { width: 8, height: 8, channels: 3, background: 'white' } }).jpeg().toBuffer();
  t.equal(firstImageGps([{ contentType: 'image/jpeg', data: plain }]), undefined, 'no EXIF: nothing');
  t.equal(firstImageGps([{ contentType: 'text/plain', data: paris }]), undefined, 'only image parts are read');
});

t.test('jpegFirstGeolocation: a JPEG read without sharp gives what sharp gives; other images go to sharp', async (t) => {
  const paris = await photoAt('48/1 51/1 3013/100', 'N', '2/1 17/1 4041/100', 'E');
  const plain = await sharp({ create: { width: 8, height: 8, channels: 3, background: 'white' } }).jpeg().toBuffer();
  const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: 'white' } })
    .withExif({ IFD0: { Make: 'TestCam' }, IFD3: { GPSLatitudeRef: 'S', GPSLatitude: '22/1 54/1 3024/100', GPSLongitudeRef: 'W', GPSLongitude: '43/1 10/1 1240/100' } })
    .png()
    .toBuffer();
  const handedOn: Buffer[] = [];
  const read = jpegFirstGeolocation(async (data) => {
    handedOn.push(data);
    return readImageGeolocation(data);
  });
  const fromSharp = await readImageGeolocation(paris);
  t.ok(fromSharp, 'sharp finds the position');
  t.same(await read(paris), fromSharp, 'the same position as sharp, unrounded');
  t.equal(await read(plain), undefined, 'a JPEG without EXIF: nothing');
  t.equal(handedOn.length, 0, 'no JPEG went to sharp');
  const pngPos = await read(png);
  t.same(handedOn, [png], 'the PNG went to sharp');
  t.same(pngPos, await readImageGeolocation(png), 'with sharp\'s answer');
});

t.test('hostile EXIF: every truncation and corruption yields undefined, never a throw', async (t) => {
  const photo = await photoAt('48/1 51/1 3013/100', 'N', '2/1 17/1 4041/100', 'E');
  const exif = jpegExif(photo)!;
  let threw = 0;
  for (let cut = 0; cut < exif.length; cut++) {
    try {
      exifGps(exif.subarray(0, cut));
    } catch {
      threw++;
    }
  }
  t.equal(threw, 0, 'no truncation throws');
  for (let i = 0; i < exif.length; i++) {
    const bad = Buffer.from(exif);
    bad[i] = bad[i]! ^ 0xff;
    try {
      const pos = exifGps(bad);
      if (pos) t.ok(Math.abs(pos.lat) <= 90 && Math.abs(pos.lon) <= 180, 'any answer is a real coordinate');
    } catch {
      threw++;
    }
  }
  t.equal(threw, 0, 'no flipped octet throws');
  t.equal(jpegExif(Buffer.from([0xff, 0xd8, 0xff, 0xe1, 0xff, 0xff])), undefined, 'a segment longer than the file');
});

t.test('server 2 fills in the geolocation from the photo when server 1 sent none', async (t) => {
  const { node, base } = await startNode(t);
  const sub = await subscribe(base, '+15550001111');
  const photo = await photoAt('48/1 51/1 3013/100', 'N', '2/1 17/1 4041/100', 'E');
  const r = await sendForward(base, forwardOf({ subscriptionId: sub.id, originalMessageId: 'gps', parts: [{ contentType: 'image/jpeg', data: photo }] }));
  t.same(node.db.getMessage(r.headers.get('x-archive-id')!)?.additional.geolocation, { lat: 48.858369, lon: 2.294558, source: 'exif' });
  const given = { geolocation: { lat: 1, lon: 2, source: 'sender-location' } };
  const r2 = await sendForward(base, forwardOf({ subscriptionId: sub.id, originalMessageId: 'gps2', parts: [{ contentType: 'image/jpeg', data: photo }], additional: given }));
  t.same(node.db.getMessage(r2.headers.get('x-archive-id')!)?.additional.geolocation, given.geolocation, 'server 1\'s geolocation wins');
});
