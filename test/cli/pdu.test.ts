import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadHexFixtures, parseHex, REPO_ROOT } from '../helpers/fixtures.js';
import { runCli } from '../helpers/cli.js';

const run = runCli;

const DIR = join(REPO_ROOT, 'fixtures/pdu');
const fixtures = loadHexFixtures(DIR);
const ONE_ERROR_LINE = /^mmsc: malformed PDU: [^\n]+ \(at octet (\d+)\) \[[A-Z_]+\]\n$/;

/** The runs of octets under each `#` comment of a fixture: its fields, as the fixture's author split them. */
function runs(text: string): { label: string; start: number; length: number }[] {
  const out: { label: string; start: number; length: number }[] = [];
  let pos = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) {
      out.push({ label: line.slice(1).trim(), start: pos, length: 0 });
      continue;
    }
    const n = parseHex(line).length;
    const last = out[out.length - 1];
    if (last) last.length += n;
    pos += n;
  }
  return out;
}

t.ok(fixtures.length >= 19, 'the golden fixtures are there');

for (const f of fixtures) {
  t.test(`${f.name} (${f.as})`, async (t) => {
    const hexFile = join(DIR, `${f.name}.hex`);
    const jsonFile = join(DIR, `${f.name}.json`);
    t.ok(existsSync(jsonFile), 'has a .json');
    const expected = readFileSync(jsonFile, 'utf8');

    const decoded = await run(['pdu', 'decode', '--hex', hexFile]);
    t.equal(decoded.code, 0, 'decode exits 0');
    t.equal(decoded.err, '', 'nothing on stderr');
    t.equal(decoded.out, expected, 'prints the .json, byte for byte');
    t.same(JSON.parse(decoded.out), JSON.parse(expected));

    const withAs = await run(['pdu', 'decode', '--hex', '--as', f.as, hexFile]);
    t.equal(withAs.out, decoded.out, `detection picks ${f.as}`);

    const binary = await run(['pdu', 'decode', '-'], f.bytes);
    t.equal(binary.code, 0);
    t.equal(binary.out, decoded.out, 'binary on stdin gives the same JSON');

    const encoded = await run(['pdu', 'encode'], decoded.out);
    t.equal(encoded.code, 0, 'encode exits 0');
    t.same(encoded.stdout, f.bytes, 'decode | encode reproduces the octets');

    const encodedAs = await run(['pdu', 'encode', '--as', f.as, '-'], decoded.out);
    t.same(encodedAs.stdout, f.bytes, 'and so does encode --as');

    const hex = await run(['pdu', 'encode', '--hex'], decoded.out);
    t.same(parseHex(hex.out), f.bytes, 'encode --hex prints the same octets');
    t.ok(hex.out.split('\n').every((l) => l.split(' ').length <= 16), 'at most 16 octets a line');
    t.match(hex.out, /^([0-9A-F]{2}( [0-9A-F]{2})*\n)+$/, 'space-separated octets, newline-terminated lines');
  });

  t.test(`${f.name}: truncated inside a field`, async (t) => {
    // Cutting at a field boundary can leave a valid PDU (all remaining headers
    // optional), and a body or an SMS segment's payload runs to the end, so
    // the cuts fall inside the other fields: after their first octet, in the
    // middle, before their last.
    const fields = runs(readFileSync(join(DIR, `${f.name}.hex`), 'utf8')).filter((r) => r.length > 0);
    const isBody = (label: string): boolean => /^(body|push octets)/.test(label);
    const inside = [
      ...new Set(
        fields
          .filter((r) => r.length >= 2 && !isBody(r.label))
          .flatMap((r) => [r.start + 1, r.start + Math.floor(r.length / 2), r.start + r.length - 1]),
      ),
    ];
    const step = Math.max(1, Math.floor(inside.length / 5));
    const last = isBody(fields[fields.length - 1]!.label) ? [] : [f.bytes.length - 1];
    const cuts = [...new Set([1, ...inside.filter((_, i) => i % step === 0), ...last])];
    t.ok(cuts.length >= 3, `cuts at ${cuts.join(', ')}`);
    for (const length of cuts) {
      const r = await run(['pdu', 'decode', '--as', f.as], f.bytes.subarray(0, length));
      t.equal(r.code, 1, `cut at ${length}: exit 1`);
      t.equal(r.out, '', `cut at ${length}: nothing on stdout`);
      const m = ONE_ERROR_LINE.exec(r.err);
      t.ok(m, `cut at ${length}: one line with the offset: ${r.err.trimEnd()}`);
      if (m) t.ok(Number(m[1]) <= length, `cut at ${length}: the offset is within the input`);
    }
  });
}

t.test('annotate prints the fixture format: each MMS fixture is its own annotation', async (t) => {
  for (const f of fixtures.filter((f) => f.as === 'mms')) {
    const text = readFileSync(join(DIR, `${f.name}.hex`), 'utf8');
    const body = text.slice(text.indexOf('# X-Mms-Message-Type'));
    const r = await run(['pdu', 'annotate', '--hex', join(DIR, `${f.name}.hex`)]);
    t.equal(r.code, 0);
    t.equal(r.out, body, f.name);
  }
  const bad = await run(['pdu', 'annotate'], Buffer.from([0x8c, 0x80, 0x98, 0x41]));
  t.equal(bad.code, 1);
  t.match(bad.err, ONE_ERROR_LINE);
});

