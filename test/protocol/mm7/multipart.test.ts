import t, { type Test } from 'tap';
import { ProtocolError } from '../../../protocol/errors.js';
import { decodeBase64 } from '../../../protocol/mm7/base64.js';
import { parseMm7Http, type BindingLimits, type Mm7HttpMessage } from '../../../protocol/mm7/binding.js';
import { decodeMm7Http } from '../../../protocol/mm7/http.js';
import type { MimeEntity } from '../../../protocol/mm7/mime-types.js';
import { decodeBase64Text, splitMultipart, type SplitLimits } from '../../../protocol/mm7/multipart.js';
import { Mm7Error } from '../../../protocol/mm7/xml.js';
import { httpFixtureNames, readHttpFixture } from '../../helpers/fixtures.js';
import { NESTED_MULTIPART, SOAP_PART as SOAP } from '../../helpers/multipart-cases.js';

const LIMITS: SplitLimits = { maxParts: 100, maxDepth: 5, maxHeadOctets: 64 * 1024 };
/** The body as a request still arriving, in chunks of the given sizes (cycled). */
async function* arriving(body: Buffer, sizes: readonly number[]): AsyncGenerator<Buffer> {
  let i = 0;
  for (let at = 0; at < body.length; i++) {
    const n = Math.max(1, sizes[i % sizes.length]!);
    yield Buffer.from(body.subarray(at, at + n));
    at += n;
  }
}

type Outcome = { ok: Mm7HttpMessage } | { error: string };

/** A parse's answer or its error's code and field (the streaming path's messages differ in wording). */
async function outcome(p: Promise<Mm7HttpMessage>): Promise<Outcome> {
  try {
    return { ok: await p };
  } catch (e) {
    if (!(e instanceof ProtocolError)) return { error: `not a ProtocolError: ${String(e)}` };
    return { error: `${e.code} ${e.field}` };
  }
}

/** In memory (multipart.ts) and as a stream (multipart-stream.ts): the same answer. */
async function sameBothWays(t: Test, contentType: string, body: Buffer, name: string, limits: Partial<BindingLimits> = {}): Promise<Outcome> {
  const fast = await outcome(parseMm7Http(contentType, body, limits));
  const slow = await outcome(parseMm7Http(contentType, arriving(body, [7, 300, 1, 64, 4096]), limits, { inMemoryUpTo: 0 }));
  t.same(fast, slow, name);
  return fast;
}

function split(body: string | Buffer, boundary = 'b', limits: SplitLimits = LIMITS): MimeEntity[] {
  return splitMultipart('multipart/related', boundary, typeof body === 'string' ? Buffer.from(body, 'latin1') : body, limits);
}

function throwsCode(t: Test, f: () => unknown, code: string, field: string, name: string): void {
  try {
    f();
    t.fail(`${name}: expected ${code} ${field}`);
  } catch (e) {
    t.ok(e instanceof ProtocolError, `${name}: a ProtocolError (${String(e)})`);
    if (e instanceof ProtocolError) t.equal(`${e.code} ${e.field}`, `${code} ${field}`, `${name}: ${e.message}`);
  }
}


t.test('golden: every fixture parses the same in memory as through the streaming splitter', async (t) => {
  const names = httpFixtureNames();
  t.ok(names.length >= 10, `${names.length} fixtures`);
  for (const name of names) {
    const { contentType, body } = readHttpFixture(name);
    const r = await sameBothWays(t, contentType, body, name);
    t.ok('ok' in r, `${name} parses`);
    // also as chunks in memory (joined once), which is the archive receiver's shape
    const halves = [body.subarray(0, body.length >> 1), body.subarray(body.length >> 1)];
    t.same(await outcome(parseMm7Http(contentType, halves)), r, `${name} from two chunks`);
    t.same(await outcome(parseMm7Http(contentType, arriving(body, [50]))), r, `${name} arriving, read whole, split in memory`);
    t.same(await outcome(parseMm7Http(contentType, arriving(body, [50]), {}, { inMemoryUpTo: 200 })), r, `${name} arriving past inMemoryUpTo: what was read first, then the rest, streamed`);
  }
});

