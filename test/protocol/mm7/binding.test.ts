import t, { type Test } from 'tap';
import { ProtocolError } from '../../../protocol/errors.js';
import { buildMm7Http, DEFAULT_LIMITS, findContent, parseMm7Http, type BindingLimits, type Mm7HttpMessage } from '../../../protocol/mm7/binding.js';
import type { MimeEntity } from '../../../protocol/mm7/mime-types.js';
import { readHttpFixture } from '../../helpers/fixtures.js';

async function parseFixture(name: string): Promise<Mm7HttpMessage> {
  const { contentType, body } = readHttpFixture(name);
  return parseMm7Http(contentType, body);
}

/** The envelope as it stands in the fixture's octets, as an independent oracle. */
function soapOf(raw: Buffer): string {
  const text = raw.toString('utf8');
  const end = '</env:Envelope>';
  return text.slice(text.indexOf('<?xml'), text.indexOf(end) + end.length);
}

async function rejectsWith(t: Test, p: Promise<unknown>, code: string, field?: string): Promise<void> {
  try {
    await p;
    t.fail(`expected ProtocolError ${code}`);
  } catch (e) {
    t.ok(e instanceof ProtocolError, `a ProtocolError (${String(e)})`);
    if (!(e instanceof ProtocolError)) return;
    t.equal(e.code, code, e.message);
    if (field !== undefined) t.equal(e.field, field, e.message);
  }
}

const GIF = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==', 'base64');

/** The fixtures' stand-in JPEG: SOI, (i*37+11)&255, EOI. */
function fakeJpeg(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 37 + 11) & 255;
  b[0] = 0xff;
  b[1] = 0xd8;
  b[n - 2] = 0xff;
  b[n - 1] = 0xd9;
  return b;
}

function parts(e: MimeEntity | undefined): MimeEntity[] {
  if (!e?.parts) throw new Error(`not a multipart: ${e?.mediaType}`);
  return e.parts;
}

t.test('h.3: the spec SubmitReq, byte-exact', async (t) => {
  const fx = readHttpFixture('submit-rel6-h3.http');
  t.equal(fx.body.length, 1880, 'the body the spec measures');
  const msg = await parseMm7Http(fx.contentType, fx.body);
  t.equal(msg.soap, soapOf(fx.raw));
  t.match(msg.soap, /^<\?xml version="1\.0" encoding="UTF-8"\?>\r\n<env:Envelope/);
  t.equal(msg.soapMediaType, 'text/xml');
  t.equal(msg.attachments.length, 1);
  t.equal(msg.content, msg.attachments[0]);
  const content = msg.content!;
  t.equal(content.mediaType, 'multipart/mixed');
  t.equal(content.contentId, 'mms-content@acme');
  t.same(content.params, { boundary: 'inner-9f2c' });
  const [text, gif] = parts(content);
  t.equal(text?.mediaType, 'text/plain');
  t.same(text?.params, { charset: 'utf-8' });
  t.equal(text?.contentId, 't1@acme');
  t.equal(text?.contentLocation, 'hello.txt');
  t.equal(text?.body?.length, 28);
  t.equal(text?.body?.toString('utf8'), 'Hello from the archive test.');
  t.same(text?.headers, [], 'Content-Transfer-Encoding is consumed');
  t.equal(gif?.mediaType, 'image/gif');
  t.equal(gif?.contentLocation, 'dot.gif');
  t.equal(gif?.body?.length, 43);
  t.ok(gif?.body?.equals(GIF), 'the GIF equals the base64-decoded bytes');
});

