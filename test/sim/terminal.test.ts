import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { decodeMm7Http, encodeMm7Http } from '../../protocol/mm7/http.js';
import type { Mm7Envelope } from '../../protocol/mm7/model.js';
import type { MimeEntity } from '../../protocol/mm7/mime-types.js';
import { loadMmscConfig } from '../../src/config/mmsc.js';
import { MmscNode } from '../../src/mmsc/node.js';
import { SmppNotifier } from '../../src/push/smpp.js';
import { SmscSimulator } from '../../src/sim/smsc.js';
import { TerminalSimulator, TERMINAL_PROFILES, type TerminalReceipt } from '../../src/sim/terminal.js';
import { runCli } from '../helpers/cli.js';
import { submitEnvelope } from '../helpers/mm7.js';
import { until } from './pushes.js';
import { photoJpeg } from '../transcode/media.js';

// The whole notification path on loopback: MM7 SubmitReq → MmscNode →
// smpp bearer → SMSC simulator (reassembles, decodes) → deliver_sm to the
// terminal simulator → MM1 retrieval → M-NotifyResp.ind / M-Acknowledge.ind
// → DB1 says 'acknowledged'.

// A real 160x120 JPEG (a few KB): it suits the terminal as it is, so the transcoder passes it through byte-identical.
const JPEG = await photoJpeg(160, 120);
const TEXT = 'Hello from the lab';
const AUTH = `Basic ${Buffer.from('demo:demo').toString('base64')}`;

const dir = mkdtempSync(join(tmpdir(), 'mmsc-terminal-'));
const sim = new SmscSimulator({ accounts: [{ systemId: 'mmsc', password: 'pw' }, { systemId: 'phones', password: 'ph' }], out: join(dir, 'pushes.jsonl') });
let node: MmscNode;
let notifier: SmppNotifier;
let mm7Url = '';
let mm1Url = '';
let smsc = { host: '127.0.0.1', port: 0 };
const terminals: TerminalSimulator[] = [];