t.test('golden: the h.3 body split directly', async (t) => {
  const body = Buffer.from(readHttpFixture('submit-rel6-h3.http').body);
  const parts = splitMultipart('multipart/related', 'outer-7b1e', body, LIMITS);
  t.same(
    parts.map((p) => [p.mediaType, p.contentId]),
    [
      ['text/xml', 'soap-start@acme'],
      ['multipart/mixed', 'mms-content@acme'],
    ],
  );
  const [text, gif] = parts[1]!.parts!;
  t.equal(text?.body?.toString(), 'Hello from the archive test.');
  t.same(text?.params, { charset: 'utf-8' }, 'charset kept as a parameter');
  t.equal(gif?.body?.toString('base64'), 'R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==');
  t.ok(parts[0]!.body!.toString().startsWith('<?xml'), 'the SOAP part, its line end before the delimiter dropped');
  t.notOk(parts[0]!.body!.toString().endsWith('\n'));
  // Identity-encoded parts are views of the body (no copy: the caller owns the body and keeps it);
  // a decoded part is octets of its own.
  t.equal(parts[0]!.body!.buffer, body.buffer, 'the SOAP part is a view of the HTTP body');
  t.equal(text?.body?.buffer, body.buffer, 'so is a nested 8bit text part');
  body.fill(0);
  t.equal(gif?.body?.toString('base64'), 'R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==', 'the base64 part was decoded into octets of its own');
});

t.test('transfer encodings', async (t) => {
  const body =
    SOAP +
    '--b\r\nContent-Transfer-Encoding: 7bit\r\n\r\nseven\r\n' +
    '--b\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGr\xfc\xdfe\r\n' +
    '--b\r\nContent-Transfer-Encoding: BINARY\r\n\r\n\x00\r\n\xff\r\r\n' +
    '--b\r\nContent-Transfer-Encoding: Quoted-Printable\r\n\r\ncaf=C3=A9 =3D long=\r\n line\r\n' +
    '--b\r\nContent-Transfer-Encoding: base64 (a comment)\r\n\r\naGVs\r\nbG8=\r\n' +
    '--b\r\nContent-Transfer-Encoding: base64\r\n\r\naGVs bG8h\r\n' +
    '--b\r\n\r\nno encoding\r\n' +
    '--b--\r\n';
  const parts = split(body);
  const bodies = parts.slice(1).map((p) => p.body?.toString('latin1'));
  t.same(bodies, ['seven', 'Gr\xfc\xdfe', '\x00\r\n\xff\r', 'caf\xc3\xa9 = long line', 'hello', 'hello!', 'no encoding']);
  t.same(
    parts.slice(1).map((p) => p.headers),
    parts.slice(1).map(() => []),
    'Content-Transfer-Encoding is consumed',
  );
  await sameBothWays(t, 'multipart/related; boundary=b', Buffer.from(body, 'latin1'), 'same through the streaming splitter');
  throwsCode(t, () => split(SOAP + '--b\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin\r\n--b--\r\n'), 'UNSUPPORTED', 'Content-Transfer-Encoding', 'unknown encoding');
  throwsCode(t, () => split(SOAP + '--b\r\nContent-Transfer-Encoding: "base64"\r\n\r\naGVsbG8=\r\n--b--\r\n'), 'UNSUPPORTED', 'Content-Transfer-Encoding', 'a quoted encoding stays quoted');
});