t.test('findContent: cid: optional, <> optional, case-insensitive, Content-Location fallback', async (t) => {
  const msg = await parseFixture('submit-rel6-h3.http');
  const [text, gif] = parts(msg.content);
  t.equal(findContent(msg, 'cid:mms-content@acme'), msg.content);
  t.equal(findContent(msg, 'mms-content@acme'), msg.content);
  t.equal(findContent(msg, 'CID:<MMS-Content@ACME>'), msg.content);
  t.equal(findContent(msg, ' cid:mms-content%40acme '), msg.content, 'RFC 2392 percent-escapes');
  t.equal(findContent(msg, 'cid:t1@acme'), text, 'nested parts are searched too');
  t.equal(findContent(msg, 'dot.gif'), gif, 'Content-Location');
  t.equal(findContent(msg, 'cid:DOT.GIF'), gif);
  t.equal(findContent(msg, 'cid:absent@acme'), undefined);
  t.equal(findContent(msg, 'cid:'), undefined);
});

t.test('bare LF line ends everywhere, unquoted boundary', async (t) => {
  const fx = readHttpFixture('deliver-bare-lf.http');
  t.equal(fx.raw.indexOf('\r'), -1, 'the fixture has no CR at all');
  const msg = await parseMm7Http(fx.contentType, fx.body);
  t.equal(msg.soap, soapOf(fx.raw));
  t.match(msg.soap, /<DeliverReq xmlns=/);
  t.equal(msg.content?.contentId, 'msg-content');
  const [text, gif] = parts(msg.content);
  t.equal(text?.body?.toString(), 'Line one\nLine two', 'the LF before the delimiter belongs to it');
  t.ok(gif?.body?.equals(GIF), 'base64 in 20-column LF lines');
});

t.test('no start parameter: the first part is the root; a leaf as content', async (t) => {
  const fx = readHttpFixture('submit-no-start.http');
  const msg = await parseMm7Http(fx.contentType, fx.body);
  t.equal(msg.soap, soapOf(fx.raw));
  t.equal(msg.attachments.length, 1);
  const content = msg.content!;
  t.equal(content.mediaType, 'text/plain');
  t.same(content.params, { charset: 'us-ascii' });
  t.equal(content.contentId, 'text-only');
  t.equal(content.contentLocation, 'message.txt');
  t.equal(content.body?.toString(), 'Your code is 4711.');
  t.equal(content.parts, undefined);
});

t.test('Content-IDs without <>, start without <>, href without cid:', async (t) => {
  const msg = await parseFixture('submit-bare-cids.http');
  t.match(msg.soap, /<Content href="content-1"/);
  t.equal(msg.content?.contentId, 'content-1');
  t.equal(findContent(msg, 'content-1'), msg.content);
  t.equal(findContent(msg, 'cid:<content-1>'), msg.content);
  const [text, gif] = parts(msg.content);
  t.equal(text?.contentId, 'text-1');
  t.equal(text?.body?.toString(), 'bare ids');
  t.equal(gif?.contentId, 'image-1');
  t.ok(gif?.body?.equals(GIF));
});

t.test('quoted-printable text in two charsets and a base64 image', async (t) => {
  const msg = await parseFixture('submit-qp-base64.http');
  const [latin, utf8, jpeg] = parts(msg.content);
  t.same(latin?.params, { charset: 'iso-8859-1' }, 'the charset stays in params');
  t.ok(
    latin?.body?.equals(Buffer.from('Café crème, a line long enough that the sender wrapped it with a soft line break.', 'latin1')),
    'latin-1 octets kept, soft line break removed',
  );
  t.ok(utf8?.body?.equals(Buffer.from('Grüße = hello ', 'utf8')), 'UTF-8 octets kept; =20 before the line end is a space');
  t.equal(jpeg?.mediaType, 'image/jpeg');
  t.equal(jpeg?.contentLocation, 'photo.jpg');
  t.ok(jpeg?.body?.equals(fakeJpeg(300)), 'transfer encoding names are case-insensitive (BASE64)');
});

