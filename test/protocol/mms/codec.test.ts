import t, { type Test } from 'tap';
import { ProtocolError } from '../../../protocol/errors.js';
import {
  decodeMms,
  encodeMms,
  formatMmsAddress,
  isShortCode,
  parseMmsAddress,
  statusClass,
  type MmsPdu,
  type MNotificationInd,
  type MSendReq,
} from '../../../protocol/mms/index.js';
import { decodeMmsPush } from '../../../protocol/mms/push.js';
import { WspReader } from '../../../protocol/wsp/reader.js';
import { WspWriter } from '../../../protocol/wsp/writer.js';
import { formatContentType, parseContentType, readContentType, writeContentType, type ContentType } from '../../../protocol/wsp/values.js';
import { readMultipart, writeMultipart } from '../../../protocol/wsp/multipart.js';
import { decodePush, encodePush } from '../../../protocol/wsp/push.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

function rejects(t: Test, fn: () => unknown, code: string, field?: string): ProtocolError | undefined {
  try {
    fn();
    t.fail(`expected ProtocolError ${code}`);
    return undefined;
  } catch (e) {
    t.ok(e instanceof ProtocolError, `a ProtocolError (${String(e)})`);
    const pe = e as ProtocolError;
    t.equal(pe.code, code);
    if (field !== undefined) t.equal(pe.field, field);
    return pe;
  }
}

const notification: MNotificationInd = {
  messageType: 'm-notification-ind',
  transactionId: 'A1b2C3',
  mmsVersion: '1.2',
  from: { text: '+4475550123/TYPE=PLMN' },
  subject: { text: 'Photo', charset: 106 },
  messageClass: 'Personal',
  messageSize: 31000,
  expiry: { relative: 172800 },
  contentLocation: 'http://mmsc.example.net/r/7Kq2',
};

t.test('the h.1 notification encodes to the spec bytes', async (t) => {
  t.equal(
    encodeMms(notification).toString('hex'),
    '8c829841316232433300' + '8d92' + '891780' + Buffer.from('+4475550123/TYPE=PLMN').toString('hex') + '00' +
      '9607ea50686f746f00' + '8a80' + '8e027918' + '88058103' + '02a300' + '83' + Buffer.from('http://mmsc.example.net/r/7Kq2').toString('hex') + '00',
  );
});

t.test('type, transaction id and version lead; Content-Type is last', async (t) => {
  const send: MSendReq = {
    messageType: 'm-send-req',
    // Fields set in an order unlike the wire order: the encoder imposes ENC's.
    contentType: { mediaType: 'text/plain', params: [] },
    subject: { text: 's' },
    to: [{ text: '+4475550999/TYPE=PLMN' }],
    from: 'insert-address',
    mmsVersion: '1.0',
    transactionId: 'x',
    body: Buffer.from('hi'),
  };
  const bytes = encodeMms(send);
  t.equal(bytes.subarray(0, 6).toString('hex'), '8c80' + '987800' + '8d', 'type, then tid, then version');
  t.equal(bytes[6], 0x90, 'version 1.0');
  t.equal(bytes.subarray(7, 10).toString('hex'), '890181', 'From insert-address is 89 01 81');
  t.equal(bytes.subarray(bytes.length - 4).toString('hex'), '8483' + '6869', 'Content-Type text/plain then the body');
  const back = decodeMms(bytes);
  t.equal(back.from, 'insert-address');
  t.same(Buffer.from(back.body as Uint8Array), Buffer.from('hi'));
});

