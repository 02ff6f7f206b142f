import t, { type Test } from 'tap';
import { ProtocolError } from '../../../protocol/errors.js';
import type { MimeEntity } from '../../../protocol/mm7/mime-types.js';
import { MultipartStream } from '../../../protocol/mm7/multipart-stream.js';
import { parseContentType, splitMultipart, type SplitLimits } from '../../../protocol/mm7/multipart.js';
import { httpFixtureNames, readHttpFixture } from '../../helpers/fixtures.js';
import { NESTED_MULTIPART, SOAP_PART as SOAP } from '../../helpers/multipart-cases.js';

// The streaming splitter must find what the in-memory one finds, wherever the chunks are cut.

const LIMITS: SplitLimits = { maxParts: 100, maxDepth: 5, maxHeadOctets: 64 * 1024 };
const TYPE = 'multipart/related';

type Outcome = { parts: MimeEntity[] } | { error: string };

function outcome(f: () => MimeEntity[]): Outcome {
  try {
    return { parts: f() };
  } catch (e) {
    return { error: e instanceof ProtocolError ? `${e.code} ${e.field}` : `not a ProtocolError: ${String(e)}` };
  }
}

function inMemory(body: Buffer, boundary: string, lim = LIMITS): Outcome {
  return outcome(() => splitMultipart(TYPE, boundary, body, lim));
}

/** The body through MultipartStream, cut at the given offsets (each chunk a copy, as a socket's would be). */
function streamed(body: Buffer, boundary: string, cuts: readonly number[], lim = LIMITS): Outcome {
  return outcome(() => {
    const s = new MultipartStream(TYPE, boundary, lim, body.length);
    let at = 0;
    for (const cut of [...cuts, body.length]) {
      if (cut > at) s.push(Buffer.from(body.subarray(at, cut)));
      at = Math.max(at, cut);
    }
    return s.end();
  });
}

function everyCut(t: Test, body: Buffer, boundary: string, name: string, lim = LIMITS): number {
  const expected = inMemory(body, boundary, lim);
  let differences = 0;
  for (let cut = 0; cut <= body.length; cut++) {
    const got = streamed(body, boundary, [cut], lim);
    if (JSON.stringify(got) !== JSON.stringify(expected)) {
      differences++;
      if (differences <= 3) t.same(got, expected, `${name}: cut at ${cut}`);
    }
  }
  for (const size of [1, 2, 3, 5, 13]) {
    const cuts: number[] = [];
    for (let at = size; at < body.length; at += size) cuts.push(at);
    const got = streamed(body, boundary, cuts, lim);
    if (JSON.stringify(got) !== JSON.stringify(expected)) {
      differences++;
      t.same(got, expected, `${name}: ${size}-octet chunks`);
    }
  }
  t.equal(differences, 0, `${name}: ${body.length + 1} single cuts and 5 chunk sizes give the in-memory answer (${'error' in expected ? expected.error : `${expected.parts.length} parts`})`);
  return differences;
}


