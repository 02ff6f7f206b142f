import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { decodeMms, encodeMmsPush, type MNotificationInd } from '../../protocol/mms/index.js';
import { buildPapResponse, parsePapRequest, parsePushMessage, type PapResponse } from '../../protocol/pap/index.js';
import { decodePush } from '../../protocol/wsp/push.js';
import { BearerError } from '../../src/push/errors.js';
import { PapBearerError, PapNotifier, papBearerConfigSchema } from '../../src/push/pap.js';
import { outcomeOfBearerError } from '../../src/push/push-job.js';
import type { PushRequest } from '../../src/push/notifier.js';

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

type Answer = (seen: Seen) => { status: number; body: string; headers?: Record<string, string> };

/** A PPG stub: records each submission and answers with the next answer (the last one repeats). */
async function ppgStub(t: Test, answers: Answer[]): Promise<{ url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const s: Seen = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) };
      seen.push(s);
      const answer = answers[Math.min(seen.length, answers.length) - 1]!(s);
      res.writeHead(answer.status, { 'content-type': 'application/xml', ...answer.headers });
      res.end(answer.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(async () => {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/wappush`, seen };
}

/** The push-id of a recorded submission. */
function pushIdOf(s: Seen): string {
  return parsePushMessage(parsePapRequest(String(s.headers['content-type']), s.body).control).pushId;
}

/** A PAP answer for the submission's own push-id. */
const pap = (code: number, status = 202): Answer => (s) => ({ status, body: buildPapResponse({ kind: 'push-response', pushId: pushIdOf(s), code } as PapResponse) });

const notification: MNotificationInd = {
  messageType: 'm-notification-ind',
  transactionId: 'tok-123',
  mmsVersion: '1.2',
  from: { text: '12345/TYPE=PLMN' },
  messageClass: 'Personal',
  messageSize: 31000,
  expiry: { absolute: new Date('2024-05-03T10:00:00Z') },
  contentLocation: 'http://127.0.0.1:8081/m/tok-123',
};
const push: PushRequest = { to: '+15550002222', messageId: 'm-1', pushPdu: encodeMmsPush(notification, 7) };
const clock = { now: () => new Date('2024-05-01T10:00:00Z') };

function notifier(url: string, extra: Partial<ConstructorParameters<typeof PapNotifier>[0]> = {}): PapNotifier {
  return new PapNotifier({ url, ppgHost: 'ppg.example', user: 'pi', password: 'secret', deliverWithinMs: 3_600_000, clock, timeoutMs: 5000, ...extra });
}

async function failure(p: Promise<unknown>): Promise<PapBearerError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof PapBearerError) return e;
    throw e;
  }
  throw new Error('expected the push to fail');
}

t.test('an accepted push: the submission a PPG receives', async (t) => {
  const ppg = await ppgStub(t, [pap(1001)]);
  await notifier(ppg.url).notify(push);
  t.equal(ppg.seen.length, 1);
  const s = ppg.seen[0]!;
  t.equal(s.method, 'POST');
  t.equal(s.url, '/wappush');
  t.equal(s.headers.authorization, `Basic ${Buffer.from('pi:secret').toString('base64')}`);
  const ct = String(s.headers['content-type']);
  t.match(ct, /^multipart\/related;/);
  t.match(ct, /type="application\/xml"/);

  // The raw body, read without our parser: control entity first, then the content.
  const raw = s.body.toString('latin1');
  const boundary = /boundary="([^"]+)"/.exec(ct)![1]!;
  t.ok(raw.startsWith(`--${boundary}\r\nContent-Type: application/xml\r\n\r\n<?xml version="1.0"?>`), 'control entity first');
  t.ok(raw.endsWith(`\r\n--${boundary}--\r\n`), 'closing delimiter');
  const mmsPdu = Buffer.from(decodePush(push.pushPdu).body);
  const head = 'Content-Type: application/vnd.wap.mms-message\r\nX-Wap-Application-Id: x-wap-application:mms.ua\r\nContent-Transfer-Encoding: binary\r\n\r\n';
  const at = s.body.indexOf(Buffer.concat([Buffer.from(head, 'latin1'), mmsPdu, Buffer.from(`\r\n--${boundary}--`)]));
  t.ok(at > 0, 'content entity: MMS type, mms.ua application id, binary, the MMS PDU octets');

  const request = parsePapRequest(ct, s.body);
  const control = parsePushMessage(request.control);
  t.same(control, {
    pushId: notifier(ppg.url).pushIdOf(push),
    addresses: ['WAPPUSH=+15550002222/TYPE=PLMN@ppg.example'],
    deliverBeforeTimestamp: new Date('2024-05-01T11:00:00Z'),
    qualityOfService: { deliveryMethod: 'unconfirmed' },
  });
  t.match(control.pushId, /^m-1\.[0-9a-f]{20}@mmsc\.local$/);
  t.equal(Buffer.from(request.content.body).toString('hex'), mmsPdu.toString('hex'), 'push content = the push PDU content');
  t.equal(decodeMms(request.content.body).contentLocation, notification.contentLocation);
});

t.test('1000 resolves too; deliver-before is left out when not configured', async (t) => {
  const ppg = await ppgStub(t, [pap(1000, 200)]);
  await notifier(ppg.url, { deliverWithinMs: undefined }).notify(push);
  t.notMatch(ppg.seen[0]!.body.toString('latin1'), /deliver-before-timestamp/);
});

t.test('client errors fail for good', async (t) => {
  const ppg = await ppgStub(t, [pap(2002)]);
  const e = await failure(notifier(ppg.url).notify(push));
  t.ok(e instanceof BearerError, 'a BearerError');
  t.equal(e.retryable, false);
  t.equal(e.papCode, 2002);
  t.equal(e.bearer, 'pap');
  t.same(outcomeOfBearerError(e), { status: 'failed', error: e.message }, 'the outbox fails the job');
});

t.test('a badmessage-response fails for good', async (t) => {
  const ppg = await ppgStub(t, [() => ({ status: 400, body: buildPapResponse({ kind: 'badmessage-response', code: 2000, badMessageFragment: '<pap' }) })]);
  const e = await failure(notifier(ppg.url).notify(push));
  t.equal(e.retryable, false);
  t.equal(e.papCode, 2000);
});

t.test('service failures, server errors and HTTP 5xx are retried', async (t) => {
  const ppg = await ppgStub(t, [
    pap(4001, 200),
    pap(3000, 500),
    () => ({ status: 503, body: 'overloaded', headers: { 'retry-after': '7', 'content-type': 'text/plain' } }),
    () => ({ status: 502, body: '<html>bad gateway</html>', headers: { 'content-type': 'text/html' } }),
  ]);
  const n = notifier(ppg.url);
  const service = await failure(n.notify(push));
  t.same([service.retryable, service.papCode], [true, 4001], '4001 service unavailable');
  const server = await failure(n.notify(push));
  t.same([server.retryable, server.papCode, server.httpStatus], [true, 3000, 500], '3000 internal server error');
  const busy = await failure(n.notify(push));
  t.same([busy.retryable, busy.httpStatus, busy.afterMs], [true, 503, 7000], 'HTTP 503 with Retry-After');
  t.same(outcomeOfBearerError(busy), { status: 'retry', error: busy.message, afterMs: 7000 });
  const gateway = await failure(n.notify(push));
  t.same([gateway.retryable, gateway.httpStatus], [true, 502]);
});

t.test('a PPG that cannot do what is asked at all: not retried', async (t) => {
  const ppg = await ppgStub(t, [pap(3002, 200), () => ({ status: 403, body: 'forbidden', headers: { 'content-type': 'text/plain' } })]);
  t.equal((await failure(notifier(ppg.url).notify(push))).retryable, false, '3002 version not supported');
  t.equal((await failure(notifier(ppg.url).notify(push))).retryable, false, 'HTTP 403 without a PAP body');
});

t.test('the same push keeps its push-id; a duplicate answer means the PPG has it', async (t) => {
  const ppg = await ppgStub(t, [() => ({ status: 202, body: 'garbled' }), pap(2007)]);
  const n = notifier(ppg.url);
  const first = await failure(n.notify(push));
  t.equal(first.retryable, true, 'an unreadable 2xx answer is retried: the PPG may or may not have the push');
  await n.notify(push);
  t.equal(pushIdOf(ppg.seen[0]!), pushIdOf(ppg.seen[1]!), 'the retry carries the same push-id');
  // A new notification (new TID) is a new push.
  const again = { ...push, pushPdu: encodeMmsPush(notification, 8) };
  t.not(n.pushIdOf(again), n.pushIdOf(push));
});

t.test('an answer about another push is not an acceptance', async (t) => {
  const ppg = await ppgStub(t, [() => ({ status: 202, body: buildPapResponse({ kind: 'push-response', pushId: 'someone-else', code: 1001 }) })]);
  const e = await failure(notifier(ppg.url).notify(push));
  t.equal(e.retryable, true);
  t.match(e.message, /someone-else/);
});

t.test('no PPG listening: retried', async (t) => {
  const ppg = await ppgStub(t, [pap(1001)]);
  const url = ppg.url;
  // A port that was just free: take one and close it.
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const e = await failure(notifier(url.replace(/:\d+\//, `:${port}/`)).notify(push));
  t.equal(e.retryable, true);
  t.match(e.message, /ECONNREFUSED/);
});

t.test('pushes that cannot be made: failed before any request', async (t) => {
  const ppg = await ppgStub(t, [pap(1001)]);
  const n = notifier(ppg.url);
  t.equal((await failure(n.notify({ ...push, to: 'alice@example.org' }))).retryable, false, 'an e-mail address has no WAPPUSH form');
  t.equal((await failure(n.notify({ ...push, pushPdu: Buffer.from([0x01, 0x99]) }))).retryable, false, 'not a push PDU');
  t.equal(ppg.seen.length, 0);
});

t.test('a boundary that collides is replaced', async (t) => {
  const ppg = await ppgStub(t, [pap(1001)]);
  // The content location holds "--collide-1": the first boundary candidate's delimiter occurs in the PDU.
  const colliding = { ...push, pushPdu: encodeMmsPush({ ...notification, contentLocation: 'http://127.0.0.1:8081/m/x--collide-1' }, 9) };
  const boundaries = ['collide-1', 'fresh-boundary'];
  await notifier(ppg.url, { boundary: () => boundaries.shift()! }).notify(colliding);
  t.equal(boundaries.length, 0, 'both candidates were tried');
  t.match(String(ppg.seen[0]!.headers['content-type']), /boundary="fresh-boundary"/);
});

t.test('configuration fragment', async (t) => {
  const c = papBearerConfigSchema.parse({ url: 'http://127.0.0.1:8080/wappush', deliverWithin: '1h' });
  t.same(c, { url: 'http://127.0.0.1:8080/wappush', ppgHost: 'ppg.local', pushIdDomain: 'mmsc.local', deliveryMethod: 'unconfirmed', deliverWithin: 3_600_000, timeout: 10_000 });
  t.notOk(papBearerConfigSchema.safeParse({ url: 'not a url' }).success);
  t.notOk(papBearerConfigSchema.safeParse({ url: 'http://x/', timeout: 'soon' }).success);
  t.throws(() => new PapNotifier({ url: 'http://x/', user: 'only-user' }));

  // A notifier made from the fragment sends what it says.
  const ppg = await ppgStub(t, [pap(1001)]);
  const configured = papBearerConfigSchema.parse({ url: ppg.url, ppgHost: 'ppg.lab', user: 'u', password: 'p', pushIdDomain: 'lab.example', deliveryMethod: 'notspecified', deliverWithin: '30m' });
  await PapNotifier.fromConfig(configured, clock).notify(push);
  const s = ppg.seen[0]!;
  t.equal(s.headers.authorization, `Basic ${Buffer.from('u:p').toString('base64')}`);
  t.same(parsePushMessage(parsePapRequest(String(s.headers['content-type']), s.body).control), {
    pushId: PapNotifier.fromConfig(configured).pushIdOf(push),
    addresses: ['WAPPUSH=+15550002222/TYPE=PLMN@ppg.lab'],
    deliverBeforeTimestamp: new Date('2024-05-01T10:30:00Z'),
    qualityOfService: { deliveryMethod: 'notspecified' },
  });
  t.match(PapNotifier.fromConfig(configured).pushIdOf(push), /@lab\.example$/);
});
