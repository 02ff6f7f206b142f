import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { decodeMm7Http, encodeMm7Http } from '../../protocol/mm7/http.js';
import type { Mm7Envelope } from '../../protocol/mm7/model.js';
import type { MimeEntity } from '../../protocol/mm7/mime-types.js';
import { loadMmscConfig } from '../../src/config/mmsc.js';
import { MmscNode } from '../../src/mmsc/node.js';
import { submitEnvelope } from '../helpers/mm7.js';

// The MM7 front end's per-VASP limits (throughput, releases) and HEAD on retrieval.

const dir = mkdtempSync(join(tmpdir(), 'mmsc-limits-'));
const notified: string[] = [];
const node = new MmscNode({
  config: loadMmscConfig({
    data: dir,
    mm7: { listen: '127.0.0.1:0' },
    mm1: { listen: '127.0.0.1:0' },
    admin: { listen: '127.0.0.1:0' },
    vasps: [
      { vaspId: 'slow', user: 'slow', password: 'pw', shortCodes: ['12345'], submitsPerSecond: 2, loopbackOnly: true },
      { vaspId: 'rel6', user: 'rel6', password: 'pw', shortCodes: ['12345'], releases: ['REL-6-MM7-1-4'], loopbackOnly: true },
    ],
  }),
  notifier: { notify: async (p) => void notified.push(p.messageId) },
});
let mm7Url = '';
t.before(async () => {
  mm7Url = (await node.start()).find((l) => l.what.startsWith('MM7'))!.url;
});
t.teardown(async () => {
  await node.stop();
  rmSync(dir, { recursive: true, force: true });
});

const content: MimeEntity = { mediaType: 'text/plain', params: { charset: 'utf-8' }, contentId: 'content-1', headers: [], body: Buffer.from('hi') };

/** A SubmitReq from the VASP `vaspId` (short code 12345). */
const from = (vaspId: string, tx: string, to: string): Mm7Envelope =>
  submitEnvelope(tx, [to], { senderIdentification: { vaspId, senderAddress: { kind: 'ShortCode', value: '12345' } } });

async function post(env: Mm7Envelope, user: string): Promise<{ status: number; retryAfter: string | null; envelope: Mm7Envelope }> {
  const { contentType, body } = await encodeMm7Http(env, content);
  const res = await fetch(mm7Url, { method: 'POST', headers: { 'Content-Type': contentType, Authorization: `Basic ${Buffer.from(`${user}:pw`).toString('base64')}` }, body });
  const envelope = (await decodeMm7Http(res.headers.get('content-type')!, Buffer.from(await res.arrayBuffer()))).envelope;
  return { status: res.status, retryAfter: res.headers.get('retry-after'), envelope };
}

t.test('over the throughput limit: 4006 with Retry-After, and nothing stored', async (t) => {
  const answers = [];
  for (let i = 0; i < 4; i++) answers.push(await post(from('slow', `slow-${i}`, '+15550002222'), 'slow'));
  const codes = answers.map((a) => a.envelope.message.status?.code);
  t.same(codes.slice(0, 2), [1000, 1000], 'the burst allowance of one second');
  t.equal(codes[2], 4006, 'then service unavailable');
  t.equal(answers[2]!.status, 200, 'an identified request is answered in its own SubmitRsp');
  t.match(answers[2]!.retryAfter, /^[1-9][0-9]*$/, 'Retry-After in seconds');
  t.equal(answers[2]!.envelope.message.messageId, undefined);
  t.equal(answers[2]!.envelope.transactionId, 'slow-2');
});

t.test('a release the VASP may not use: 4002 in the requester release', async (t) => {
  const rel5 = from('rel6', 'rel6-1', '+15550002222');
  rel5.release = 'REL-5-MM7-1-3';
  rel5.message.mm7Version = '5.6.0';
  const a = await post(rel5, 'rel6');
  t.equal(a.envelope.message.status?.code, 4002);
  t.equal(a.envelope.release, 'REL-5-MM7-1-3');
  t.equal(a.envelope.message.mm7Version, '5.6.0');
  t.equal((await post(from('rel6', 'rel6-2', '+15550002222'), 'rel6')).envelope.message.status?.code, 1000);
});

t.test('HEAD on a retrieval URL answers its headers and leaves the state alone', async (t) => {
  const sent = await post(from('rel6', 'rel6-3', '+15550003333'), 'rel6');
  const messageId = sent.envelope.message.messageId!;
  for (let i = 0; i < 100 && !notified.includes(messageId); i++) await new Promise((r) => setTimeout(r, 10));
  const stored = node.store.getMessage(messageId)!;
  const url = `${(node.listeners.find((l) => l.what.startsWith('MM1'))!.url).replace(/\/$/, '')}/m/${stored.recipients[0]!.token}`;
  const head = await fetch(url, { method: 'HEAD' });
  t.equal(head.status, 200);
  t.equal(head.headers.get('content-type'), 'application/vnd.wap.mms-message');
  t.equal((await head.arrayBuffer()).byteLength, 0, 'no body');
  t.equal(node.store.getMessage(messageId)!.recipients[0]!.state, 'notified', 'HEAD is not a retrieval');
  const get = await fetch(url);
  t.equal(Number(head.headers.get('content-length')), (await get.arrayBuffer()).byteLength, 'same length as the GET');
  t.equal(node.store.getMessage(messageId)!.recipients[0]!.state, 'retrieved');
});
