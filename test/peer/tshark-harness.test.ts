// Tests of the tshark harness (test/helpers/pcap.ts, test/helpers/tshark.ts)
// against the worked example of spec h.1. tshark is started three times in
// total (once per decode call), so the file runs in a few seconds.
import t, { type Test } from 'tap';
import { PCAP_BASE_TIME, pcapFile, tcpPacket, udpPacket } from '../helpers/pcap.js';
import {
  requireTshark,
  tsharkAsciiView,
  tsharkDecodeMmsPdus,
  tsharkDecodeSmppUserData,
  tsharkDecodeWspPushes,
  tsharkText,
  type TsharkPacket,
} from '../helpers/tshark.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** Spec h.1: SMS user data (104 octets) = UDH (7) + WSP push (97) = UDH + push prefix (6) + MMS PDU (91). */
const H1_USER_DATA = hex(`
  06 05 04 0B 84 23 F0 07 06 03 BE AF 84 8C 82 98 41 31 62 32 43 33 00 8D
  92 89 17 80 2B 34 34 37 35 35 35 30 31 32 33 2F 54 59 50 45 3D 50 4C 4D
  4E 00 96 07 EA 50 68 6F 74 6F 00 8A 80 8E 02 79 18 88 05 81 03 02 A3 00
  83 68 74 74 70 3A 2F 2F 6D 6D 73 63 2E 65 78 61 6D 70 6C 65 2E 6E 65 74
  2F 72 2F 37 4B 71 32 00`);
const H1_PUSH = H1_USER_DATA.subarray(7);
const H1_MMS = H1_PUSH.subarray(6);
const H1_LOCATION = 'http://mmsc.example.net/r/7Kq2';

/** Asserts the h.1 notification's fields as tshark 4.0.17 shows them in its JSON. */
function assertH1Notification(t: Test, p: TsharkPacket | undefined, location = H1_LOCATION): void {
  if (!t.ok(p, 'tshark returned the frame') || !p) return;
  t.equal(p.malformed, false, 'not malformed');
  t.same(p.expert, [], 'no expert info');
  t.same(p.fields['mmse.message_type'], ['0x82'], 'm-notification-ind');
  t.same(p.fields['mmse.transaction_id'], ['A1b2C3']);
  t.same(p.fields['mmse.mms_version'], ['1.2']);
  t.same(p.fields['mmse.from'], ['+4475550123/TYPE=PLMN']);
  t.same(p.fields['mmse.subject'], ['Photo']);
  t.same(p.fields['mmse.message_class.id'], ['0x80'], 'class Personal');
  t.same(p.fields['mmse.message_size'], ['31000']);
  t.same(p.fields['mmse.expiry.rel'], ['172800.000000000'], 'relative expiry 2 days');
  t.same(p.fields['mmse.expiry.abs'], undefined, 'no absolute expiry');
  t.same(p.fields['mmse.content_location'], [location]);
}

t.test('pcap.ts builds well-formed frames and files (pure, no tshark)', async (t) => {
  const payload = Buffer.from('hello, world!'); // odd length on purpose
  const udp = udpPacket(payload, 9200, 2948);
  t.equal(udp.length, 14 + 20 + 8 + payload.length);
  t.equal(udp.readUInt16BE(12), 0x0800, 'EtherType IPv4');
  const ip = udp.subarray(14, 34);
  const sum16 = (b: Uint8Array, initial = 0): number => {
    let s = initial;
    for (let i = 0; i < b.length; i += 2) s += ((b[i] ?? 0) << 8) | (b[i + 1] ?? 0);
    while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
    return s;
  };
  t.equal(sum16(ip), 0xffff, 'IPv4 header checksum verifies');
  t.equal(ip.readUInt16BE(2), 20 + 8 + payload.length, 'IPv4 total length');
  t.same([...ip.subarray(12, 20)], [127, 0, 0, 1, 127, 0, 0, 1], 'loopback addresses');
  t.equal(udp.readUInt16BE(34), 9200);
  t.equal(udp.readUInt16BE(36), 2948);
  const pseudo = (proto: number, len: number): number => sum16(Buffer.of(127, 0, 0, 1, 127, 0, 0, 1, 0, proto, len >> 8, len & 0xff));
  t.equal(sum16(udp.subarray(34), pseudo(17, 8 + payload.length)), 0xffff, 'UDP checksum verifies');
  t.same(udp.subarray(42), payload);

  const tcp = tcpPacket(payload, 40000, 2775, 0xfffffff0);
  t.equal(tcp.length, 14 + 20 + 20 + payload.length);
  t.equal(tcp[23], 6, 'IPv4 protocol TCP');
  t.equal(tcp.readUInt32BE(38), 0xfffffff0, 'sequence number');
  t.equal(tcp[47], 0x18, 'PSH|ACK');
  t.equal(sum16(tcp.subarray(34), pseudo(6, 20 + payload.length)), 0xffff, 'TCP checksum verifies');
  t.throws(() => udpPacket(payload, 70000, 1), RangeError);

  const file = pcapFile([udp, tcp]);
  t.equal(file.length, 24 + 16 + udp.length + 16 + tcp.length);
  t.equal(file.readUInt32LE(0), 0xa1b2c3d4, 'magic');
  t.equal(file.readUInt32LE(20), 1, 'linktype Ethernet');
  t.equal(file.readUInt32LE(24), PCAP_BASE_TIME, 'first timestamp');
  t.equal(file.readUInt32LE(24 + 8), udp.length, 'incl_len');
  const second = 24 + 16 + udp.length;
  t.equal(file.readUInt32LE(second), PCAP_BASE_TIME + 1, 'second frame 1 s later');
  t.equal(file.readUInt32LE(second + 12), tcp.length, 'orig_len');
});