t.test('binary image and 8bit text: octets exactly as sent', async (t) => {
  const msg = await parseFixture('submit-binary-image.http');
  const [text, png] = parts(msg.content);
  t.ok(text?.body?.equals(Buffer.from('Grüße aus Köln', 'utf8')));
  const expected = Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    Buffer.from('\r\n--bin-b-not-quite\n--\r\n\0\0\r', 'latin1'),
    Buffer.from([0x00, 0xff, 0x0a, 0x0a, 0x0d, 0x2d, 0x2d, 0x0d]),
  ]);
  t.ok(png?.body?.equals(expected), 'CR, LF, NUL and a near-miss delimiter inside, a CR at the end');
  t.equal(png?.contentId, 'img@bin');
});

t.test('application/soap+xml root', async (t) => {
  const fx = readHttpFixture('submit-soap12.http');
  const msg = await parseMm7Http(fx.contentType, fx.body);
  t.equal(msg.soapMediaType, 'application/soap+xml');
  t.equal(msg.soap, soapOf(fx.raw));
  t.match(msg.soap, /http:\/\/www\.w3\.org\/2003\/05\/soap-envelope/);
  const gif = msg.content!;
  t.equal(gif.mediaType, 'image/gif');
  t.same(gif.params, { name: 'dot.gif' });
  t.equal(gif.contentDisposition, 'attachment; filename="dot.gif"', 'as sent');
  t.ok(gif.body?.equals(GIF));
});

t.test('preamble and epilogue text, folded headers', async (t) => {
  const fx = readHttpFixture('submit-preamble.http');
  const msg = await parseMm7Http(fx.contentType, fx.body);
  t.equal(msg.soap, soapOf(fx.raw), 'folded Content-Type and Content-ID of the root');
  t.equal(msg.attachments.length, 1);
  const content = msg.content!;
  t.equal(content.contentId, 'content@pre');
  t.same(content.params, { boundary: 'pre-inner' }, 'boundary after a folded line starting with a tab');
  t.same(content.headers, [['x-mms-note', 'kept folded']], 'other headers, unfolded');
  const [only, ...rest] = parts(content);
  t.equal(rest.length, 0);
  t.equal(only?.mediaType, 'text/plain');
  t.equal(only?.body?.toString(), 'hello');
});

t.test('media parts directly at the top level', async (t) => {
  const msg = await parseFixture('submit-top-level-media.http');
  t.equal(msg.attachments.length, 3);
  t.same(
    msg.attachments.map((a) => [a.mediaType, a.contentId]),
    [
      ['application/smil', 'smil@top'],
      ['text/plain', 'txt@top'],
      ['image/gif', 'img@top'],
    ],
  );
  const content = msg.content!;
  t.equal(content.mediaType, 'multipart/related', 'the parts together are the content');
  t.same(content.params, { start: '<smil@top>', type: 'application/smil' }, 'the href names its start');
  t.equal(content.parts, msg.attachments);
  t.equal(findContent(msg, 'cid:smil@top'), msg.attachments[0]);
  t.equal(findContent(msg, 'cid:img@top')?.body?.equals(GIF), true);
});

t.test('content as a nested multipart/related with SMIL', async (t) => {
  const msg = await parseFixture('submit-nested-related-smil.http');
  const content = msg.content!;
  t.equal(content.mediaType, 'multipart/related');
  t.same(content.params, { type: 'application/smil', start: '<pres@rel>', boundary: 'rel-inner.42' });
  const [smil, caption, photo] = parts(content);
  t.equal(smil?.mediaType, 'application/smil');
  t.match(smil?.body?.toString() ?? '', /^<smil>.*<\/smil>$/);
  t.equal(smil?.contentLocation, 'pres.smil');
  t.equal(caption?.body?.toString(), 'A caption');
  t.ok(photo?.body?.equals(fakeJpeg(120)));
  t.equal(findContent(msg, 'cid:photo@rel'), photo);
  t.equal(findContent(msg, 'caption.txt'), caption);
});

t.test('no closing delimiter after a complete last part is tolerated', async (t) => {
  const msg = await parseFixture('submit-no-closing-delimiter.http');
  t.equal(msg.content?.contentId, 'gif@open');
  t.ok(msg.content?.body?.equals(GIF));
});

