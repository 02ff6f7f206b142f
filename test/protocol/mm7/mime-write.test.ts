import t from 'tap';
import { buildMm7Http, parseMm7Http } from '../../../protocol/mm7/binding.js';
import type { MimeEntity } from '../../../protocol/mm7/mime-types.js';
import {
  base64Lines,
  encodedWords,
  foldHeader,
  headerName,
  quotedPrintable,
  randomBoundary,
  textEncoding,
  typeParam,
  writeRelated,
  writeRelatedPieces,
} from '../../../protocol/mm7/mime-write.js';
import { ProtocolError } from '../../../protocol/errors.js';

const unfold = (s: string): string => s.replace(/\r\n/g, '');

/** The golden bodies' first lines: the outer delimiter, the SOAP root as given, the content multipart's headers, its first delimiter. */
const GOLDEN_HEAD = [
  '--outer',
  'Content-Type: text/xml; charset="utf-8"',
  'Content-ID: <soap>',
  '',
  '<e/>',
  '--outer',
  'Content-Type: multipart/mixed; boundary="inner"',
  'Content-ID: <content@x>',
  '',
  '--inner',
];

/** The content entity whose headers GOLDEN_HEAD holds. */
const innerMultipart = (parts: MimeEntity[]): MimeEntity => ({ mediaType: 'multipart/mixed', params: { boundary: 'inner' }, contentId: 'content@x', headers: [], parts });

t.test('golden bytes: the SOAP root, a multipart of text and an image, named boundaries', async (t) => {
  const content = innerMultipart([
    { mediaType: 'text/plain', params: { charset: 'utf-8' }, contentId: 't', headers: [], body: Buffer.from('Hi\r\n') },
    { mediaType: 'image/gif', params: { name: 'a b.gif' }, contentLocation: 'a.gif', headers: [['x-note', 'one']], body: Buffer.from([0, 1, 2, 3]) },
  ]);
  const { boundary, body } = writeRelated({ contentType: 'text/xml; charset="utf-8"', contentId: 'soap', body: Buffer.from('<e/>') }, content, 'outer');
  t.equal(boundary, 'outer');
  // Each line below is explained: the outer delimiter, the root's two headers as given, the envelope verbatim;
  // the content's type with its boundary first (quoted), its Content-ID in angle brackets; the nested parts:
  // ASCII text in short CRLF lines goes 7bit, octets as they are; a media part goes base64 ("AAECAw==" is 00 01 02 03),
  // its non-token parameter quoted, Content-Location and other headers after the transfer encoding.
  const golden = [
    ...GOLDEN_HEAD,
    'Content-Type: text/plain; charset=utf-8',
    'Content-ID: <t>',
    'Content-Transfer-Encoding: 7bit',
    '',
    'Hi',
    '',
    '--inner',
    'Content-Type: image/gif; name="a b.gif"',
    'Content-Transfer-Encoding: base64',
    'Content-Location: a.gif',
    'X-Note: one',
    '',
    'AAECAw==',
    '--inner--',
    '--outer--',
    '',
  ].join('\r\n');
  t.equal(body.toString('latin1'), golden);
  const msg = await parseMm7Http(`multipart/related; boundary="outer"; type="text/xml"; start="<soap>"`, body);
  t.equal(msg.soap, '<e/>');
  t.same(msg.content, content, 'parses back to the same entity');
});

t.test('quoted-printable: escapes, blanks before a line end, soft breaks within 76', async (t) => {
  t.equal(quotedPrintable(Buffer.from('a=b \r\nc\td\t')).toString('latin1'), 'a=3Db=20\r\nc\td=09', '= escaped; a blank before CRLF or the end escaped, not inside');
  t.equal(quotedPrintable(Buffer.from('é', 'utf8')).toString('latin1'), '=C3=A9', 'UTF-8 octets as =XX, upper-case hex');
  const long = quotedPrintable(Buffer.from('x'.repeat(200))).toString('latin1');
  const lines = long.split('\r\n');
  t.same(lines.map((l) => l.length), [76, 76, 50], 'soft breaks: 75 characters and "=", the last line the 50 left');
  t.ok(lines.slice(0, -1).every((l) => l.endsWith('=')), 'soft breaks end in =');
  t.equal(long.replace(/=\r\n/g, ''), 'x'.repeat(200), 'removing soft breaks gives the text back');
  const escapes = quotedPrintable(Buffer.alloc(40, 0xff)).toString('latin1').split('\r\n');
  t.ok(escapes.every((l) => l.length <= 76 && /^(=FF)+=?$/.test(l)), 'an =XX escape is never split by a soft break');
});

