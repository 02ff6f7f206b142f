import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { decodeMms, encodeMms, pduFromJson, pduToJson, decodeMmsPush, encodeMmsPush, type Json } from '../../../protocol/mms/index.js';
import { decodeUserData, encodeUserData } from '../../../protocol/wdp/index.js';
import { decodePush, encodePush } from '../../../protocol/wsp/push.js';
import { loadHexFixtures, REPO_ROOT } from '../../helpers/fixtures.js';

// Golden PDUs: the bytes decode to the expected JSON, the JSON encodes to the
// bytes, and both round trips are exact (mqtt-packet's testParseGenerate).
const fixtures = loadHexFixtures();
const mms = fixtures.filter((f) => f.as === 'mms');

t.ok(mms.length >= 13, `at least one fixture per PDU type (${mms.length})`);
const types = new Set(mms.map((f) => decodeMms(f.bytes).messageType));
for (const type of ['m-send-req', 'm-send-conf', 'm-notification-ind', 'm-notifyresp-ind', 'm-retrieve-conf', 'm-acknowledge-ind', 'm-delivery-ind', 'm-read-rec-ind', 'm-read-orig-ind', 'm-forward-req', 'm-forward-conf']) {
  t.ok(types.has(type as never), `a golden ${type}`);
}

for (const f of mms) {
  t.test(f.name, async (t) => {
    const pdu = decodeMms(f.bytes);
    const jsonPath = join(REPO_ROOT, 'fixtures/pdu', `${f.name}.json`);
    t.ok(existsSync(jsonPath), 'has expected JSON');
    const expected = JSON.parse(readFileSync(jsonPath, 'utf8')) as Json;
    t.same(pduToJson(pdu), expected, 'decodes to the expected JSON');
    t.same(encodeMms(pduFromJson(expected)), f.bytes, 'the JSON encodes to the golden bytes');
    t.same(encodeMms(pdu), f.bytes, 'encode(decode(bytes)) = bytes');
    t.same(decodeMms(encodeMms(pdu)), pdu, 'decode(encode(x)) = x');
  });
}

t.test('push fixtures carry the MMS PDU behind the mms.ua header', async (t) => {
  for (const f of fixtures.filter((f) => f.as === 'push')) {
    const { push, mms } = decodeMmsPush(f.bytes);
    t.same(encodePush(push), f.bytes, `${f.name}: push round trip`);
    t.same(encodeMmsPush(mms, push.tid!), f.bytes, `${f.name}: rebuilt from the MMS PDU`);
    t.equal(mms.messageType, 'm-notification-ind');
  }
});

t.test('sms fixtures: the one-segment h.1 user data is UDH + push', async (t) => {
  const single = fixtures.find((f) => f.name === 'sms-m-notification-ind');
  const push = fixtures.find((f) => f.name === 'push-m-notification-ind');
  t.ok(single && push);
  const { header, payload } = decodeUserData(single!.bytes);
  t.same(Buffer.from(payload), push!.bytes);
  t.same(encodeUserData(header, payload), single!.bytes);
  t.equal(single!.bytes.length, 104, 'spec h.1: 104 octets');
  t.same(decodePush(payload).body, Buffer.from(fixtures.find((f) => f.name === 'm-notification-ind')!.bytes));
});

t.test('part bodies are views of the input, not copies', async (t) => {
  const f = mms.find((f) => f.name === 'm-retrieve-conf')!;
  const pdu = decodeMms(f.bytes);
  t.ok(Array.isArray(pdu.body));
  for (const part of pdu.body as { data: Uint8Array }[]) {
    t.equal(part.data.buffer, f.bytes.buffer, 'shares the input buffer');
  }
  const single = decodeMms(mms.find((f) => f.name === 'm-retrieve-conf-single')!.bytes);
  t.ok(single.body instanceof Uint8Array);
});