t.test('a top-level multipart/mixed is accepted too', async (t) => {
  const { body } = readHttpFixture('submit-rel6-h3.http');
  const msg = await parseMm7Http('multipart/mixed; boundary=outer-7b1e', body);
  t.match(msg.soap, /<SubmitReq /, 'no start: the first part is the root');
  t.equal(msg.content?.contentId, 'mms-content@acme');
});

t.test('part headers: defaults, repeats, junk lines', async (t) => {
  const body = Buffer.from(
    '--b\r\nContent-Type: text/xml\r\n\r\n<e/>\r\n' +
      '--b\r\nContent-ID: <first>\r\nContent-ID: <second>\r\nnot a header line\r\nX-Kept: yes\r\n\r\nplain\r\n' +
      '--b--\r\n',
  );
  const msg = await parseMm7Http('multipart/related; boundary=b', body);
  const part = msg.content!;
  t.equal(part.mediaType, 'text/plain', 'no Content-Type means text/plain (RFC 2045 §5.2)');
  t.same(part.params, {});
  t.equal(part.contentId, 'first', 'the first of a repeated header wins');
  t.same(part.headers, [['x-kept', 'yes']], 'a line without a colon is dropped');
  t.equal(part.body?.toString(), 'plain');
});

t.test('SOAP-only bodies', async (t) => {
  const soap = '<?xml version="1.0"?><env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"><env:Body>é</env:Body></env:Envelope>';
  const utf8 = await parseMm7Http('text/xml; charset="utf-8"', Buffer.from(soap));
  t.same(utf8, { soap, soapMediaType: 'text/xml', attachments: [] });
  t.equal((await parseMm7Http('text/xml', Buffer.from(soap))).soap, soap, 'UTF-8 by default');
  t.equal((await parseMm7Http('TEXT/XML; Charset=ISO-8859-1', Buffer.from(soap, 'latin1'))).soap, soap, 'declared charset');
  const soap12 = await parseMm7Http('application/soap+xml; charset=utf-8; action="x"', Buffer.from(soap));
  t.equal(soap12.soapMediaType, 'application/soap+xml');
  t.equal((await parseMm7Http('text/xml', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(soap)]))).soap, soap, 'a BOM is dropped');
});

t.test('large base64 parts: every layout decodes to the same octets', async (t) => {
  const image = Buffer.alloc(200_000);
  for (let i = 0; i < image.length; i++) image[i] = (i * 7919 + (i >> 8)) & 255;
  const b64 = image.toString('base64');
  const wrap = (width: number, eol: string): string => (b64.match(new RegExp(`.{1,${width}}`, 'g')) ?? []).join(eol);
  const layouts: Array<[string, string]> = [
    ['76 columns, CRLF', wrap(76, '\r\n')],
    ['64 columns, LF', wrap(64, '\n')],
    ['one line', b64],
    ['75 columns (not a multiple of 4)', wrap(75, '\r\n')],
    ['a stray space in a line', wrap(76, '\r\n').replace(/(\r\n[A-Za-z0-9+/]{10})/, '$1 ')],
    ['one short line in the middle', wrap(76, '\r\n').replace(/(\r\n[A-Za-z0-9+/]{40})([A-Za-z0-9+/]{36}\r\n)/, '$1\r\n$2')],
    ['lines padded on their own', (image.subarray(0, 100_000).toString('base64') + '\r\n' + image.subarray(100_000).toString('base64')).replace(/.{76}/g, '$&\r\n')],
  ];
  for (const [name, text] of layouts) {
    const body = Buffer.from(
      '--b\r\nContent-Type: text/xml\r\n\r\n<e/>\r\n--b\r\nContent-Type: image/jpeg\r\nContent-Transfer-Encoding: base64\r\n\r\n' + text + '\r\n--b--\r\n',
    );
    const msg = await parseMm7Http('multipart/related; boundary=b', body);
    t.ok(msg.content?.body?.equals(image), name);
  }
});

