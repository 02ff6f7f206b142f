import t from 'tap';
import type { StoredPart } from '../../src/mmsc/model.js';
import { cutText, decodeText, encodeText, resolveSrc, rewriteSmil, smilReferences, targetCharset } from '../../src/transcode/index.js';

t.test('cutText: within the octets, between code points, with the marker', async (t) => {
  const text = '😀 é '.repeat(500);
  for (const max of [60, 61, 62, 63, 500, 1001]) {
    const r = cutText(text, 'utf-8', max);
    t.ok(r.cut && r.data.length <= max, `${max}: ${r.data.length} octets`);
    t.notOk(r.data.toString('utf8').includes('\ufffd'), `${max}: no broken character`);
    t.match(r.text, /more characters cut to fit this phone\]$/);
  }
  t.same(cutText('short', 'utf-8', 100), { text: 'short', data: Buffer.from('short'), cut: false });
  t.equal(cutText(text, 'utf-8', 5).data.length, 0, 'no room even for the marker: nothing');
});

t.test('charsets', async (t) => {
  t.equal(decodeText(Buffer.from([0xfe, 0xff, 0, 0x41, 0, 0xe9]), 'utf-16'), 'Aé', 'UTF-16 BE with BOM');
  t.equal(decodeText(Buffer.from([0xff, 0xfe, 0x41, 0, 0xe9, 0]), 'UTF-16'), 'Aé', 'UTF-16 LE with BOM');
  t.equal(decodeText(Buffer.from([0xe9]), 'iso-8859-1'), 'é');
  t.equal(decodeText(Buffer.from([0x82, 0xa0]), 'shift_jis'), 'あ', 'any charset the platform decodes');
  t.equal(decodeText(Buffer.from('x'), 'x-no-such-charset'), 'x', 'an unknown label reads as UTF-8');
  t.same([...encodeText('Aé€', 'us-ascii')], [0x41, 0x3f, 0x3f]);
  t.same([...encodeText('A', 'utf-16')], [0xfe, 0xff, 0, 0x41]);
  t.equal(targetCharset('utf-8', ['us-ascii', 'utf-8']), 'utf-8', "the part's own when accepted");
  t.equal(targetCharset('shift_jis', ['iso-8859-1', 'utf-8']), 'iso-8859-1', "else the terminal's first we can write");
  t.equal(targetCharset('utf-8', ['big5']), 'utf-8', 'else UTF-8');
});

t.test('rewriteSmil: renamed, replaced, dropped; regions follow', async (t) => {
  const smil = `<smil><head><layout><region id="Image" height="70%"/><region id='Text' top="70%"/><region id="Video"/></layout></head><body>
<par dur="5s"><img src="a.png" region="Image"/><text src="t.txt" region="Text"/></par>
<par><video src="cid:v%40x" region="Video" begin="1s"><param name="x" value="y"/></video></par>
<par><audio src="s.amr" dur="3s"/></par>
<par><ref src="gone.bin"/></par></body></smil>`;
  const originals: StoredPart[] = [
    { contentType: 'image/png', contentLocation: 'a.png', data: Buffer.alloc(1) },
    { contentType: 'text/plain', contentLocation: 't.txt', data: Buffer.alloc(1) },
    { contentType: 'video/3gpp', contentId: 'v@x', contentLocation: 'v.3gp', data: Buffer.alloc(1) },
    { contentType: 'audio/amr', contentLocation: 's.amr', data: Buffer.alloc(1) },
    { contentType: 'application/octet-stream', contentLocation: 'gone.bin', data: Buffer.alloc(1) },
  ];
  t.equal(resolveSrc('cid:v%40x', originals), 2, 'cid: URLs are percent-decoded');
  t.equal(resolveSrc('./t.txt', originals), 1);
  t.equal(resolveSrc('nothing', originals), -1);
  const out = rewriteSmil(smil, originals, [
    { part: { ...originals[0]!, contentType: 'image/jpeg', contentLocation: 'a.jpg' }, replaced: false },
    { part: originals[1]!, replaced: false },
    { part: { contentType: 'text/plain', contentId: 'v@x', contentLocation: 'v.txt', data: Buffer.alloc(1) }, replaced: true },
    { part: { contentType: 'text/plain', contentLocation: 's.txt', data: Buffer.alloc(1) }, replaced: true },
    undefined,
  ]);
  t.match(out, '<img src="a.jpg" region="Image"/>', 'renamed');
  t.match(out, '<text src="cid:v@x" region="Video"/>', 'the video is now its notice, in its region, its children and timing gone');
  t.notMatch(out, /<param|<\/video>|begin=/);
  t.match(out, '<text src="s.txt" region="Text"/>', 'the audio notice goes to the Text region, without the audio duration');
  t.notMatch(out, /gone\.bin|<ref/, 'a dropped part leaves no element');
  t.match(out, '<par dur="5s">', 'the rest is as the sender wrote it');
  const refs = smilReferences(out);
  t.same(refs.regionsDeclared, ['Image', 'Text', 'Video']);
  const noVideo = rewriteSmil(smil, originals, [originals[0], originals[1], undefined, undefined, undefined].map((p) => (p ? { part: p, replaced: false } : undefined)));
  t.same(smilReferences(noVideo).regionsDeclared, ['Image', 'Text'], 'a region nothing uses any more is removed');
});
