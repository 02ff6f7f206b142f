import t from 'tap';
import { AMR_NB_MAGIC, AMR_WB_MAGIC, cutAmr, cutAudio, cutWav, extract, keepsEverything, parseAmr, parseWav } from '../../src/archive/extract.js';
import type { StoredPart } from '../../src/mmsc/model.js';

// Frame sizes derived here independently of extract.ts: the class bit
// counts of each frame type (TS 26.101 Table 1a, TS 26.201 Table 1a),
// rounded up to octets, plus the one-octet storage-format header.
const NB_BITS: Record<number, number> = { 0: 95, 1: 103, 2: 118, 3: 134, 4: 148, 5: 159, 6: 204, 7: 244, 8: 39, 15: 0 };
const WB_BITS: Record<number, number> = { 0: 132, 1: 177, 2: 253, 3: 285, 4: 317, 5: 365, 6: 397, 7: 461, 8: 477, 9: 40, 15: 0 };
const octets = (bits: number): number => Math.ceil(bits / 8) + 1;

/** An AMR storage file of the given frame types; each frame's payload is its index, so cuts are visible. */
function amrFile(wideband: boolean, types: number[]): Buffer {
  const bits = wideband ? WB_BITS : NB_BITS;
  const frames = types.map((ft, i) => {
    const f = Buffer.alloc(octets(bits[ft]!), i & 0xff);
    f[0] = (ft << 3) | 0x04; // Q=1
    return f;
  });
  return Buffer.concat([wideband ? AMR_WB_MAGIC : AMR_NB_MAGIC, ...frames]);
}

/** An independent walk of an AMR file: the frame types, or throws when a frame does not fit. */
function walkAmr(data: Buffer): number[] {
  const wideband = data.subarray(0, 9).toString('latin1') === '#!AMR-WB\n';
  const bits = wideband ? WB_BITS : NB_BITS;
  let at = wideband ? 9 : 6;
  const types: number[] = [];
  while (at < data.length) {
    const ft = (data[at]! >> 3) & 0x0f;
    if (bits[ft] === undefined) throw new Error(`unexpected FT ${ft}`);
    at += octets(bits[ft]!);
    if (at > data.length) throw new Error('last frame cut short');
    types.push(ft);
  }
  return types;
}

interface Chunk {
  id: string;
  size: number;
  at: number;
}

/** A hand-built RIFF/WAVE: fmt, an optional LIST before data, data, an optional trailing chunk. */
function wavFile(o: { channels: number; rate: number; bits: number; seconds: number; listBefore?: boolean; trailing?: boolean }): Buffer {
  const blockAlign = (o.channels * o.bits) / 8;
  const fmt = Buffer.alloc(24);
  fmt.write('fmt ', 0, 'latin1');
  fmt.writeUInt32LE(16, 4);
  fmt.writeUInt16LE(1, 8);
  fmt.writeUInt16LE(o.channels, 10);
  fmt.writeUInt32LE(o.rate, 12);
  fmt.writeUInt32LE(o.rate * blockAlign, 16);
  fmt.writeUInt16LE(blockAlign, 20);
  fmt.writeUInt16LE(o.bits, 22);
  const list = Buffer.concat([Buffer.from('LIST', 'latin1'), Buffer.from([5, 0, 0, 0]), Buffer.from('INFOx', 'latin1'), Buffer.from([0])]); // odd size, padded
  const samples = Math.round(o.seconds * o.rate) * blockAlign;
  const dataHead = Buffer.alloc(8);
  dataHead.write('data', 0, 'latin1');
  dataHead.writeUInt32LE(samples, 4);
  const data = Buffer.alloc(samples);
  for (let i = 0; i < samples; i++) data[i] = (i * 7) & 0xff;
  const trailing = Buffer.concat([Buffer.from('cue ', 'latin1'), Buffer.from([4, 0, 0, 0, 1, 2, 3, 4])]);
  const body = Buffer.concat([Buffer.from('WAVE', 'latin1'), fmt, ...(o.listBefore ? [list] : []), dataHead, data, ...(samples & 1 ? [Buffer.alloc(1)] : []), ...(o.trailing ? [trailing] : [])]);
  const head = Buffer.alloc(8);
  head.write('RIFF', 0, 'latin1');
  head.writeUInt32LE(body.length, 4);
  return Buffer.concat([head, body]);
}