t.test('mandatory headers are checked on encode and on decode', async (t) => {
  const { messageSize: _omit, ...noSize } = notification;
  const e = rejects(t, () => encodeMms(noSize as MmsPdu), 'MISSING_HEADER', 'X-Mms-Message-Size');
  t.match(e?.message, /m-notification-ind must carry X-Mms-Message-Size/);
  // The same PDU on the wire without its size header: 8E 02 79 18 removed.
  const wire = encodeMms(notification);
  const i = wire.indexOf(Buffer.from('8e027918', 'hex'));
  const cut = Buffer.concat([wire.subarray(0, i), wire.subarray(i + 4)]);
  const d = rejects(t, () => decodeMms(cut), 'MISSING_HEADER', 'X-Mms-Message-Size');
  t.equal(d?.offset, cut.length, 'offset: where the headers ended');
  rejects(t, () => encodeMms({ messageType: 'm-send-req', transactionId: 'x', mmsVersion: '1.2', from: 'insert-address', contentType: { mediaType: 'text/plain', params: [] } }), 'MISSING_HEADER', 'To');
  rejects(t, () => encodeMms({ messageType: 'm-delivery-ind', mmsVersion: '1.2', messageId: 'm', date: new Date(0), status: 'Retrieved', to: [] }), 'MISSING_HEADER', 'To');
});

t.test('decoding rejects what is not an MMS PDU, with the offset', async (t) => {
  rejects(t, () => decodeMms(hex('')), 'TRUNCATED');
  rejects(t, () => decodeMms(hex('8d92 8c82')), 'BAD_VALUE', 'X-Mms-Message-Type');
  rejects(t, () => decodeMms(hex('8c 7f')), 'BAD_VALUE', 'X-Mms-Message-Type');
  const unknownType = rejects(t, () => decodeMms(hex('8c a5')), 'BAD_VALUE', 'X-Mms-Message-Type');
  t.equal(unknownType?.offset, 1);
  const twice = rejects(t, () => decodeMms(hex('8c83 987800 987900 8d92 9581')), 'BAD_VALUE', 'X-Mms-Transaction-Id');
  t.equal(twice?.offset, 5);
  rejects(t, () => decodeMms(hex('8c83 987800 8d92 95 05')), 'BAD_VALUE', 'X-Mms-Status');
  rejects(t, () => decodeMms(hex('8c83 987800 8d92 9581 86 22')), 'BAD_VALUE', 'X-Mms-Delivery-Report');
  const expiry = rejects(t, () => decodeMms(hex('8c82 987800 8d92 88 05 81 03 02')), 'BAD_LENGTH', 'X-Mms-Expiry');
  t.equal(expiry?.offset, 8);
  rejects(t, () => decodeMms(hex('8c82 987800 8d92 88 03 82 0101')), 'BAD_VALUE', 'X-Mms-Expiry');
  rejects(t, () => decodeMms(hex('8c82 987800 8d92 89 02 82 00')), 'BAD_VALUE', 'From');
  rejects(t, () => decodeMms(hex('8c83 987800 8d92 9581 05')), 'BAD_VALUE', 'header');
});

t.test('time values: absolute and relative, and a short-integer delta from lenient encoders', async (t) => {
  const abs = { ...notification, expiry: { absolute: new Date('2024-05-03T10:00:00Z') } };
  t.same(decodeMms(encodeMms(abs)).expiry, abs.expiry);
  t.match(encodeMms(abs).toString('hex'), /8806800466 34b5a0/.source.replace(' ', ''));
  const shortDelta = hex('8c82 987800 8d92 8a80 8e0101 88 02 81 90 837500');
  t.same(decodeMms(shortDelta).expiry, { relative: 16 });
  t.same(decodeMms(encodeMms({ ...notification, deliveryTime: { relative: 3600 } })).deliveryTime, { relative: 3600 });
});

t.test('versions 1.0 to 1.3 and unknown ones', async (t) => {
  for (const [v, octet] of [['1.0', 0x90], ['1.1', 0x91], ['1.2', 0x92], ['1.3', 0x93]] as const) {
    const bytes = encodeMms({ ...notification, mmsVersion: v });
    t.equal(bytes[bytes.indexOf(0x8d) + 1], octet, `${v} is 0x${octet.toString(16)}`);
  }
  t.equal(decodeMms(encodeMms({ ...notification, mmsVersion: '2' })).mmsVersion, '2', 'major only (minor 0x0F)');
  t.equal(decodeMms(encodeMms({ ...notification, mmsVersion: '10.1' })).mmsVersion, '10.1', 'as text when it does not fit');
});