t.before(async () => {
  smsc = await sim.start();
  notifier = new SmppNotifier({ port: smsc.port, systemId: 'mmsc', password: 'pw', source: { address: '12345', ton: 3, npi: 0 } });
  const config = loadMmscConfig({
    data: join(dir, 'data'),
    mm7: { listen: '127.0.0.1:0' },
    mm1: { listen: '127.0.0.1:0' },
    admin: { listen: '127.0.0.1:0' },
    vasps: [{ vaspId: 'demo', vasIds: ['demo'], user: 'demo', password: 'demo', shortCodes: ['12345'], loopbackOnly: true, submitsPerSecond: 1000 }],
  });
  node = new MmscNode({ config, notifier });
  const listeners = await node.start();
  mm7Url = listeners.find((l) => l.what.startsWith('MM7'))!.url;
  mm1Url = listeners.find((l) => l.what.startsWith('MM1'))!.url;
});
t.teardown(async () => {
  for (const terminal of terminals) await terminal.stop();
  await node.stop();
  await notifier.close();
  await sim.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function attach(msisdn: string, profile: string, log: Array<Record<string, unknown>> = []): Promise<TerminalSimulator> {
  const terminal = new TerminalSimulator({
    smsc,
    systemId: 'phones',
    password: 'ph',
    msisdn,
    mm1Url,
    profile,
    readReport: true,
    saveDir: join(dir, 'saved', msisdn),
    log: (e) => log.push(e),
  });
  await terminal.start();
  terminals.push(terminal);
  return terminal;
}

const content: MimeEntity = {
  mediaType: 'multipart/related',
  params: { type: 'text/plain' },
  headers: [],
  parts: [
    { mediaType: 'text/plain', params: { charset: 'utf-8' }, contentId: 'txt', contentLocation: 'hello.txt', headers: [], body: Buffer.from(TEXT) },
    { mediaType: 'image/jpeg', params: {}, contentId: 'img', contentLocation: 'photo.jpg', headers: [], body: JPEG },
  ],
};

async function submit(transactionId: string, to: string[], subject: string): Promise<string> {
  const env: Mm7Envelope = submitEnvelope(transactionId, to, { subject, readReply: true, deliveryReport: true });
  const { contentType, body } = await encodeMm7Http(env, content);
  const res = await fetch(mm7Url, { method: 'POST', headers: { 'Content-Type': contentType, SOAPAction: '""', Authorization: AUTH }, body });
  const rsp = await decodeMm7Http(res.headers.get('content-type') ?? '', Buffer.from(await res.arrayBuffer()));
  if (rsp.envelope.message.status?.code !== 1000) throw new Error(`SubmitReq answered ${String(rsp.envelope.message.status?.code)}`);
  return rsp.envelope.message.messageId!;
}

async function retrieved(terminal: TerminalSimulator, count: number): Promise<TerminalReceipt> {
  await until(() => terminal.received.length >= count, 'a retrieval');
  return terminal.received[count - 1]!;
}

t.test('MM7 submit → SMPP push → terminal fetches and acknowledges → DB1 acknowledged', async (t) => {
  const log: Array<Record<string, unknown>> = [];
  const phone = await attach('+15550002222', 'nokia-n95', log);
  const messageId = await submit('term-tx-1', ['+15550002222'], 'Lab photo');

  const r = await retrieved(phone, 1);
  t.equal(r.error, undefined, 'no error');
  t.equal(r.fetchStatus, 200);
  t.equal(r.messageId, messageId);
  t.equal(r.subject, 'Lab photo');
  t.equal(r.from, '12345/TYPE=PLMN');
  t.same(r.parts.map((p) => [p.name, p.contentType, p.size]), [['hello.txt', 'text/plain', TEXT.length], ['photo.jpg', 'image/jpeg', JPEG.length]]);
  t.same(readFileSync(r.parts[1]!.file!), JPEG, 'the part saved byte-identical');
  t.same(r.reports, [
    { messageType: 'm-notifyresp-ind', status: 204 },
    { messageType: 'm-acknowledge-ind', status: 204 },
    { messageType: 'm-read-rec-ind', status: 204 },
  ], 'NotifyResp, Acknowledge and the read report accepted by MM1');
  t.equal(node.store.getMessage(messageId)?.recipients[0]?.state, 'acknowledged', 'DB1: acknowledged');

  const atSmsc = sim.pushes.filter((p) => p.destination === '15550002222');
  t.equal(atSmsc.length, 1, 'one push at the SMSC');
  t.equal(atSmsc[0]!.source, '12345');
  t.same(phone.pushed, [atSmsc[0]!.pdu], 'the terminal decoded what the SMSC decoded');
  t.equal(atSmsc[0]!.pdu.contentLocation, r.contentLocation);
  const line = JSON.parse(readFileSync(join(dir, 'pushes.jsonl'), 'utf8').trim().split('\n')[0]!) as Record<string, unknown>;
  t.match(line, { destination: '15550002222', source: '12345', segments: 1, notification: { 'X-Mms-Message-Type': 'm-notification-ind' } }, '--out line');
  t.ok(log.some((e) => e['event'] === 'retrieved'), 'the terminal logged the retrieval');
  t.ok(TERMINAL_PROFILES['nokia-n95']!.userAgent.startsWith('NokiaN95'));
});

t.test('a notification needing several SMS (long subject) takes the same path', async (t) => {
  const phone = await attach('+15550003333', 'samsung-e250');
  const subject = `A long subject ${'x'.repeat(200)}`;
  const messageId = await submit('term-tx-2', ['+15550003333'], subject);
  const r = await retrieved(phone, 1);
  t.equal(r.error, undefined);
  t.equal(r.subject, subject);
  const push = sim.pushes.find((p) => p.destination === '15550003333')!;
  t.ok(push.segments >= 2, `${push.segments} SMS`);
  t.equal(node.store.getMessage(messageId)?.recipients[0]?.state, 'acknowledged');
});

t.test('--send: an M-Send.req from files reaches another terminal', async (t) => {
  const sender = await attach('+15550004444', 'iphone');
  const receiver = await attach('+15550005555', 'android');
  const files = [join(dir, 'note.txt'), join(dir, 'pic.jpg')];
  writeFileSync(files[0]!, 'sent from a simulated phone');
  writeFileSync(files[1]!, JPEG);
  const conf = await sender.send(files, ['+15550005555'], 'From the sim');
  t.equal(conf.responseStatus, 'Ok');
  const r = await retrieved(receiver, 1);
  t.equal(r.error, undefined);
  t.equal(r.messageId, conf.messageId);
  t.equal(r.from, '+15550004444/TYPE=PLMN', 'the MMS-C filled in the sender from x-msisdn');
  t.same(r.parts.map((p) => p.name), ['note.txt', 'pic.jpg']);
  t.same(readFileSync(r.parts[1]!.file!), JPEG);
  t.equal(sender.received.length, 0, 'nothing pushed to the sender');
});

t.test('mmsc terminal-sim --send, and its errors', async (t) => {
  const receiver = await attach('+15550006666', 'android');
  const file = join(dir, 'cli.txt');
  writeFileSync(file, 'from the command line');
  const r = await runCli(['terminal-sim', '--msisdn', '+15550007777', '--mm1', mm1Url, '--send', file, '--to', '+15550006666', '--subject', 'CLI']);
  t.equal(r.code, 0, r.err);
  const line = JSON.parse(r.out.trim().split('\n').pop()!) as Record<string, unknown>;
  t.match(line, { event: 'sent', to: ['+15550006666'], files: ['cli.txt'], responseStatus: 'Ok' });
  const got = await retrieved(receiver, 1);
  t.equal(got.subject, 'CLI');
  t.equal(got.messageId, line['messageId']);
  const badProfile = await runCli(['terminal-sim', '--msisdn', '+1', '--profile', 'brick']);
  t.equal(badProfile.code, 1);
  t.match(badProfile.err, /--profile "brick" is not one of android, /);
  const noTo = await runCli(['terminal-sim', '--msisdn', '+1', '--send', file]);
  t.equal(noTo.code, 1);
  t.match(noTo.err, /--send needs --to/);
  const noSmsc = await runCli(['terminal-sim', '--msisdn', '+1', '--smsc', '127.0.0.1:1']);
  t.equal(noSmsc.code, 1);
  t.match(noSmsc.err, /cannot bind to 127\.0\.0\.1:1/);
});

t.test('an unknown profile is refused', async (t) => {
  t.throws(() => new TerminalSimulator({ smsc, msisdn: '+1', mm1Url, profile: 'no-such-phone' }), /unknown terminal profile/);
});