t.test('base64 in 76-character CRLF lines', async (t) => {
  const data = Buffer.alloc(200);
  for (let i = 0; i < data.length; i++) data[i] = i;
  const text = base64Lines(data).toString('latin1');
  const lines = text.split('\r\n');
  t.same(lines.map((l) => l.length), [76, 76, 76, 40], '200 octets: 268 characters');
  t.ok(Buffer.from(lines.join(''), 'base64').equals(data));
  t.equal(base64Lines(Buffer.alloc(0)).length, 0, 'nothing for nothing');
  t.equal(base64Lines(Buffer.alloc(57)).toString('latin1'), 'A'.repeat(76), '57 octets fill one line, no CRLF after it');
  // The encoder works in slices of 3,648 octets (64 lines): sizes around the seams, against
  // the whole text cut into lines here.
  for (const size of [3647, 3648, 3649, 3648 * 2 + 1, 100_000]) {
    const d = Buffer.alloc(size);
    for (let i = 0; i < size; i++) d[i] = (i * 131 + 7) & 0xff;
    const whole = d.toString('base64');
    const expected = Array.from({ length: Math.ceil(whole.length / 76) }, (_, k) => whole.slice(76 * k, 76 * k + 76)).join('\r\n');
    t.equal(base64Lines(d).toString('latin1'), expected, `${size} octets`);
  }
});

t.test('transfer encoding of text', async (t) => {
  t.equal(textEncoding(Buffer.from('plain ASCII\r\nlines\r\n')), '7bit');
  t.equal(textEncoding(Buffer.from('x'.repeat(77))), 'quoted-printable', 'a line over 76 octets');
  t.equal(textEncoding(Buffer.from('mostly Latin letters: é')), 'quoted-printable');
  t.equal(textEncoding(Buffer.from('Ελληνικά κείμενα', 'utf8')), 'base64', 'mostly non-ASCII');
  t.equal(textEncoding(Buffer.from('bare LF\n')), 'base64', 'a bare LF keeps its octets in base64');
  t.equal(textEncoding(Buffer.from('bare CR\rx')), 'base64');
  t.equal(textEncoding(Buffer.alloc(0)), '7bit');
});

t.test('header values: tokens, quoted strings, RFC 2231, encoded words, folding', async (t) => {
  t.equal(typeParam('charset', 'utf-8'), 'charset=utf-8');
  t.equal(typeParam('note', 'a "q" \\ v'), 'note="a \\"q\\" \\\\ v"');
  t.equal(typeParam('name', 'grüße.txt'), "name*=utf-8''gr%C3%BC%C3%9Fe.txt");
  t.equal(headerName('x-long-name'), 'X-Long-Name');
  t.equal(encodedWords('Grüße'), '=?UTF-8?B?R3LDvMOfZQ==?=');
  const words = encodedWords('ü'.repeat(60)).split('\r\n ');
  t.equal(words.length, 3, '120 octets: 3 words of at most 45');
  t.ok(words.every((w) => w.length <= 75 && /^=\?UTF-8\?B\?[A-Za-z0-9+/=]+\?=$/.test(w)), 'each word at most 75 characters');
  t.same(words.map((w) => Buffer.from(w.slice(10, -2), 'base64').toString('utf8')).join(''), 'ü'.repeat(60), 'split between characters');
  const value = Array.from({ length: 30 }, (_, i) => `word${i}`).join(' ');
  const folded = foldHeader('X-Long', value);
  t.ok(folded.split('\r\n').every((l) => l.length <= 76), 'lines within 76');
  t.ok(folded.split('\r\n').length > 1, 'folded');
  t.equal(unfold(folded), `X-Long: ${value}`, 'unfolding gives the value back');
  t.equal(foldHeader('X-Long', 'y'.repeat(100)), `X-Long: ${'y'.repeat(100)}`, 'no blank: left long');
});

