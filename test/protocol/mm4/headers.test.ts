import t from 'tap';
import { ProtocolError } from '../../../protocol/errors.js';
import { parseAddressList, parseMm4Address, toMm4Address } from '../../../protocol/mm4/address.js';
import { buildMm4Headers, formatMailDate, isMm4, parseMm4Headers, type HeaderField, type Mm4Message, type Mm4Result } from '../../../protocol/mm4/headers.js';
import { MM4_MESSAGE_TYPES, MM4_MM_STATUS, MM4_REQUEST_STATUS } from '../../../protocol/mm4/tables.js';

// MM4 header mapping (TS 23.140 §8.4): every message type built into a
// header list and parsed back to the same value; the header names and
// values as the spec writes them; peers' variants read; bad input refused
// with a ProtocolError that names the header.

const date = new Date('2024-05-01T10:00:00Z');
const A = 'mms.a.net';
const B = 'mms.b.net';

const forward: Mm4Message = {
  type: 'MM4_forward.REQ',
  version: '6.3.0',
  transactionId: 'Fabc123',
  messageId: 'msg-0001',
  from: `+15550001111/TYPE=PLMN@${A}`,
  to: [`+4475551234/TYPE=PLMN@${B}`],
  cc: [`+4475559999/TYPE=PLMN@${B}`],
  subject: 'Holiday ✓',
  ackRequest: true,
  originatorSystem: `system-user@${A}`,
  expiry: new Date('2024-05-03T10:00:00Z'),
  messageClass: 'Personal',
  priority: 'High',
  deliveryReport: true,
  readReply: false,
  date,
  sender: `system-user@${A}`,
  mailMessageId: `abc@${A}`,
};

const messages: Mm4Message[] = [
  forward,
  { type: 'MM4_forward.RES', version: '6.3.0', transactionId: 'Fabc123', messageId: 'msg-0001', to: [`system-user@${A}`], requestStatus: 'Ok', statusText: 'fine', date, sender: `system-user@${B}`, mailMessageId: `r1@${B}` },
  {
    type: 'MM4_delivery_report.REQ',
    version: '6.3.0',
    transactionId: 'D1',
    messageId: 'msg-0001',
    from: `+4475551234/TYPE=PLMN@${B}`,
    to: [`+15550001111/TYPE=PLMN@${A}`],
    mmStatus: 'Retrieved',
    mmStatusText: 'fetched by the handset',
    ackRequest: true,
    originatorSystem: `system-user@${B}`,
    date,
    sender: `system-user@${B}`,
    mailMessageId: `d1@${B}`,
  },
  { type: 'MM4_delivery_report.RES', version: '6.3.0', transactionId: 'D1', to: [`system-user@${B}`], requestStatus: 'Error-message-not-found', date, sender: `system-user@${A}`, mailMessageId: `d2@${A}` },
  {
    type: 'MM4_read_reply_report.REQ',
    version: '6.3.0',
    transactionId: 'R1',
    messageId: 'msg-0001',
    from: `+4475551234/TYPE=PLMN@${B}`,
    to: [`+15550001111/TYPE=PLMN@${A}`],
    readStatus: 'Deleted without being read',
    ackRequest: false,
    date,
    sender: `system-user@${B}`,
    mailMessageId: `rr@${B}`,
  },
  { type: 'MM4_read_reply_report.RES', version: '6.3.0', transactionId: 'R1', messageId: 'msg-0001', to: [`system-user@${B}`], requestStatus: 'Ok', date, sender: `system-user@${A}`, mailMessageId: `rr2@${A}` },
];

t.test('each MM4 message type: build → parse gives the same value', async (t) => {
  t.same(
    messages.map((m) => m.type),
    MM4_MESSAGE_TYPES,
    'all six message types covered',
  );
  for (const m of messages) {
    const headers = buildMm4Headers(m);
    t.same(parseMm4Headers(headers), m, m.type);
    t.ok(isMm4(headers), `${m.type} is recognised as MM4`);
  }
});