t.test('round trip build → parse: leaf content', async (t) => {
  const soap = soapOf(readHttpFixture('submit-rel6-h3.http').raw);
  const content: MimeEntity = {
    mediaType: 'image/gif',
    params: { name: 'dot.gif' },
    contentId: 'mms-content@acme',
    contentLocation: 'dot.gif',
    contentDisposition: 'attachment; filename="dot.gif"',
    headers: [['x-note', 'value']],
    body: GIF,
  };
  const built = await buildMm7Http(soap, content, { boundary: 'outer-7b1e', soapContentId: '<soap-start@acme>' });
  t.equal(built.contentType, 'multipart/related; boundary="outer-7b1e"; type="text/xml"; start="<soap-start@acme>"');
  const text = built.body.toString('latin1');
  t.ok(text.startsWith('--outer-7b1e\r\nContent-Type: text/xml; charset="utf-8"\r\nContent-ID: <soap-start@acme>\r\n\r\n<?xml'), 'the SOAP part');
  t.match(text, /\r\n--outer-7b1e\r\nContent-Type: image\/gif; name=dot.gif\r\nContent-ID: <mms-content@acme>\r\n/);
  t.match(text, /Content-Transfer-Encoding: base64\r\n/, 'media as base64');
  t.ok(text.endsWith('\r\n--outer-7b1e--\r\n'));
  t.notMatch(text, /[^\r]\n/, 'CRLF line ends only');
  const msg = await parseMm7Http(built.contentType, built.body);
  t.equal(msg.soap, soap);
  t.equal(msg.soapMediaType, 'text/xml');
  t.same(msg.content, content);
  t.same(msg.attachments, [content]);
  t.same(await buildMm7Http(soap, content, { boundary: 'outer-7b1e', soapContentId: 'soap-start@acme' }), built, 'deterministic given a boundary');
});

t.test('round trip build → parse: nested content with text, SMIL and media', async (t) => {
  const soap = '<?xml version="1.0" encoding="UTF-8"?>\n<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"><env:Body>Grüße</env:Body></env:Envelope>';
  const image = Buffer.alloc(5000);
  for (let i = 0; i < image.length; i++) image[i] = (i * 31) & 255;
  const long = 'a header value long enough that nodemailer folds it across more than one line, ' + 'x'.repeat(40) + ' end';
  const content: MimeEntity = {
    mediaType: 'multipart/related',
    params: { type: 'application/smil', start: '<pres>', boundary: 'nested-rel' },
    contentId: 'content',
    headers: [],
    parts: [
      { mediaType: 'application/smil', params: { charset: 'utf-8' }, contentId: 'pres', contentLocation: 'pres.smil', headers: [], body: Buffer.from('<smil><body/></smil>') },
      {
        mediaType: 'text/plain',
        params: { charset: 'utf-8', note: 'a "quoted" \\ value' },
        contentId: 'crlf-text',
        contentLocation: 'grüße.txt',
        headers: [
          ['x-long', long],
          ['x-unicode', 'Grüße'],
        ],
        body: Buffer.from('CRLF text, mostly Latin letters: é\r\nsecond line \r\n'),
      },
      { mediaType: 'text/plain', params: { charset: 'utf-8' }, contentId: 'lf-text', headers: [], body: Buffer.from('bare LF\nline ends\n') },
      {
        mediaType: 'multipart/alternative',
        params: { boundary: 'nested-alt' },
        headers: [],
        parts: [
          { mediaType: 'image/jpeg', params: {}, contentId: 'photo', headers: [], body: image },
          { mediaType: 'application/octet-stream', params: {}, headers: [], body: Buffer.alloc(0) },
        ],
      },
    ],
  };
  const built = await buildMm7Http(soap, content);
  t.match(built.contentType, /^multipart\/related; boundary="[^"]+"; type="text\/xml"; start="<mm7-soap-envelope>"$/);
  const text = built.body.toString('latin1');
  t.match(text, /Content-ID: <crlf-text>\r\n(?:.*\r\n)*?Content-Transfer-Encoding: quoted-printable\r\n/, 'CRLF text as quoted-printable');
  t.match(text, /Content-ID: <lf-text>\r\nContent-Transfer-Encoding: base64\r\n/, 'text with bare LF as base64');
  t.equal(built.body.toString('utf8').replace(soap, '').match(/[^\r]\n/), null, 'CRLF line ends outside the envelope');
  const msg = await parseMm7Http(built.contentType, built.body);
  t.equal(msg.soap, soap);
  t.same(msg.content, content);
});