/** An independent chunk walk that insists every size adds up. */
function walkRiff(data: Buffer): Chunk[] {
  if (data.toString('latin1', 0, 4) !== 'RIFF' || data.toString('latin1', 8, 12) !== 'WAVE') throw new Error('not RIFF/WAVE');
  if (data.readUInt32LE(4) !== data.length - 8) throw new Error(`RIFF size ${data.readUInt32LE(4)} but ${data.length - 8} octets follow`);
  const chunks: Chunk[] = [];
  let at = 12;
  while (at < data.length) {
    const size = data.readUInt32LE(at + 4);
    chunks.push({ id: data.toString('latin1', at, at + 4), size, at });
    at += 8 + size + (size & 1);
  }
  if (at !== data.length) throw new Error('chunks overrun the file');
  return chunks;
}

t.test('AMR-NB: cut on frame boundaries, still a valid file', async (t) => {
  // 3 s of mixed modes: 12.2, 4.75, SID and NO_DATA frames.
  const types = Array.from({ length: 150 }, (_, i) => [7, 0, 8, 15, 5][i % 5]!);
  const file = amrFile(false, types);
  t.same(walkAmr(file), types, 'the hand-built file walks');
  t.equal(parseAmr(file).frames, 150);
  t.equal(parseAmr(file).durationMs, 3000);
  const cut = cutAmr(file, 1);
  t.same(walkAmr(cut), types.slice(0, 50), 'exactly the first 50 frames (1 s), whole');
  t.ok(cut.subarray(0, 6).equals(AMR_NB_MAGIC), 'the magic kept');
  t.ok(file.subarray(0, cut.length).equals(cut), 'a prefix of the original');
  const half = cutAmr(file, 0.5);
  t.equal(walkAmr(half).length, 25);
  t.equal(cutAmr(file, 10), file, 'shorter than the limit: the same buffer');
});

t.test('AMR-WB: cut on frame boundaries', async (t) => {
  const types = Array.from({ length: 120 }, (_, i) => [8, 2, 9, 0][i % 4]!);
  const file = amrFile(true, types);
  t.same(walkAmr(file), types);
  const cut = cutAmr(file, 2);
  t.same(walkAmr(cut), types.slice(0, 100), 'first 100 frames (2 s)');
  t.ok(cut.subarray(0, 9).equals(AMR_WB_MAGIC));
  t.equal(parseAmr(cut).wideband, true);
});

t.test('AMR: a truncated last frame ends the walk; a reserved type is an error', async (t) => {
  const file = amrFile(false, [7, 7, 7]);
  const truncated = file.subarray(0, file.length - 5);
  t.equal(parseAmr(truncated).frames, 2);
  t.same(walkAmr(cutAmr(truncated, 10)), [7, 7], 'the cut drops the partial frame');
  const bad = Buffer.concat([AMR_NB_MAGIC, Buffer.from([13 << 3])]);
  t.throws(() => parseAmr(bad), { code: 'BAD_FRAME', offset: 6 });
  t.throws(() => parseAmr(Buffer.from('#!AMX\n')), { code: 'BAD_MAGIC' });
});

t.test('WAV: cut on block-align boundaries, sizes rewritten, trailing chunks dropped', async (t) => {
  const file = wavFile({ channels: 2, rate: 8000, bits: 16, seconds: 3, listBefore: true, trailing: true });
  t.same(walkRiff(file).map((c) => c.id), ['fmt ', 'LIST', 'data', 'cue '], 'the hand-built file walks');
  t.equal(parseWav(file).durationMs, 3000);
  const cut = cutWav(file, 1);
  const chunks = walkRiff(cut);
  t.same(chunks.map((c) => c.id), ['fmt ', 'LIST', 'data']);
  const data = chunks.find((c) => c.id === 'data')!;
  t.equal(data.size, 8000 * 4, 'one second of 16-bit stereo');
  t.ok(cut.subarray(data.at + 8).equals(file.subarray(data.at + 8, data.at + 8 + data.size)), 'the first samples, unchanged');
  t.equal(parseWav(cut).durationMs, 1000);
});

