import { simpleParser } from 'mailparser';
import t from 'tap';
import { parseMm4Headers, type Mm4Message } from '../../protocol/mm4/headers.js';
import { loadMmscConfig } from '../../src/config/mmsc.js';
import { contentFromMm4 } from '../../src/frontends/smtp/convert.js';
import type { NewMessage, StoredMessage, StoredPart } from '../../src/mmsc/model.js';
import { outboundJobs, recipientFor, route, type RoutingConfig } from '../../src/mmsc/routing.js';
import { composeForward, composeReport, forwardReq, forwardTransactionId, mm4DeliveryReportJob, type Mm4ReportPayload } from '../../src/outbound/mm4.js';

// Routing of MM3/MM4 recipients and the jobs they bring; the MM4_forward.REQ
// mail as composed for a peer, read back the way the peer reads it.

const routing: RoutingConfig = { numberRanges: ['+1555*'], countryCode: '1', mm3: true, peers: [{ domain: 'mms.b.net', numberRanges: ['+4475*', '+4476*'] }] };

t.test('route: local, e-mail (MM3), peer number (MM4), unroutable', async (t) => {
  t.same(route('+15550002222', routing), { kind: 'local', address: '+15550002222' });
  t.same(route('bob@example.org', routing), { kind: 'mm3', address: 'bob@example.org' });
  t.same(route('+447600001111', routing), { kind: 'mm4', address: '+447600001111', peerDomain: 'mms.b.net' });
  t.equal(route('+33100000000', routing).kind, 'unroutable');
  t.equal(route('bob@example.org', { ...routing, mm3: false }).kind, 'unroutable', 'MM3 off: e-mail is unroutable');
  t.same(route('+15550002222', { ...routing, peers: [{ domain: 'x', numberRanges: ['+1555*'] }] }).kind, 'local', 'local ranges win over a peer');
  t.equal(route('12345', routing).kind, 'unroutable', 'a short code is nobody’s peer number');
});

t.test('recipientFor: local accepted, MM3/MM4 forwarded, others unroutable with a reason', async (t) => {
  t.same(recipientFor('+15550002222', 'to', routing), { address: '+15550002222', kind: 'to', state: 'accepted' });
  t.same(recipientFor('bob@example.org', 'cc', routing), { address: 'bob@example.org', kind: 'cc', state: 'forwarded' });
  t.same(recipientFor('+447500000001', 'bcc', routing), { address: '+447500000001', kind: 'bcc', state: 'forwarded' });
  t.same(recipientFor('+33100000000', 'to', routing), { address: '+33100000000', kind: 'to', state: 'unroutable', reason: 'not in a local number range' });
});

const envelope = {
  from: '+15550001111',
  to: ['+15550002222', 'bob@example.org', '+447500000001'],
  cc: ['+447500000002'],
  bcc: [],
  subject: 'Grüße',
  date: new Date('2024-05-01T10:00:00Z'),
  expiresAt: new Date('2024-05-03T10:00:00Z'),
  deliveryReport: true,
  readReport: false,
  messageClass: 'Personal',
  priority: 'High',
  contentType: 'multipart/related; start="<smil>"; type="application/smil"',
  allowAdaptations: true,
  origin: { interface: 'mm1' as const, msisdn: '+15550001111', transactionId: 't1' },
};

t.test('outboundJobs: one job per MM3/MM4 recipient, keyed, holding the message until its expiry', async (t) => {
  const message: Pick<NewMessage, 'envelope' | 'recipients'> = {
    envelope,
    recipients: [...envelope.to.map((a) => recipientFor(a, 'to', routing)), recipientFor('+447500000002', 'cc', routing), recipientFor('bob@example.org', 'bcc', routing)],
  };
  const jobs = outboundJobs('m1', message, routing);
  t.same(
    jobs.map((j) => [j.kind, j.key, j.payload]),
    [
      ['mm3', 'm1/bob@example.org', { messageId: 'm1', address: 'bob@example.org' }],
      ['mm4-forward', 'm1/+447500000001', { messageId: 'm1', address: '+447500000001', peerDomain: 'mms.b.net' }],
      ['mm4-forward', 'm1/+447500000002', { messageId: 'm1', address: '+447500000002', peerDomain: 'mms.b.net' }],
    ],
    'no job for the local recipient, one per address',
  );
  for (const j of jobs) {
    t.equal(j.holdsMessage, true);
    t.same(j.giveUpAt, envelope.expiresAt);
  }
});

const PARTS: StoredPart[] = [
  { contentType: 'application/smil', contentId: 'smil', contentLocation: 'pres.smil', data: Buffer.from('<smil><body><par><img src="p.jpg"/></par></body></smil>') },
  { contentType: 'image/jpeg', contentId: 'img', contentLocation: 'p.jpg', data: Buffer.from([0xff, 0xd8, 0, 1, 2, 0x0d, 0x0a, 0xff, 0xd9]) },
  { contentType: 'text/plain; charset=iso-8859-1', contentLocation: 't.txt', data: Buffer.from('caf\xe9', 'latin1') },
];
const stored: StoredMessage = {
  messageId: 'msg-A-1',
  envelope,
  size: 0,
  destroyed: false,
  recipients: [
    { address: '+447500000001', kind: 'to', state: 'forwarded', token: 'x', updatedAt: new Date(0) },
    { address: '+447500000002', kind: 'cc', state: 'forwarded', token: 'y', updatedAt: new Date(0) },
  ],
};
const identity = { domain: 'mms.a.net', systemUser: 'system-user' };