t.test('round trip through parseMm7Http: unicode headers, parameters and a folded Content-Type', async (t) => {
  const content: MimeEntity = {
    mediaType: 'multipart/related',
    params: { type: 'application/smil', start: '<a-rather-long-start-parameter-value@example.org>', boundary: 'rel' },
    contentId: 'c',
    headers: [['x-unicode', 'Grüße aus Köln, a rather long value that goes on and on to be folded, ünd so']],
    parts: [
      { mediaType: 'text/plain', params: { charset: 'utf-8', name: 'grüße.txt' }, contentLocation: 'grüße.txt', headers: [], body: Buffer.from('Hé = there \r\nnext') },
      { mediaType: 'text/plain', params: { charset: 'utf-8' }, headers: [], body: Buffer.from('Ελληνικά\n', 'utf8') },
      { mediaType: 'image/jpeg', params: {}, contentId: 'i', headers: [], body: Buffer.alloc(1000, 7) },
    ],
  };
  const built = await buildMm7Http('<e>ü</e>', content);
  t.notMatch(built.body.toString('utf8').replace('<e>ü</e>', ''), /[^\r]\n/, 'CRLF line ends only');
  t.ok(built.body.toString('latin1').split('\r\n').every((l) => l.length <= 998), 'no line over 998');
  const msg = await parseMm7Http(built.contentType, built.body);
  t.equal(msg.soap, '<e>ü</e>');
  t.same(msg.content, content);
});

t.test('boundaries: drawn ones are random and cannot occur in base64 or quoted-printable; named ones are checked', async (t) => {
  const drawn = new Set(Array.from({ length: 1000 }, randomBoundary));
  t.equal(drawn.size, 1000, '1000 draws, all different');
  t.ok([...drawn].every((b) => /^=_[A-Za-z0-9_-]{16}$/.test(b)), '=_ and 16 base64url characters');
  const leaf: MimeEntity = { mediaType: 'text/plain', params: {}, headers: [], body: Buffer.from('x\r\n--taken\r\ny') };
  const root = { contentType: 'text/xml', contentId: 'soap', body: Buffer.from('<e/>') };
  t.throws(() => writeRelated(root, leaf, 'taken'), ProtocolError, 'a named boundary inside a part is INCONSISTENT');
  const nested: MimeEntity = { mediaType: 'multipart/mixed', params: { boundary: 'taken' }, headers: [], parts: [leaf] };
  t.throws(() => writeRelated(root, nested, 'outer'), ProtocolError, 'also for a nested multipart');
  const a = writeRelated(root, { ...leaf, body: Buffer.from('x') });
  const b = writeRelated(root, { ...leaf, body: Buffer.from('x') });
  t.not(a.boundary, b.boundary, 'each build draws its own');
  t.equal((await parseMm7Http(`multipart/related; boundary="${a.boundary}"`, a.body)).content?.body?.toString(), 'x');
});

