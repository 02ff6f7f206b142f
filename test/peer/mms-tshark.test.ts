import t, { type Test } from 'tap';
import {
  decodeMms,
  decodeMmsPush,
  encodeMms,
  encodeMmsPush,
  MESSAGE_TYPE,
  MESSAGE_CLASS,
  type MmsPdu,
  type MNotificationInd,
} from '../../protocol/mms/index.js';
import { decodeUserData, segment } from '../../protocol/wdp/index.js';
import { loadHexFixtures } from '../helpers/fixtures.js';
import {
  requireTshark,
  tsharkAsciiView,
  tsharkDecodeMmsPdus,
  tsharkDecodeSmppUserData,
  tsharkDecodeWspPushes,
  tsharkText,
  type TsharkPacket,
} from '../helpers/tshark.js';
import type { EncodedString } from '../../protocol/wsp/values.js';

// tshark (Wireshark's MMSE and WSP dissectors) as the independent peer: every
// golden PDU and a spread of PDUs from our encoder must decode without a
// malformed-packet warning, with the same values for the headers below.

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** tshark's absolute time format, e.g. 'May  1, 2024 10:00:00.000000000 UTC'. */
function tsharkDate(d: Date): string {
  const pad = (n: number): string => String(n).padStart(2, '0');
  const day = String(d.getUTCDate()).padStart(2, ' ');
  return `${MONTHS[d.getUTCMonth()]} ${day}, ${d.getUTCFullYear()} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}.000000000 UTC`;
}

/** What tshark shows for an Encoded-string-value, or undefined when it cannot show it faithfully (spec §i). */
function tsharkView(v: EncodedString): string | undefined {
  if (v.charset === undefined) return v.text;
  if (v.charset === 106 || v.charset === 3) return tsharkAsciiView(v.text);
  return undefined; // tshark ignores the charset; UCS-2 and Latin-1 text come out garbled
}

function compare(t: Test, ours: MmsPdu, pkt: TsharkPacket, name: string): void {
  const f = (key: string): string[] | undefined => pkt.fields[key];
  t.notOk(pkt.malformed, `${name}: no malformed/expert warning ${pkt.expert.join('; ')}`);
  t.same(f('mmse.message_type'), [`0x${MESSAGE_TYPE.code(ours.messageType)!.toString(16)}`], `${name}: message type`);
  if (ours.transactionId !== undefined) t.same(f('mmse.transaction_id'), [ours.transactionId], `${name}: transaction id`);
  t.same(f('mmse.mms_version'), [ours.mmsVersion], `${name}: version`);
  if (ours.from !== undefined) {
    const from = ours.from === 'insert-address' ? '<insert address>' : tsharkView(ours.from);
    if (from !== undefined) t.same(f('mmse.from')?.map(tsharkText), [from], `${name}: from`);
  }
  if (ours.to) t.same(f('mmse.to'), ours.to.map((a) => tsharkView(a)), `${name}: to`);
  if (ours.cc) t.same(f('mmse.cc'), ours.cc.map((a) => tsharkView(a)), `${name}: cc`);
  if (ours.subject !== undefined) {
    const subject = tsharkView(ours.subject);
    if (subject !== undefined) t.same(f('mmse.subject')?.map(tsharkText), [subject], `${name}: subject`);
  }
  if (ours.messageClass !== undefined) {
    const code = typeof ours.messageClass === 'string' ? MESSAGE_CLASS.code(ours.messageClass) : ours.messageClass;
    if (code !== undefined) t.same(f('mmse.message_class.id'), [`0x${code.toString(16)}`], `${name}: class`);
    else t.same(f('mmse.message_class.str'), [ours.messageClass], `${name}: class`);
  }
  if (ours.messageSize !== undefined) t.same(f('mmse.message_size'), [String(ours.messageSize)], `${name}: size`);
  if (ours.expiry !== undefined) {
    if ('relative' in ours.expiry) t.same(f('mmse.expiry.rel'), [`${ours.expiry.relative}.000000000`], `${name}: relative expiry`);
    else t.same(f('mmse.expiry.abs'), [tsharkDate(ours.expiry.absolute)], `${name}: absolute expiry`);
  }
  if (ours.date !== undefined) t.same(f('mmse.date'), [tsharkDate(ours.date)], `${name}: date`);
  if (ours.contentLocation !== undefined) t.same(f('mmse.content_location'), [ours.contentLocation], `${name}: content location`);
  if (ours.messageId !== undefined) t.same(f('mmse.message_id'), [ours.messageId], `${name}: message id`);
  if (Array.isArray(ours.body)) {
    // The push's content type, the body's, then one per part.
    t.equal(f('wsp.header.content_type')?.length, 2 + ours.body.length, `${name}: tshark sees every part`);
  }
}

