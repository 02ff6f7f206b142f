import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { answer } from '../../protocol/mm7/exchange.js';
import { encodeMm7Http } from '../../protocol/mm7/http.js';
import type { Mm7Envelope } from '../../protocol/mm7/model.js';
import { deliveryReportReq } from '../../src/mmsc/reports.js';
import type { MessageEnvelope, Origin, StoredMessage, StoredPart } from '../../src/mmsc/model.js';
import type { OutboxJob } from '../../src/outbox/types.js';
import {
  classifyMm7Answer,
  deliverHandler,
  deliveryReportHandler,
  outcomeOfStatus,
  readReplyHandler,
  sendToVasp,
  transactionIdOf,
  vaspJobHandlers,
  type VaspAccountLike,
  type VaspJobDeps,
} from '../../src/outbound/vasp-client.js';
import { VaspSimulator, type VaspLogEntry } from '../../src/vasp/simulator.js';
import { bodyServer, type BodyHandler } from '../helpers/http.js';

const clock = { now: () => new Date('2024-05-01T10:10:00Z') };
const at = new Date('2024-05-01T10:05:00Z');

async function simulator(t: Test, status = 1000): Promise<{ url: string; log: VaspLogEntry[] }> {
  const log: VaspLogEntry[] = [];
  const sim = new VaspSimulator({ user: 'demo', password: 'demo', status, log: (e) => log.push(e) });
  const { url } = await sim.start();
  t.teardown(() => sim.stop());
  return { url, log };
}

type Handler = BodyHandler;

/** A server of our own, for answers no VASP simulator gives. */
async function server(t: Test, handle: Handler): Promise<string> {
  return `${await bodyServer(t, handle)}/mm7`;
}

/** An endpoint that answers HTTP 500 `failures` times, then passes requests on to `target`. */
async function flaky(t: Test, target: string, failures: number): Promise<{ url: string; hits: () => number }> {
  let hits = 0;
  const url = await server(t, (req, body, res) => {
    hits++;
    if (hits <= failures) {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('database restarting');
      return;
    }
    fetch(target, { method: 'POST', headers: { 'content-type': String(req.headers['content-type']), authorization: String(req.headers.authorization) }, body })
      .then(async (r) => {
        res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'text/plain' });
        res.end(Buffer.from(await r.arrayBuffer()));
      })
      .catch((e: unknown) => {
        res.writeHead(502);
        res.end(String(e));
      });
  });
  return { url, hits: () => hits };
}

function message(origin: Origin, extra: Partial<MessageEnvelope> = {}): StoredMessage {
  return {
    messageId: 'm-42',
    envelope: {
      from: origin.interface === 'mm1' ? origin.msisdn : '12345',
      to: origin.interface === 'mm1' ? ['12345'] : ['+15550002222'],
      cc: [],
      bcc: [],
      subject: 'hello',
      date: new Date('2024-05-01T10:00:00Z'),
      expiresAt: new Date('2024-05-03T10:00:00Z'),
      deliveryReport: true,
      readReport: true,
      contentType: 'multipart/related; start="<smil>"; type="application/smil"',
      allowAdaptations: true,
      origin,
      ...extra,
    },
    recipients: [],
    size: 3,
    destroyed: false,
  };
}

const fromVasp = message({ interface: 'mm7', vaspId: 'demo', vasId: 'demo', release: 'REL-5-MM7-1-0', mm7Version: '5.3.0' });
const fromPhone = message({ interface: 'mm1', msisdn: '+15550001111', transactionId: 'tx' });
const parts: StoredPart[] = [
  { contentType: 'application/smil', contentId: 'smil', data: Buffer.from('<smil/>') },
  { contentType: 'text/plain; charset=utf-8', contentLocation: 'answer.txt', data: Buffer.from('B') },
];

function job(kind: OutboxJob['kind'], address: string, payload: unknown, messageId = 'm-42', id = 7): OutboxJob {
  return { id, kind, key: `${messageId}/${address}`, messageId, address, payload, attempts: 1, createdAt: clock.now(), giveUpAt: null, holdsMessage: false, lastError: null };
}

