import t from 'tap';
import sharp, { type Sharp } from 'sharp';
import { parseExifGeolocation, readImageGeolocation } from '../../src/transcode/index.js';

const base = (): Sharp => sharp({ create: { width: 32, height: 24, channels: 3, background: '#2080c0' } });

t.test('readImageGeolocation: the EXIF GPS position of a JPEG', async (t) => {
  // Sydney Opera House, 33°51'31.56"S 151°12'54.6"E, written with sharp's EXIF support.
  const south = await base()
    .jpeg()
    .withExif({ IFD0: { Make: 'TestCam' }, IFD3: { GPSLatitudeRef: 'S', GPSLatitude: '33/1 51/1 3156/100', GPSLongitudeRef: 'E', GPSLongitude: '151/1 12/1 546/10' } })
    .toBuffer();
  const g = await readImageGeolocation(south);
  t.ok(g);
  t.ok(Math.abs(g!.lat - -(33 + 51 / 60 + 31.56 / 3600)) < 1e-9, `latitude ${g!.lat}`);
  t.ok(Math.abs(g!.lon - (151 + 12 / 60 + 54.6 / 3600)) < 1e-9, `longitude ${g!.lon}`);

  const west = await base()
    .jpeg()
    .withExif({ IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '40/1 41/1 0/1', GPSLongitudeRef: 'W', GPSLongitude: '74/1 2/1 40/1' } })
    .toBuffer();
  const w = await readImageGeolocation(west);
  t.ok(w && w.lat > 40.68 && w.lat < 40.69 && w.lon < -74.04 && w.lon > -74.05, `north-west quadrant ${JSON.stringify(w)}`);

  t.equal(await readImageGeolocation(await base().jpeg().withExif({ IFD0: { Make: 'NoGps' } }).toBuffer()), undefined, 'EXIF without GPS');
  t.equal(await readImageGeolocation(await base().jpeg().toBuffer()), undefined, 'no EXIF');
  t.equal(await readImageGeolocation(Buffer.from('garbage')), undefined, 'not an image');
});

t.test('parseExifGeolocation: big-endian TIFF and hostile offsets', async (t) => {
  // A hand-built big-endian ("MM") TIFF: IFD0 with one GPS pointer, GPS IFD with 4 entries.
  const b = Buffer.alloc(200);
  b.write('MM', 0, 'latin1');
  b.writeUInt16BE(42, 2);
  b.writeUInt32BE(8, 4);
  b.writeUInt16BE(1, 8); // IFD0: one entry
  b.writeUInt16BE(0x8825, 10);
  b.writeUInt16BE(4, 12); // LONG
  b.writeUInt32BE(1, 14);
  b.writeUInt32BE(26, 18); // GPS IFD at 26
  b.writeUInt16BE(4, 26);
  const entry = (i: number, tag: number, type: number, count: number, value: number): void => {
    const at = 28 + i * 12;
    b.writeUInt16BE(tag, at);
    b.writeUInt16BE(type, at + 2);
    b.writeUInt32BE(count, at + 4);
    b.writeUInt32BE(value, at + 8);
  };
  entry(0, 1, 2, 2, 0x4e000000); // 'N\0' inline
  entry(1, 2, 5, 3, 100);
  entry(2, 3, 2, 2, 0x57000000); // 'W\0'
  entry(3, 4, 5, 3, 124);
  const rationals = (at: number, values: number[][]): void => values.forEach(([n, d], i) => (b.writeUInt32BE(n!, at + i * 8), b.writeUInt32BE(d!, at + i * 8 + 4)));
  rationals(100, [[51, 1], [30, 1], [0, 1]]);
  rationals(124, [[0, 1], [7, 1], [3960, 100]]);
  const g = parseExifGeolocation(b);
  t.ok(g && Math.abs(g.lat - 51.5) < 1e-9 && Math.abs(g.lon - -(7 / 60 + 39.6 / 3600)) < 1e-9, JSON.stringify(g));

  const bad = Buffer.from(b);
  bad.writeUInt32BE(0xfffffff0, 28 + 12 + 8); // latitude value far outside the buffer
  t.equal(parseExifGeolocation(bad), undefined, 'an offset outside the block');
  const loop = Buffer.from(b);
  loop.writeUInt16BE(0xffff, 26); // 65535 entries claimed
  t.equal(parseExifGeolocation(loop), undefined, 'an absurd entry count');
  t.equal(parseExifGeolocation(Buffer.from('Exif\0\0II*\0')), undefined, 'a truncated header');
  t.equal(parseExifGeolocation(Buffer.alloc(0)), undefined);
});