/** Notifications as the MMS-C will emit them, across the value ranges that change the encoding. */
function encoderNotifications(): MNotificationInd[] {
  const out: MNotificationInd[] = [];
  const sizes = [0, 127, 128, 255, 256, 65535, 65536, 300_000, 2 ** 31];
  const expiries = [1, 127, 128, 3600, 172_800, 604_800];
  for (let i = 0; i < 30; i++) {
    const n: MNotificationInd = {
      messageType: 'm-notification-ind',
      transactionId: `T${i}-${'x'.repeat(i)}`,
      mmsVersion: ['1.0', '1.1', '1.2'][i % 3]!,
      messageClass: ['Personal', 'Advertisement', 'Informational', 'Auto', 'lab-class'][i % 5]!,
      messageSize: sizes[i % sizes.length]!,
      expiry: i % 4 === 0 ? { absolute: new Date(Date.UTC(2025, i % 12, 1 + i, 12, 30, 15)) } : { relative: expiries[i % expiries.length]! },
      contentLocation: `http://127.0.0.1:8081/m/${'k'.repeat(8 + i * 3)}`,
    };
    if (i % 2 === 0) n.from = { text: `+44755500${String(i).padStart(2, '0')}/TYPE=PLMN` };
    if (i % 3 === 0) n.subject = i % 2 ? { text: `Subject ${i}`, charset: 106 } : { text: `Plain ${i}` };
    if (i % 5 === 0) n.deliveryReport = true;
    if (i % 7 === 0) n.priority = 'High';
    out.push(n);
  }
  return out;
}

t.test('golden MMS PDUs decode identically in tshark', async (t) => {
  if (!requireTshark(t)) return;
  const fixtures = loadHexFixtures().filter((f) => f.as === 'mms');
  const packets = await tsharkDecodeMmsPdus(fixtures.map((f) => f.bytes));
  t.equal(packets.length, fixtures.length);
  fixtures.forEach((f, i) => compare(t, decodeMms(f.bytes), packets[i]!, f.name));
});

t.test('PDUs from our encoder decode identically in tshark', async (t) => {
  if (!requireTshark(t)) return;
  const pdus = encoderNotifications();
  const packets = await tsharkDecodeWspPushes(pdus.map((p, i) => encodeMmsPush(p, i)));
  pdus.forEach((p, i) => compare(t, p, packets[i]!, `notification ${i}`));
});

t.test('golden pushes and SMS segments decode and reassemble in tshark', async (t) => {
  if (!requireTshark(t)) return;
  const fixtures = loadHexFixtures();
  const pushes = fixtures.filter((f) => f.as === 'push');
  const pushPackets = await tsharkDecodeWspPushes(pushes.map((f) => f.bytes));
  pushes.forEach((f, i) => {
    const pkt = pushPackets[i]!;
    t.same(pkt.fields['wsp.header.x_wap_application_id'], ['x-wap-application:mms.ua'], `${f.name}: application id`);
    compare(t, decodeMmsPush(f.bytes).mms, pkt, f.name);
  });

  // Group the SMS fixtures by message: a single segment, and the two segments of the long push.
  const sms = fixtures.filter((f) => f.as === 'sms');
  const single = sms.filter((f) => !f.name.includes('-long-'));
  const long = sms.filter((f) => f.name.includes('-long-')).sort((a, b) => a.name.localeCompare(b.name));
  t.ok(long.length >= 2, 'a push of several segments');
  const messages = [...single.map((f) => [f.bytes]), long.map((f) => f.bytes)];
  const frames = await tsharkDecodeSmppUserData(messages, '447700900123');
  const lastFrames = messages.map((_m, i) => frames.filter((fr) => fr.message === i).pop()!);
  lastFrames.forEach((pkt, i) => {
    const userData = messages[i]!;
    const datagram = Buffer.concat(userData.map((ud) => decodeUserData(ud).payload));
    t.same(pkt.fields['gsm_sms.destination_port'], ['2948'], 'destination port');
    compare(t, decodeMmsPush(datagram).mms, pkt, `sms message ${i}`);
  });
  t.equal(lastFrames[lastFrames.length - 1]!.fields['gsm_sms_ud.reassembled.length']?.[0], String(Buffer.concat(long.map((f) => decodeUserData(f.bytes).payload)).length), 'tshark reassembled the long push');
});

t.test('our segmenter output reassembles in tshark', async (t) => {
  if (!requireTshark(t)) return;
  const pdus = encoderNotifications().filter((_p, i) => i % 6 === 5);
  const messages = pdus.map((p, i) => segment(encodeMmsPush(p, i), 100 + i));
  const frames = await tsharkDecodeSmppUserData(messages, '447700900124');
  messages.forEach((_m, i) => {
    const last = frames.filter((fr) => fr.message === i).pop()!;
    compare(t, pdus[i]!, last, `segmented notification ${i}`);
  });
  t.ok(messages.some((m) => m.length > 1), 'at least one needed several segments');
});

t.test('a PDU our decoder rejects is malformed to tshark too', async (t) => {
  if (!requireTshark(t)) return;
  const good = encodeMms(encoderNotifications()[1]!);
  const truncated = good.subarray(0, good.length - 5);
  t.throws(() => decodeMms(truncated));
  const [pkt] = await tsharkDecodeMmsPdus([truncated]);
  t.ok(pkt!.malformed, 'tshark flags the truncated PDU');
});