t.test('WAV: odd data length gets its pad octet; 24-bit blocks are never split', async (t) => {
  const mono8 = wavFile({ channels: 1, rate: 11025, bits: 8, seconds: 3 });
  const cut = cutWav(mono8, 1.5);
  const data = walkRiff(cut).find((c) => c.id === 'data')!;
  t.equal(data.size, Math.floor(1.5 * 11025), '16537 samples: odd');
  t.equal(cut.length, data.at + 8 + data.size + 1, 'one pad octet, counted in the RIFF size');

  const s24 = wavFile({ channels: 2, rate: 44100, bits: 24, seconds: 1 });
  const cut24 = cutWav(s24, 0.3333);
  const d24 = walkRiff(cut24).find((c) => c.id === 'data')!;
  t.equal(d24.size % 6, 0, 'a whole number of 6-octet blocks');
  t.equal(d24.size, Math.floor(0.3333 * 44100) * 6);
  t.equal(cutWav(s24, 5), s24, 'shorter than the limit: unchanged');
});

t.test('WAV: structural errors', async (t) => {
  const noFmt = Buffer.concat([Buffer.from('RIFF'), Buffer.from([12, 0, 0, 0]), Buffer.from('WAVEdata'), Buffer.alloc(4)]);
  t.throws(() => parseWav(noFmt), { code: 'BAD_CHUNK' });
  t.throws(() => parseWav(Buffer.from('RIFX0000WAVE')), { code: 'BAD_MAGIC' });
  t.equal(cutAudio(Buffer.from('ID3\x03 mp3 data'), 1), undefined, 'an unknown format is not cut');
});

t.test('extract: first N images, types, text, audio', async (t) => {
  const amr = amrFile(false, Array.from({ length: 200 }, () => 7));
  const parts: StoredPart[] = [
    { contentType: 'application/smil', contentId: 'smil', data: Buffer.from('<smil/>') },
    { contentType: 'image/png', contentId: 'img1', data: Buffer.from('png1') },
    { contentType: 'text/plain; charset=utf-8', contentId: 'txt', data: Buffer.from('hi') },
    { contentType: 'image/jpeg', contentId: 'img2', data: Buffer.from('jpg2') },
    { contentType: 'image/gif', contentId: 'img3', data: Buffer.from('gif3') },
    { contentType: 'audio/amr', contentId: 'voice', data: amr },
  ];
  const photos = extract(parts, { types: ['image/*'], maxImages: 2, text: true });
  t.same(photos.kept.map((p) => p.contentId), ['img1', 'txt', 'img2']);
  t.same(
    photos.dropped.map((d) => [d.contentId, d.contentType]),
    [
      ['smil', 'application/smil'],
      ['img3', 'image/gif'],
      ['voice', 'audio/amr'],
    ],
  );
  t.match(photos.dropped[1]!.reason, /first 2 image/);
  t.match(photos.dropped[0]!.reason, /application\/smil/);
  t.equal(photos.kept[0]!.data, parts[1]!.data, 'kept parts share their bytes');

  const noText = extract(parts, { text: false });
  t.same(noText.kept.map((p) => p.contentId), ['smil', 'img1', 'img2', 'img3', 'voice']);
  t.match(noText.dropped, [{ contentId: 'txt', reason: /text/ }]);

  const voice = extract(parts, { types: ['audio/*'], audioSeconds: 2 });
  t.same(voice.kept.map((p) => p.contentId), ['voice']);
  t.equal(walkAmr(voice.kept[0]!.data).length, 100, 'cut to 2 s');
  t.same(voice.trimmed, [{ contentType: 'audio/amr', contentId: 'voice', seconds: 2, originalSize: amr.length, size: voice.kept[0]!.data.length }]);

  const broken = extract([{ contentType: 'audio/amr', data: Buffer.concat([AMR_NB_MAGIC, Buffer.from([0xff])]) }], { audioSeconds: 1 });
  t.equal(broken.kept.length, 0);
  t.match(broken.dropped, [{ reason: /audio cannot be cut/ }]);

  t.ok(keepsEverything({}));
  t.notOk(keepsEverything({ maxImages: 1 }));
  const all = extract(parts, {});
  t.equal(all.kept.length, parts.length);
  t.equal(all.dropped.length, 0);
});