const CASES: Array<[string, string]> = [
  ['plain', SOAP + '--b\r\nContent-Type: text/plain\r\n\r\nhello\r\nworld\r\n--b--\r\n'],
  ['bare LF', '--b\nContent-Type: text/xml\n\n<e/>\n--b\nContent-Type: text/plain;\n charset=us-ascii\n\none\ntwo\n--b--\n'],
  ['blanks, lone CR, CR runs', SOAP + '--b  \t\r\n\r\nx\r\n\r--b\r\n\r\ny\r\n--b\r\r\n\r\nw\r\n--b-- \t\r\n'],
  ['closing delimiter without a line end', SOAP + '--b\r\n\r\nz\r\n--b--'],
  ['delimiter without its LF at the end', SOAP + '--b\r\n\r\nz\r\n--b'],
  ['delimiter and CR at the end', SOAP + '--b\r\n\r\nz\r\n--b\r'],
  ['look-alikes', SOAP + '--b\r\n\r\n--bb\r\n--b-\r\n --b\r\nx--b\r\n--b--x\r\n\r\r--b\r\n--b\tx\r\n--b--\r\n'],
  ['look-alikes in base64', SOAP + '--b\r\nContent-Transfer-Encoding: base64\r\n\r\nbm90IGEg--bZGVsaW1pdGVy\r\n--bb\r\n--b-\r\n --b\r\n--b--\r\n'],
  ['parts without headers', SOAP + '--b\r\n\r\nno headers\r\n--b\n\nLF, no headers\n--b\r\n\r\n\r\n--b--\r\n'],
  ['header block cut by a delimiter', SOAP + '--b\r\nContent-Type: image/gif\r\n--b\r\nContent-Type: text/plain\r\n--b--\r\n'],
  ['nested, preamble and epilogue', NESTED_MULTIPART],
  ['a boundary that is a prefix of its parent', SOAP + '--b\r\nContent-Type: multipart/mixed; boundary=bb\r\n\r\n--bb\r\n\r\ninner\r\n--b\r\n\r\nouter\r\n--b--\r\n'],
  ['the parent boundary a prefix of the child', '--bb\r\n\r\n<e/>\r\n--bb\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\ninner\r\n--bb--\r\n'],
  ["a leaf's own boundary", SOAP + '--b\r\nContent-Type: text/plain; boundary=i\r\n\r\nx\r\n--i--\r\ny\r\n--b--\r\n'],
  ['parts inside a leaf', SOAP + '--b\r\nContent-Type: text/plain; boundary=i\r\n\r\n--i\r\n\r\nx\r\n--b--\r\n'],
  ['a multipart without parts', SOAP + '--b\r\nContent-Type: multipart/mixed; boundary=m\r\n\r\nno parts\r\n--b--\r\n'],
  ['transfer encodings', SOAP + '--b\r\nContent-Transfer-Encoding: Quoted-Printable\r\n\r\ncaf=C3=A9 =3D long=\r\n line\r\n--b\r\nContent-Transfer-Encoding: base64 (c)\r\n\r\naGVs\r\nbG8=\r\n--b\r\nContent-Transfer-Encoding: x-uu\r\n\r\nbegin\r\n--b--\r\n'],
  ['no closing delimiter, complete', SOAP + '--b\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n'],
  ['no closing delimiter, cut in a quantum', SOAP + '--b\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG\r\n'],
  ['no closing delimiter, cut in a line', SOAP + '--b\r\n\r\nhal'],
  ['no closing delimiter, cut in a header block', SOAP + '--b\r\nContent-Type: image/gif\r\n'],
  ['a closing line in the epilogue only', SOAP + '--b\r\nContent-Type: multipart/mixed; boundary=m\r\n\r\n--m\r\n\r\nx\r\n--b--x\r\n'],
  ['no delimiter at all', 'nothing here\r\n'],
  ['empty', ''],
];

t.test('every cut of each case gives the in-memory answer', async (t) => {
  for (const [name, text] of CASES) everyCut(t, Buffer.from(text, 'latin1'), name.startsWith('the parent boundary') ? 'bb' : 'b', name);
});

t.test('every cut of the fixtures gives the in-memory answer', async (t) => {
  for (const name of httpFixtureNames()) {
    const { contentType, body } = readHttpFixture(name);
    const boundary = parseContentType(contentType).params.boundary;
    if (boundary) everyCut(t, body, boundary, name);
  }
});

t.test('limits: part count, depth and header size at any cut', async (t) => {
  const small: SplitLimits = { maxParts: 3, maxDepth: 2, maxHeadOctets: 300 };
  everyCut(t, Buffer.from(SOAP + '--b\r\n\r\n1\r\n--b\r\n\r\n2\r\n--b\r\n\r\n3\r\n--b--\r\n'), 'b', 'one part over maxParts', small);
  everyCut(t, Buffer.from(SOAP + '--b\r\nContent-Type: multipart/mixed; boundary=m\r\n\r\n--m\r\nContent-Type: multipart/mixed; boundary=n\r\n\r\n--n\r\n\r\nx\r\n--b--\r\n'), 'b', 'depth 3 over 2', small);
  everyCut(t, Buffer.from(SOAP + `--b\r\nX-Long: ${'y'.repeat(290)}\r\n\r\nx\r\n--b--\r\n`), 'b', 'one header line over maxHeadOctets', small);
  everyCut(t, Buffer.from(SOAP + '--b\r\n' + 'X: y\r\n'.repeat(5) + '\r\nx\r\n--b--\r\n'), 'b', 'short lines count 64 octets each', small);
  everyCut(t, Buffer.from(SOAP + '--b\r\nX: 1\r\n--b\r\n\r\nx\r\n--b--\r\n'), 'b', 'a delimiter line ends a header block whatever its cost', { ...small, maxHeadOctets: 70 });

  // a header line that never ends is refused once it is too long, not held until its LF comes
  const s = new MultipartStream(TYPE, 'b', LIMITS, 0);
  s.push(Buffer.from(SOAP + '--b\r\nX-Endless: '));
  let pushed = 0;
  t.throws(
    () => {
      for (; pushed < 1000; pushed++) s.push(Buffer.alloc(1024, 0x79));
    },
    { code: 'BAD_LENGTH' },
    'an endless header line',
  );
  t.ok(pushed <= LIMITS.maxHeadOctets / 1024, `refused within maxHeadOctets (after ${pushed} KiB)`);

  // a long header line arriving octet by octet is not carried (and joined to every chunk) while it waits for its LF
  const slow = new MultipartStream(TYPE, 'b', LIMITS, 0);
  slow.push(Buffer.from(SOAP + '--b\r\nX-Slow: '));
  let most = 0;
  for (let i = 0; i < 20_000; i++) {
    slow.push(Buffer.from('z'));
    most = Math.max(most, slow.carried);
  }
  slow.push(Buffer.from('\r\n\r\nbody\r\n--b--\r\n'));
  t.ok(most <= 16, `at most a few octets carried (${most})`);
  t.equal(slow.end()[1]?.headers[0]?.[1], 'z'.repeat(20_000), 'the header whole');
});

