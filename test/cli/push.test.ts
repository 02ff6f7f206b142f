import t from 'tap';
import { join } from 'node:path';
import { decodeMmsPush } from '../../protocol/mms/index.js';
import { decodeUserData, Reassembler } from '../../protocol/wdp/index.js';
import { loadHexFixtures, REPO_ROOT } from '../helpers/fixtures.js';
import { runCli } from '../helpers/cli.js';

const run = runCli;

const fixtures = new Map(loadHexFixtures(join(REPO_ROOT, 'fixtures/pdu')).map((f) => [f.name, f.bytes]));
const fixture = (name: string): Buffer => fixtures.get(name) ?? Buffer.alloc(0);
const fromHex = (line: string): Buffer => Buffer.from(line.trim(), 'hex');

const LONG_URL =
  'http://mmsc.example.net/retrieve/' +
  'Zq9xW2e7Rt4yU1iO0pA5sD8fG3hJ6kL'.repeat(4) +
  '?profile=default&lang=en';

/** The options of the h.1 notification; `push-m-notification-ind.hex` is its push. */
const H1 = [
  '--to', '+4475551234',
  '--from', '+4475550123',
  '--subject', 'Photo',
  '--class', 'Personal',
  '--size', '31000',
  '--expiry', '172800',
  '--url', 'http://mmsc.example.net/r/7Kq2',
  '--transaction-id', 'A1b2C3',
  '--version', '1.2',
  '--tid', '7',
];

t.test('push encode reproduces the golden push of spec h.1', async (t) => {
  const r = await run(['push', 'encode', ...H1]);
  t.equal(r.code, 0, r.err);
  t.equal(r.err, '# to +4475551234/TYPE=PLMN\n', 'the recipient goes to stderr as a comment');
  t.match(r.out, /^[0-9A-F]+\n$/, 'one line of hex');
  t.same(fromHex(r.out), fixture('push-m-notification-ind'));

  const one = await run(['push', 'encode', ...H1, '--segments', '--ref', '9']);
  t.equal(one.code, 0);
  t.same(one.out.trim().split('\n').map(fromHex), [fixture('sms-m-notification-ind')], 'a short push is one SMS');
});

t.test('push encode --segments reproduces the golden two-SMS push', async (t) => {
  const long = H1.map((a) => (a === 'http://mmsc.example.net/r/7Kq2' ? LONG_URL : a === 'A1b2C3' ? 'L0ng-77' : a === '7' ? '90' : a));
  const push = await run(['push', 'encode', ...long]);
  t.same(fromHex(push.out), fixture('push-m-notification-ind-long'));
  const r = await run(['push', 'encode', ...long, '--segments', '--ref', '90']);
  t.equal(r.code, 0, r.err);
  t.same(r.out.trim().split('\n').map(fromHex), [fixture('sms-m-notification-ind-long-1of2'), fixture('sms-m-notification-ind-long-2of2')]);
});

t.test('push encode output decodes back to the given values', async (t) => {
  const r = await run([
    'push', 'encode',
    '--to', '4475551234',
    '--from', 'alice@example.org',
    '--subject', 'Grüße 👋',
    '--class', 'Advertisement',
    '--size', '12345',
    '--expiry', '3600',
    '--url', 'http://host/m/abc',
    '--transaction-id', 'T-1',
    '--version', '1.3',
    '--tid', '200',
  ]);
  t.equal(r.code, 0, r.err);
  t.equal(r.err, '# to 4475551234/TYPE=PLMN\n', 'a bare number gets /TYPE=PLMN');
  const decoded = await run(['pdu', 'decode', '--hex'], r.out);
  t.equal(decoded.code, 0, decoded.err);
  t.same(JSON.parse(decoded.out), {
    TID: 200,
    'PDU-Type': 'Push',
    'Content-Type': 'application/vnd.wap.mms-message',
    headers: [{ name: 'X-Wap-Application-Id', value: 'x-wap-application:mms.ua' }],
    mms: {
      'X-Mms-Message-Type': 'm-notification-ind',
      'X-Mms-Transaction-Id': 'T-1',
      'X-Mms-MMS-Version': '1.3',
      From: 'alice@example.org',
      Subject: { text: 'Grüße 👋', charset: 'utf-8' },
      'X-Mms-Message-Class': 'Advertisement',
      'X-Mms-Message-Size': 12345,
      'X-Mms-Expiry': { relative: 3600 },
      'X-Mms-Content-Location': 'http://host/m/abc',
    },
  });

  const bare = await run(['push', 'encode', '--to', '+4475551234', '--from', '12345', '--url', 'http://h/x', '--size', '1', '--tid', '1']);
  t.same(decodeMmsPush(fromHex(bare.out)).mms.from, { text: '12345/TYPE=PLMN' }, 'a short code is a PLMN address');
  const typed = await run(['push', 'encode', '--to', '192.0.2.1/TYPE=IPv4', '--from', '+1555/TYPE=PLMN', '--url', 'http://h/x', '--size', '1']);
  t.equal(typed.err, '# to 192.0.2.1/TYPE=IPv4\n', 'a typed address stays as it is');
  t.same(decodeMmsPush(fromHex(typed.out)).mms.from, { text: '+1555/TYPE=PLMN' });
});