t.test('round trip: nested multiparts get boundaries when they have none', async (t) => {
  const content: MimeEntity = {
    mediaType: 'multipart/mixed',
    params: {},
    contentId: 'c',
    headers: [],
    parts: [
      { mediaType: 'text/plain', params: {}, headers: [], body: Buffer.from('one') },
      { mediaType: 'multipart/mixed', params: { boundary: 'dup' }, headers: [], parts: [{ mediaType: 'text/plain', params: {}, headers: [], body: Buffer.from('two') }] },
      { mediaType: 'multipart/mixed', params: { boundary: 'dup' }, headers: [], parts: [{ mediaType: 'text/plain', params: {}, headers: [], body: Buffer.from('three') }] },
    ],
  };
  const built = await buildMm7Http('<e/>', content, { boundary: 'dup' });
  const msg = await parseMm7Http(built.contentType, built.body);
  const [one, two, three] = parts(msg.content);
  t.equal(one?.body?.toString(), 'one');
  t.equal(parts(two)[0]?.body?.toString(), 'two');
  t.equal(parts(three)[0]?.body?.toString(), 'three');
  const boundaries = [msg.content?.params.boundary, two?.params.boundary, three?.params.boundary];
  t.equal(new Set([...boundaries, 'dup']).size, 4, `every boundary distinct: ${boundaries.join(', ')}`);
});

t.test('build without content: the bare envelope', async (t) => {
  const soap = '<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"><env:Body>ü</env:Body></env:Envelope>';
  const built = await buildMm7Http(soap);
  t.equal(built.contentType, 'text/xml; charset="utf-8"');
  t.ok(built.body.equals(Buffer.from(soap, 'utf8')));
  t.same(await parseMm7Http(built.contentType, built.body), { soap, soapMediaType: 'text/xml', attachments: [] });
});

t.test('build errors', async (t) => {
  const leaf: MimeEntity = { mediaType: 'text/plain', params: {}, headers: [], body: Buffer.from('x\r\n--taken\r\ny') };
  await rejectsWith(t, buildMm7Http('<e/>', leaf, { boundary: 'taken' }), 'INCONSISTENT', 'boundary');
  await rejectsWith(t, buildMm7Http('<e/>', leaf, { boundary: 'bad\r\nboundary' }), 'BAD_VALUE', 'boundary');
  await rejectsWith(t, buildMm7Http('<e/>', leaf, { boundary: 'x'.repeat(71) }), 'BAD_VALUE', 'boundary');
  await rejectsWith(t, buildMm7Http('<e/>', { ...leaf, contentId: 'soap' }, { soapContentId: 'SOAP' }), 'INCONSISTENT', 'Content-ID');
  await rejectsWith(t, buildMm7Http('<e/>', { ...leaf, mediaType: 'not a type' }), 'BAD_VALUE', 'Content-Type');
  await rejectsWith(t, buildMm7Http('<e/>', { mediaType: 'multipart/mixed', params: {}, headers: [], parts: [] }), 'BAD_VALUE', 'content');
  await rejectsWith(t, buildMm7Http('<e/>', { ...leaf, mediaType: 'multipart/mixed' }), 'BAD_VALUE', 'content');
});

// ------------------------------------------------------------ malformed input

