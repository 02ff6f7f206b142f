import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import t from 'tap';
import { submitEnvelope as submit } from '../helpers/mm7.js';
import { isLoopback } from '../../src/frontends/http-util.js';
import { decodeMm7Http, encodeMm7Http } from '../../protocol/mm7/http.js';
import { decodeMms, encodeMms } from '../../protocol/mms/codec.js';
import type { Mm7Envelope } from '../../protocol/mm7/model.js';
import type { MimeEntity } from '../../protocol/mm7/mime-types.js';
import { AdminServer } from '../../src/admin/server.js';
import { loadMmscConfig } from '../../src/config/mmsc.js';
import { createLogger } from '../../src/mmsc/log.js';
import { Metrics } from '../../src/mmsc/metrics.js';
import { MmscNode } from '../../src/mmsc/node.js';
import { Db1 } from '../../src/store/db1.js';

// The admin listener of a running MmscNode: health, Prometheus metrics,
// the token-protected admin API, and the structured logs of a request.

const AUTH = `Basic ${Buffer.from('demo:demo').toString('base64')}`;
const BEARER = { Authorization: 'Bearer demo' };
const JPEG = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(1000, 0x5a), Buffer.from([0xff, 0xd9])]);

/** Log lines the node wrote, parsed. */
const lines: string[] = [];
const sink = new Writable({
  write(chunk: Buffer, _enc, done) {
    lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    done();
  },
});
const logged = (): Array<Record<string, unknown>> => lines.map((l) => JSON.parse(l) as Record<string, unknown>);

const clock = { t: Date.parse('2024-05-01T10:00:00Z'), now(): Date { return new Date(this.t); } };
const dir = mkdtempSync(join(tmpdir(), 'mmsc-admin-'));
const config = loadMmscConfig({
  data: dir,
  mm7: { listen: '127.0.0.1:0' },
  mm1: { listen: '127.0.0.1:0' },
  admin: { listen: '127.0.0.1:0', token: 'demo' },
  vasps: [{ vaspId: 'demo', vasIds: ['demo'], user: 'demo', password: 'demo', shortCodes: ['12345'], loopbackOnly: true }],
});
const node = new MmscNode({ config, clock, log: createLogger(sink) });
let mm7Url = '';
let mm1Url = '';
let adminUrl = '';
let messageId = '';
let requestId = '';

const content: MimeEntity = {
  mediaType: 'multipart/related',
  params: { type: 'text/plain' },
  headers: [],
  parts: [
    { mediaType: 'text/plain', params: { charset: 'utf-8' }, contentId: 'txt', contentLocation: 'hello.txt', headers: [], body: Buffer.from('hello') },
    { mediaType: 'image/jpeg', params: {}, contentId: 'img', contentLocation: 'photo.jpg', headers: [], body: JPEG },
  ],
};

const submitEnvelope = (transactionId: string, to: string[]): Mm7Envelope => submit(transactionId, to, { subject: 'Admin test' });

async function api(path: string, init: RequestInit = {}): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const res = await fetch(`${adminUrl}${path}`, { ...init, headers: { ...BEARER, ...(init.headers as Record<string, string>) } });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {}, headers: res.headers };
}

t.before(async () => {
  const listeners = await node.start();
  mm7Url = listeners.find((l) => l.what.startsWith('MM7'))!.url;
  mm1Url = listeners.find((l) => l.what.startsWith('MM1'))!.url.replace(/\/$/, '');
  adminUrl = listeners.find((l) => l.what === 'admin/metrics')!.url.replace(/\/$/, '');
  const { contentType, body } = await encodeMm7Http(submitEnvelope('admin-tx-1', ['+15550002222', '+15550003333']), content);
  const res = await fetch(mm7Url, { method: 'POST', headers: { 'Content-Type': contentType, SOAPAction: '""', Authorization: AUTH }, body });
  const rsp = await decodeMm7Http(res.headers.get('content-type')!, Buffer.from(await res.arrayBuffer()));
  if (rsp.envelope.message.status?.code !== 1000) throw new Error(`submit failed: ${JSON.stringify(rsp.envelope.message.status)}`);
  messageId = rsp.envelope.message.messageId!;
  requestId = res.headers.get('x-request-id') ?? '';
  // Both notifications sent: the event history is complete.
  for (let i = 0; i < 200 && node.store.getMessage(messageId)!.recipients.some((r) => r.state === 'accepted'); i++) await new Promise((r) => setTimeout(r, 10));
});
t.teardown(async () => {
  await node.stop();
  rmSync(dir, { recursive: true, force: true });
});