t.test('tsharkText / tsharkAsciiView undo the measured display quirks', async (t) => {
  t.equal(tsharkText('"<smil>"'), '<smil>', 'Quoted-string Content-ID');
  t.equal(tsharkText('\u007f\u00e9x'), '\u00e9x', 'literal 0x7F quote dropped');
  t.equal(tsharkText('Photo'), 'Photo');
  t.equal(tsharkAsciiView('Caf\u00e9'), 'Caf\ufffd\ufffd', 'two UTF-8 octets, two U+FFFD');
  t.equal(tsharkAsciiView('Photo'), 'Photo');
});

t.test('tshark decodes the h.1 MMS PDU and flags a truncated one', async (t) => {
  if (!requireTshark(t)) return;
  t.equal(H1_MMS.length, 91);
  // Cut inside X-Mms-Content-Location (it starts at offset 59): "http://mmsc.exa".
  const truncated = H1_MMS.subarray(0, 75);
  const [good, cut, ...rest] = await tsharkDecodeMmsPdus([H1_MMS, truncated]);
  t.same(rest, [], 'one packet per PDU');
  assertH1Notification(t, good);
  t.same(good?.fields['wsp.TID'], ['0x01'], 'prefix TID 01');
  t.equal(good?.frame, 1);
  t.equal(cut?.frame, 2);
  t.equal(cut?.malformed, true, 'truncated PDU is reported malformed');
  t.match(cut?.expert, [/^error: Malformed Packet/]);
  t.same(cut?.fields['mmse.content_location'], undefined, 'no content location decoded');
  t.same(cut?.fields['mmse.expiry.rel'], ['172800.000000000'], 'fields before the cut still decoded');
});

t.test('tshark decodes the h.1 WSP push as connectionless WSP', async (t) => {
  if (!requireTshark(t)) return;
  t.equal(H1_PUSH.length, 97);
  const packets = await tsharkDecodeWspPushes([H1_PUSH]);
  t.equal(packets.length, 1);
  const p = packets[0];
  t.same(p?.fields['frame.protocols'], ['eth:ethertype:ip:udp:wsp:mmse']);
  t.same(p?.fields['wsp.TID'], ['0x07']);
  t.same(p?.fields['wsp.pdu_type'], ['0x06'], 'Push');
  t.same(p?.fields['wsp.header.content_type'], ['application/vnd.wap.mms-message']);
  t.same(p?.fields['wsp.header.x_wap_application_id'], ['x-wap-application:mms.ua']);
  assertH1Notification(t, p);
});

t.test('tshark decodes SMPP submit_sm: one SMS, and a 2-segment push it reassembles', async (t) => {
  if (!requireTshark(t)) return;
  t.equal(H1_USER_DATA.length, 104);

  // The h.1 notification with a 153-character URL: a 220-octet push, two segments of ≤ 128.
  const longUrl = 'http://mmsc.example.net/r/' + 'L0ngR3f-'.repeat(15) + 'abcdefg';
  t.equal(longUrl.length, 153);
  const contentLocationAt = 59; // X-Mms-Content-Location header in H1_MMS
  const longPush = Buffer.concat([
    H1_PUSH.subarray(0, 6 + contentLocationAt), // push prefix + headers up to the expiry
    Buffer.of(0x83),
    Buffer.from(longUrl, 'latin1'),
    Buffer.of(0x00),
  ]);
  t.equal(longPush.length, 220);
  const segment1 = Buffer.concat([hex('0B 05 04 0B 84 23 F0 00 03 5A 02 01'), longPush.subarray(0, 128)]);
  const segment2 = Buffer.concat([hex('0B 05 04 0B 84 23 F0 00 03 5A 02 02'), longPush.subarray(128)]);
  t.equal(segment1.length, 140, 'a full SMS');

  const packets = await tsharkDecodeSmppUserData([[H1_USER_DATA], [segment1, segment2]], '447700900123');
  t.same(
    packets.map((p) => [p.frame, p.message, p.segment]),
    [
      [1, 0, 0],
      [2, 1, 0],
      [3, 1, 1],
    ],
    'one packet per segment, in order',
  );
  const [single, first, last] = packets;
  for (const p of packets) {
    t.same(p.fields['smpp.command_id'], ['0x00000004'], `frame ${p.frame}: submit_sm`);
    t.same(p.fields['smpp.destination_addr'], ['447700900123']);
    t.same(p.fields['smpp.data_coding'], ['0x04']);
    t.same(p.fields['gsm_sms.destination_port'], ['2948']);
    t.same(p.fields['gsm_sms.originator_port'], ['9200']);
    t.equal(p.malformed, false, `frame ${p.frame}: not malformed`);
  }
  t.same(single?.fields['smpp.sm_length'], ['104']);
  assertH1Notification(t, single);

  t.same(first?.fields['gsm_sms.udh.mm.msg_part'], ['1']);
  t.same(first?.fields['mmse.message_type'], undefined, 'nothing decoded before the last segment');
  t.same(last?.fields['gsm_sms.udh.mm.msg_id'], ['90'], 'reference 0x5A');
  t.same(last?.fields['gsm_sms.udh.mm.msg_part'], ['2']);
  t.same(last?.fields['gsm_sms_ud.reassembled.length'], ['220'], 'reassembled the whole push');
  t.same(last?.fields['wsp.TID'], ['0x07']);
  assertH1Notification(t, last, longUrl);
});