t.test('unknown tokens and application headers survive a round trip', async (t) => {
  const pdu: MmsPdu = {
    messageType: 'm-send-conf',
    transactionId: 't',
    mmsVersion: '1.2',
    responseStatus: 0xc7,
    messageClass: 'lab-class',
    otherHeaders: [
      { name: 'X-Vendor-Trace', value: 'abc' },
      { name: 'X-Mms-Element-Descriptor', value: hex('0461 0000') },
      { name: 0x55, value: 3 },
    ],
  };
  const back = decodeMms(encodeMms(pdu));
  t.same(back, pdu);
  t.equal(statusClass(0xc7), 'transient', 'unknown 0xC0-0xDF is transient');
  t.equal(statusClass(0xf0), 'permanent', 'unknown 0xE0-0xFF is permanent');
  t.equal(statusClass(0x80), 'ok');
  rejects(t, () => encodeMms({ ...pdu, responseStatus: 'No-such-status' }), 'BAD_VALUE', 'X-Mms-Response-Status');
});

t.test('addresses in their typed forms', async (t) => {
  t.same(parseMmsAddress('+4475551234/TYPE=PLMN'), { type: 'PLMN', value: '+4475551234' });
  t.same(parseMmsAddress('12345/TYPE=PLMN'), { type: 'PLMN', value: '12345' });
  t.ok(isShortCode(parseMmsAddress('12345/TYPE=PLMN')));
  t.notOk(isShortCode(parseMmsAddress('+4475551234/TYPE=PLMN')));
  t.same(parseMmsAddress('192.0.2.1/TYPE=IPv4'), { type: 'IPv4', value: '192.0.2.1' });
  t.same(parseMmsAddress('2001:db8::1/TYPE=IPv6'), { type: 'IPv6', value: '2001:db8::1' });
  t.same(parseMmsAddress('alice@example.org'), { type: 'email', value: 'alice@example.org' });
  t.same(parseMmsAddress('lab-7/TYPE=USER'), { type: 'other', typeName: 'USER', value: 'lab-7' });
  for (const s of ['+4475551234/TYPE=PLMN', 'alice@example.org', '192.0.2.1/TYPE=IPv4', 'lab-7/TYPE=USER']) {
    t.equal(formatMmsAddress(parseMmsAddress(s)), s);
  }
  for (const bad of ['+44-755/TYPE=PLMN', '999.1.1.1/TYPE=IPv4', 'zz/TYPE=IPv6', 'not an address', '']) {
    rejects(t, () => parseMmsAddress(bad), 'BAD_VALUE', 'address');
  }
});

t.test('content types: short form, general form, parameters of both WSP generations', async (t) => {
  const rt = (ct: ContentType): string => {
    const w = new WspWriter();
    writeContentType(w, ct);
    const bytes = w.finish();
    t.same(readContentType(new WspReader(bytes)), ct, `round trip ${formatContentType(ct)}`);
    return bytes.toString('hex');
  };
  t.equal(rt({ mediaType: 'image/jpeg', params: [] }), '9e');
  t.equal(rt({ mediaType: 'application/smil', params: [] }), Buffer.from('application/smil\0').toString('hex'));
  t.equal(rt({ mediaType: 'text/plain', params: [{ name: 'charset', value: 'utf-8' }] }), '038381ea', 'spec b.7');
  t.equal(rt({ mediaType: 'audio/amr', params: [{ name: 'name', value: 'a.amr' }] }), '11' + Buffer.from('audio/amr\0').toString('hex') + '85' + Buffer.from('a.amr\0').toString('hex'));
  t.equal(rt({ mediaType: 'audio/*', params: [] }), Buffer.from('audio/*\0').toString('hex'), 'codes tshark 4.0 does not know go as text');
  rt({ mediaType: 'text/plain', params: [{ name: 'format', value: 'flowed' }, { name: 'q', value: '0.5' }] });
  rt({ mediaType: 0x60, params: [{ name: 0x04, value: 7 }] });
  // Decoders accept the WSP 1.4 Text-value forms (0x97 name, 0x99 start) and the 1.1 integer type.
  const v14 = readContentType(new WspReader(hex('0e b3 97 2261 2e6700 99 3c733e00 8381')));
  t.same(v14, { mediaType: 'application/vnd.wap.multipart.related', params: [{ name: 'name', value: 'a.g' }, { name: 'start', value: '<s>' }, { name: 'type', value: 1 }] });
  t.same(parseContentType(formatContentType(v14)), v14, 'the CLI text form reads back');
  rejects(t, () => readContentType(new WspReader(hex('05 83 81'))), 'BAD_LENGTH', 'Content-Type');
  rejects(t, () => rt({ mediaType: 'text/plain', params: [{ name: 'charset', value: 'klingon' }] }), 'BAD_VALUE');
});

