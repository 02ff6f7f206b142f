import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { decodeMms, encodeMms } from '../../protocol/mms/codec.js';
import type { MDeliveryInd, MmsPdu } from '../../protocol/mms/model.js';
import { decodeMmsPush } from '../../protocol/mms/push.js';
import type { MultipartEntry } from '../../protocol/wsp/multipart.js';
import { forwardTransactionId } from '../../src/outbound/mm4.js';
import { identityTranscoder } from '../../src/mmsc/mmsc.js';
import { realJpeg, retrieve, spooledPushes, startLab, swaks, replies, type Lab } from './lab.js';
import { until } from '../helpers/wait.js';

// Two server-1 instances in one process, each the other's MM4 peer over
// SMTP on 127.0.0.1: a terminal of A sends to a subscriber of B; A
// forwards by MM4_forward.REQ, B stores and notifies, acknowledges with
// MM4_forward.RES (matched by transaction id on A), and B's delivery
// report travels back as MM4_delivery_report.REQ and reaches A's
// originator as an M-Delivery.ind.

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

let JPEG: Buffer;
let a: Lab;
let b: Lab;
let firstMessageIdA = '';
t.before(async () => {
  JPEG = await realJpeg();
  const [portA, portB] = [await freePort(), await freePort()];
  a = await startLab({
    routing: { numberRanges: ['+1555*'], peers: [{ domain: 'mms.b.net', numberRanges: ['+4475*', '+4476*'] }] },
    smtp: { listen: `127.0.0.1:${portA}`, domain: 'mms.a.net', peers: [{ domain: 'mms.b.net', host: `127.0.0.1:${portB}`, allowedIps: ['127.0.0.1'] }] },
  });
  // B serves its subscriber unadapted, so the test sees what crossed the MM4 link (B's transcoder
  // would re-encode the JPEG for an unknown terminal).
  b = await startLab({
    routing: { numberRanges: ['+4475*'], countryCode: '44', peers: [{ domain: 'mms.a.net', numberRanges: ['+1555*'] }] },
    smtp: { listen: `127.0.0.1:${portB}`, domain: 'mms.b.net', peers: [{ domain: 'mms.a.net', host: `127.0.0.1:${portA}`, allowedIps: ['127.0.0.1'] }] },
  }, { transcoder: identityTranscoder });
});
t.teardown(async () => {
  await a.stop();
  await b.stop();
});

async function sendFromA(transactionId: string, to: string): Promise<string> {
  const pdu: MmsPdu = {
    messageType: 'm-send-req',
    transactionId,
    mmsVersion: '1.2',
    from: 'insert-address',
    to: [{ text: to }],
    deliveryReport: true,
    contentType: { mediaType: 'text/plain', params: [{ name: 'charset', value: 'utf-8' }] },
    body: Buffer.from('hi'),
  };
  const res = await fetch(`${a.mm1Url}/`, { method: 'POST', headers: { 'Content-Type': 'application/vnd.wap.mms-message', 'X-MSISDN': '+15550001111' }, body: encodeMms(pdu) });
  const conf = decodeMms(Buffer.from(await res.arrayBuffer()));
  if (conf.messageType !== 'm-send-conf' || conf.responseStatus !== 'Ok') throw new Error(`M-Send.conf ${JSON.stringify(conf)}`);
  return String(conf.messageId);
}