t.test('decode: errors in the input are one line and exit 1', async (t) => {
  const expiry = await run(['pdu', 'decode', '--hex'], '8C 82 98 41 00 8D 92 88 05 81 03');
  t.equal(expiry.code, 1);
  t.equal(expiry.err, 'mmsc: malformed PDU: X-Mms-Expiry: Value-length 5 exceeds the 2 octet(s) left (at octet 8) [BAD_LENGTH]\n');

  const unknown = await run(['pdu', 'decode', '--hex'], 'FF FF FF');
  t.equal(unknown.code, 1);
  t.match(unknown.err, /^mmsc: cannot tell [^\n]+--as mms\|push\|sms\n$/);

  const empty = await run(['pdu', 'decode']);
  t.equal(empty.code, 1);
  t.equal(empty.err, 'mmsc: the input is empty\n');

  const badHex = await run(['pdu', 'decode', '--hex'], '8C 82 # fine\n98 4G\n');
  t.equal(badHex.code, 1);
  t.equal(badHex.err, 'mmsc: hex input, line 2: "G" is not a hex digit\n');

  const odd = await run(['pdu', 'decode', '--hex'], '8C 8');
  t.equal(odd.code, 1);
  t.match(odd.err, /odd number of hex digits/);

  const missing = await run(['pdu', 'decode', join(DIR, 'no-such-file.hex')]);
  t.equal(missing.code, 1);
  t.match(missing.err, /^mmsc: cannot read .*no-such-file\.hex: ENOENT[^\n]*\n$/);

  const badAs = await run(['pdu', 'decode', '--as', 'mm1']);
  t.equal(badAs.code, 1);
  t.match(badAs.err, /--as <kind>' argument 'mm1' is invalid/);
});

t.test('detection: a push whose TID is 0x8C is a push, not an MMS PDU', async (t) => {
  const push = fixtures.find((f) => f.name === 'push-m-notification-ind')!;
  const bytes = Buffer.from(push.bytes);
  bytes[0] = 0x8c;
  const r = await run(['pdu', 'decode'], bytes);
  t.equal(r.code, 0);
  t.equal(JSON.parse(r.out).TID, 0x8c);
});

t.test('decode: a push of other content and SMS user data for another port keep their octets', async (t) => {
  // A confirmed SI push with an application header: its body stays octets.
  const json = {
    TID: 1,
    'PDU-Type': 'ConfirmedPush',
    'Content-Type': 'application/vnd.wap.sic',
    headers: [
      { name: 'X-Wap-Application-Id', value: 'x-wap-application:wml.ua' },
      { name: 'X-Lab', value: 'yes' },
    ],
    body: { size: 3, data: Buffer.from([2, 3, 4]).toString('base64') },
  };
  const enc = await run(['pdu', 'encode'], JSON.stringify(json));
  t.equal(enc.code, 0, enc.err);
  t.equal(enc.stdout[1], 0x07, 'ConfirmedPush');
  const dec = await run(['pdu', 'decode'], enc.stdout);
  t.equal(dec.code, 0, dec.err);
  t.same(JSON.parse(dec.out), json, 'push with a non-MMS body round-trips through JSON');

  const sms = {
    UDH: [
      { IEI: 'application-port-8', destination: 245, originator: 245 },
      { IEI: 0x70, data: { hex: 'aabbcc' } },
    ],
    payload: { size: 2, data: Buffer.from([7, 6]).toString('base64') },
  };
  const smsEnc = await run(['pdu', 'encode', '--hex'], JSON.stringify(sms));
  t.equal(smsEnc.out, '09 04 02 F5 F5 70 03 AA BB CC 07 06\n');
  const smsDec = await run(['pdu', 'decode', '--hex'], smsEnc.out);
  t.same(JSON.parse(smsDec.out), sms);
});

t.test('encode: bad JSON and bad values are one line and exit 1', async (t) => {
  const notJson = await run(['pdu', 'encode'], '{ nope');
  t.equal(notJson.code, 1);
  t.match(notJson.err, /^mmsc: the input is not JSON: [^\n]+\n$/);

  const unknown = await run(['pdu', 'encode'], '{"hello": 1}');
  t.equal(unknown.code, 1);
  t.match(unknown.err, /^mmsc: cannot tell the kind of PDU [^\n]+\n$/);

  const missing = await run(['pdu', 'encode'], '{"X-Mms-Message-Type": "m-send-conf"}');
  t.equal(missing.code, 1);
  t.equal(missing.err, 'mmsc: cannot encode: X-Mms-Transaction-Id: m-send-conf must carry X-Mms-Transaction-Id [MISSING_HEADER]\n');

  const badIe = await run(['pdu', 'encode'], JSON.stringify({ UDH: [{ IEI: 5, data: { hex: '0b84' } }] }));
  t.equal(badIe.code, 1);
  t.match(badIe.err, /^mmsc: cannot encode: IEI 0x05: [^\n]+\[BAD_VALUE\]\n$/);

  const noTid = await run(['pdu', 'encode', '--as', 'push'], JSON.stringify({ 'Content-Type': 'text/plain' }));
  t.equal(noTid.code, 1);
  t.match(noTid.err, /^mmsc: cannot encode: TID: [^\n]+\[MISSING_HEADER\]\n$/);
});