function deps(url: string | undefined, extra: Partial<VaspJobDeps> = {}, account: Partial<VaspAccountLike> = {}): VaspJobDeps {
  const messages = new Map([
    [fromVasp.messageId, fromVasp],
    ['m-mo', { ...fromPhone, messageId: 'm-mo' }],
  ]);
  return {
    getMessage: (id) => messages.get(id),
    getParts: () => parts,
    vaspAccount: (id) => (id === 'demo' ? { vaspId: 'demo', vasIds: ['quiz'], user: 'demo', password: 'demo', ...(url !== undefined ? { deliveryUrl: url } : {}), ...account } : undefined),
    clock,
    relayServerId: 'mmsc-test',
    timeoutMs: 5000,
    ...extra,
  };
}

const reportPayload = { status: 'Retrieved', at: at.toISOString() };

t.test('DeliveryReportReq to the VASP simulator: done, as the VASP saw it', async (t) => {
  const sim = await simulator(t);
  const outcome = await deliveryReportHandler(deps(sim.url))(job('mm7-delivery-report', '+15550002222', reportPayload));
  t.same(outcome, { status: 'done', detail: 'MM7 status 1000 Success' });
  t.equal(sim.log.length, 1);
  const e = sim.log[0]!;
  t.equal(e.type, 'DeliveryReportReq');
  t.equal(e.release, 'REL-5-MM7-1-0', 'in the release the VASP submitted in');
  t.equal(e.transactionId, 'mmsc-mm7-delivery-report-7');
  t.equal(e.message?.mmStatus, 'Retrieved');
  t.equal(e.message?.messageId, 'm-42');
  t.equal(e.message?.mm7Version, '5.3.0');
  t.equal(e.message?.mmsRelayServerId, 'mmsc-test');
  t.same(e.message?.recipient, { kind: 'Number', value: '+15550002222' });
  t.same(e.message?.sender, { kind: 'ShortCode', value: '12345' });
});

t.test('an endpoint that answers 500 twice, then recovers: retry, retry, done — one report arrives', async (t) => {
  const sim = await simulator(t);
  const proxy = await flaky(t, sim.url, 2);
  const handler = vaspJobHandlers(deps(proxy.url))['mm7-delivery-report'];
  const outcomes = [];
  for (let attempt = 1; attempt <= 3; attempt++) outcomes.push(await handler({ ...job('mm7-delivery-report', '+15550002222', reportPayload), attempts: attempt }));
  t.same(outcomes.map((o) => o.status), ['retry', 'retry', 'done']);
  t.match(outcomes[0], { error: /HTTP 500: database restarting/ });
  t.equal(proxy.hits(), 3);
  t.equal(sim.log.length, 1, 'the VASP got the report once');
  t.equal(sim.log[0]!.transactionId, 'mmsc-mm7-delivery-report-7', 'the same TransactionID on every attempt');
});

t.test('the VASP status code decides', async (t) => {
  const cases: Array<[number, string]> = [
    [2002, 'failed'],
    [2007, 'failed'],
    [3000, 'retry'],
    [3002, 'retry'],
    [4006, 'retry'],
    [4004, 'failed'],
    [4001, 'failed'],
  ];
  for (const [code, status] of cases) {
    const sim = await simulator(t, code);
    const outcome = await deliveryReportHandler(deps(sim.url))(job('mm7-delivery-report', '+15550002222', reportPayload));
    t.equal(outcome.status, status, `${code} → ${status}`);
    if (outcome.status !== 'done') t.match(outcome.error, new RegExp(`MM7 status ${code}`));
  }
  t.equal(outcomeOfStatus(1100).status, 'done', 'partial success is an answer');
});