t.test('push encode defaults', async (t) => {
  const args = ['push', 'encode', '--to', '+4475551234', '--url', 'http://host/m/abc', '--size', '12345'];
  const a = await run(args);
  const b = await run(args);
  t.equal(a.code, 0, a.err);
  const { push, mms } = decodeMmsPush(fromHex(a.out));
  t.ok(push.tid !== undefined && push.tid >= 0 && push.tid <= 255, 'a TID');
  t.match(mms.transactionId, /^[A-Za-z0-9]{8}$/, 'a random 8-character transaction id');
  t.not(mms.transactionId, decodeMmsPush(fromHex(b.out)).mms.transactionId, 'another one the next time');
  t.same(
    { version: mms.mmsVersion, class: mms.messageClass, expiry: mms.expiry, size: mms.messageSize, from: mms.from, subject: mms.subject },
    { version: '1.2', class: 'Personal', expiry: { relative: 172800 }, size: 12345, from: undefined, subject: undefined },
  );
});

t.test('push encode --segments of a long URL: segments that reassemble to the push', async (t) => {
  const url = `http://mmsc.example.net/m/${'x'.repeat(300)}`;
  const args = ['push', 'encode', '--to', '+4475551234', '--url', url, '--size', '99', '--tid', '3', '--transaction-id', 'abc'];
  const whole = fromHex((await run(args)).out);
  const r = await run([...args, '--segments']);
  t.equal(r.code, 0, r.err);
  const lines = r.out.trim().split('\n');
  t.ok(lines.length >= 3, `${lines.length} segments`);
  const reassembler = new Reassembler({ timeoutMs: 1000 });
  let done = null;
  for (const [i, line] of lines.entries()) {
    t.match(line, /^[0-9A-F]+$/);
    const ud = fromHex(line);
    t.ok(ud.length <= 140, `segment ${i + 1} fits one SMS`);
    t.ok(decodeUserData(ud).header.elements.some((e) => e.kind === 'ports16' && e.destinationPort === 2948), 'to the WAP push port');
    const got = reassembler.push(ud, '+4475551234', i);
    if (i < lines.length - 1) t.equal(got, null);
    else done = got;
  }
  t.same(done?.datagram, whole, 'the reassembled datagram is the push');
  t.equal(decodeMmsPush(done!.datagram).mms.contentLocation, url);
});

t.test('push encode: bad arguments are one line and exit 1', async (t) => {
  const base = ['push', 'encode', '--to', '+4475551234', '--url', 'http://h/m', '--size', '1'];
  const cases: [string[], RegExp][] = [
    [['push', 'encode', '--url', 'http://h/m', '--size', '1'], /^mmsc: error: required option '--to <address>' not specified\n$/],
    [[...base, '--size', 'lots'], /^mmsc: error: option '--size <octets>' argument 'lots' is invalid/],
    [[...base, '--tid', '256'], /^mmsc: error: option '--tid <n>' argument '256' is invalid/],
    [[...base, '--ref', '-1'], /^mmsc: error: option '--ref <n>' argument '-1' is invalid/],
    [[...base, '--url', 'not a url'], /^mmsc: --url "not a url" is not an absolute URL\n$/],
    [[...base, '--from', 'not an address'], /^mmsc: --from: address: "not an address" is neither [^\n]+ \[BAD_VALUE\]\n$/],
    [[...base, '--to', 'someone'], /^mmsc: --to: address: [^\n]+\[BAD_VALUE\]\n$/],
    [[...base, '--class', 'Very Personal'], /^mmsc: --class "Very Personal" is not a token\n$/],
    [[...base, '--version', 'one'], /^mmsc: --version "one" is not MAJOR.MINOR\n$/],
    [[...base, '--url', `http://h/${'x'.repeat(40000)}`, '--segments'], /^mmsc: cannot segment: datagram: [^\n]+\[BAD_LENGTH\]\n$/],
  ];
  for (const [args, err] of cases) {
    const r = await run(args);
    t.equal(r.code, 1, args.join(' ').slice(0, 80));
    t.match(r.err, err);
    t.equal(r.out, '');
  }
});