t.test("A's terminal → B's subscriber by MM4: forward, ack, delivery report back to A's originator", async (t) => {
  const body: MultipartEntry[] = [
    { contentType: { mediaType: 'text/plain', params: [{ name: 'charset', value: 'utf-8' }] }, headers: [{ name: 'Content-Location', value: 'hello.txt' }], data: Buffer.from('Hello from network A ✓') },
    { contentType: { mediaType: 'image/jpeg', params: [] }, headers: [{ name: 'Content-Location', value: 'pic.jpg' }, { name: 'Content-ID', value: '<pic>' }], data: JPEG },
  ];
  const sendReq: MmsPdu = {
    messageType: 'm-send-req',
    transactionId: 'a-term-1',
    mmsVersion: '1.2',
    from: 'insert-address',
    to: [{ text: '+447555000123/TYPE=PLMN' }],
    subject: { text: 'Across networks' },
    deliveryReport: true,
    contentType: { mediaType: 'application/vnd.wap.multipart.mixed', params: [] },
    body,
  };
  const res = await fetch(`${a.mm1Url}/`, { method: 'POST', headers: { 'Content-Type': 'application/vnd.wap.mms-message', 'X-MSISDN': '+15550001111' }, body: encodeMms(sendReq) });
  const conf = decodeMms(Buffer.from(await res.arrayBuffer()));
  t.equal(conf.messageType === 'm-send-conf' && conf.responseStatus, 'Ok');
  const messageIdA = String(conf.messageType === 'm-send-conf' ? conf.messageId : '');
  firstMessageIdA = messageIdA;
  t.same(a.db.getMessage(messageIdA)!.recipients.map((r) => [r.address, r.state]), [['+447555000123', 'forwarded']], 'routed to the peer, not pushed');

  // B: the forward arrives, is stored with its MM4 origin and pushed to the subscriber.
  const [push] = await spooledPushes(b.spool, 1);
  t.equal(push!.to, '+447555000123');
  const messageIdB = push!.messageId;
  const stored = b.db.getMessage(messageIdB)!;
  t.same(stored.envelope.origin, {
    interface: 'mm4',
    peerDomain: 'mms.a.net',
    transactionId: forwardTransactionId(messageIdA, '+447555000123'),
    originatorMessageId: messageIdA,
    ackRequested: true,
  });
  t.equal(stored.envelope.from, '+15550001111');
  t.equal(stored.envelope.subject, 'Across networks');
  t.equal(stored.envelope.deliveryReport, true, 'X-Mms-Delivery-Report carried over');
  const { conf: retrieved } = await retrieve(b.spool, push!);
  const parts = retrieved.body as MultipartEntry[];
  t.same(
    parts.map((p) => p.contentType.mediaType),
    ['text/plain', 'image/jpeg'],
    'the parts as A stored them',
  );
  t.same(Buffer.from(parts[1]!.data), JPEG, 'JPEG byte-identical across the two MMS-Cs');
  t.equal(Buffer.from(parts[0]!.data).toString('utf8'), 'Hello from network A ✓');

  // A: the MM4_forward.RES comes back and is matched by its transaction id.
  const tid = forwardTransactionId(messageIdA, '+447555000123');
  await until('the MM4_forward.RES on A', () => (a.db.sqlite.prepare('SELECT result FROM mm4_transactions WHERE transaction_id = ?').get(tid) as { result: string | null } | undefined)?.result === 'Ok');
  t.pass('MM4_forward.RES Ok recorded for the transaction');
  await until("A's forward job done", () => a.node.outbox.forMessage(messageIdA).length === 0);
  await until("B's .RES job done", () => b.node.outbox.forMessage(messageIdB).every((j) => j.kind !== 'mm4-report'));
  t.pass("B's MM4_forward.RES job completed (A answered 250)");

  // B: the subscriber retrieved it; the state change itself queued the MM4 delivery report
  // back to A (the originator asked for one), in the same transaction.
  t.equal(b.db.getMessage(messageIdB)!.recipients[0]!.state, 'retrieved');

  // A: the report moves the recipient and reaches the originating terminal as M-Delivery.ind.
  await until("A's recipient retrieved", () => a.db.getMessage(messageIdA)!.recipients[0]!.state === 'retrieved');
  const events = a.db.events(messageIdA).map((e) => `${e.type} ${e.detail ?? ''}`);
  t.ok(events.some((e) => /MM4_delivery_report\.REQ Retrieved from mms\.b\.net/.test(e)), 'recorded as the peer’s report');
  const pushes = await spooledPushes(a.spool, 1);
  const report = pushes.find((p) => p.to === '+15550001111');
  t.ok(report, "a push to A's originator");
  const ind = decodeMmsPush(readFileSync(join(a.spool, report!.file))).mms as MDeliveryInd;
  t.equal(ind.messageType, 'm-delivery-ind');
  t.equal(ind.messageId, messageIdA);
  t.equal(ind.status, 'Retrieved');
  t.same(ind.to?.map((x) => x.text), ['+447555000123/TYPE=PLMN']);
});