t.test('MM4_forward.REQ headers as 23.140 writes them', async (t) => {
  const h = new Map(buildMm4Headers(forward).map(([n, v]) => [n, v]));
  t.equal(h.get('X-Mms-3GPP-MMS-Version'), '6.3.0');
  t.equal(h.get('X-Mms-Message-Type'), 'MM4_forward.REQ');
  t.equal(h.get('X-Mms-Transaction-ID'), '"Fabc123"', 'quoted string');
  t.equal(h.get('X-Mms-Message-ID'), '"msg-0001"');
  t.equal(h.get('X-Mms-Ack-Request'), 'Yes');
  t.equal(h.get('X-Mms-Originator-System'), 'system-user@mms.a.net');
  t.equal(h.get('X-Mms-Delivery-Report'), 'Yes');
  t.equal(h.get('X-Mms-Read-Reply'), 'No');
  t.equal(h.get('X-Mms-Message-Class'), 'Personal');
  t.equal(h.get('X-Mms-Priority'), 'High');
  t.equal(h.get('X-Mms-Expiry'), 'Fri, 03 May 2024 10:00:00 +0000');
  t.equal(h.get('From'), '<+15550001111/TYPE=PLMN@mms.a.net>');
  t.equal(h.get('To'), '<+4475551234/TYPE=PLMN@mms.b.net>');
  t.equal(h.get('Cc'), '<+4475559999/TYPE=PLMN@mms.b.net>');
  t.equal(h.get('Date'), 'Wed, 01 May 2024 10:00:00 +0000');
  t.equal(h.get('Message-ID'), '<abc@mms.a.net>');
  t.equal(h.get('Sender'), 'system-user@mms.a.net');
  t.equal(buildMm4Headers(forward)[0]![0], 'X-Mms-3GPP-MMS-Version', 'version first');
});

t.test('the .RES carries the request status; the delivery report the MM status', async (t) => {
  for (const status of MM4_REQUEST_STATUS) {
    const res = parseMm4Headers(buildMm4Headers({ ...(messages[1] as Mm4Result), requestStatus: status }));
    t.equal((res as { requestStatus: string }).requestStatus, status);
  }
  for (const status of MM4_MM_STATUS) {
    const dr = parseMm4Headers(buildMm4Headers({ ...(messages[2] as Extract<Mm4Message, { type: 'MM4_delivery_report.REQ' }>), mmStatus: status }));
    t.equal((dr as { mmStatus: string }).mmStatus, status);
  }
});

t.test("peers' variants are read: case, bare ids, X-Mms-Status, relative expiry, folded lists", async (t) => {
  const headers: HeaderField[] = [
    ['x-mms-message-type', 'mm4_delivery_report.req'],
    ['X-MMS-TRANSACTION-ID', 'T-77'],
    ['X-Mms-Message-ID', 'msg-9'],
    ['From', '"Bob" <+4475551234/TYPE=PLMN@mms.b.net>'],
    ['To', '<+15550001111/TYPE=PLMN@mms.a.net>'],
    ['X-Mms-Status', 'retrieved'],
  ];
  const m = parseMm4Headers(headers);
  t.equal(m.type, 'MM4_delivery_report.REQ');
  t.equal(m.transactionId, 'T-77');
  t.same(m.type === 'MM4_delivery_report.REQ' && [m.messageId, m.mmStatus, m.from, m.version], ['msg-9', 'Retrieved', '+4475551234/TYPE=PLMN@mms.b.net', '6.3.0']);

  const fwd = parseMm4Headers([
    ['X-Mms-Message-Type', 'MM4_forward.REQ'],
    ['X-Mms-Transaction-ID', '"t1"'],
    ['X-Mms-Message-ID', '"m1"'],
    ['From', '<a@x.net>'],
    ['To', '<+1/TYPE=PLMN@b.net>, "Team, North" <team@b.net>'],
    ['To', 'c@b.net'],
    ['Date', 'Wed, 01 May 2024 10:00:00 +0000'],
    ['X-Mms-Expiry', '3600'],
  ]);
  t.same(fwd.type === 'MM4_forward.REQ' && fwd.to, ['+1/TYPE=PLMN@b.net', 'team@b.net', 'c@b.net'], 'repeated To headers and quoted commas');
  t.same(fwd.type === 'MM4_forward.REQ' && fwd.expiry, new Date('2024-05-01T11:00:00Z'), 'relative expiry counts from Date');
  t.same(fwd.type === 'MM4_forward.REQ' && [fwd.ackRequest, fwd.deliveryReport, fwd.readReply], [false, false, false], 'absent flags are No');
});