t.test('large base64: the line fast path gives decodeBase64s octets, and falls back on any irregularity', async (t) => {
  const image = Buffer.alloc(150_000);
  for (let i = 0; i < image.length; i++) image[i] = (i * 7919 + (i >> 9)) & 255;
  const b64 = image.toString('base64');
  const wrap = (text: string, width: number, eol: string): string => (text.match(new RegExp(`.{1,${width}}`, 'g')) ?? []).join(eol);
  const layouts: Array<[string, string]> = [
    ['76 columns CRLF', wrap(b64, 76, '\r\n')],
    ['76 columns CRLF, a final line end', wrap(b64, 76, '\r\n') + '\r\n'],
    ['64 columns LF', wrap(b64, 64, '\n')],
    ['4 columns LF', wrap(b64, 4, '\n')],
    ['one line', b64],
    ['75 columns', wrap(b64, 75, '\r\n')],
    ['a space inside a line', wrap(b64, 76, '\r\n').replace(/(\r\n[A-Za-z0-9+/]{10})/, '$1 ')],
    ['a "=" inside', wrap(b64.slice(0, 3000) + '=' + b64.slice(3001), 76, '\r\n')],
    ['a short line in the middle', wrap(b64, 76, '\r\n').replace(/(\r\n[A-Za-z0-9+/]{40})([A-Za-z0-9+/]{36}\r\n)/, '$1\r\n$2')],
    ['CRLF then LF', wrap(b64, 76, '\r\n').replace(/\r\n/g, (m, at: number) => (at > 60_000 ? '\n' : m))],
    ['non-alphabet octets', wrap(b64, 76, '\r\n').replace(/(\r\n)([A-Za-z0-9+/]{3})/g, (m, eol: string, c: string, at: number) => (at % 7 === 0 ? `${eol}\xe9${c}` : m))],
    ['base64url alphabet', wrap(b64.replace(/\+/g, '-').replace(/\//g, '_'), 76, '\r\n')],
    ['each half padded on its own', wrap(image.subarray(0, 60_001).toString('base64') + image.subarray(60_001).toString('base64'), 76, '\r\n')],
  ];
  for (const [name, text] of layouts) {
    const octets = Buffer.from(text, 'latin1');
    t.ok(decodeBase64Text(octets).equals(decodeBase64(octets)), name);
  }
  t.ok(decodeBase64Text(Buffer.from(wrap(b64, 76, '\r\n'))).equals(image), 'the usual layout decodes to the image');
  const body = Buffer.from(`${SOAP}--b\r\nContent-Type: image/jpeg\r\nContent-Transfer-Encoding: base64\r\n\r\n${wrap(b64, 76, '\r\n')}\r\n--b--\r\n`);
  t.ok(split(body)[1]?.body?.equals(image), 'through the splitter');
});

t.test('bare LF line ends, CR before a delimiter, blanks after it, no final line end', async (t) => {
  const lf = split('--b\nContent-Type: text/xml\n\n<e/>\n--b\nContent-Type: text/plain;\n charset=us-ascii\n\none\ntwo\n--b--\n');
  t.equal(lf[1]?.body?.toString(), 'one\ntwo', 'the LF before the delimiter belongs to it');
  t.same(lf[1]?.params, { charset: 'us-ascii' });
  const odd = split(SOAP + '--b  \t\r\n\r\nx\r\n\r--b\r\n\r\ny\r\n--b-- \t\r\n');
  t.same(
    odd.map((p) => p.body?.toString()),
    ['<e/>', 'x', 'y'],
    'blanks after a delimiter; a lone CR before one at a line start',
  );
  t.equal(split(SOAP + '--b\r\n\r\nz\r\n--b--')[1]?.body?.toString(), 'z', 'a closing delimiter may end the body without a line end');
  const crRun = split(SOAP + '--b\r\r\n\r\nw\r\n--b--\r\n');
  t.equal(crRun[1]?.body?.toString(), 'w', 'a run of CRs before the LF of a delimiter line');
  for (const body of [lf, odd]) t.ok(body.length > 0);
  await sameBothWays(t, 'multipart/related; boundary=b', Buffer.from(SOAP + '--b  \t\r\n\r\nx\r\n\r--b\r\n\r\ny\r\n--b-- \t\r\n'), 'same through the streaming splitter');
});

t.test('lines that look like delimiters but are not', async (t) => {
  const b64 = Buffer.from('not a delimiter').toString('base64');
  const parts = split(
    SOAP +
      '--b\r\nContent-Transfer-Encoding: base64\r\n\r\n' +
      `${b64.slice(0, 8)}--b${b64.slice(8)}\r\n` + // the boundary inside a base64 line
      '--bb\r\n--b-\r\n --b\r\nx--b\r\n--b--x\r\n' + // longer boundary, one dash, indented, mid-line, text after the close
      '--b--\r\n',
  );
  t.equal(parts.length, 2);
  const raw = parts[1]!.body!;
  t.ok(raw.equals(decodeBase64(Buffer.from(`${b64.slice(0, 8)}--b${b64.slice(8)}\r\n--bb\r\n--b-\r\n --b\r\nx--b\r\n--b--x`))), 'all of it is the part, decoded as base64');
  const text = split(SOAP + '--b\r\n\r\n--bb\r\n--b-\r\n --b\r\nx--b\r\n--b--x\r\n--b--\r\n')[1]!.body!.toString();
  t.equal(text, '--bb\r\n--b-\r\n --b\r\nx--b\r\n--b--x');
});

t.test('folded and odd headers', async (t) => {
  const parts = split(
    '--b\r\nContent-Type:\r\n text/xml;\r\n\tcharset="utf-8"\r\nContent-ID:\r\n <soap@x>\r\n\r\n<e/>\r\n' +
      '--b\r\nContent-ID: bare-id\r\nX-Folded: one\r\n  two\r\nContent-Location: =?utf-8?Q?gr=C3=BC=C3=9Fe.txt?=\r\nnot a header\r\nX-Utf8: Gr\xc3\xbc\xc3\x9fe\r\n\r\nbody\r\n--b--\r\n',
  );
  t.equal(parts[0]?.mediaType, 'text/xml');
  t.same(parts[0]?.params, { charset: 'utf-8' });
  t.equal(parts[0]?.contentId, 'soap@x', 'folded Content-ID, angle brackets dropped');
  const p = parts[1]!;
  t.equal(p.contentId, 'bare-id', 'Content-ID without <>');
  t.equal(p.mediaType, 'text/plain', 'no Content-Type is text/plain');
  t.equal(p.contentLocation, 'grüße.txt', 'encoded words decoded');
  t.same(p.headers, [
    ['x-folded', 'one two'],
    ['x-utf8', 'Grüße'],
  ]);
});

t.test('each entity owns its params, however often a Content-Type repeats', async (t) => {
  const body = SOAP + '--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\none\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\ntwo\r\n--b--\r\n';
  const first = split(body);
  first[1]!.params.charset = 'changed';
  const again = split(body);
  t.same(again[1]?.params, { charset: 'utf-8' }, 'a caller changing one entity changes no later one');
  t.same(again[2]?.params, { charset: 'utf-8' });
  t.not(again[1]?.params, again[2]?.params);
});

t.test('parts without headers, and a header block cut by a delimiter', async (t) => {
  const parts = split(SOAP + '--b\r\n\r\nno headers\r\n--b\n\nLF, no headers\n--b\r\n\r\n\r\n--b--\r\n');
  t.same(
    parts.slice(1).map((p) => [p.mediaType, p.body?.toString()]),
    [
      ['text/plain', 'no headers'],
      ['text/plain', 'LF, no headers'],
      ['text/plain', ''],
    ],
  );
  const cut = split(SOAP + '--b\r\nContent-Type: image/gif\r\n--b\r\nContent-Type: text/plain\r\n--b--\r\n');
  t.same(
    cut.slice(1).map((p) => [p.mediaType, p.body?.length]),
    [
      ['image/gif', 0],
      ['text/plain', 0],
    ],
    'a header block that a delimiter ends: the part is kept, with an empty body',
  );
});

t.test('nested multiparts, preamble and epilogue', async (t) => {
  const body = NESTED_MULTIPART;
  const parts = split(body);
  t.same(
    parts.map((p) => p.mediaType),
    ['text/xml', 'multipart/related', 'multipart/mixed'],
  );
  const related = parts[1]!;
  t.same(related.params, { boundary: 'r', start: '<s>' });
  t.equal(related.parts?.[0]?.body?.toString(), '<smil/>');
  const mixed = related.parts?.[1];
  t.same(
    mixed?.parts?.map((p) => p.body?.toString()),
    ['leaf 1', 'leaf 2'],
    'epilogue lines and delimiters after a close are not parts',
  );
  t.equal(related.parts?.length, 2);
  t.equal(parts[2]?.parts?.[0]?.body?.toString(), 'never closed', "an outer delimiter ends a multipart that was never closed");
  await sameBothWays(t, 'multipart/related; boundary=b', Buffer.from(body), 'same through the streaming splitter');
  throwsCode(t, () => split(SOAP + '--b\r\nContent-Type: multipart/mixed; boundary=m\r\n\r\nno parts\r\n--b--\r\n'), 'BAD_VALUE', 'multipart/mixed', 'a nested multipart without parts');
  throwsCode(t, () => split(SOAP + '--b\r\nContent-Type: multipart/mixed; boundary=" "\r\n\r\n--b--\r\n'), 'BAD_VALUE', 'Content-Type', 'a multipart without a usable boundary');
  throwsCode(t, () => split(SOAP + '--b\r\nContent-Type: multipart/mixed; boundary=é\r\n\r\n--b--\r\n'), 'BAD_VALUE', 'Content-Type', 'a non-ASCII boundary');
  throwsCode(t, () => split(SOAP + '--b\r\nContent-Type: text/plain; boundary=i\r\n\r\n--i\r\n\r\nx\r\n--b--\r\n'), 'BAD_VALUE', 'Content-Type', 'parts inside a leaf');
  t.equal(split(SOAP + '--b\r\nContent-Type: text/plain; boundary=i\r\n\r\nx\r\n--i--\r\ny\r\n--b--\r\n')[1]?.body?.toString(), 'x\r\n--i--\r\ny', "a leaf's own closing delimiter is content");
});

t.test('limits: depth, a huge part count, header size', async (t) => {
  let deep = SOAP + '--b\r\n';
  for (let i = 0; i < 10_000; i++) deep += `Content-Type: multipart/mixed; boundary=n${i}\r\n\r\n--n${i}\r\n`;
  throwsCode(t, () => split(deep + '\r\nx\r\n'), 'BAD_VALUE', 'multipart', '10k nested');
  let nested = SOAP + '--b\r\n';
  for (let i = 0; i < 4; i++) nested += `Content-Type: multipart/mixed; boundary=n${i}\r\n\r\n--n${i}\r\n`;
  nested += '\r\nleaf\r\n--b--\r\n';
  t.equal(split(nested).length, 2, 'depth 5 (the body and 4 nested) is within the default');
  throwsCode(t, () => split(nested, 'b', { ...LIMITS, maxDepth: 4 }), 'BAD_VALUE', 'multipart', 'depth 5 with maxDepth 4');

  const many = Buffer.from(SOAP + '--b\r\n\r\nx\r\n'.repeat(100_000) + '--b--\r\n');
  throwsCode(t, () => split(many), 'BAD_LENGTH', 'multipart', '100k parts with maxParts 100');
  t.equal(split(many, 'b', { ...LIMITS, maxParts: 100_001 }).length, 100_001, '100k parts within the limit all parse');
  t.equal(split(many, 'b', { ...LIMITS, maxParts: 100_001 })[100_000]?.body?.toString(), 'x');
  throwsCode(t, () => split(many, 'b', { ...LIMITS, maxParts: 100_000 }), 'BAD_LENGTH', 'multipart', 'one over the limit');

  const bigHead = SOAP + `--b\r\nX-Big: ${'y'.repeat(70_000)}\r\n\r\nx\r\n--b--\r\n`;
  throwsCode(t, () => split(bigHead), 'BAD_LENGTH', 'MIME header', 'a 70 KB header line');
  const manyLines = SOAP + '--b\r\n' + 'X: y\r\n'.repeat(1100) + '\r\nx\r\n--b--\r\n';
  throwsCode(t, () => split(manyLines), 'BAD_LENGTH', 'MIME header', '1100 short lines count 64 octets each');
  t.equal(split(SOAP + '--b\r\n' + 'X: y\r\n'.repeat(900) + '\r\nx\r\n--b--\r\n')[1]?.headers.length, 900, '900 short lines fit');
  for (const [name, body] of [
    ['big head', bigHead],
    ['many lines', manyLines],
  ] as const) {
    await sameBothWays(t, 'multipart/related; boundary=b', Buffer.from(body), `${name}: same through the streaming splitter`);
  }
});

t.test('truncated bodies: TRUNCATED where the cut shows, else the parts so far', async (t) => {
  const gif = 'R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==';
  const whole = `${SOAP}--b\r\nContent-Type: image/gif\r\nContent-Transfer-Encoding: base64\r\n\r\n${gif}\r\n--b--\r\n`;
  throwsCode(t, () => split(whole.slice(0, whole.indexOf('R0lG') + 10)), 'TRUNCATED', 'multipart/related', 'inside a line');
  throwsCode(t, () => split(whole.slice(0, whole.indexOf('R0lG') + 10) + '\r\n'), 'TRUNCATED', 'multipart/related', 'inside a base64 quantum');
  throwsCode(t, () => split(whole.slice(0, whole.indexOf('image/gif') + 11)), 'TRUNCATED', 'multipart/related', 'inside the header block');
  t.equal(split(whole.slice(0, whole.indexOf('--b--'))).length, 2, 'a complete last part without the closing delimiter is accepted');
  throwsCode(t, () => split(''), 'BAD_VALUE', 'multipart/related', 'empty');
  throwsCode(t, () => split('no delimiter at all\r\n'), 'BAD_VALUE', 'multipart/related', 'no delimiter');
  // every cut of the h.3 body: the same answer both ways, and only ProtocolErrors
  const { contentType, body } = readHttpFixture('submit-rel6-h3.http');
  let rejected = 0;
  for (let cut = 0; cut <= body.length; cut += 7) {
    const r = await sameBothWays(t, contentType, body.subarray(0, cut), `cut at ${cut}`);
    if ('error' in r) {
      rejected++;
      t.notMatch(r.error, /^not a ProtocolError/, `cut at ${cut}`);
    }
  }
  t.ok(rejected > 100, `${rejected} cuts rejected`);
});

t.test('random flips of every fixture: the same answer in memory and streaming', async (t) => {
  let seed = 7;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const interesting = Buffer.from('-\r\n: ;="<>\t=', 'latin1');
  for (const name of httpFixtureNames()) {
    const { contentType, body } = readHttpFixture(name);
    for (let i = 0; i < 40; i++) {
      const b = Buffer.from(body);
      for (let k = 1 + rand(3); k > 0; k--) b[rand(b.length)] = rand(2) ? interesting[rand(interesting.length)]! : rand(256);
      const cut = rand(4) === 0 ? rand(b.length + 1) : b.length;
      await sameBothWays(t, contentType, b.subarray(0, cut), `${name} #${i}`);
    }
  }
});

t.test('a body that fails while it is read: its own error first, whichever path', async (t) => {
  const { contentType, body } = readHttpFixture('submit-rel6-h3.http');
  const lost = new Error('connection lost');
  async function* failing(): AsyncGenerator<Buffer> {
    yield body.subarray(0, 500);
    throw lost;
  }
  for (const inMemoryUpTo of [0, 100, 1 << 20]) {
    try {
      await parseMm7Http(contentType, failing(), {}, { inMemoryUpTo });
      t.fail('accepted');
    } catch (e) {
      t.equal(e, lost, `inMemoryUpTo ${inMemoryUpTo}`);
    }
  }
  const tooBig = await outcome(parseMm7Http(contentType, arriving(body, [100]), { maxBodyOctets: 1000 }));
  t.same(tooBig, { error: 'BAD_LENGTH body' }, 'the size limit while reading ahead');
});

t.test('decodeMm7Http: splitter errors are MM7 status 2007', async (t) => {
  const { contentType, body } = readHttpFixture('submit-rel6-h3.http');
  try {
    await decodeMm7Http(contentType, body.subarray(0, 900));
    t.fail('a truncated body was accepted');
  } catch (e) {
    t.ok(e instanceof Mm7Error);
    if (e instanceof Mm7Error) {
      t.equal(e.status, 2007);
      t.equal(e.code, 'TRUNCATED');
    }
  }
  const ok = await decodeMm7Http(contentType, body);
  t.equal(ok.envelope.message.type, 'SubmitReq');
  t.equal(ok.content?.parts?.length, 2);
});
