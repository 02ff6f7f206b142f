import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { decodeMms, encodeMms } from '../../protocol/mms/codec.js';
import { decodeMmsPush } from '../../protocol/mms/push.js';
import type { MmsPdu } from '../../protocol/mms/model.js';
import type { MultipartEntry } from '../../protocol/wsp/multipart.js';
import { classifySmtpError, mm3Mail } from '../../src/outbound/mm3.js';
import { startLab, startSink, type Lab, type Sink } from './lab.js';
import { until } from '../helpers/wait.js';

// MM3 out: a terminal's M-Send.req to an e-mail address goes through the
// outbox worker to the smarthost (an smtp-server sink on 127.0.0.1) as a
// readable mail with the right parts; a sink that refuses (4xx) and then
// accepts gets it exactly once; a 5xx ends the recipient as rejected.

const JPEG = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(30 * 1024, 0x33), Buffer.from([0xff, 0xd9])]);
const TEXT = 'Greetings from the lab ☀';

let sink: Sink;
let lab: Lab;
t.before(async () => {
  sink = await startSink();
  lab = await startLab({ routing: { mm3: true }, smtp: { outbound: { smarthost: `127.0.0.1:${sink.port}`, from: 'bounces@mms.local' } } });
});
t.teardown(async () => {
  await lab.stop();
  await sink.stop();
});

async function sendFromTerminal(transactionId: string, to: string, deliveryReport = false): Promise<string> {
  const body: MultipartEntry[] = [
    { contentType: { mediaType: 'application/smil', params: [] }, headers: [{ name: 'Content-ID', value: '<smil>' }], data: Buffer.from('<smil><body><par><img src="p.jpg"/><text src="t.txt"/></par></body></smil>') },
    { contentType: { mediaType: 'text/plain', params: [{ name: 'charset', value: 'utf-8' }] }, headers: [{ name: 'Content-Location', value: 't.txt' }], data: Buffer.from(TEXT) },
    { contentType: { mediaType: 'image/jpeg', params: [] }, headers: [{ name: 'Content-Location', value: 'p.jpg' }, { name: 'Content-ID', value: '<p1>' }], data: JPEG },
  ];
  const pdu: MmsPdu = {
    messageType: 'm-send-req',
    transactionId,
    mmsVersion: '1.2',
    from: 'insert-address',
    to: [{ text: to }],
    subject: { text: 'Postcard' },
    deliveryReport,
    contentType: { mediaType: 'application/vnd.wap.multipart.related', params: [{ name: 'type', value: 'application/smil' }, { name: 'start', value: '<smil>' }] },
    body,
  };
  const res = await fetch(`${lab.mm1Url}/`, { method: 'POST', headers: { 'Content-Type': 'application/vnd.wap.mms-message', 'X-MSISDN': '+15550001111' }, body: encodeMms(pdu) });
  const conf = decodeMms(Buffer.from(await res.arrayBuffer()));
  if (conf.messageType !== 'm-send-conf' || conf.responseStatus !== 'Ok') throw new Error(`M-Send.conf ${JSON.stringify(conf)}`);
  return String(conf.messageId);
}

const jobsOf = (messageId: string) => lab.node.outbox.forMessage(messageId);

t.test('an e-mail recipient: the mail arrives at the smarthost with the text and the JPEG', async (t) => {
  const before = sink.received.length;
  const messageId = await sendFromTerminal('mm3-1', 'bob@example.org');
  await until('the mail', () => sink.received.length > before);
  const got = sink.received.at(-1)!;
  t.same(got.envelope, { from: 'bounces@mms.local', to: ['bob@example.org'] });
  t.equal(got.mail.subject, 'Postcard');
  t.equal(got.mail.from?.value[0]?.address, '+15550001111/TYPE=PLMN@mms.local', 'the originator in MM3 address form');
  t.equal(got.mail.text?.trim(), TEXT);
  const images = got.mail.attachments.filter((a) => a.contentType === 'image/jpeg');
  t.equal(images.length, 1);
  t.same(images[0]!.content, JPEG, 'JPEG byte-identical');
  t.match(String(got.mail.html), new RegExp(`<img src="cid:${images[0]!.cid}"`), 'the HTML body shows the picture inline');
  t.notOk(got.mail.attachments.some((a) => a.contentType === 'application/smil'), 'no SMIL in a mail');
  t.ok(got.raw.toString('latin1').includes(`X-Mms-Message-ID: "${messageId}"\r\n`), 'the MMS-C message id travels in X-Mms-Message-ID, as a quoted string');
  await until('the job to finish', () => jobsOf(messageId).length === 0);
  const stored = lab.db.getMessage(messageId)!;
  t.same(stored.recipients.map((r) => [r.address, r.state]), [['bob@example.org', 'forwarded']]);
});