t.test('bad MM4 headers: ProtocolError naming the header', async (t) => {
  const base: HeaderField[] = buildMm4Headers(forward);
  const without = (name: string): HeaderField[] => base.filter(([n]) => n !== name);
  const replace = (name: string, value: string): HeaderField[] => base.map(([n, v]) => [n, n === name ? value : v]);
  const cases: Array<[string, HeaderField[], string, string]> = [
    ['no message type', without('X-Mms-Message-Type'), 'MISSING_HEADER', 'X-Mms-Message-Type'],
    ['unknown message type', replace('X-Mms-Message-Type', 'MM4_bogus.REQ'), 'BAD_VALUE', 'X-Mms-Message-Type'],
    ['no transaction id', without('X-Mms-Transaction-ID'), 'MISSING_HEADER', 'X-Mms-Transaction-ID'],
    ['no message id', without('X-Mms-Message-ID'), 'MISSING_HEADER', 'X-Mms-Message-ID'],
    ['ack without originator system', without('X-Mms-Originator-System'), 'MISSING_HEADER', 'X-Mms-Originator-System'],
    ['bad flag', replace('X-Mms-Delivery-Report', 'Maybe'), 'BAD_VALUE', 'X-Mms-Delivery-Report'],
    ['bad class', replace('X-Mms-Message-Class', 'Spam'), 'BAD_VALUE', 'X-Mms-Message-Class'],
    ['bad priority', replace('X-Mms-Priority', 'Urgent'), 'BAD_VALUE', 'X-Mms-Priority'],
    ['bad expiry', replace('X-Mms-Expiry', 'tomorrow-ish'), 'BAD_VALUE', 'X-Mms-Expiry'],
    ['no recipient', without('To').filter(([n]) => n !== 'Cc'), 'MISSING_HEADER', 'To'],
    ['two From', replace('From', 'a@x, b@y'), 'BAD_VALUE', 'From'],
  ];
  for (const [what, headers, code, field] of cases) {
    t.throws(() => parseMm4Headers(headers), { name: 'ProtocolError', code, field }, what);
  }
  t.throws(() => buildMm4Headers({ ...forward, subject: 'two\r\nlines' } as Mm4Message), ProtocolError, 'no header injection through a value');
  t.throws(() => buildMm4Headers({ ...forward, transactionId: '' } as Mm4Message), { code: 'BAD_VALUE' });
});

t.test('MM4 addresses', async (t) => {
  t.equal(toMm4Address('+15550001111', 'mms.a.net'), '+15550001111/TYPE=PLMN@mms.a.net');
  t.equal(toMm4Address('12345', 'mms.a.net'), '12345/TYPE=PLMN@mms.a.net');
  t.equal(toMm4Address('bob@example.org', 'mms.a.net'), 'bob@example.org');
  t.same(parseMm4Address('+4475551234/TYPE=PLMN@MMS.B.NET'), { kind: 'number', number: '+4475551234', domain: 'mms.b.net' });
  t.same(parseMm4Address('4475551234@mms.b.net'), { kind: 'number', number: '4475551234', domain: 'mms.b.net' });
  t.same(parseMm4Address('4475551234@mms.b.net', false), { kind: 'email', address: '4475551234@mms.b.net', domain: 'mms.b.net' });
  t.same(parseMm4Address('Bob.Smith@Example.ORG'), { kind: 'email', address: 'Bob.Smith@example.org', domain: 'example.org' });
  t.throws(() => parseMm4Address('no-at-sign'), { code: 'BAD_VALUE', field: 'address' });
  t.throws(() => parseMm4Address('a b@x'), { code: 'BAD_VALUE' });
  t.same(parseAddressList('undisclosed-recipients:;'), []);
  t.same(parseAddressList('"Smith, J." <j@x.org> (work), k@y.org'), [{ addrSpec: 'j@x.org', name: 'Smith, J.' }, { addrSpec: 'k@y.org' }]);
  t.equal(formatMailDate(new Date('2024-12-24T07:05:09Z')), 'Tue, 24 Dec 2024 07:05:09 +0000');
});