t.test('no answer: retry; a wrong password: failed', async (t) => {
  const sim = await simulator(t);
  const wrong = await deliveryReportHandler(deps(sim.url, {}, { password: 'nope' }))(job('mm7-delivery-report', '+15550002222', reportPayload));
  t.match(wrong, { status: 'failed', error: /HTTP 401/ });

  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const refused = await deliveryReportHandler(deps(`http://127.0.0.1:${port}/mm7`))(job('mm7-delivery-report', '+15550002222', reportPayload));
  t.match(refused, { status: 'retry', error: /ECONNREFUSED/ });

  // A VASP that takes the request and never answers.
  const silent = await server(t, () => undefined);
  const timedOut = await deliveryReportHandler(deps(silent, { timeoutMs: 200 }))(job('mm7-delivery-report', '+15550002222', reportPayload));
  t.match(timedOut, { status: 'retry', error: /no answer/ });
});

t.test('answers that are not a proper answer: failed with the reason', async (t) => {
  const request = deliveryReportReq(fromVasp, '+15550002222', 'Retrieved', at, { transactionId: 'tx-1' });
  const reply = async (env: Mm7Envelope, status = 200): Promise<string> => {
    const { contentType, body } = await encodeMm7Http(env);
    return server(t, (_req, _body, res) => {
      res.writeHead(status, { 'content-type': contentType });
      res.end(body);
    });
  };
  const endpoint = (url: string) => ({ url, user: 'demo', password: 'demo', timeoutMs: 5000 });

  const garbage = await server(t, (_req, _body, res) => {
    res.writeHead(200, { 'content-type': 'text/xml' });
    res.end('<html>ok</html>');
  });
  t.match((await sendToVasp(endpoint(garbage), request, undefined, clock)).outcome, { status: 'failed', error: /malformed MM7 answer/ });

  const otherType = answer({ ...request, message: { ...request.message, type: 'DeliverReq' } }, 1000);
  t.match((await sendToVasp(endpoint(await reply(otherType.envelope)), request, undefined, clock)).outcome, { status: 'failed', error: /DeliverRsp to a DeliveryReportReq/ });

  const otherTx = answer({ ...request, transactionId: 'tx-2' }, 1000);
  t.match((await sendToVasp(endpoint(await reply(otherTx.envelope)), request, undefined, clock)).outcome, { status: 'failed', error: /TransactionID "tx-2"/ });

  // SOAP 1.1 puts a Fault in HTTP 500: the MM7 status in it wins over the HTTP status.
  const fault: Mm7Envelope = {
    release: request.release,
    transactionId: 'tx-1',
    message: { type: 'VASPErrorRsp', mm7Version: '5.3.0', status: { code: 2007, text: 'Message format corrupt' } },
    fault: { code: 'env:Client', string: 'Message format corrupt' },
  };
  const faulted = await sendToVasp(endpoint(await reply(fault, 500)), request, undefined, clock);
  t.same([faulted.httpStatus, faulted.outcome.status], [500, 'failed']);
  t.match(faulted.outcome, { error: /2007/ });
  const busyFault = await sendToVasp(endpoint(await reply({ ...fault, message: { ...fault.message, status: { code: 4006 } } }, 500)), request, undefined, clock);
  t.equal(busyFault.outcome.status, 'retry', '4006 in a Fault is retried');

  const ok = answer(request, 1000);
  t.equal((await sendToVasp(endpoint(await reply(ok.envelope)), request, undefined, clock)).outcome.status, 'done', 'the proper answer is done');
  const contradiction = await sendToVasp(endpoint(await reply(ok.envelope, 503)), request, undefined, clock);
  t.equal(contradiction.outcome.status, 'failed', 'success in an HTTP error is not proof');
});

