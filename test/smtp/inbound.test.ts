import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { createTransport } from 'nodemailer';
import type { MultipartEntry } from '../../protocol/wsp/multipart.js';
import { identityTranscoder } from '../../src/mmsc/mmsc.js';
import { realJpeg, replies, retrieve, spooledPushes, startLab, swaks, type Lab } from './lab.js';

// MM3 in, over real SMTP sessions on 127.0.0.1 with swaks as the client:
// a mail with a JPEG and a text to a local subscriber is stored, pushed,
// and retrieved over MM1 with its parts byte-identical; relaying (550),
// oversize (552), bad AUTH (535), too many recipients and malformed MIME
// are refused, and nothing is stored for them.

const SUBSCRIBER = '+15550002222/TYPE=PLMN@mms.local';
let JPEG: Buffer;
const TEXT = 'Grüße aus dem Labor ☀\nzweite Zeile';
const work = mkdtempSync(join(tmpdir(), 'mmsc-smtp-files-'));
writeFileSync(join(work, 'note.txt'), TEXT);
// A throwaway self-signed certificate for STARTTLS.
execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(work, 'key.pem'), '-out', join(work, 'cert.pem'), '-days', '1', '-subj', '/CN=mms.local'], { stdio: 'ignore' });

let lab: Lab;
t.before(async () => {
  JPEG = await realJpeg();
  writeFileSync(join(work, 'photo.jpg'), JPEG);
  // The identity transcoder: this file pins what the SMTP path stores and serves. The node's own
  // transcoder re-encodes images for the terminal on retrieval, which is its business, not ours.
  lab = await startLab(
    {
      smtp: {
        maxMessageOctets: 64 * 1024,
        maxRecipients: 3,
        tls: { key: join(work, 'key.pem'), cert: join(work, 'cert.pem') },
        auth: { users: [{ user: 'lab', password: 'secret' }] },
      },
    },
    { transcoder: identityTranscoder },
  );
});
t.teardown(async () => {
  await lab.stop();
  rmSync(work, { recursive: true, force: true });
});

const server = (): string[] => ['--server', '127.0.0.1', '--port', String(lab.smtpPort)];
const messageCount = (): number => (lab.db.sqlite.prepare('SELECT count(*) AS n FROM messages').get() as { n: number }).n;

t.test('swaks: a JPEG and a text to a local subscriber → push → retrieval returns the parts byte-identical', async (t) => {
  const r = await swaks([
    ...server(),
    '--from', 'alice@example.org',
    '--to', SUBSCRIBER,
    '--header', 'Subject: Holiday picture',
    '--body', 'See the picture.',
    '--attach-type', 'image/jpeg', '--attach', `@${join(work, 'photo.jpg')}`,
    '--attach-type', 'text/plain; charset=utf-8', '--attach', `@${join(work, 'note.txt')}`,
  ]);
  t.equal(r.code, 0, r.output);
  const last = replies(r.output).find(([, text]) => text.startsWith('Message accepted as'));
  t.ok(last, '250 names the stored message');
  t.equal(last?.[0], 250);
  const messageId = /accepted as (\S+)/.exec(last?.[1] ?? '')?.[1];

  const [push] = await spooledPushes(lab.spool, 1);
  t.equal(push!.to, '+15550002222');
  t.equal(push!.messageId, messageId);
  const { notification, conf } = await retrieve(lab.spool, push!);
  t.same(notification.subject?.text, 'Holiday picture');
  t.equal((notification.from as { text?: string } | undefined)?.text, 'alice@example.org', 'the e-mail sender is the originator');
  t.equal(conf.contentType.mediaType, 'application/vnd.wap.multipart.related');
  const parts = conf.body as MultipartEntry[];
  const types = parts.map((p) => p.contentType.mediaType);
  t.same(types, ['application/smil', 'text/plain', 'image/jpeg', 'text/plain'], 'SMIL first, then the body text, then the attachments in order');
  t.equal(Buffer.from(parts[1]!.data).toString('utf8'), 'See the picture.');
  t.same(Buffer.from(parts[2]!.data), JPEG, 'JPEG byte-identical');
  t.same(Buffer.from(parts[3]!.data), Buffer.from(TEXT), 'text attachment byte-identical');
  const smil = Buffer.from(parts[0]!.data).toString('utf8');
  t.match(smil, /<img src="photo\.jpg" region="Image"\/>/, 'the generated SMIL shows the picture');
  t.match(smil, /<text src="text\.txt" region="Text"\/>/, 'and the body text');
  const stored = lab.db.getMessage(messageId!)!;
  t.equal(stored.envelope.origin.interface, 'mm3');
  t.same(stored.recipients.map((x) => [x.address, x.state]), [['+15550002222', 'retrieved']], 'pushed, then fetched');
});

t.test('the plain-digits form of a local number is a subscriber too', async (t) => {
  const before = messageCount();
  const r = await swaks([...server(), '--from', 'bob@example.org', '--to', '15550003333@mms.local', '--body', 'plain number']);
  t.equal(r.code, 0, r.output);
  t.equal(messageCount(), before + 1);
});

