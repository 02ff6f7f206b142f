import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { decodeMm7Http, encodeMm7Http } from '../../protocol/mm7/http.js';
import type { MimeEntity } from '../../protocol/mm7/mime-types.js';
import { decodeMms, encodeMms } from '../../protocol/mms/codec.js';
import type { MmsPdu } from '../../protocol/mms/model.js';
import { decodeMmsPush } from '../../protocol/mms/push.js';
import { loadMmscConfig } from '../../src/config/mmsc.js';
import { MmscNode } from '../../src/mmsc/node.js';
import type { Notifier, PushRequest } from '../../src/push/notifier.js';
import { VaspSimulator, type VaspLogEntry } from '../../src/vasp/simulator.js';
import { submitEnvelope } from '../helpers/mm7.js';

// Delivery and read reports close the loop (issue 5, "Reports"): the
// terminal's M-NotifyResp.ind / M-Acknowledge.ind / M-Read-Rec.ind and the
// TTL's expiry become an MM7 DeliveryReportReq / ReadReplyReq to the VASP
// that sent the message, or an M-Delivery.ind / M-Read-Orig.ind pushed to
// the terminal that sent it — each once, from the outbox.

const AUTH = `Basic ${Buffer.from('demo:demo').toString('base64')}`;
const content: MimeEntity = { mediaType: 'text/plain', params: { charset: 'utf-8' }, contentId: 'content-1', headers: [], body: Buffer.from('report me') };

class Pushes implements Notifier {
  readonly taken: PushRequest[] = [];
  async notify(p: PushRequest): Promise<void> {
    this.taken.push(p);
  }
  of(to: string): MmsPdu[] {
    return this.taken.filter((p) => p.to === to).map((p) => decodeMmsPush(p.pushPdu).mms);
  }
}

const clock = { ms: Date.parse('2026-11-25T10:00:00Z'), now(): Date { return new Date(this.ms); } };