t.test('MM4 from a host that is no configured peer is refused', async (t) => {
  // A node with no peers configured: MM4 headers from 127.0.0.1 without peer AUTH are no MM4 peer.
  const lone = await startLab({ smtp: { domain: 'mms.c.net' }, routing: { numberRanges: ['+1555*'] } });
  t.teardown(() => lone.stop());
  const data = [
    'From: <+4475551/TYPE=PLMN@mms.b.net>',
    'To: <+15550002222/TYPE=PLMN@mms.c.net>',
    'X-Mms-3GPP-MMS-Version: 6.3.0',
    'X-Mms-Message-Type: MM4_forward.REQ',
    'X-Mms-Transaction-ID: "x1"',
    'X-Mms-Message-ID: "m1"',
    'Subject: sneaky',
    '',
    'hello',
    '',
  ].join('\r\n');
  const r = await swaks(['--server', '127.0.0.1', '--port', String(lone.smtpPort), '--from', 'system-user@mms.b.net', '--to', '+15550002222/TYPE=PLMN@mms.c.net', '--data', data]);
  const refusal = replies(r.output).find(([code]) => code >= 500);
  t.equal(refusal?.[0], 550, r.output);
  t.match(refusal?.[1] ?? '', /configured peer/);
  t.equal((lone.db.sqlite.prepare('SELECT count(*) AS n FROM messages').get() as { n: number }).n, 0, 'nothing stored');
});

t.test('a malformed MM4 header from a peer: 554 naming the header, nothing stored', async (t) => {
  const before = (b.db.sqlite.prepare('SELECT count(*) AS n FROM messages').get() as { n: number }).n;
  const data = [
    'From: <+15550001111/TYPE=PLMN@mms.a.net>',
    'To: <+447555000123/TYPE=PLMN@mms.b.net>',
    'X-Mms-3GPP-MMS-Version: 6.3.0',
    'X-Mms-Message-Type: MM4_forward.REQ',
    'X-Mms-Transaction-ID: "x2"',
    'X-Mms-Message-ID: "m2"',
    'X-Mms-Priority: Urgent',
    '',
    'hello',
    '',
  ].join('\r\n');
  const r = await swaks(['--server', '127.0.0.1', '--port', String(b.smtpPort), '--from', 'system-user@mms.a.net', '--to', '+447555000123/TYPE=PLMN@mms.b.net', '--data', data]);
  const refusal = replies(r.output).find(([code]) => code >= 500);
  t.equal(refusal?.[0], 554, r.output);
  t.match(refusal?.[1] ?? '', /X-Mms-Priority/);
  t.equal((b.db.sqlite.prepare('SELECT count(*) AS n FROM messages').get() as { n: number }).n, before);
});

t.test('the peer refuses the recipient (550 at RCPT TO): the forward fails for good, the recipient is rejected', async (t) => {
  // +4476… is B's by A's routing, but B serves only +4475…
  const messageId = await sendFromA('a-term-2', '+447600000001/TYPE=PLMN');
  await until('the recipient rejected', () => a.db.getMessage(messageId)!.recipients[0]!.state === 'rejected');
  const job = a.node.outbox.forMessage(messageId).find((j) => j.kind === 'mm4-forward');
  t.match(job?.lastError ?? '', /^SMTP 550: .*No such subscriber/, 'the peer’s answer is the job’s error');
  t.equal(job?.attempts, 1, 'a 5xx is not retried');
});

t.test('MM4_read_reply_report.REQ from the peer reaches the originator as M-Read-Orig.ind', async (t) => {
  const data = [
    'From: <+447555000123/TYPE=PLMN@mms.b.net>',
    'To: <+15550001111/TYPE=PLMN@mms.a.net>',
    'X-Mms-3GPP-MMS-Version: 6.3.0',
    'X-Mms-Message-Type: MM4_read_reply_report.REQ',
    'X-Mms-Transaction-ID: "rr-1"',
    `X-Mms-Message-ID: "${firstMessageIdA}"`,
    'X-Mms-Read-Status: Read',
    'Date: Wed, 01 May 2024 10:00:00 +0000',
    '',
    'read',
    '',
  ].join('\r\n');
  const r = await swaks(['--server', '127.0.0.1', '--port', String(a.smtpPort), '--from', 'system-user@mms.b.net', '--to', '+15550001111/TYPE=PLMN@mms.a.net', '--data', data]);
  t.equal(r.code, 0, r.output);
  let ind: MmsPdu | undefined;
  await until('the M-Read-Orig.ind push', () => {
    for (const p of readFileSync(join(a.spool, 'index.jsonl'), 'utf8').trim().split('\n')) {
      const push = JSON.parse(p) as { to: string; file: string };
      const mms = decodeMmsPush(readFileSync(join(a.spool, push.file))).mms;
      if (push.to === '+15550001111' && mms.messageType === 'm-read-orig-ind') ind = mms;
    }
    return ind !== undefined;
  });
  t.equal(ind?.messageType === 'm-read-orig-ind' && ind.messageId, firstMessageIdA);
  t.equal(ind?.messageType === 'm-read-orig-ind' && ind.readStatus, 'Read');
});