t.test('random bodies from delimiter-like tokens, random chunks', async (t) => {
  let seed = 11;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const tokens = [
    '--b', '--b--', '--r', '--r--', '\r', '\n', '\r\n', '\r\n', ' ', '\t', '-', 'x', 'QUJD', '=',
    'Content-Type: multipart/mixed; boundary=r\r\n', 'Content-Type: multipart/alternative; boundary=b\r\n',
    'Content-Transfer-Encoding: base64\r\n', 'Content-Transfer-Encoding: quoted-printable\r\n', 'Content-Type: text/plain; boundary=r\r\n',
  ];
  const lim: SplitLimits = { maxParts: 8, maxDepth: 3, maxHeadOctets: 200 };
  let differences = 0;
  let accepted = 0;
  const runs = 4000;
  for (let i = 0; i < runs; i++) {
    let text = rand(3) ? '--b\r\n' : '';
    for (let k = 4 + rand(40); k > 0; k--) text += tokens[rand(tokens.length)]!;
    const body = Buffer.from(text, 'latin1');
    const cuts: number[] = [];
    for (let at = rand(8); at < body.length; at += 1 + rand(12)) cuts.push(at);
    const expected = inMemory(body, 'b', lim);
    const got = streamed(body, 'b', cuts, lim);
    if ('parts' in expected) accepted++;
    if (JSON.stringify(got) !== JSON.stringify(expected)) {
      differences++;
      if (differences <= 3) t.same(got, expected, `${JSON.stringify(text)} cut at ${cuts.join(',')}`);
    }
  }
  t.equal(differences, 0, `${runs} random bodies, each cut at random offsets, give the in-memory answer`);
  t.ok(accepted > runs / 10 && accepted < runs, `both answers occur: ${accepted} split, ${runs - accepted} refused`);
});

t.test('a large body streams: no more than a delimiter line is carried between chunks', async (t) => {
  const line = 'QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0\r\n';
  const body = Buffer.from(SOAP + '--b\r\nContent-Transfer-Encoding: base64\r\n\r\n' + line.repeat(30_000) + '--b\r\nContent-Type: text/plain\r\n\r\n' + 'eight bit\r\n'.repeat(20_000) + '--b--\r\n', 'latin1');
  const s = new MultipartStream(TYPE, 'b', LIMITS, body.length);
  let most = 0;
  const chunks: Buffer[] = [];
  for (let at = 0; at < body.length; at += 65_531) {
    const chunk = Buffer.from(body.subarray(at, at + 65_531));
    chunks.push(chunk);
    s.push(chunk);
    most = Math.max(most, s.carried);
  }
  const parts = s.end();
  t.ok(most <= 2 + 3 + 2 + 1004, `at most a delimiter line and its line end carried over (${most} octets)`);
  t.equal(parts[1]?.body?.length, 30_000 * 57, 'the base64 part decoded');
  t.equal(parts[2]?.body?.toString('latin1'), 'eight bit\r\n'.repeat(20_000).slice(0, -2), 'the 8bit part whole');
  t.same(inMemory(body, 'b'), { parts }, 'the in-memory answer');
});

t.test('a spent splitter refuses more', async (t) => {
  const s = new MultipartStream(TYPE, 'b', { ...LIMITS, maxParts: 1 }, 0);
  s.push(Buffer.from(SOAP));
  t.throws(() => s.push(Buffer.from('--b\r\n\r\nx\r\n')), { code: 'BAD_LENGTH' }, 'the second part is over maxParts');
  t.throws(() => s.end(), { code: 'BAD_VALUE' }, 'after an error, end() says the splitter is spent');
  const done = new MultipartStream(TYPE, 'b', LIMITS, 0);
  done.push(Buffer.from(SOAP + '--b--\r\n'));
  t.equal(done.end().length, 1);
  t.throws(() => done.push(Buffer.from('more')), { code: 'BAD_VALUE' }, 'and after end()');
});