t.test('healthz answers without a token', async (t) => {
  const res = await fetch(`${adminUrl}/healthz`);
  t.equal(res.status, 200);
  t.same(await res.json(), { status: 'ok' });
});

t.test('healthz is 503 when the store does not answer', async (t) => {
  const db = Db1.open(':memory:');
  db.close();
  const admin = new AdminServer({ host: '127.0.0.1', port: 0, store: db, metrics: new Metrics(), loopbackOnly: true });
  const port = await admin.start();
  t.teardown(() => admin.stop());
  const res = await fetch(`http://127.0.0.1:${port}/healthz`);
  t.equal(res.status, 503);
  t.same(await res.json(), { status: 'unavailable' });
  t.equal((await fetch(`http://127.0.0.1:${port}/api/messages`, { headers: BEARER })).status, 403, 'no token configured: the API is off');
});

t.test('metrics in Prometheus text, per node', async (t) => {
  const res = await fetch(`${adminUrl}/metrics`);
  t.equal(res.status, 200);
  t.match(res.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  t.match(text, /^mmsc_accepted_total\{interface="mm7"\} 1$/m);
  t.match(text, /^mmsc_accepted_total\{interface="mm1"\} 0$/m);
  t.match(text, /^# TYPE mmsc_request_duration_seconds histogram$/m);
  t.match(text, /^mmsc_request_duration_seconds_count\{interface="mm7",operation="SubmitReq"\} 1$/m);
  t.match(text, /^mmsc_request_duration_seconds_bucket\{le="\+Inf",interface="mm7",operation="SubmitReq"\} 1$/m);
  t.match(text, /^mmsc_store_messages 1$/m);
  t.match(text, new RegExp(`^mmsc_store_bytes ${5 + JPEG.length}$`, 'm'));
  t.notOk(/\bprocess_cpu|nodejs_/.test(text), 'no default (global) metrics');
});

t.test('retrieval, refusals and expiry are counted', async (t) => {
  const token = node.store.getMessage(messageId)!.recipients[0]!.token;
  const got = await fetch(`${mm1Url}/m/${token}`);
  t.equal(got.status, 200);
  t.ok(got.headers.get('x-request-id'), 'MM1 answers carry a request id');
  await got.arrayBuffer();
  const wrong = await fetch(mm7Url, { method: 'POST', headers: { Authorization: `Basic ${Buffer.from('demo:x').toString('base64')}` }, body: 'x' });
  t.equal(wrong.status, 401);
  for (const [tx, to] of [['admin-tx-2', ['+447700900123']], ['admin-tx-3', ['+15550005555', '+447700900123']]] as const) {
    const { contentType, body } = await encodeMm7Http(submitEnvelope(tx, [...to]), content);
    await (await fetch(mm7Url, { method: 'POST', headers: { 'Content-Type': contentType, Authorization: AUTH }, body })).arrayBuffer();
  }
  clock.t += 3 * 86_400_000;
  t.equal(await node.sweep(), 2, 'the first message and the partly routable one');
  const text = await (await fetch(`${adminUrl}/metrics`)).text();
  t.match(text, /^mmsc_retrieved_total 1$/m);
  t.match(text, /^mmsc_request_duration_seconds_count\{interface="mm1",operation="retrieve"\} 1$/m);
  t.match(text, /^mmsc_rejected_total\{interface="mm7",reason="unauthorized"\} 1$/m);
  t.match(text, /^mmsc_rejected_total\{interface="mm7",reason="2002"\} 1$/m, 'no routable recipient: MM7 status 2002');
  t.match(text, /^mmsc_expired_total 2$/m);
  t.match(text, /^mmsc_accepted_total\{interface="mm7"\} 2$/m, 'a partial success is accepted');
  t.match(text, /^mmsc_store_messages 0$/m);
  clock.t -= 3 * 86_400_000;
});

t.test('the admin API wants the bearer token', async (t) => {
  const none = await fetch(`${adminUrl}/api/messages`);
  t.equal(none.status, 401);
  t.match(none.headers.get('content-type'), /^application\/json/);
  t.match(await none.json(), { error: /token/ });
  t.equal((await fetch(`${adminUrl}/api/messages`, { headers: { Authorization: 'Bearer nope' } })).status, 401);
  t.equal((await fetch(`${adminUrl}/api/messages`, { headers: { Authorization: AUTH } })).status, 401, 'Basic is not Bearer');
});

// Tests never leave loopback, so the refusal of other peers is checked on the
// predicate the admin server uses rather than over a real interface.
t.test('only loopback peers count as loopback', async (t) => {
  for (const a of ['127.0.0.1', '127.8.9.1', '::1', '::ffff:127.0.0.1']) t.ok(isLoopback(a), a);
  for (const a of ['10.0.0.5', '192.168.1.2', '::ffff:10.0.0.5', '2001:db8::1', undefined]) t.notOk(isLoopback(a), String(a));
});

t.test('messages: list with filters, newest first', async (t) => {
  const all = await api('/api/messages');
  t.equal(all.status, 200);
  const messages = all.body.messages as Array<Record<string, unknown>>;
  t.equal(messages.length, 2, 'the first message and the partly routable one; the refused one was never stored');
  t.equal(messages[1]!.messageId, messageId, 'the first accepted is last');
  t.match(messages[1], { from: '12345', subject: 'Admin test', interface: 'mm7', destroyed: true, destroyedReason: 'expired' });
  t.same((await api('/api/messages?to=+15550003333')).body.messages, [messages[1]], 'by recipient, + kept');
  t.same((await api('/api/messages?state=unroutable')).body.messages, [messages[0]]);
  t.same((await api('/api/messages?from=99999')).body.messages, []);
  const page = await api('/api/messages?limit=1');
  t.equal((page.body.messages as unknown[]).length, 1);
  t.equal(page.body.next, messages[0]!.messageId);
  t.same((await api(`/api/messages?limit=1&before=${String(page.body.next)}`)).body.messages, [messages[1]]);
  t.equal((await api('/api/messages?state=lost')).status, 400);
  const bad = await api('/api/messages?limit=0');
  t.equal(bad.status, 400);
  t.match(bad.body, { error: /limit/ });
});

t.test('messages: one message with recipients, parts and events', async (t) => {
  const { status, body } = await api(`/api/messages/${messageId}`);
  t.equal(status, 200);
  t.equal(body.messageId, messageId);
  t.match(body.envelope, { from: '12345', to: ['+15550002222', '+15550003333'], subject: 'Admin test', origin: { interface: 'mm7', vaspId: 'demo' } });
  const recipients = body.recipients as Array<Record<string, unknown>>;
  t.equal(recipients[0]!.state, 'retrieved', 'the one fetched before the sweep');
  t.equal(recipients[1]!.state, 'expired');
  t.notOk(recipients.some((r) => 'token' in r), 'retrieval tokens are not shown');
  t.same(body.parts, [], 'content destroyed by the sweep');
  const types = (body.events as Array<{ type: string; address: string | null }>).map((e) => `${e.address ?? '*'}:${e.type}`);
  for (const e of ['+15550002222:accepted', '+15550002222:notified', '+15550002222:retrieved', '+15550003333:expired', '*:expired']) t.ok(types.includes(e), e);

  const missing = await api('/api/messages/nope');
  t.equal(missing.status, 404);
  t.match(missing.headers.get('content-type'), /^application\/json/);
  t.same(missing.body, { error: 'no message nope' });
  t.equal((await api('/api/nothing')).status, 404);
  t.equal((await api(`/api/messages/${messageId}`, { method: 'DELETE' })).status, 405);
});

t.test('messages: parts listed with type and size, not data', async (t) => {
  const { contentType, body } = await encodeMm7Http(submitEnvelope('admin-tx-4', ['+15550004444']), content);
  const res = await fetch(mm7Url, { method: 'POST', headers: { 'Content-Type': contentType, Authorization: AUTH }, body });
  const id = (await decodeMm7Http(res.headers.get('content-type')!, Buffer.from(await res.arrayBuffer()))).envelope.message.messageId!;
  const detail = await api(`/api/messages/${id}`);
  t.same(detail.body.parts, [
    { contentType: 'text/plain; charset=utf-8', contentId: 'txt', contentLocation: 'hello.txt', size: 5 },
    { contentType: 'image/jpeg', contentId: 'img', contentLocation: 'photo.jpg', size: JPEG.length },
  ]);
});

t.test('subscribers: PUT, GET, list, DELETE', async (t) => {
  const addr = '/api/subscribers/+15550001111';
  t.equal((await api(addr)).status, 404);
  const put = { method: 'PUT', headers: { 'Content-Type': 'application/json' } };
  const created = await api(addr, { ...put, body: JSON.stringify({ profile: 'http://uaprof.example/lab.xml', archiveSubscriptionId: 'arch-1' }) });
  t.equal(created.status, 201);
  t.same(created.body, { address: '+15550001111', profile: 'http://uaprof.example/lab.xml', archiveSubscriptionId: 'arch-1' });
  t.same((await api(addr)).body, created.body);
  const updated = await api(addr, { ...put, body: JSON.stringify({ archiveSubscriptionId: 'arch-2' }) });
  t.equal(updated.status, 200);
  t.same(updated.body, { address: '+15550001111', profile: null, archiveSubscriptionId: 'arch-2' }, 'PUT replaces the whole record');
  await api('/api/subscribers/+15550009999', { ...put, body: '{}' });
  const list = await api('/api/subscribers');
  t.same((list.body.subscribers as Array<{ address: string }>).map((s) => s.address), ['+15550001111', '+15550009999']);
  t.same((await api('/api/subscribers?limit=1&after=%2B15550001111')).body.subscribers, [{ address: '+15550009999', profile: null, archiveSubscriptionId: null }]);
  t.equal((await api(addr, { ...put, body: '{not json' })).status, 400);
  const unknownField = await api(addr, { ...put, body: JSON.stringify({ archiveId: 'x' }) });
  t.equal(unknownField.status, 400);
  t.match(unknownField.body, { error: /archiveId|unrecognized/i });
  t.equal((await api('/api/subscribers/not an address', { ...put, body: '{}' })).status, 400);
  t.equal((await api(addr, { method: 'DELETE' })).status, 204);
  t.equal((await api(addr)).status, 404);
  t.equal((await api(addr, { method: 'DELETE' })).status, 404);
});

t.test('structured logs: JSON lines with level, time, event, messageId and the request id', async (t) => {
  t.ok(requestId, 'the MM7 answer carried X-Request-Id');
  const events = logged();
  const accepted = events.find((e) => e.event === 'mm7-accepted' && e.messageId === messageId);
  t.ok(accepted, 'the accept was logged');
  t.match(accepted, { level: 'info', requestId, vaspId: 'demo' });
  t.ok(!Number.isNaN(Date.parse(String(accepted!.time))), 'ISO time');
  t.same(Object.keys(accepted!).slice(0, 5), ['level', 'time', 'event', 'messageId', 'requestId']);
  const notified = events.filter((e) => e.event === 'notified' && e.messageId === messageId);
  t.equal(notified.length, 2);
  t.ok(notified.every((e) => e.requestId === requestId), 'the core logs in the scope of the request that caused it');
  t.ok(notified.every((e) => e.attempts === 1), 'with the push attempts');
  t.notOk(
    events.some((e) => e.event === 'job-done' && String(e.key).includes(messageId)),
    'a notification push is one line (notified), no job-done beside it',
  );
  t.ok(events.some((e) => e.event === 'expired' && e.requestId === undefined), 'sweeps belong to no request');
});

t.test('structured logs: an M-Send.req and the notification it brings carry its request id', async (t) => {
  const sendReq = encodeMms({
    messageType: 'm-send-req',
    transactionId: 'admin-mm1-1',
    mmsVersion: '1.2',
    from: 'insert-address',
    to: [{ text: '+15550002222/TYPE=PLMN' }],
    contentType: { mediaType: 'text/plain', params: [{ name: 'charset', value: 'utf-8' }] },
    body: Buffer.from('hi'),
  });
  const res = await fetch(`${mm1Url}/`, { method: 'POST', headers: { 'Content-Type': 'application/vnd.wap.mms-message', 'X-MSISDN': '+15550001111' }, body: sendReq });
  const conf = decodeMms(Buffer.from(await res.arrayBuffer()));
  if (conf.messageType !== 'm-send-conf' || conf.responseStatus !== 'Ok') throw new Error(`M-Send.conf ${JSON.stringify(conf)}`);
  const mm1RequestId = res.headers.get('x-request-id');
  t.ok(mm1RequestId && mm1RequestId !== requestId, 'a request id of its own');
  const id = String(conf.messageId);
  for (let i = 0; i < 200 && !logged().some((e) => e.event === 'notified' && e.messageId === id); i++) await new Promise((r) => setTimeout(r, 10));
  const events = logged().filter((e) => e.messageId === id);
  t.match(events.find((e) => e.event === 'mm1-accepted'), { requestId: mm1RequestId, from: '+15550001111' });
  t.match(events.find((e) => e.event === 'notified'), { requestId: mm1RequestId, to: '+15550002222' });

  // The retrieval: the transcoder's line carries the GET's request id.
  const token = node.store.getMessage(id)!.recipients[0]!.token;
  const got = await fetch(`${mm1Url}/m/${token}`);
  t.equal(got.status, 200);
  await got.arrayBuffer();
  const getRequestId = got.headers.get('x-request-id');
  t.ok(getRequestId && getRequestId !== mm1RequestId, 'the GET has a request id of its own');
  t.match(logged().find((e) => e.event === 'transcoded' && e.messageId === id), { requestId: getRequestId });
});

t.test('createLogger writes one parseable line per event', async (t) => {
  const out: string[] = [];
  const log = createLogger(new Writable({ write: (c: Buffer, _e, done) => (out.push(c.toString('utf8')), done()) }));
  log({ event: 'notify-failed', messageId: 'm-1', error: 'boom' });
  log({ event: 'mm1-malformed', error: 'bad' });
  log({ detail: 'no event name' });
  log({ event: 'archive-sync-pull-failed', error: 'fetch failed' });
  t.same(out, [], 'nothing written before the turn ends');
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(out.length, 1, "the turn's four lines in one write");
  log({ event: 'later' });
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(out.length, 2, 'a later turn, a write of its own');
  const parsed = out.join('').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  t.equal(parsed.length, 5);
  t.equal(parsed[4]!.event, 'later', 'in order');
  t.match(parsed[3], { level: 'warn', event: 'archive-sync-pull-failed' }, 'a sync pull that will be retried is a warning');
  t.match(parsed[0], { level: 'error', event: 'notify-failed', messageId: 'm-1', error: 'boom' });
  t.match(parsed[1], { level: 'warn', event: 'mm1-malformed' });
  t.notOk('messageId' in parsed[1]!);
  t.match(parsed[2], { level: 'info', event: 'log', detail: 'no event name' });
  t.ok(parsed.every((p) => typeof p.time === 'string' && !('pid' in p) && !('hostname' in p)));
});

t.test("createLogger: the last turn's lines are written when the process exits, even on an uncaught exception", async (t) => {
  const script = `import { createLogger } from ${JSON.stringify(new URL('../../src/mmsc/log.ts', import.meta.url).href)};
    const log = createLogger(1);
    log({ event: 'first' });
    log({ event: 'last-words' });
    throw new Error('crash in the same turn');`;
  const r = spawnSync(process.execPath, [...process.execArgv, '--input-type=module', '-e', script], { encoding: 'utf8' });
  t.not(r.status, 0, 'it crashed');
  t.match(r.stderr, /crash in the same turn/);
  t.same(
    r.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { event: string }).event),
    ['first', 'last-words'],
  );
});