t.test('binary: bodies that are not 7bit go as they are, and parse back to the same octets', async (t) => {
  const image = Buffer.from([0xff, 0xd8, 0x0d, 0x0a, 0x00, 0x2d, 0x2d, 0xff, 0xd9]);
  const latin = Buffer.from('caf\xe9\n', 'latin1');
  const content = innerMultipart([
    { mediaType: 'text/plain', params: {}, contentId: 'ascii', headers: [], body: Buffer.from('Hi\r\n') },
    { mediaType: 'text/plain', params: { charset: 'iso-8859-1' }, contentId: 'latin', headers: [], body: latin },
    { mediaType: 'image/jpeg', params: {}, contentId: 'img', headers: [], body: image },
  ]);
  const root = { contentType: 'text/xml; charset="utf-8"', contentId: 'soap', body: Buffer.from('<e/>') };
  const { body } = writeRelated(root, content, 'outer', true);
  // Byte by byte: 7bit text stays 7bit; the Latin-1 text (a bare LF, an octet > 0x7f) and the
  // JPEG (CR LF, NUL, `--` inside) go as `binary`, their octets between the header's blank line
  // and the CRLF before the next delimiter.
  const golden = Buffer.concat([
    Buffer.from(
      [
        ...GOLDEN_HEAD,
        'Content-Type: text/plain',
        'Content-ID: <ascii>',
        'Content-Transfer-Encoding: 7bit',
        '',
        'Hi',
        '',
        '--inner',
        'Content-Type: text/plain; charset=iso-8859-1',
        'Content-ID: <latin>',
        'Content-Transfer-Encoding: binary',
        '',
        '',
      ].join('\r\n'),
      'latin1',
    ),
    latin,
    Buffer.from('\r\n--inner\r\nContent-Type: image/jpeg\r\nContent-ID: <img>\r\nContent-Transfer-Encoding: binary\r\n\r\n', 'latin1'),
    image,
    Buffer.from('\r\n--inner--\r\n--outer--\r\n', 'latin1'),
  ]);
  t.same(body, golden);
  const msg = await parseMm7Http(`multipart/related; boundary="outer"; type="text/xml"; start="<soap>"`, body);
  t.same(msg.content, content, 'parses back to the same entity, octet for octet');
  t.ok(body.length < writeRelated(root, content, 'outer').body.length, 'shorter than with base64');
  // A binary body can hold anything, a delimiter line too: a named boundary found in it is refused; a drawn one
  // (96 random bits) is not looked for, and this body, holding another, parses back whole.
  const clash: MimeEntity = { mediaType: 'image/jpeg', params: {}, headers: [], body: Buffer.from('\xff\r\n--taken\r\n\xd9', 'latin1') };
  t.throws(() => writeRelated(root, clash, 'taken', true), ProtocolError, 'named boundary inside a binary body: INCONSISTENT');
  const drawn = writeRelated(root, clash, undefined, true);
  t.same((await parseMm7Http(`multipart/related; boundary="${drawn.boundary}"`, drawn.body)).content?.body, clash.body);
});

t.test('pieces: the same octets as one buffer, the parts\' own buffers among them, a clash found across pieces', async (t) => {
  const image = Buffer.from([0xff, 0xd8, 0x0d, 0x0a, 0x00, 0x2d, 0x2d, 0xff, 0xd9]);
  const content = innerMultipart([
    { mediaType: 'text/plain', params: {}, contentId: 't', headers: [], body: Buffer.from('Hi\r\n') },
    { mediaType: 'image/jpeg', params: {}, contentId: 'img', headers: [], body: image },
  ]);
  const root = { contentType: 'text/xml; charset="utf-8"', contentId: 'soap', body: Buffer.from('<e/>') };
  const whole = writeRelated(root, content, 'outer', true);
  const split = writeRelatedPieces(root, content, 'outer', true);
  t.same(Buffer.concat(split.pieces), whole.body, 'concatenated, the pieces are the one-buffer body');
  t.equal(split.length, whole.body.length);
  t.ok(split.pieces.includes(image), 'the binary body is the caller\'s buffer, not a copy');
  // Bodies are pieces of their own and the text between two of them is one: text, root, text, 'Hi', text, JPEG, text.
  t.equal(split.pieces.length, 7);
  // A body that starts with the named delimiter line: the line start is the CRLF of the piece before.
  const clash: MimeEntity = { mediaType: 'image/jpeg', params: {}, headers: [], body: Buffer.from('--taken\r\n\xd9', 'latin1') };
  t.throws(() => writeRelatedPieces(root, clash, 'taken', true), ProtocolError, 'a delimiter at a body\'s first octet is found');
  t.throws(() => writeRelatedPieces(root, { ...clash, body: Buffer.from('--taken', 'latin1') }, 'taken', true), ProtocolError, 'and one that is the whole body');
});
