import { connect } from 'node:net';
import t from 'tap';
import { replies, startLab, swaks, type Lab } from './lab.js';

// SMTP AUTH in a loopback test lab (auth.insecureOnLoopback: PLAIN/LOGIN
// without TLS, from 127.0.0.1 only), AUTH required for MM3 senders, and a
// peer MMS-C known by its SMTP AUTH credentials instead of its source IP.

let lab: Lab;
t.before(async () => {
  lab = await startLab({
    smtp: {
      auth: { users: [{ user: 'lab', password: 'secret' }], required: true, insecureOnLoopback: true },
      peers: [{ domain: 'mms.b.net', host: '127.0.0.1:9', user: 'peer-b', password: 'peer-pw' }],
    },
  });
});
t.teardown(() => lab.stop());

const server = (): string[] => ['--server', '127.0.0.1', '--port', String(lab.smtpPort)];
const SUBSCRIBER = '+15550002222/TYPE=PLMN@mms.local';
const count = (): number => (lab.db.sqlite.prepare('SELECT count(*) AS n FROM messages').get() as { n: number }).n;

t.test('loopback lab: AUTH PLAIN without TLS; wrong password 535, right one accepted', async (t) => {
  const bad = await swaks([...server(), '--auth', 'PLAIN', '--auth-user', 'lab', '--auth-password', 'nope', '--from', 'a@example.org', '--to', SUBSCRIBER, '--body', 'x']);
  t.equal(replies(bad.output).find(([c]) => c >= 500)?.[0], 535, bad.output);
  const before = count();
  const good = await swaks([...server(), '--auth', 'LOGIN', '--auth-user', 'lab', '--auth-password', 'secret', '--from', 'a@example.org', '--to', SUBSCRIBER, '--body', 'x']);
  t.equal(good.code, 0, good.output);
  t.equal(count(), before + 1);
});

t.test('auth.required: MAIL FROM without AUTH gets 530', async (t) => {
  const r = await swaks([...server(), '--from', 'a@example.org', '--to', SUBSCRIBER, '--body', 'x']);
  t.equal(replies(r.output).find(([c]) => c >= 500)?.[0], 530, r.output);
});

const mm4 = (tid: string): string =>
  [
    'From: <+447500000001/TYPE=PLMN@mms.b.net>',
    `To: <${SUBSCRIBER}>`,
    'X-Mms-3GPP-MMS-Version: 6.3.0',
    'X-Mms-Message-Type: MM4_forward.REQ',
    `X-Mms-Transaction-ID: "${tid}"`,
    'X-Mms-Message-ID: "b-msg-1"',
    'Date: Wed, 01 May 2024 10:00:00 +0000',
    'Subject: by AUTH',
    'Content-Type: text/plain; charset=utf-8',
    '',
    'hello across',
    '',
  ].join('\r\n');

t.test('a peer known by its AUTH credentials may send MM4; a mere MM3 user may not', async (t) => {
  const asUser = await swaks([...server(), '--auth', 'PLAIN', '--auth-user', 'lab', '--auth-password', 'secret', '--from', 'system-user@mms.b.net', '--to', SUBSCRIBER, '--data', mm4('t-user')]);
  t.equal(replies(asUser.output).find(([c]) => c >= 500)?.[0], 550, asUser.output);
  const asPeer = await swaks([...server(), '--auth', 'PLAIN', '--auth-user', 'peer-b', '--auth-password', 'peer-pw', '--from', 'system-user@mms.b.net', '--to', SUBSCRIBER, '--data', mm4('t-peer')]);
  t.equal(asPeer.code, 0, asPeer.output);
  const id = /MM4_forward\.REQ accepted as (\S+)/.exec(asPeer.output)?.[1];
  t.ok(id, '250 names the stored message');
  const stored = lab.db.getMessage(id!)!;
  t.same(stored.envelope.origin, { interface: 'mm4', peerDomain: 'mms.b.net', transactionId: 't-peer', originatorMessageId: 'b-msg-1', ackRequested: false });
  t.equal(stored.envelope.from, '+447500000001');
  t.same(lab.db.getParts(id!).map((p) => [p.contentType, p.data.toString('utf8')]), [['text/plain; charset=utf-8', 'hello across\r\n']], 'a single-part MM stored as sent');
  // The same transaction again (a peer retrying after a lost 250) is stored once.
  const again = await swaks([...server(), '--auth', 'PLAIN', '--auth-user', 'peer-b', '--auth-password', 'peer-pw', '--from', 'system-user@mms.b.net', '--to', SUBSCRIBER, '--data', mm4('t-peer')]);
  t.equal(/accepted as (\S+)/.exec(again.output)?.[1], id, 'same message id: deduplicated by X-Mms-Transaction-ID');
});

t.test('an idle connection is closed after smtp.socketTimeout with 421', async (t) => {
  const idle = await startLab({ smtp: { socketTimeout: '300ms' } });
  t.teardown(() => idle.stop());
  const transcript = await new Promise<string>((resolve, reject) => {
    let text = '';
    const socket = connect(idle.smtpPort, '127.0.0.1');
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (text += d));
    socket.on('error', reject);
    // Say nothing after the greeting; the server must end the session itself.
    socket.on('close', () => resolve(text));
  });
  t.match(transcript, /^220 /, 'greeted');
  t.match(transcript, /\r\n421 .*[Tt]imeout/, 'then 421 for the idle session');
});
