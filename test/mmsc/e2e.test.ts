import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { submitEnvelope as submit } from '../helpers/mm7.js';
import { encodeMm7Http, decodeMm7Http } from '../../protocol/mm7/http.js';
import type { Mm7Envelope } from '../../protocol/mm7/model.js';
import type { MimeEntity } from '../../protocol/mm7/mime-types.js';
import { decodeMms, encodeMms } from '../../protocol/mms/codec.js';
import { decodeMmsPush } from '../../protocol/mms/push.js';
import type { MNotificationInd, MRetrieveConf, MmsPdu } from '../../protocol/mms/model.js';
import type { MultipartEntry } from '../../protocol/wsp/multipart.js';
import { loadMmscConfig } from '../../src/config/mmsc.js';
import { MmscNode } from '../../src/mmsc/node.js';
import { photoJpeg } from '../transcode/media.js';

// The MMS-C end to end over real HTTP on 127.0.0.1: MM7 submit → durable
// accept → spooled WAP pushes → MM1 retrieval → terminal reports; the same
// for an M-Send.req; TTL expiry with an injected clock.

const GIF = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==', 'base64');
// A real 160x120 photo-like JPEG (a few KB): it suits the default profile as it is, so the transcoder must pass it through untouched.
const JPEG = await photoJpeg(160, 120);
const SMIL = '<smil><body><par dur="5s"><img src="photo.jpg"/><text src="hello.txt"/></par></body></smil>';
const TEXT = 'Grüße from the lab ☀';
const AUTH = `Basic ${Buffer.from('demo:demo').toString('base64')}`;

const clock = { t: Date.parse('2024-05-01T10:00:00Z'), now(): Date { return new Date(this.t); } };
const dir = mkdtempSync(join(tmpdir(), 'mmsc-e2e-'));
const spool = join(dir, 'spool');
const config = loadMmscConfig({
  data: dir,
  mm7: { listen: '127.0.0.1:0' },
  mm1: { listen: '127.0.0.1:0' },
  admin: { listen: '127.0.0.1:0' },
  notifier: { kind: 'spool', dir: spool },
  vasps: [{ vaspId: 'demo', vasIds: ['demo'], user: 'demo', password: 'demo', shortCodes: ['12345'], loopbackOnly: true, submitsPerSecond: 1000 }],
});
const node = new MmscNode({ config, clock });
let mm7Url = '';
let mm1Url = '';

t.before(async () => {
  const listeners = await node.start();
  mm7Url = listeners.find((l) => l.what.startsWith('MM7'))!.url;
  mm1Url = listeners.find((l) => l.what.startsWith('MM1'))!.url.replace(/\/$/, '');
});
t.teardown(async () => {
  await node.stop();
  rmSync(dir, { recursive: true, force: true });
});

const content: MimeEntity = {
  mediaType: 'multipart/related',
  params: { start: '<smil>', type: 'application/smil' },
  headers: [],
  parts: [
    { mediaType: 'application/smil', params: {}, contentId: 'smil', contentLocation: 'pres.smil', headers: [], body: Buffer.from(SMIL) },
    { mediaType: 'image/jpeg', params: {}, contentId: 'img1', contentLocation: 'photo.jpg', headers: [], body: JPEG },
    { mediaType: 'text/plain', params: { charset: 'utf-8' }, contentId: 'txt1', contentLocation: 'hello.txt', headers: [], body: Buffer.from(TEXT) },
  ],
};

function submitEnvelope(transactionId: string, to: string[], extra: Partial<Mm7Envelope['message']> = {}): Mm7Envelope {
  return submit(transactionId, to, { subject: 'Lab test ✓', messageClass: 'Informational', deliveryReport: true, ...extra });
}

async function postMm7(env: Mm7Envelope, withContent = true, auth = AUTH): Promise<{ status: number; envelope?: Mm7Envelope }> {
  const { contentType, body } = await encodeMm7Http(env, withContent ? content : undefined);
  const res = await fetch(mm7Url, { method: 'POST', headers: { 'Content-Type': contentType, SOAPAction: '""', Authorization: auth }, body });
  const bytes = Buffer.from(await res.arrayBuffer());
  if (!(res.headers.get('content-type') ?? '').includes('xml') && !(res.headers.get('content-type') ?? '').includes('multipart')) return { status: res.status };
  return { status: res.status, envelope: (await decodeMm7Http(res.headers.get('content-type')!, bytes)).envelope };
}

