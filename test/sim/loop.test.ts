import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { decodeMm7Http, encodeMm7Http } from '../../protocol/mm7/http.js';
import type { MimeEntity } from '../../protocol/mm7/mime-types.js';
import { loadMmscConfig } from '../../src/config/mmsc.js';
import { MmscNode } from '../../src/mmsc/node.js';
import { SMPP_STATUS } from '../../src/push/smpp.js';
import { SmscSimulator } from '../../src/sim/smsc.js';
import { TerminalSimulator } from '../../src/sim/terminal.js';
import { VaspSimulator, type VaspLogEntry } from '../../src/vasp/simulator.js';
import { submitEnvelope } from '../helpers/mm7.js';

// Issue 5's loop with every piece real and configured as a lab would:
// MM7 SubmitReq → server 1 (push config: the smpp bearer) → SMSC simulator
// → terminal simulators fetch and acknowledge → the VASP simulator gets a
// DeliveryReportReq "Retrieved" per recipient. The SMSC first refuses
// binds, then throttles, then drops the link in the middle of the window:
// the outbox's retries still bring every notification exactly once.

const AUTH = `Basic ${Buffer.from('demo:demo').toString('base64')}`;
const RECIPIENTS = ['+15550002001', '+15550002002', '+15550002003', '+15550002004', '+15550002005', '+15550002006'];

t.test('SubmitReq → smpp → SMSC → terminals → DeliveryReportReq Retrieved, once each, through SMSC faults', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mmsc-loop-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));

  const sim = new SmscSimulator({ accounts: [{ systemId: 'mmsc', password: 'pw' }, { systemId: 'phones', password: 'ph' }] });
  const smsc = await sim.start();
  t.teardown(() => sim.stop());

  const vaspLog: VaspLogEntry[] = [];
  const vasp = new VaspSimulator({ user: 'demo', password: 'demo', log: (e) => vaspLog.push(e) });
  const vaspUrl = (await vasp.start()).url;
  t.teardown(() => vasp.stop());

  const node = new MmscNode({
    backoff: { baseMs: 50, maxMs: 200 },
    config: loadMmscConfig({
      data: join(dir, 'data'),
      mm7: { listen: '127.0.0.1:0' },
      mm1: { listen: '127.0.0.1:0' },
      admin: { listen: '127.0.0.1:0' },
      vasps: [{ vaspId: 'demo', vasIds: ['demo'], user: 'demo', password: 'demo', shortCodes: ['12345'], loopbackOnly: true, submitsPerSecond: 1000, deliveryUrl: vaspUrl }],
      push: {
        bearers: {
          smsc: { kind: 'smpp', host: '127.0.0.1', port: smsc.port, systemId: 'mmsc', password: 'pw', window: 4, reconnect: { initialMs: 50, maxMs: 200 }, throttleDelayMs: 100 },
        },
        select: { rules: [{ ranges: ['+1555*'], bearer: 'smsc' }] },
      },
    }),
  });
  const listeners = await node.start();
  t.teardown(() => node.stop());
  const mm7 = listeners.find((l) => l.what.startsWith('MM7'))!.url;
  const mm1 = listeners.find((l) => l.what.startsWith('MM1'))!.url;

  const terminals = await Promise.all(
    RECIPIENTS.map(async (msisdn) => {
      const terminal = new TerminalSimulator({ smsc, systemId: 'phones', password: 'ph', msisdn, mm1Url: mm1 });
      await terminal.start();
      return terminal;
    }),
  );
  t.teardown(async () => {
    for (const terminal of terminals) await terminal.stop();
  });
  // The faults, once the handsets are attached: throttling first, then the link
  // dropped in the middle of the window, then the SMSC refusing the rebind twice.
  sim.failSubmits(3, SMPP_STATUS.ESME_RTHROTTLED);
  sim.dropAfterSubmits(6);
  sim.refuseBinds(2);
  const faults = { throttled: 0, bindsRefused: 0 };
  sim.on('submit', (s: { status: number }) => void (s.status === SMPP_STATUS.ESME_RTHROTTLED && faults.throttled++));
  sim.on('bind', (b: { status: number; systemId: string }) => void (b.status !== 0 && b.systemId === 'mmsc' && faults.bindsRefused++));

  // A subject long enough that each push needs two SMS.
  const content: MimeEntity = { mediaType: 'text/plain', params: { charset: 'utf-8' }, contentId: 'content-1', headers: [], body: Buffer.from('lab loop') };
  const { contentType, body } = await encodeMm7Http(submitEnvelope('loop-1', RECIPIENTS, { deliveryReport: true, subject: 'A subject long enough to need a second SMS segment for its WAP push: '.repeat(2) }), content);
  const res = await fetch(mm7, { method: 'POST', headers: { 'Content-Type': contentType, Authorization: AUTH }, body });
  const messageId = (await decodeMm7Http(res.headers.get('content-type')!, Buffer.from(await res.arrayBuffer()))).envelope.message.messageId!;
  t.ok(messageId, 'SubmitRsp 1000 with a message id');

  const reports = (): VaspLogEntry[] => vaspLog.filter((e) => e.type === 'DeliveryReportReq');
  const acknowledged = (): boolean => node.store.getMessage(messageId)!.recipients.every((r) => r.state === 'acknowledged');
  for (let i = 0; reports().length < RECIPIENTS.length || !acknowledged(); i++) {
    if (i > 3000) throw new Error(`only ${reports().length} delivery reports; pushes: ${sim.pushes.length}; states: ${JSON.stringify(node.store.getMessage(messageId)?.recipients.map((r) => r.state))}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  await node.outboxWorker.idle();

  const pushesTo = (msisdn: string) => sim.pushes.filter((p) => p.destination === msisdn.replace(/^\+/, '') && p.pdu.messageType === 'm-notification-ind');
  for (const msisdn of RECIPIENTS) t.equal(pushesTo(msisdn).length, 1, `${msisdn}: one notification, despite the faults`);
  t.ok(sim.pushes.every((p) => p.segments >= 2), 'each push took several SMS');
  t.equal(faults.throttled, 3, 'the SMSC throttled three submits');
  t.equal(faults.bindsRefused, 2, 'and refused two rebinds after dropping the link');
  const statuses = reports().map((e) => (e.message?.type === 'DeliveryReportReq' ? `${e.message.recipient?.value} ${e.message.mmStatus}` : '?'));
  t.same(statuses.sort(), RECIPIENTS.map((r) => `${r} Retrieved`).sort(), 'one DeliveryReportReq Retrieved per recipient');
  for (const r of node.store.getMessage(messageId)!.recipients) t.equal(r.state, 'acknowledged', `${r.address} acknowledged in DB1`);
  t.same(node.outbox.forMessage(messageId), [], 'no job left behind');
});
