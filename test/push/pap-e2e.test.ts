import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { decodeMm7Http, encodeMm7Http } from '../../protocol/mm7/http.js';
import type { MimeEntity } from '../../protocol/mm7/mime-types.js';
import { decodeMms } from '../../protocol/mms/codec.js';
import type { MNotificationInd, MRetrieveConf } from '../../protocol/mms/model.js';
import { buildPapResponse, parsePapRequest, parsePushMessage } from '../../protocol/pap/index.js';
import { loadMmscConfig } from '../../src/config/mmsc.js';
import { MmscNode } from '../../src/mmsc/node.js';
import { PapNotifier } from '../../src/push/pap.js';
import { VaspSimulator, type VaspLogEntry } from '../../src/vasp/simulator.js';
import { bodyServer } from '../helpers/http.js';
import { submitEnvelope } from '../helpers/mm7.js';

// The MMS-C with the PAP bearer against a PPG stub, end to end on loopback:
// MM7 SubmitReq → outbox → PAP push-message (retried through the outbox when
// the PPG is unavailable, failed when it refuses the address) → the terminal
// fetches the Content-Location; then a DeliveryReportReq through the outbox
// to the VASP simulator behind an endpoint that fails twice.

interface Submission {
  pushId: string;
  address: string;
  notification: MNotificationInd;
}

async function until<T>(what: string, probe: () => T | undefined): Promise<T> {
  for (let i = 0; i < 1000; i++) {
    const v = probe();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`gave up waiting for ${what}`);
}