async function spooled(count: number): Promise<Array<{ to: string; messageId: string; file: string }>> {
  const index = join(spool, 'index.jsonl');
  for (let i = 0; i < 200; i++) {
    if (existsSync(index)) {
      const lines = readFileSync(index, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { to: string; messageId: string; file: string });
      if (lines.length >= count) return lines;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`fewer than ${count} pushes spooled`);
}

async function pushFor(messageId: string): Promise<{ to: string; messageId: string; file: string }> {
  for (let i = 0; i < 200; i++) {
    const found = (await spooled(1)).find((p) => p.messageId === messageId);
    if (found) return found;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`no push for ${messageId}`);
}

async function postMm1(pdu: MmsPdu, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${mm1Url}/`, { method: 'POST', headers: { 'Content-Type': 'application/vnd.wap.mms-message', ...headers }, body: encodeMms(pdu) });
}

const partData = (pdu: MRetrieveConf): Buffer[] => (pdu.body as MultipartEntry[]).map((p) => Buffer.from(p.data));

let firstMessageId = '';

t.test('MM7 SubmitReq to three local subscribers: accepted, pushed, retrieved byte-identical, reported', async (t) => {
  const r = await postMm7(submitEnvelope('lab-tx-1', ['+15550002222', '+15550003333', '15550004444']));
  t.equal(r.status, 200);
  const rsp = r.envelope!;
  t.equal(rsp.message.type, 'SubmitRsp');
  t.equal(rsp.message.status?.code, 1000);
  t.equal(rsp.transactionId, 'lab-tx-1', 'TransactionID echoed');
  t.equal(rsp.release, 'REL-6-MM7-1-4');
  const messageId = rsp.message.messageId!;
  firstMessageId = messageId;
  t.ok(messageId);

  const pushes = await spooled(3);
  t.same(pushes.map((p) => p.to).sort(), ['+15550002222', '+15550003333', '+15550004444']);
  for (const p of pushes) {
    t.equal(p.messageId, messageId);
    const { mms } = decodeMmsPush(readFileSync(join(spool, p.file)));
    const n = mms as MNotificationInd;
    t.equal(n.messageType, 'm-notification-ind');
    t.same(n.expiry, { absolute: new Date(clock.t + 48 * 3600_000) }, 'expiry: the default 48 h TTL');
    t.same(n.subject, { text: 'Lab test ✓', charset: 106 });
    t.same(n.from, { text: '12345/TYPE=PLMN' });
    t.equal(n.messageClass, 'Informational');
    t.ok(n.contentLocation.startsWith(`${mm1Url}/m/`), 'content location on the MM1 listener');

    const res = await fetch(n.contentLocation, { headers: { 'User-Agent': 'LabPhone/1.0', 'X-Wap-Profile': '"http://uaprof.example/lab.xml"' } });
    t.equal(res.status, 200);
    t.equal(res.headers.get('content-type'), 'application/vnd.wap.mms-message');
    const bytes = Buffer.from(await res.arrayBuffer());
    t.equal(n.messageSize, bytes.length, 'X-Mms-Message-Size is the size of the M-Retrieve.conf');
    const conf = decodeMms(bytes) as MRetrieveConf;
    t.equal(conf.messageId, messageId);
    t.same(conf.to?.map((a) => a.text), ['+15550002222/TYPE=PLMN', '+15550003333/TYPE=PLMN', '+15550004444/TYPE=PLMN']);
    t.equal(conf.deliveryReport, true);
    t.equal(conf.contentType.mediaType, 'application/vnd.wap.multipart.related');
    t.same(partData(conf), [Buffer.from(SMIL), JPEG, Buffer.from(TEXT)], 'parts byte-identical to what was submitted');

    const notifyResp = await postMm1({ messageType: 'm-notifyresp-ind', transactionId: n.transactionId, mmsVersion: '1.2', status: 'Retrieved' });
    t.equal(notifyResp.status, 204);
    const ack = await postMm1({ messageType: 'm-acknowledge-ind', transactionId: conf.transactionId!, mmsVersion: '1.2' });
    t.equal(ack.status, 204);
  }
  const stored = node.store.getMessage(messageId)!;
  t.same(stored.recipients.map((r) => r.state), ['acknowledged', 'acknowledged', 'acknowledged'], 'states moved to acknowledged');
  const events = node.store.events(messageId).map((e) => e.type);
  for (const type of ['notified', 'retrieved', 'acknowledged']) t.ok(events.includes(type), `event ${type} recorded`);
});

t.test('an idempotent retry of the same TransactionID does not create a second message', async (t) => {
  const again = await postMm7(submitEnvelope('lab-tx-1', ['+15550002222', '+15550003333', '15550004444']));
  t.equal(again.envelope?.message.status?.code, 1000);
  t.equal(again.envelope?.message.messageId, firstMessageId);
  await new Promise((r) => setTimeout(r, 50));
  t.equal((await spooled(3)).length, 3, 'no new pushes');
});

t.test('partial success, refusals and errors in MM7 terms', async (t) => {
  const partial = await postMm7(submitEnvelope('lab-tx-2', ['+15550002222', '+447700900123']));
  t.equal(partial.envelope?.message.status?.code, 1100, 'a foreign number: partial success');
  const none = await postMm7(submitEnvelope('lab-tx-3', ['+447700900123']));
  t.equal(none.envelope?.message.status?.code, 2002);
  t.equal((await postMm7(submitEnvelope('lab-tx-4', ['+15550002222']), true, `Basic ${Buffer.from('demo:wrong').toString('base64')}`)).status, 401);
  const wrongVasp = await postMm7(submitEnvelope('lab-tx-5', ['+15550002222'], { senderIdentification: { vaspId: 'other', senderAddress: { kind: 'ShortCode', value: '12345' } } }));
  t.equal(wrongVasp.envelope?.message.status?.code, 4001);
  const wrongSender = await postMm7(submitEnvelope('lab-tx-6', ['+15550002222'], { senderIdentification: { vaspId: 'demo', senderAddress: { kind: 'ShortCode', value: '99999' } } }));
  t.equal(wrongSender.envelope?.message.status?.code, 2001);
  const rel5 = await postMm7({ ...submitEnvelope('lab-tx-7', ['+15550002222']), release: 'REL-5-MM7-1-0', message: { ...submitEnvelope('x', []).message, mm7Version: '5.3.0', recipients: { to: [{ kind: 'Number', value: '+15550002222' }], cc: [], bcc: [] } } });
  t.equal(rel5.envelope?.release, 'REL-5-MM7-1-0', 'answered in the requester release');
  t.equal(rel5.envelope?.message.mm7Version, '5.3.0');
  t.equal(rel5.envelope?.message.status?.code, 1000);
  const garbage = await fetch(mm7Url, { method: 'POST', headers: { 'Content-Type': 'text/xml', Authorization: AUTH }, body: '<not-soap' });
  t.equal(garbage.status, 500);
  const fault = await decodeMm7Http(garbage.headers.get('content-type')!, Buffer.from(await garbage.arrayBuffer()));
  t.equal(fault.envelope.message.type, 'RSErrorRsp');
  t.equal(fault.envelope.message.status?.code, 2007);
  const big = await fetch(mm7Url, { method: 'POST', headers: { 'Content-Type': 'text/xml', Authorization: AUTH }, body: Buffer.alloc(11 << 20, 0x20) });
  t.equal(big.status, 413, 'over maxBodyOctets');
});

t.test('CancelReq removes a message nobody retrieved yet', async (t) => {
  const sent = await postMm7(submitEnvelope('lab-tx-8', ['+15550005555']));
  const messageId = sent.envelope!.message.messageId!;
  const cancel = await postMm7({ release: 'REL-6-MM7-1-4', transactionId: 'lab-tx-9', message: { type: 'CancelReq', mm7Version: '6.8.0', senderIdentification: { vaspId: 'demo' }, messageId } }, false);
  t.equal(cancel.envelope?.message.type, 'CancelRsp');
  t.equal(cancel.envelope?.message.status?.code, 1000);
  const late = await postMm7({ release: 'REL-6-MM7-1-4', transactionId: 'lab-tx-10', message: { type: 'CancelReq', mm7Version: '6.8.0', senderIdentification: { vaspId: 'demo' }, messageId: firstMessageId } }, false);
  t.equal(late.envelope?.message.status?.code, 3001, 'already retrieved: not possible');
});

t.test('ReplaceReq swaps the content of a message nobody retrieved yet', async (t) => {
  const sent = await postMm7(submitEnvelope('lab-tx-20', ['+15550005556']));
  const messageId = sent.envelope!.message.messageId!;
  const n = decodeMmsPush(readFileSync(join(spool, (await pushFor(messageId)).file))).mms as MNotificationInd;
  const replace = (transactionId: string, id: string): Mm7Envelope => ({
    release: 'REL-6-MM7-1-4',
    transactionId,
    message: { type: 'ReplaceReq', mm7Version: '6.8.0', senderIdentification: { vaspId: 'demo' }, messageId: id, readReply: true, content: { href: 'cid:content-2' } },
  });
  const newContent: MimeEntity = { mediaType: 'text/plain', params: { charset: 'utf-8' }, contentId: 'content-2', headers: [], body: Buffer.from('Corrected text') };
  const post = async (env: Mm7Envelope): Promise<Mm7Envelope> => {
    const { contentType, body } = await encodeMm7Http(env, newContent);
    const res = await fetch(mm7Url, { method: 'POST', headers: { 'Content-Type': contentType, Authorization: AUTH }, body });
    return (await decodeMm7Http(res.headers.get('content-type')!, Buffer.from(await res.arrayBuffer()))).envelope;
  };
  const rsp = await post(replace('lab-tx-21', messageId));
  t.equal(rsp.message.type, 'ReplaceRsp');
  t.equal(rsp.message.status?.code, 1000);
  const conf = decodeMms(Buffer.from(await (await fetch(n.contentLocation)).arrayBuffer())) as MRetrieveConf;
  t.same(Buffer.from(conf.body as Uint8Array), Buffer.from('Corrected text'), 'the notified recipient fetches the new version');
  t.equal(conf.readReport, true);
  t.equal((await post(replace('lab-tx-22', messageId))).message.status?.code, 3001, 'retrieved: too late');
  t.equal((await post(replace('lab-tx-23', 'no-such-id'))).message.status?.code, 2005);
});

t.test('M-Send.req from a terminal behind a WAP gateway', async (t) => {
  const before = (await spooled(1)).length;
  const body: MultipartEntry[] = [
    { contentType: { mediaType: 'text/plain', params: [{ name: 'charset', value: 'utf-8' }] }, headers: [{ name: 'Content-Location', value: 'a.txt' }], data: Buffer.from('hi') },
    { contentType: { mediaType: 'image/gif', params: [] }, headers: [{ name: 'Content-ID', value: '<g>' }], data: GIF },
  ];
  const sendReq: MmsPdu = {
    messageType: 'm-send-req',
    transactionId: 'term-1',
    mmsVersion: '1.2',
    from: 'insert-address',
    to: [{ text: '+15550006666/TYPE=PLMN' }],
    subject: { text: 'From my phone' },
    contentType: { mediaType: 'application/vnd.wap.multipart.mixed', params: [] },
    body,
  };
  const res = await postMm1(sendReq, { 'X-MSISDN': '+15550001111' });
  t.equal(res.status, 200);
  const conf = decodeMms(Buffer.from(await res.arrayBuffer()));
  t.equal(conf.messageType, 'm-send-conf');
  t.equal(conf.responseStatus, 'Ok');
  t.equal(conf.transactionId, 'term-1');
  t.ok(conf.messageId);
  const push = await pushFor(String(conf.messageId));
  t.equal((await spooled(before + 1)).length, before + 1);
  t.equal(push.to, '+15550006666');
  const n = decodeMmsPush(readFileSync(join(spool, push.file))).mms as MNotificationInd;
  t.same(n.from, { text: '+15550001111/TYPE=PLMN' }, 'insert-address replaced by the gateway MSISDN');
  const retrieved = decodeMms(Buffer.from(await (await fetch(n.contentLocation)).arrayBuffer())) as MRetrieveConf;
  t.same(partData(retrieved), [Buffer.from('hi'), GIF]);

  const noMsisdn = decodeMms(Buffer.from(await (await postMm1({ ...sendReq, transactionId: 'term-2' })).arrayBuffer()));
  t.equal(noMsisdn.responseStatus, 'Error-permanent-sending-address-unresolved');
  const spoofed = decodeMms(Buffer.from(await (await postMm1({ ...sendReq, transactionId: 'term-3', from: { text: '+15550009999/TYPE=PLMN' } }, { 'X-MSISDN': '+15550001111' })).arrayBuffer()));
  t.equal(spoofed.responseStatus, 'Error-permanent-sending-address-unresolved', 'a From that does not match is rejected');
  const corrupt = await fetch(`${mm1Url}/`, { method: 'POST', headers: { 'Content-Type': 'application/vnd.wap.mms-message', 'X-MSISDN': '+15550001111' }, body: Buffer.from('8c80987a00', 'hex') });
  t.equal(decodeMms(Buffer.from(await corrupt.arrayBuffer())).responseStatus, 'Error-permanent-message-format-corrupt');
});

t.test('unknown tokens leak nothing; expired messages say so', async (t) => {
  t.equal((await fetch(`${mm1Url}/m/AAAAAAAAAAAAAAAAAAAAAA`)).status, 404);
  t.equal((await fetch(`${mm1Url}/m/../../etc/passwd`)).status, 404);
  const sent = await postMm7(submitEnvelope('lab-tx-11', ['+15550007777'], { expiryDate: { relative: 'PT1H' } }));
  const messageId = sent.envelope!.message.messageId!;
  const push = await pushFor(messageId);
  const n = decodeMmsPush(readFileSync(join(spool, push.file))).mms as MNotificationInd;
  t.same(n.expiry, { absolute: new Date(clock.t + 3600_000) }, 'its own expiry, earlier than the TTL');
  clock.t += 2 * 3600_000;
  t.ok((await node.sweep()) >= 1, 'the sweeper destroyed it');
  const res = await fetch(n.contentLocation);
  t.equal(res.status, 200);
  const conf = decodeMms(Buffer.from(await res.arrayBuffer()));
  t.equal(conf.retrieveStatus, 'Error-permanent-message-not-found');
  t.equal(node.store.getMessage(messageId)?.recipients[0]?.state, 'expired');
  t.same(node.store.getParts(messageId), [], 'content destroyed');
});

t.test('curl sends a fixture exactly as a test lab would', async (t) => {
  const env = submitEnvelope('curl-tx-1', ['+15550008888']);
  const { contentType, body } = await encodeMm7Http(env, content);
  const file = join(dir, 'submit.body');
  writeFileSync(file, body);
  const out = await new Promise<{ code: number; stdout: string }>((resolve) => {
    execFile('curl', ['-s', '-u', 'demo:demo', '-H', `Content-Type: ${contentType}`, '-H', 'SOAPAction: ""', '--data-binary', `@${file}`, '-w', '\n%{http_code}', mm7Url], (e, stdout) =>
      resolve({ code: e ? 1 : 0, stdout }),
    );
  });
  t.equal(out.code, 0, 'curl ran');
  const [xml, status] = [out.stdout.slice(0, out.stdout.lastIndexOf('\n')), out.stdout.slice(out.stdout.lastIndexOf('\n') + 1)];
  t.equal(status, '200');
  const rsp = await decodeMm7Http('text/xml', Buffer.from(xml));
  t.equal(rsp.envelope.message.status?.code, 1000);
  t.equal(rsp.envelope.transactionId, 'curl-tx-1');
});

t.test('a SubmitReq past 512 KiB is split as it arrives and stored byte-identical', async (t) => {
  const blob = Buffer.alloc(700_000);
  for (let i = 0; i < blob.length; i++) blob[i] = (i * 131 + (i >> 8)) & 0xff;
  const large: MimeEntity = {
    mediaType: 'multipart/mixed',
    params: {},
    headers: [],
    parts: [
      { mediaType: 'text/plain', params: { charset: 'utf-8' }, contentId: 'txt', headers: [], body: Buffer.from(TEXT) },
      { mediaType: 'application/octet-stream', params: {}, contentId: 'blob', contentLocation: 'blob.bin', headers: [], body: blob },
    ],
  };
  const { contentType, body } = await encodeMm7Http(submitEnvelope('lab-tx-large', ['+15550006666']), large);
  t.ok(body.length > 512 * 1024, `${body.length} octets: past what the binding reads whole, so the streaming splitter takes it`);
  const res = await fetch(mm7Url, { method: 'POST', headers: { 'Content-Type': contentType, SOAPAction: '""', Authorization: AUTH }, body });
  const rsp = (await decodeMm7Http(res.headers.get('content-type')!, Buffer.from(await res.arrayBuffer()))).envelope;
  t.equal(rsp.message.status?.code, 1000);
  const messageId = rsp.message.messageId!;
  const stored = node.store.getParts(messageId);
  t.same(
    stored.map((p) => [p.contentType, p.contentId]),
    [
      ['text/plain; charset=utf-8', 'txt'],
      ['application/octet-stream', 'blob'],
    ],
  );
  t.ok(stored[1]?.data.equals(blob), 'the 700 KB part stored octet for octet');
  // (retrieval adapts it: 700 KB is over the default terminal profile's message size)
  t.equal((await pushFor(messageId)).to, '+15550006666', 'and the recipient notified');
});