t.test('no open relay: a foreign domain is refused at RCPT TO with 550, nothing stored', async (t) => {
  const before = messageCount();
  const r = await swaks([...server(), '--from', 'alice@example.org', '--to', 'someone@example.com', '--body', 'relay me']);
  t.not(r.code, 0);
  const rcpt = replies(r.output).find(([code]) => code >= 500);
  t.equal(rcpt?.[0], 550, r.output);
  t.match(rcpt?.[1] ?? '', /Relaying denied/);
  t.equal(messageCount(), before);
});

t.test('a number outside the local ranges at our domain: 550 no such subscriber', async (t) => {
  const r = await swaks([...server(), '--from', 'alice@example.org', '--to', '+4475551234/TYPE=PLMN@mms.local', '--body', 'x']);
  const rcpt = replies(r.output).find(([code]) => code >= 500);
  t.equal(rcpt?.[0], 550);
  t.match(rcpt?.[1] ?? '', /No such subscriber/);
});

t.test('SIZE is announced and an oversize mail gets 552, nothing stored', async (t) => {
  const before = messageCount();
  const big = join(work, 'big.bin');
  writeFileSync(big, Buffer.alloc(80 * 1024, 0x41));
  const r = await swaks([...server(), '--from', 'alice@example.org', '--to', SUBSCRIBER, '--attach-type', 'image/jpeg', '--attach', `@${big}`]);
  t.match(r.output, /250[ -]SIZE 65536/, 'EHLO announces SIZE');
  const refusal = replies(r.output).find(([code]) => code >= 500);
  t.equal(refusal?.[0], 552, r.output);
  t.equal(messageCount(), before);
});

t.test('wrong AUTH over STARTTLS: 535; right AUTH: accepted', async (t) => {
  const bad = await swaks([...server(), '--tls', '--auth', 'PLAIN', '--auth-user', 'lab', '--auth-password', 'wrong', '--from', 'alice@example.org', '--to', SUBSCRIBER, '--body', 'x']);
  const refusal = replies(bad.output).find(([code]) => code >= 500);
  t.equal(refusal?.[0], 535, bad.output);
  const login = await swaks([...server(), '--tls', '--auth', 'LOGIN', '--auth-user', 'lab', '--auth-password', 'secret', '--from', 'alice@example.org', '--to', SUBSCRIBER, '--body', 'x']);
  t.equal(login.code, 0, login.output);
  t.ok(replies(login.output).some(([code]) => code === 235), 'LOGIN accepted after STARTTLS');
});

t.test('AUTH without TLS is refused when not configured for loopback labs', async (t) => {
  const r = await swaks([...server(), '--auth', 'PLAIN', '--auth-user', 'lab', '--auth-password', 'secret', '--from', 'alice@example.org', '--to', SUBSCRIBER, '--body', 'x']);
  t.not(r.code, 0);
  t.ok(replies(r.output).some(([code]) => code === 538 || code === 530), r.output);
});

t.test('recipient count limit: the fourth RCPT TO gets 452', async (t) => {
  const to = ['+15550002001', '+15550002002', '+15550002003', '+15550002004'].map((n) => `${n}/TYPE=PLMN@mms.local`).join(',');
  const r = await swaks([...server(), '--from', 'alice@example.org', '--to', to, '--body', 'many']);
  t.ok(replies(r.output).some(([code, text]) => code === 452 && /Too many recipients/.test(text)), r.output);
});

t.test('malformed MIME (a multipart that never closes) → 554 with the reason, nothing stored', async (t) => {
  const before = messageCount();
  const data = [
    'From: alice@example.org',
    `To: ${SUBSCRIBER}`,
    'Subject: broken',
    'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="XYZ"',
    '',
    '--XYZ',
    'Content-Type: text/plain',
    '',
    'hello',
    '--XYZ',
    'Content-Type: image/jpeg',
    'Content-Transfer-Encoding: base64',
    '',
    '/9j/4AAQ',
    '',
  ].join('\r\n');
  const r = await swaks([...server(), '--from', 'alice@example.org', '--to', SUBSCRIBER, '--data', data]);
  const refusal = replies(r.output).find(([code]) => code >= 500);
  t.equal(refusal?.[0], 554, r.output);
  t.match(refusal?.[1] ?? '', /not closed/);
  t.equal(messageCount(), before);
  // The connection and the server keep serving.
  const ok = await swaks([...server(), '--from', 'alice@example.org', '--to', SUBSCRIBER, '--body', 'still here']);
  t.equal(ok.code, 0, ok.output);
});

t.test('STARTTLS with PLAIN through nodemailer (a second client implementation)', async (t) => {
  const transport = createTransport({ host: '127.0.0.1', port: lab.smtpPort, secure: false, requireTLS: true, auth: { user: 'lab', pass: 'secret' }, tls: { rejectUnauthorized: false } });
  t.teardown(() => transport.close());
  const info = await transport.sendMail({ from: 'carol@example.org', to: SUBSCRIBER, subject: 'via nodemailer', text: 'hi' });
  t.match(String(info.response), /^250 .*accepted as/);
  const bad = createTransport({ host: '127.0.0.1', port: lab.smtpPort, secure: false, requireTLS: true, auth: { user: 'lab', pass: 'nope' }, tls: { rejectUnauthorized: false } });
  t.teardown(() => bad.close());
  const err = await bad.sendMail({ from: 'carol@example.org', to: SUBSCRIBER, text: 'x' }).then(
    () => undefined,
    (e: unknown) => e as { responseCode?: number },
  );
  t.equal(err?.responseCode, 535, 'wrong password: 535');
});