t.test('MM7 submit → PAP bearer → PPG stub → retrieval; DeliveryReportReq through 500s arrives once', async (t) => {
  // The PPG: +15550002222 is "service unavailable" once, +15550009999 is an unknown address.
  const submissions: Submission[] = [];
  let unavailable = 1;
  const ppgUrl = await bodyServer(t, (req, body, res) => {
    const request = parsePapRequest(String(req.headers['content-type']), body);
    const control = parsePushMessage(request.control);
    const address = control.addresses[0]!;
    submissions.push({ pushId: control.pushId, address, notification: decodeMms(request.content.body) as MNotificationInd });
    let code = 1001;
    if (address.startsWith('WAPPUSH=+15550009999/')) code = 2002;
    else if (address.startsWith('WAPPUSH=+15550002222/') && unavailable-- > 0) code = 4001;
    res.writeHead(202, { 'content-type': 'application/xml' });
    res.end(buildPapResponse({ kind: 'push-response', pushId: control.pushId, code }));
  });

  // The VASP, behind an endpoint that answers 500 twice first.
  const vaspLog: VaspLogEntry[] = [];
  const sim = new VaspSimulator({ user: 'demo', password: 'demo', log: (e) => vaspLog.push(e) });
  const simUrl = (await sim.start()).url;
  t.teardown(() => sim.stop());
  let vaspHits = 0;
  const vaspUrl = await bodyServer(t, (req, body, res) => {
    if (++vaspHits <= 2) {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('restarting');
      return;
    }
    fetch(simUrl, { method: 'POST', headers: { 'content-type': String(req.headers['content-type']), authorization: String(req.headers.authorization) }, body })
      .then(async (r) => {
        res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'text/plain' });
        res.end(Buffer.from(await r.arrayBuffer()));
      })
      .catch(() => res.end());
  });

  const dir = mkdtempSync(join(tmpdir(), 'mmsc-pap-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const config = loadMmscConfig({
    data: dir,
    mm7: { listen: '127.0.0.1:0' },
    mm1: { listen: '127.0.0.1:0' },
    admin: { listen: '127.0.0.1:0' },
    vasps: [{ vaspId: 'demo', vasIds: ['demo'], user: 'demo', password: 'demo', shortCodes: ['12345'], loopbackOnly: true, deliveryUrl: `${vaspUrl}/mm7` }],
  });
  const node = new MmscNode({
    config,
    notifier: new PapNotifier({ url: `${ppgUrl}/wappush`, ppgHost: 'ppg.example' }),
    backoff: { baseMs: 20, maxMs: 100 },
  });
  const listeners = await node.start();
  t.teardown(() => node.stop());
  const mm7Url = listeners.find((l) => l.what.startsWith('MM7'))!.url;

  const content: MimeEntity = { mediaType: 'text/plain', params: { charset: 'utf-8' }, headers: [], body: Buffer.from('hello over PAP') };
  const submit = await encodeMm7Http(submitEnvelope('pap-tx-1', ['+15550002222', '+15550003333', '+15550009999'], { deliveryReport: true, subject: 'via PAP' }), content);
  const res = await fetch(mm7Url, { method: 'POST', headers: { 'content-type': submit.contentType, authorization: `Basic ${Buffer.from('demo:demo').toString('base64')}` }, body: submit.body });
  const rsp = (await decodeMm7Http(String(res.headers.get('content-type')), Buffer.from(await res.arrayBuffer()))).envelope;
  t.equal(rsp.message.status?.code, 1000);
  const messageId = rsp.message.messageId!;

  // Each recipient's push settles: two accepted, one failed for good.
  const states = await until('the recipients to settle', () => {
    const m = node.store.getMessage(messageId);
    const s = Object.fromEntries((m?.recipients ?? []).map((r) => [r.address, r.state]));
    return s['+15550002222'] === 'notified' && s['+15550003333'] === 'notified' && s['+15550009999'] === 'unroutable' ? s : undefined;
  });
  t.same(states, { '+15550002222': 'notified', '+15550003333': 'notified', '+15550009999': 'unroutable' });
  const toFirst = submissions.filter((s) => s.address === 'WAPPUSH=+15550002222/TYPE=PLMN@ppg.example');
  t.equal(toFirst.length, 2, 'the 4001 push was retried by the outbox once');
  t.equal(toFirst[0]!.pushId, toFirst[1]!.pushId, 'with the same push-id');
  t.equal(submissions.filter((s) => s.address.startsWith('WAPPUSH=+15550009999/')).length, 1, 'a 2002 is not retried');

  // The terminal fetches what the PAP push told it.
  const n = toFirst[1]!.notification;
  t.equal(n.messageType, 'm-notification-ind');
  t.same(n.subject?.text, 'via PAP');
  const fetched = await fetch(n.contentLocation, { headers: { 'user-agent': 'LabPhone/1.0' } });
  t.equal(fetched.status, 200);
  const conf = decodeMms(Buffer.from(await fetched.arrayBuffer())) as MRetrieveConf;
  t.equal(conf.messageId, messageId);
  t.equal(Buffer.from(conf.body as Uint8Array).toString(), 'hello over PAP');

  // The delivery reports, queued by the node itself: Retrieved when that recipient fetched,
  // and one for the recipient no push could reach. Through the VASP's two 500s, each once.
  const reports = (): VaspLogEntry[] => vaspLog.filter((e) => e.type === 'DeliveryReportReq');
  await until('both DeliveryReportReqs', () => (reports().length >= 2 ? true : undefined));
  await until('the jobs to be done', () => (node.outbox.forMessage(messageId).some((j) => j.kind === 'mm7-delivery-report') ? undefined : true));
  t.equal(vaspHits, 4, '500, 500, then both through');
  t.equal(vaspLog.length, 2, 'each report arrived once');
  const report = reports().find((e) => e.message?.type === 'DeliveryReportReq' && e.message.recipient?.value === '+15550002222')!;
  t.equal(report.message?.mmStatus, 'Retrieved');
  t.equal(report.message?.messageId, messageId);
  t.same(report.message?.recipient, { kind: 'Number', value: '+15550002222' });
  const unreachable = reports().find((e) => e.message?.type === 'DeliveryReportReq' && e.message.recipient?.value === '+15550009999');
  t.equal(unreachable?.message?.mmStatus, 'Indeterminate', 'no push could reach it: Unreachable, said as Indeterminate in MM7');
  t.equal(report.release, 'REL-6-MM7-1-4', 'in the release of the SubmitReq');
});