const SOAP_PART = '--b\r\nContent-Type: text/xml\r\nContent-ID: <s>\r\n\r\n<e/>\r\n';

t.test('malformed: truncated bodies', async (t) => {
  const { contentType, body } = readHttpFixture('submit-rel6-h3.http');
  await rejectsWith(t, parseMm7Http(contentType, body.subarray(0, 900)), 'TRUNCATED', 'multipart/related');
  const gifLine = body.indexOf('R0lGOD');
  await rejectsWith(t, parseMm7Http(contentType, body.subarray(0, gifLine + 20)), 'TRUNCATED', 'multipart/related');
  const gifHead = body.indexOf('Content-Type: image/gif');
  await rejectsWith(t, parseMm7Http(contentType, body.subarray(0, gifHead + 'Content-Type: image/gif\r\n'.length)), 'TRUNCATED', 'multipart/related');
  await rejectsWith(
    t,
    parseMm7Http('multipart/related; boundary=b', Buffer.from(SOAP_PART + '--b\r\nContent-Type: image/gif\r\nContent-Transfer-Encoding: base64\r\n\r\nR0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAAL\r\n')),
    'TRUNCATED',
  );
});

t.test('malformed: wrong boundary, no boundary, not multipart', async (t) => {
  const { body } = readHttpFixture('submit-rel6-h3.http');
  await rejectsWith(t, parseMm7Http('multipart/related; boundary="nope"; type="text/xml"', body), 'BAD_VALUE', 'multipart/related');
  await rejectsWith(t, parseMm7Http('multipart/related; type="text/xml"; start="<soap-start@acme>"', body), 'BAD_VALUE', 'Content-Type');
  await rejectsWith(t, parseMm7Http('multipart/related; boundary=""', body), 'BAD_VALUE', 'Content-Type');
  await rejectsWith(t, parseMm7Http('application/json', body), 'BAD_VALUE', 'Content-Type');
  await rejectsWith(t, parseMm7Http('multipart/alternative; boundary=outer-7b1e', body), 'BAD_VALUE', 'Content-Type');
  await rejectsWith(t, parseMm7Http('', body), 'BAD_VALUE', 'Content-Type');
  await rejectsWith(t, parseMm7Http('multipart/related; boundary=b', Buffer.alloc(0)), 'BAD_VALUE', 'multipart/related');
  await rejectsWith(
    t,
    parseMm7Http('multipart/related; boundary=b', Buffer.from(SOAP_PART + '--b\r\nContent-Type: multipart/mixed; boundary=inner\r\n\r\n--other\r\n\r\nx\r\n--b--\r\n')),
    'BAD_VALUE',
    'multipart/mixed',
  );
  await rejectsWith(
    t,
    parseMm7Http('multipart/related; boundary=b', Buffer.from(SOAP_PART + '--b\r\nContent-Type: multipart/mixed\r\n\r\nx\r\n--b--\r\n')),
    'BAD_VALUE',
    'Content-Type',
  );
  await rejectsWith(
    t,
    parseMm7Http('multipart/related; boundary=b', Buffer.from(SOAP_PART + '--b\r\nContent-Type: text/plain; boundary=i\r\n\r\n--i\r\n\r\nx\r\n--i--\r\n--b--\r\n')),
    'BAD_VALUE',
    'Content-Type',
  );
});

t.test('malformed: missing or unusable root', async (t) => {
  const { body } = readHttpFixture('submit-rel6-h3.http');
  await rejectsWith(t, parseMm7Http('multipart/related; boundary="outer-7b1e"; start="<absent@acme>"', body), 'MISSING_HEADER', 'multipart/related');
  const msg = await parseMm7Http('multipart/related; boundary="outer-7b1e"; start="SOAP-START@ACME"', body);
  t.match(msg.soap, /SubmitReq/, 'start matched case-insensitively as a last resort');
  await rejectsWith(
    t,
    parseMm7Http('multipart/related; boundary="outer-7b1e"; start="<mms-content@acme>"', body),
    'BAD_VALUE',
    'multipart/related',
  );
  const gifOnly = Buffer.from('--b\r\nContent-Type: image/gif\r\n\r\nGIF\r\n--b--\r\n');
  await rejectsWith(t, parseMm7Http('multipart/related; boundary=b', gifOnly), 'BAD_VALUE', 'multipart/related');
});