t.test('multipart bodies', async (t) => {
  const parts = [
    { contentType: { mediaType: 'text/plain', params: [{ name: 'charset', value: 'utf-8' }] }, headers: [{ name: 'Content-ID', value: '<t>' }, { name: 'Content-Location', value: 't.txt' }], data: Buffer.from('Hi é') },
    { contentType: { mediaType: 'image/gif', params: [] }, headers: [{ name: 'Content-Disposition', value: 'attachment; filename="a b.gif"' }], data: Buffer.alloc(300, 7) },
    { contentType: { mediaType: 'application/octet-stream', params: [] }, headers: [], data: Buffer.alloc(0) },
  ];
  const w = new WspWriter();
  writeMultipart(w, parts);
  const bytes = Buffer.from(w.finish());
  t.same(readMultipart(new WspReader(bytes)), parts);
  t.equal(bytes.subarray(0, 3).toString('hex'), '031105', 'nEntries 3; part 1 HeadersLen 17 (4 + 6 + 7), DataLen 5');
  rejects(t, () => readMultipart(new WspReader(hex('05 0100 9e'))), 'TRUNCATED', 'multipart nEntries');
  rejects(t, () => readMultipart(new WspReader(hex('01 01 05 9e 4142'))), 'TRUNCATED', 'multipart entry 1 data');
  rejects(t, () => readMultipart(new WspReader(hex('01 05 00 9e'))), 'TRUNCATED', 'multipart entry 1 headers');
  rejects(t, () => readMultipart(new WspReader(hex('01 01 00 9e 00'))), 'TRAILING_DATA', 'multipart body');
  // A huge declared count costs nothing before the octets are there.
  rejects(t, () => readMultipart(new WspReader(hex('8fffffff7f 0100 9e'))), 'TRUNCATED', 'multipart nEntries');
});

t.test('push PDU, connectionless and in a session, and as a PPG writes it', async (t) => {
  const push = hex('07 06 03 be af84') ;
  t.same(decodePush(push), { tid: 7, pduType: 'Push', contentType: { mediaType: 'application/vnd.wap.mms-message', params: [] }, headers: [{ name: 'X-Wap-Application-Id', value: 'x-wap-application:mms.ua' }], body: Buffer.alloc(0) });
  t.same(encodePush(decodePush(push)), push);
  const session = decodePush(hex('06 01 be 41'), { connectionless: false });
  t.equal(session.tid, undefined);
  t.same(Buffer.from(session.body), hex('41'));
  // Kannel's PPG: content type as text, application id as text, an extra header.
  const ppgHeaders = Buffer.concat([Buffer.from('application/vnd.wap.mms-message\0'), hex('af'), Buffer.from('x-wap-application:mms.ua\0'), hex('b4 81')]);
  const ppg = Buffer.concat([hex('01 06'), Buffer.from([ppgHeaders.length]), ppgHeaders, encodeMms(notification)]);
  const { mms } = decodeMmsPush(ppg);
  t.equal(mms.transactionId, 'A1b2C3');
  rejects(t, () => decodePush(hex('01 02 00')), 'BAD_VALUE', 'PDU type');
  rejects(t, () => decodeMmsPush(hex('01 06 01 83 41')), 'BAD_VALUE', 'Content-Type');
  const inner = rejects(t, () => decodeMmsPush(Buffer.concat([hex('07 06 03 be af84'), hex('8c82 9841')])), 'TRUNCATED', 'X-Mms-Transaction-Id');
  t.equal(inner?.offset, 9, 'offset counted in the push (6 octets of push + 8C 82 98), not in the PDU inside it');
});