t.test('the sink refuses (451) twice, then accepts: the mail arrives once', async (t) => {
  const before = sink.received.length;
  const attemptsBefore = sink.attempts;
  sink.refuse = 451;
  const messageId = await sendFromTerminal('mm3-2', 'carol@example.org');
  await until('two refused attempts', () => sink.attempts >= attemptsBefore + 2);
  const pending = jobsOf(messageId);
  t.equal(pending.length, 1, 'the job is still pending');
  t.match(pending[0]!.lastError ?? '', /^SMTP 451/, 'with the refusal as its last error');
  sink.refuse = undefined;
  await until('the mail', () => sink.received.length > before);
  await until('the job to finish', () => jobsOf(messageId).length === 0);
  await new Promise((r) => setTimeout(r, 300));
  const mine = sink.received.filter((r) => r.envelope.to.includes('carol@example.org'));
  t.equal(mine.length, 1, 'delivered exactly once');
  t.ok(sink.attempts - attemptsBefore >= 3, 'after retries');
});

t.test('a permanent refusal (550): the job fails, the recipient is rejected, the originator gets M-Delivery.ind Rejected', async (t) => {
  sink.refuse = 550;
  const messageId = await sendFromTerminal('mm3-3', 'dave@example.org', true);
  await until('the job to fail', () => jobsOf(messageId)[0]?.lastError !== null && jobsOf(messageId)[0]?.lastError !== undefined && lab.db.getMessage(messageId)!.recipients[0]!.state === 'rejected');
  sink.refuse = undefined;
  const stored = lab.db.getMessage(messageId)!;
  t.equal(stored.recipients[0]!.state, 'rejected');
  t.match(jobsOf(messageId)[0]!.lastError ?? '', /^SMTP 550/);
  t.notOk(sink.received.some((r) => r.envelope.to.includes('dave@example.org')));
  const index = join(lab.spool, 'index.jsonl');
  await until('the delivery report push', () => existsSync(index) && readFileSync(index, 'utf8').includes(messageId));
  const line = readFileSync(index, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { to: string; messageId: string; file: string }).find((l) => l.messageId === messageId)!;
  t.equal(line.to, '+15550001111', 'pushed to the terminal that sent it');
  const report = decodeMmsPush(readFileSync(join(lab.spool, line.file))).mms;
  t.equal(report.messageType, 'm-delivery-ind');
  if (report.messageType === 'm-delivery-ind') t.equal(report.status, 'Rejected');
});

t.test('SMTP answers classified: 5xx failed, 4xx and no answer retry', async (t) => {
  t.equal(classifySmtpError({ responseCode: 552, response: '552 too big' }).status, 'failed');
  t.equal(classifySmtpError({ responseCode: 421, response: '421 busy' }).status, 'retry');
  t.equal(classifySmtpError({ code: 'ECONNREFUSED', message: 'connect ECONNREFUSED' }).status, 'retry');
  t.equal(classifySmtpError(new Error('socket hang up')).status, 'retry');
});

t.test('mm3Mail: a message from an e-mail sender keeps its address; SMIL left out', async (t) => {
  const mail = mm3Mail(
    {
      messageId: 'm1',
      size: 3,
      destroyed: false,
      recipients: [],
      envelope: {
        from: 'ann@example.org',
        to: ['x@example.net'],
        cc: [],
        bcc: [],
        date: new Date(0),
        expiresAt: new Date(1),
        deliveryReport: false,
        readReport: false,
        contentType: 'multipart/related',
        allowAdaptations: true,
        origin: { interface: 'mm3', mailFrom: 'ann@example.org' },
      },
    },
    [
      { contentType: 'application/smil', data: Buffer.from('<smil/>') },
      { contentType: 'audio/amr', contentLocation: 'v.amr', data: Buffer.from('#!AMR') },
    ],
    'x@example.net',
    'mms.local',
  );
  t.equal(mail.from, 'ann@example.org');
  t.same(
    (mail.attachments ?? []).map((a) => [a.filename, a.contentType]),
    [['v.amr', 'audio/amr']],
  );
});