t.test('malformed: SOAP envelope octets and charsets, transfer encodings', async (t) => {
  await rejectsWith(t, parseMm7Http('text/xml', Buffer.from([0x3c, 0x65, 0xff, 0x2f, 0x3e])), 'BAD_VALUE', 'SOAP envelope');
  await rejectsWith(t, parseMm7Http('text/xml; charset=x-no-such-charset', Buffer.from('<e/>')), 'UNSUPPORTED', 'charset');
  await rejectsWith(
    t,
    parseMm7Http('multipart/related; boundary=b', Buffer.from(SOAP_PART + '--b\r\nContent-Type: image/gif\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin\r\n--b--\r\n')),
    'UNSUPPORTED',
    'Content-Transfer-Encoding',
  );
});

t.test('malformed: 10k nested multiparts fail on maxDepth', async (t) => {
  let body = SOAP_PART + '--b\r\n';
  for (let i = 0; i < 10_000; i++) body += `Content-Type: multipart/mixed; boundary=n${i}\r\n\r\n--n${i}\r\n`;
  body += 'Content-Type: text/plain\r\n\r\nx\r\n';
  await rejectsWith(t, parseMm7Http('multipart/related; boundary=b', Buffer.from(body)), 'BAD_VALUE', 'multipart');
  await rejectsWith(t, parseMm7Http('multipart/related; boundary=b', Buffer.from(body), { maxDepth: 3, maxParts: 1_000_000 }), 'BAD_VALUE', 'multipart');
});

t.test('malformed: 1000 tiny parts with maxParts 100', async (t) => {
  let body = SOAP_PART;
  for (let i = 0; i < 1000; i++) body += '--b\r\n\r\nx\r\n';
  body += '--b--\r\n';
  await rejectsWith(t, parseMm7Http('multipart/related; boundary=b', Buffer.from(body), { maxParts: 100 }), 'BAD_LENGTH', 'multipart');
  const msg = await parseMm7Http('multipart/related; boundary=b', Buffer.from(body), { maxParts: 1001 });
  t.equal(msg.attachments.length, 1000, 'within the limit they all parse');
});

t.test('malformed: an oversized body', async (t) => {
  const { contentType, body } = readHttpFixture('submit-rel6-h3.http');
  await rejectsWith(t, parseMm7Http(contentType, body, { maxBodyOctets: 1000 }), 'BAD_LENGTH', 'body');
  const big = Buffer.alloc(DEFAULT_LIMITS.maxBodyOctets + 1, 0x41);
  await rejectsWith(t, parseMm7Http('text/xml', big), 'BAD_LENGTH', 'body');
  const limits: Partial<BindingLimits> = { maxBodyOctets: body.length };
  t.ok(await parseMm7Http(contentType, body, limits), 'a body of exactly the limit parses');
});

t.test('malformed: random cuts and flips of h.3 give a result or a ProtocolError, nothing else', async (t) => {
  const { contentType, body } = readHttpFixture('submit-rel6-h3.http');
  let seed = 42;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  let errors = 0;
  for (let i = 0; i < 300; i++) {
    const b = Buffer.from(body.subarray(0, rand(body.length + 1)));
    for (let k = rand(4); k > 0 && b.length > 0; k--) b[rand(b.length)] = rand(256);
    try {
      await parseMm7Http(contentType, b);
    } catch (e) {
      errors++;
      if (!(e instanceof ProtocolError)) t.fail(`not a ProtocolError: ${String(e)}`);
    }
  }
  t.ok(errors > 0, `${errors} of 300 rejected, all as ProtocolError`);
});