t.test('classification without a server', async (t) => {
  const request = deliveryReportReq(fromVasp, '+1', 'Retrieved', at, { transactionId: 'x' });
  const http = (status: number, body = '', headers: Record<string, string> = {}) => ({ status, headers: new Headers(headers), body: Buffer.from(body) });
  t.same((await classifyMm7Answer(request, http(503, '', { 'retry-after': '30' }), clock.now())).outcome, { status: 'retry', error: 'HTTP 503', afterMs: 30_000 });
  t.same((await classifyMm7Answer(request, http(200), clock.now())).outcome, { status: 'failed', error: 'malformed MM7 answer (HTTP 200): empty body' });
  t.match((await classifyMm7Answer(request, http(404, 'no such path', { 'content-type': 'text/plain' }), clock.now())).outcome, { status: 'failed', error: /HTTP 404/ });
});

t.test('ReadReplyReq to the simulator', async (t) => {
  const sim = await simulator(t);
  const outcome = await readReplyHandler(deps(sim.url))(job('mm7-read-reply', '+15550002222', { readStatus: 'Deleted-without-being-read', at: at.toISOString() }));
  t.equal(outcome.status, 'done');
  t.equal(sim.log[0]?.type, 'ReadReplyReq');
  t.equal(sim.log[0]?.message?.mmStatus, 'Deleted');
  t.same(sim.log[0]?.message?.timeStamp, at);
});

t.test('DeliverReq of a terminal message to the VASP short code', async (t) => {
  const sim = await simulator(t);
  const outcome = await deliverHandler(deps(sim.url, {}, { releases: ['REL-6-MM7-1-2', 'REL-5-MM7-1-3'] }))(job('mm7-deliver', '12345', { vaspId: 'demo', linkedId: 'mo-9' }, 'm-mo', 11));
  t.equal(outcome.status, 'done');
  const e = sim.log[0]!;
  t.equal(e.type, 'DeliverReq');
  t.equal(e.release, 'REL-6-MM7-1-2', "the newest release the VASP's account accepts");
  t.equal(e.message?.linkedId, 'mo-9');
  t.equal(e.message?.vaspId, 'demo');
  t.equal(e.message?.vasId, 'quiz');
  t.same(e.message?.sender, { kind: 'Number', value: '+15550001111' });
  t.same(e.parts.map((p) => [p.contentType, p.size]), [
    ['application/smil', 7],
    ['text/plain; charset=utf-8', 1],
  ]);
  t.equal(transactionIdOf(job('mm7-deliver', '12345', {}, 'm-mo', 11)), e.transactionId);
});

t.test('jobs that cannot be done fail with the reason, without a request', async (t) => {
  const sim = await simulator(t);
  const d = deps(sim.url);
  t.match(await deliveryReportHandler(deps(undefined))(job('mm7-delivery-report', '+1', reportPayload)), { status: 'failed', error: /no deliveryUrl/ });
  t.match(await deliveryReportHandler(d)(job('mm7-delivery-report', '+1', reportPayload, 'm-mo')), { status: 'failed', error: /did not come from a VASP/ });
  t.match(await deliveryReportHandler(d)(job('mm7-delivery-report', '+1', reportPayload, 'gone')), { status: 'failed', error: /not in the store/ });
  t.match(await deliveryReportHandler(d)(job('mm7-delivery-report', '+1', { status: 'Lost', at: 'x' })), { status: 'failed', error: /bad payload/ });
  t.match(await readReplyHandler(d)(job('mm7-read-reply', '+1', { readStatus: 'Read' })), { status: 'failed', error: /bad payload/ });
  t.match(await deliverHandler(d)(job('mm7-deliver', '12345', { vaspId: 'other' }, 'm-mo')), { status: 'failed', error: /VASP other is not configured/ });
  const unknownVasp = { ...d, vaspAccount: () => undefined };
  t.match(await deliveryReportHandler(unknownVasp)(job('mm7-delivery-report', '+1', reportPayload)), { status: 'failed', error: /VASP demo is not configured/ });
  const destroyed = { ...d, getMessage: () => ({ ...fromPhone, destroyed: true }) };
  t.match(await deliverHandler(destroyed)(job('mm7-deliver', '12345', { vaspId: 'demo' })), { status: 'failed', error: /destroyed/ });
  t.equal(sim.log.length, 0);
});