async function setup(t: Test) {
  const vaspLog: VaspLogEntry[] = [];
  const sim = new VaspSimulator({ user: 'demo', password: 'demo', log: (e) => vaspLog.push(e) });
  const simUrl = (await sim.start()).url;
  t.teardown(() => sim.stop());
  const dir = mkdtempSync(join(tmpdir(), 'mmsc-reports-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const pushes = new Pushes();
  const node = new MmscNode({
    clock,
    notifier: pushes,
    backoff: { baseMs: 20, maxMs: 100 },
    config: loadMmscConfig({
      data: dir,
      mm7: { listen: '127.0.0.1:0' },
      mm1: { listen: '127.0.0.1:0' },
      admin: { listen: '127.0.0.1:0' },
      ttl: { default: '60s' },
      vasps: [{ vaspId: 'demo', vasIds: ['demo'], user: 'demo', password: 'demo', shortCodes: ['12345'], loopbackOnly: true, submitsPerSecond: 1000, deliveryUrl: simUrl }],
    }),
  });
  const listeners = await node.start();
  t.teardown(() => node.stop());
  const mm7 = listeners.find((l) => l.what.startsWith('MM7'))!.url;
  const mm1 = listeners.find((l) => l.what.startsWith('MM1'))!.url.replace(/\/$/, '');
  return { node, pushes, vaspLog, mm7, mm1 };
}

async function until<T>(what: string, get: () => T | undefined | false, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = get();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function postMm1(mm1: string, msisdn: string, pdu: MmsPdu): Promise<Response> {
  return fetch(`${mm1}/`, { method: 'POST', headers: { 'Content-Type': 'application/vnd.wap.mms-message', 'X-MSISDN': msisdn }, body: encodeMms(pdu) });
}

t.test('VASP originator: Retrieved and Read come back as DeliveryReportReq and ReadReplyReq, once each', async (t) => {
  const { node, pushes, vaspLog, mm7, mm1 } = await setup(t);
  const { contentType, body } = await encodeMm7Http(submitEnvelope('rep-1', ['+15550002222'], { deliveryReport: true, readReply: true }), content);
  const res = await fetch(mm7, { method: 'POST', headers: { 'Content-Type': contentType, Authorization: AUTH }, body });
  const messageId = (await decodeMm7Http(res.headers.get('content-type')!, Buffer.from(await res.arrayBuffer()))).envelope.message.messageId!;
  const ind = await until('the notification', () => pushes.of('+15550002222')[0]);
  if (ind.messageType !== 'm-notification-ind') throw new Error('expected a notification');

  const fetched = await fetch(ind.contentLocation!);
  t.equal(fetched.status, 200);
  await fetched.arrayBuffer();
  // NotifyResp Retrieved and Acknowledge after the fetch: the same status, one report.
  await postMm1(mm1, '+15550002222', { messageType: 'm-notifyresp-ind', transactionId: ind.transactionId, mmsVersion: '1.2', status: 'Retrieved' });
  await postMm1(mm1, '+15550002222', { messageType: 'm-acknowledge-ind', transactionId: ind.transactionId, mmsVersion: '1.2' });
  const report = await until('the DeliveryReportReq', () => vaspLog.find((e) => e.type === 'DeliveryReportReq'));
  t.equal(report.message?.type, 'DeliveryReportReq');
  if (report.message?.type === 'DeliveryReportReq') {
    t.equal(report.message.messageId, messageId);
    t.equal(report.message.mmStatus, 'Retrieved');
    t.same(report.message.recipient, { kind: 'Number', value: '+15550002222' });
  }

  const read = await postMm1(mm1, '+15550002222', { messageType: 'm-read-rec-ind', mmsVersion: '1.2', messageId, to: [{ text: '12345/TYPE=PLMN' }], from: { text: '+15550002222/TYPE=PLMN' }, readStatus: 'Read' });
  t.equal(read.status, 204);
  const reply = await until('the ReadReplyReq', () => vaspLog.find((e) => e.type === 'ReadReplyReq'));
  if (reply.message?.type === 'ReadReplyReq') t.equal(reply.message.mmStatus, 'Read');
  else t.fail('not a ReadReplyReq');

  await node.outboxWorker.idle();
  t.equal(vaspLog.filter((e) => e.type === 'DeliveryReportReq').length, 1, 'one delivery report for Retrieved + Acknowledge');
  t.equal(vaspLog.filter((e) => e.type === 'ReadReplyReq').length, 1);
  t.ok(node.store.events(messageId).some((e) => e.type === 'read-report' && e.detail === 'Read'), 'the read report is an event of the message');

  const stranger = await postMm1(mm1, '+15550007777', { messageType: 'm-read-rec-ind', mmsVersion: '1.2', messageId, to: [{ text: '12345/TYPE=PLMN' }], from: { text: '+15550007777/TYPE=PLMN' }, readStatus: 'Read' });
  t.equal(stranger.status, 204);
  await node.outboxWorker.idle();
  t.equal(vaspLog.filter((e) => e.type === 'ReadReplyReq').length, 1, "a terminal that was not a recipient cannot report on the message");
});

t.test('terminal originator: M-Delivery.ind on Rejected, M-Read-Orig.ind on a read report, Expired by the sweeper', async (t) => {
  const { node, pushes, mm1 } = await setup(t);
  const send = async (tid: string, to: string[]): Promise<string> => {
    const r = await postMm1(mm1, '+15550001111', {
      messageType: 'm-send-req',
      transactionId: tid,
      mmsVersion: '1.2',
      from: { text: '+15550001111/TYPE=PLMN' },
      to: to.map((a) => ({ text: `${a}/TYPE=PLMN` })),
      contentType: { mediaType: 'text/plain', params: [] },
      deliveryReport: true,
      body: Buffer.from('from a phone'),
    } as MmsPdu);
    const conf = decodeMms(Buffer.from(await r.arrayBuffer()));
    if (conf.messageType !== 'm-send-conf' || !conf.messageId) throw new Error(`send refused: ${JSON.stringify(conf)}`);
    return conf.messageId;
  };
  const rejected = await send('mo-1', ['+15550002222']);
  const ind = await until('the notification', () => pushes.of('+15550002222')[0]);
  if (ind.messageType !== 'm-notification-ind') throw new Error('expected a notification');
  await postMm1(mm1, '+15550002222', { messageType: 'm-notifyresp-ind', transactionId: ind.transactionId, mmsVersion: '1.2', status: 'Rejected' });
  const delivery = await until('the M-Delivery.ind', () => pushes.of('+15550001111').find((p) => p.messageType === 'm-delivery-ind'));
  if (delivery.messageType === 'm-delivery-ind') {
    t.equal(delivery.messageId, rejected);
    t.equal(delivery.status, 'Rejected');
    t.match(delivery.to?.[0]?.text, /^\+15550002222/);
  }

  const expiring = await send('mo-2', ['+15550003333']);
  await until('its notification', () => pushes.of('+15550003333')[0]);
  clock.ms += 61_000;
  await node.sweep();
  const expired = await until('the Expired M-Delivery.ind', () => pushes.of('+15550001111').find((p) => p.messageType === 'm-delivery-ind' && p.messageId === expiring));
  if (expired.messageType === 'm-delivery-ind') t.equal(expired.status, 'Expired');

  const readMsg = await send('mo-3', ['+15550004444']);
  await postMm1(mm1, '+15550004444', { messageType: 'm-read-rec-ind', mmsVersion: '1.2', messageId: readMsg, to: [{ text: '+15550001111/TYPE=PLMN' }], from: { text: '+15550004444/TYPE=PLMN' }, readStatus: 'Read' });
  const orig = await until('the M-Read-Orig.ind', () => pushes.of('+15550001111').find((p) => p.messageType === 'm-read-orig-ind'));
  if (orig.messageType === 'm-read-orig-ind') {
    t.equal(orig.messageId, readMsg);
    t.equal(orig.readStatus, 'Read');
  }
  await node.outboxWorker.idle();
  t.equal(pushes.of('+15550001111').filter((p) => p.messageType === 'm-delivery-ind').length, 2, 'Rejected and Expired, nothing else');
});

t.test("a terminal's message to a VASP short code reaches the VASP as an MM7 DeliverReq", async (t) => {
  const { node, mm1, vaspLog } = await setup(t);
  const r = await postMm1(mm1, '+15550001111', {
    messageType: 'm-send-req',
    transactionId: 'mo-vasp-1',
    mmsVersion: '1.2',
    from: { text: '+15550001111/TYPE=PLMN' },
    to: [{ text: '12345/TYPE=PLMN' }],
    subject: { text: 'VOTE 3' },
    contentType: { mediaType: 'text/plain', params: [] },
    body: Buffer.from('vote 3'),
  } as MmsPdu);
  const conf = decodeMms(Buffer.from(await r.arrayBuffer()));
  if (conf.messageType !== 'm-send-conf') throw new Error('not an M-Send.conf');
  t.equal(conf.responseStatus, 'Ok', 'the short code is routable');
  const deliver = await until('the DeliverReq', () => vaspLog.find((e) => e.type === 'DeliverReq'));
  if (deliver.message?.type === 'DeliverReq') {
    t.same(deliver.message.sender, { kind: 'Number', value: '+15550001111' });
    t.equal(deliver.message.subject, 'VOTE 3');
    t.equal(deliver.message.linkedId, conf.messageId, 'LinkedID: the message id, for the VASP to answer');
  } else t.fail('not a DeliverReq');
  t.equal(deliver.parts[0]?.size, 6, 'with the content');
  await node.outboxWorker.idle();
  t.equal(node.store.getMessage(conf.messageId!)?.recipients[0]?.state, 'forwarded');
  t.same(node.outbox.forMessage(conf.messageId!), [], 'the job is done');
});