t.test('MM4_forward.REQ mail: headers a peer parses back, the MM byte-identical', async (t) => {
  const req = forwardReq(stored, '+447500000002', 'mms.b.net', identity, new Date('2024-05-01T10:00:05Z'));
  t.equal(req.transactionId, forwardTransactionId('msg-A-1', '+447500000002'), 'stable per message and recipient');
  t.same(req.cc, ['+447500000002/TYPE=PLMN@mms.b.net'], 'a Cc recipient stays in Cc');
  t.same(req.to, []);
  const raw = await composeForward(req, stored, PARTS);
  const mail = await simpleParser(raw);
  const parsed = parseMm4Headers(mail.headerLines.map((h) => [h.key, h.line.slice(h.line.indexOf(':') + 1).replace(/\r?\n[ \t]+/g, ' ').trim()]));
  t.equal(parsed.type, 'MM4_forward.REQ');
  t.equal(parsed.transactionId, req.transactionId, 'the transaction id survives nodemailer unencoded');
  t.equal(parsed.type === 'MM4_forward.REQ' && parsed.from, '+15550001111/TYPE=PLMN@mms.a.net');
  t.equal(parsed.type === 'MM4_forward.REQ' && parsed.originatorSystem, 'system-user@mms.a.net');
  t.equal(mail.subject, 'Grüße', 'a non-ASCII subject is encoded and decodes back');
  const content = contentFromMm4(raw);
  t.equal(content.contentType, 'multipart/related; start="<smil>"; type="application/smil"');
  t.same(
    content.parts.map((p) => [p.contentType, p.contentId, p.contentLocation]),
    PARTS.map((p) => [p.contentType, p.contentId, p.contentLocation]),
  );
  content.parts.forEach((p, i) => t.same(p.data, PARTS[i]!.data, `part ${i} byte-identical`));
});

t.test('MM4 reports: a delivery report only for an MM4 message whose originator asked', async (t) => {
  const fromPeer: StoredMessage = {
    ...stored,
    messageId: 'msg-B-9',
    envelope: { ...envelope, origin: { interface: 'mm4', peerDomain: 'mms.a.net', transactionId: 'T', originatorMessageId: 'msg-A-1', ackRequested: true } },
  };
  const job = mm4DeliveryReportJob(fromPeer, '+447500000001', 'Retrieved', { domain: 'mms.b.net', systemUser: 'system-user' })!;
  t.equal(job.kind, 'mm4-report');
  t.match(job.payload, { peerDomain: 'mms.a.net', to: '+15550001111/TYPE=PLMN@mms.a.net', report: { type: 'MM4_delivery_report.REQ', messageId: 'msg-A-1', from: '+447500000001/TYPE=PLMN@mms.b.net', mmStatus: 'Retrieved' } });
  t.equal(mm4DeliveryReportJob(stored, '+447500000001', 'Retrieved', identity), undefined, 'not for an MM1 message');
  t.equal(mm4DeliveryReportJob({ ...fromPeer, envelope: { ...fromPeer.envelope, deliveryReport: false } }, '+447500000001', 'Retrieved', identity), undefined, 'not when not asked');
  const { report } = job.payload as Mm4ReportPayload;
  const raw = (await composeReport({ ...report, version: '6.3.0', date: new Date(0) } as Mm4Message, 'x')).toString('latin1');
  t.match(raw, /^X-Mms-3GPP-MMS-Version: 6\.3\.0\r\nX-Mms-Message-Type: MM4_delivery_report\.REQ\r\n/, 'names spelled as 23.140 spells them, version first');
  t.match(raw, /\r\nX-Mms-MM-Status-Code: Retrieved\r\n/);
  t.equal(raw.match(/^Message-ID:/gim)?.length, 1, 'one Message-ID');
});

t.test('config: SMTP defaults and routing keys', async (t) => {
  const c = loadMmscConfig({});
  t.equal(c.smtp.enabled, false, 'off unless configured');
  t.same(c.smtp.listen, { host: '127.0.0.1', port: 2525 });
  t.equal(c.smtp.domain, 'mms.local');
  t.equal(c.routing.mm3, false);
  t.same(c.routing.peers, []);
  const d = loadMmscConfig({ smtp: { peers: [{ domain: 'MMS.B.NET', host: '10.0.0.2:25' }] }, routing: { peers: [{ domain: 'mms.b.net', numberRanges: ['+4475*'] }] } }, { MMSC_SMTP_LISTEN: '127.0.0.1:2626' });
  t.same(d.smtp.peers[0]!.host, { host: '10.0.0.2', port: 25 });
  t.equal(d.smtp.peers[0]!.domain, 'mms.b.net', 'domains lower-cased');
  t.same(d.smtp.listen, { host: '127.0.0.1', port: 2626 }, 'MMSC_SMTP_LISTEN');
  t.throws(() => loadMmscConfig({ smtp: { html: 'rich' } }), /smtp\.html/);
});
