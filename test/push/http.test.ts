import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { decodeMmsPush, encodeMmsPush, type MNotificationInd } from '../../protocol/mms/index.js';
import { BearerError } from '../../src/push/errors.js';
import { HTTP_PUSH_CONTENT_TYPE, HttpBearerError, HttpNotifier, httpBearerConfigSchema, retryAfterMs } from '../../src/push/http.js';
import { outcomeOfBearerError } from '../../src/push/push-job.js';

interface Seen {
  headers: IncomingMessage['headers'];
  body: Buffer;
}

async function receiver(t: Test, answers: Array<{ status: number; headers?: Record<string, string> }>): Promise<{ url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ headers: req.headers, body: Buffer.concat(chunks) });
      const a = answers[Math.min(seen.length, answers.length) - 1]!;
      res.writeHead(a.status, { 'content-type': 'text/plain', ...a.headers });
      res.end(`answer ${a.status}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(async () => {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/push`, seen };
}

const pdu: MNotificationInd = {
  messageType: 'm-notification-ind',
  transactionId: 'tok-9',
  mmsVersion: '1.2',
  messageClass: 'Personal',
  messageSize: 1234,
  expiry: { relative: 3600 },
  contentLocation: 'http://127.0.0.1:8081/m/tok-9',
};
const push = { to: '+15550002222', messageId: 'm-9', pushPdu: encodeMmsPush(pdu, 3) };
const clock = { now: () => new Date('2024-05-01T10:00:00Z') };

async function failure(p: Promise<unknown>): Promise<HttpBearerError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof HttpBearerError) return e;
    throw e;
  }
  throw new Error('expected the push to fail');
}

t.test('2xx: the raw push PDU with the recipient in a header', async (t) => {
  const r = await receiver(t, [{ status: 204 }]);
  await new HttpNotifier({ url: r.url, token: 'lab', clock }).notify(push);
  const s = r.seen[0]!;
  t.equal(s.headers['content-type'], HTTP_PUSH_CONTENT_TYPE);
  t.equal(s.headers['x-mms-recipient'], '+15550002222');
  t.equal(s.headers['x-mms-message-id'], 'm-9');
  t.equal(s.headers.authorization, 'Bearer lab');
  t.equal(s.body.toString('hex'), push.pushPdu.toString('hex'), 'the octets are the push PDU, TID first');
  t.equal(decodeMmsPush(s.body).mms.contentLocation, pdu.contentLocation);
});

t.test('5xx, 408 and 429 are retried; other answers fail', async (t) => {
  const r = await receiver(t, [{ status: 503, headers: { 'retry-after': '3' } }, { status: 429 }, { status: 408 }, { status: 404 }, { status: 400 }]);
  const n = new HttpNotifier({ url: r.url, contentType: 'application/octet-stream', clock });
  const busy = await failure(n.notify(push));
  t.ok(busy instanceof BearerError);
  t.same([busy.retryable, busy.httpStatus, busy.afterMs, busy.bearer], [true, 503, 3000, 'http']);
  t.same(outcomeOfBearerError(busy), { status: 'retry', error: busy.message, afterMs: 3000 });
  t.equal((await failure(n.notify(push))).retryable, true, '429');
  t.equal((await failure(n.notify(push))).retryable, true, '408');
  const gone = await failure(n.notify(push));
  t.same([gone.retryable, gone.httpStatus], [false, 404]);
  t.match(gone.message, /answer 404/, 'the answer body is in the reason');
  t.same(outcomeOfBearerError(gone), { status: 'failed', error: gone.message });
  t.equal((await failure(n.notify(push))).retryable, false, '400');
  t.equal(r.seen[0]!.headers['content-type'], 'application/octet-stream', 'the content type is configurable');
});

t.test('nobody listening: retried', async (t) => {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const e = await failure(new HttpNotifier({ url: `http://127.0.0.1:${port}/push` }).notify(push));
  t.equal(e.retryable, true);
  t.equal(e.httpStatus, undefined);
});

t.test('Retry-After forms', async (t) => {
  const now = new Date('2024-05-01T10:00:00Z');
  t.equal(retryAfterMs('120', now), 120_000);
  t.equal(retryAfterMs('Wed, 01 May 2024 10:00:30 GMT', now), 30_000);
  t.equal(retryAfterMs('Wed, 01 May 2024 09:00:00 GMT', now), 0, 'a past date: now');
  t.equal(retryAfterMs('soon', now), undefined);
  t.equal(retryAfterMs(null, now), undefined);
});

t.test('configuration fragment', async (t) => {
  t.same(httpBearerConfigSchema.parse({ url: 'http://127.0.0.1:9999/push' }), { url: 'http://127.0.0.1:9999/push', contentType: HTTP_PUSH_CONTENT_TYPE, timeout: 10_000 });
  t.equal(httpBearerConfigSchema.parse({ url: 'http://h/', timeout: '500ms' }).timeout, 500);
  t.notOk(httpBearerConfigSchema.safeParse({}).success);
  t.throws(() => new HttpNotifier({ url: 'nope' }));
  t.notOk(httpBearerConfigSchema.safeParse({ url: 'http://h/', timeout: '10 seconds' }).success);

  const r = await receiver(t, [{ status: 200 }]);
  await HttpNotifier.fromConfig(httpBearerConfigSchema.parse({ url: r.url, token: 't0k', contentType: 'application/x-lab-push' })).notify(push);
  t.same([r.seen[0]!.headers['content-type'], r.seen[0]!.headers.authorization], ['application/x-lab-push', 'Bearer t0k']);
});
