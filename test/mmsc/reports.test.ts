import t from 'tap';
import { decodeMm7Http, encodeMm7Http } from '../../protocol/mm7/http.js';
import { buildMm7Soap, DEFAULT_MM7_VERSION, namespaceOf, parseMm7Soap, parseXml, RELEASES, isRel6, type Mm7Envelope, type XmlElement } from '../../protocol/mm7/index.js';
import { decodeMms, decodeMmsPush, encodeMms, STATUS, READ_STATUS } from '../../protocol/mms/index.js';
import {
  deliverJob,
  deliverReq,
  deliveryInd,
  deliveryReportJobs,
  deliveryReportReq,
  deliveryStatusOf,
  mm7MmStatusOf,
  readOrigInd,
  readReplyReq,
  readReportJobs,
  releaseForVasp,
  ReportError,
  type DeliveryStatus,
  type ReadStatus,
} from '../../src/mmsc/reports.js';
import type { MessageEnvelope, Origin, RecipientState, StoredMessage, StoredPart } from '../../src/mmsc/model.js';
import type { PushPayload } from '../../src/mmsc/mmsc.js';
import { requireTshark, tsharkDecodeMmsPdus, tsharkDecodeWspPushes } from '../helpers/tshark.js';

const ALL_STATUSES: DeliveryStatus[] = ['Expired', 'Retrieved', 'Rejected', 'Deferred', 'Unrecognised', 'Indeterminate', 'Forwarded', 'Unreachable'];
const at = new Date('2024-05-01T10:05:00Z');

function message(origin: Origin, extra: Partial<MessageEnvelope> = {}, destroyed = false): StoredMessage {
  return {
    messageId: 'm-20240501-000123',
    envelope: {
      from: origin.interface === 'mm1' ? origin.msisdn : '12345',
      to: ['+15550002222'],
      cc: ['+15550003333'],
      bcc: ['+15550004444'],
      subject: 'Quiz answer',
      priority: 'High',
      date: new Date('2024-05-01T10:00:00Z'),
      expiresAt: new Date('2024-05-03T10:00:00Z'),
      deliveryReport: true,
      readReport: true,
      contentType: 'multipart/related; start="<smil>"; type="application/smil"',
      allowAdaptations: true,
      origin,
      ...extra,
    },
    recipients: [],
    size: 10,
    destroyed,
  };
}

const fromVasp = (release: string, mm7Version = ''): StoredMessage => message({ interface: 'mm7', vaspId: 'demo', vasId: 'demo', release, mm7Version });
const fromPhone = message({ interface: 'mm1', msisdn: '+15550001111', transactionId: 'tx-1' });

t.test('recipient states map to X-Mms-Status', async (t) => {
  const expected: Record<RecipientState, DeliveryStatus | undefined> = {
    accepted: undefined,
    notified: undefined,
    retrieved: 'Retrieved',
    acknowledged: 'Retrieved',
    rejected: 'Rejected',
    deferred: 'Deferred',
    expired: 'Expired',
    cancelled: 'Indeterminate',
    unroutable: 'Unrecognised',
    forwarded: 'Forwarded',
  };
  for (const [state, status] of Object.entries(expected)) t.equal(deliveryStatusOf(state as RecipientState), status, state);
});

t.test('M-Delivery.ind and M-Read-Orig.ind: encode → decode', async (t) => {
  for (const status of ALL_STATUSES) {
    const pdu = deliveryInd(fromPhone, '+15550002222', status, at);
    const back = decodeMms(encodeMms(pdu));
    t.same(back, { messageType: 'm-delivery-ind', mmsVersion: '1.2', messageId: 'm-20240501-000123', to: [{ text: '+15550002222/TYPE=PLMN' }], date: at, status }, status);
  }
  for (const status of ['Read', 'Deleted-without-being-read'] as ReadStatus[]) {
    const back = decodeMms(encodeMms(readOrigInd(fromPhone, '+15550002222', status, at)));
    t.same(back, {
      messageType: 'm-read-orig-ind',
      mmsVersion: '1.2',
      messageId: 'm-20240501-000123',
      to: [{ text: '+15550001111/TYPE=PLMN' }],
      from: { text: '+15550002222/TYPE=PLMN' },
      date: at,
      readStatus: status,
    }, status);
  }
});

t.test("tshark's MMSE dissector reads our reports the same way", async (t) => {
  if (!requireTshark(t)) return;
  const deliveries = ALL_STATUSES.map((s) => deliveryInd(fromPhone, '+15550002222', s, at));
  const reads = (['Read', 'Deleted-without-being-read'] as ReadStatus[]).map((s) => readOrigInd(fromPhone, '+15550002222', s, at));
  const packets = await tsharkDecodeMmsPdus([...deliveries, ...reads].map((p) => encodeMms(p)));
  t.equal(packets.length, deliveries.length + reads.length);
  const date = 'May  1, 2024 10:05:00.000000000 UTC';
  deliveries.forEach((pdu, i) => {
    const f = packets[i]!.fields;
    if (pdu.status === 'Unrecognised') {
      // tshark 4.0 quirk: its MMSE header loop keeps each token value in the variable that its loop
      // condition compares with the Content-Type header code (0x84), so X-Mms-Status Unrecognised
      // (0x84) ends the headers and it reads a body that is not there. The fields read are right.
      t.same(packets[i]!.expert, ['error: Malformed Packet (Exception occurred)'], 'Unrecognised: only the known tshark quirk');
    } else {
      t.notOk(packets[i]!.malformed, `${pdu.status}: clean ${packets[i]!.expert.join('; ')}`);
    }
    t.same(f['mmse.message_type'], ['0x86'], `${pdu.status}: m-delivery-ind`);
    t.same(f['mmse.mms_version'], ['1.2']);
    t.same(f['mmse.message_id'], ['m-20240501-000123']);
    t.same(f['mmse.to'], ['+15550002222/TYPE=PLMN']);
    t.same(f['mmse.date'], [date]);
    t.same(f['mmse.status'], [`0x${STATUS.code(String(pdu.status))!.toString(16)}`], `${pdu.status} as X-Mms-Status`);
  });
  reads.forEach((pdu, k) => {
    const p = packets[deliveries.length + k]!;
    t.notOk(p.malformed, `${String(pdu.readStatus)}: clean`);
    t.same(p.fields['mmse.message_type'], ['0x88'], 'm-read-orig-ind');
    t.same(p.fields['mmse.from'], ['+15550002222/TYPE=PLMN'], 'From: who read it');
    t.same(p.fields['mmse.to'], ['+15550001111/TYPE=PLMN'], 'To: the originator');
    t.same(p.fields['mmse.read_status'], [`0x${READ_STATUS.code(String(pdu.readStatus))!.toString(16)}`]);
    t.same(p.fields['mmse.date'], [date]);
  });
  // The push jobs' PDUs: WSP push for the MMS user agent around the same report.
  const jobs = [...deliveryReportJobs(fromPhone, '+15550002222', 'Retrieved', at, 5), ...readReportJobs(fromPhone, '+15550002222', 'Read', at, 6)];
  const pushes = jobs.map((j) => Buffer.from((j.payload as PushPayload).pdu, 'base64'));
  const pushed = await tsharkDecodeWspPushes(pushes);
  t.same(pushed.map((p) => p.fields['wsp.header.x_wap_application_id']), [['x-wap-application:mms.ua'], ['x-wap-application:mms.ua']]);
  t.same(pushed.map((p) => p.fields['mmse.message_type']), [['0x86'], ['0x88']]);
  t.same(pushed.map((p) => p.fields['wsp.TID']), [['0x05'], ['0x06']]);
});

t.test('report jobs by origin', async (t) => {
  const [push] = deliveryReportJobs(fromPhone, '+15550002222', 'Deferred', at, 9);
  t.equal(push?.kind, 'push');
  t.equal(push?.address, '+15550001111', 'to the MM1 originator');
  t.equal((push?.payload as PushPayload).carries, 'm-delivery-ind');
  const decoded = decodeMmsPush(Buffer.from((push?.payload as PushPayload).pdu, 'base64'));
  t.equal(decoded.mms.status, 'Deferred');
  t.equal(decoded.push.tid, 9);
  const later = deliveryReportJobs(fromPhone, '+15550002222', 'Retrieved', at, 10)[0];
  t.not(later?.key, push?.key, 'Deferred and a later Retrieved are two reports');

  const vasp = fromVasp('REL-6-MM7-1-4');
  t.same(deliveryReportJobs(vasp, '+15550002222', 'Retrieved', at, 1), [
    { kind: 'mm7-delivery-report', key: 'm-20240501-000123/+15550002222/Retrieved', messageId: 'm-20240501-000123', address: '+15550002222', payload: { status: 'Retrieved', at: at.toISOString() } },
  ]);
  t.same(deliveryReportJobs(message(vasp.envelope.origin, { deliveryReport: false }), '+15550002222', 'Retrieved', at, 1), [], 'not asked for');
  t.same(deliveryReportJobs(message({ interface: 'mm3', mailFrom: 'a@b.example' }), '+15550002222', 'Retrieved', at, 1), [], 'MM3: not this module');

  const [read] = readReportJobs(vasp, '+15550002222', 'Deleted-without-being-read', at, 1);
  t.same(read, { kind: 'mm7-read-reply', key: 'm-20240501-000123/+15550002222/read', messageId: 'm-20240501-000123', address: '+15550002222', payload: { readStatus: 'Deleted-without-being-read', at: at.toISOString() } });
  t.same(readReportJobs(message(vasp.envelope.origin, { readReport: false }), '+15550002222', 'Read', at, 1), [], 'a VASP that did not ask gets no ReadReplyReq');
  t.equal(readReportJobs(message(fromPhone.envelope.origin, { readReport: false }), '+15550002222', 'Read', at, 1).length, 1, 'a terminal gets the read report its peer chose to send');

  const deliver = deliverJob(fromPhone, '12345', 'demo');
  t.same(deliver, { kind: 'mm7-deliver', key: 'm-20240501-000123/12345', messageId: 'm-20240501-000123', address: '12345', payload: { vaspId: 'demo' }, giveUpAt: fromPhone.envelope.expiresAt, holdsMessage: true });
});

/** The local names of an element's children, in order. */
function childNames(xml: string, type: string): string[] {
  const find = (el: XmlElement): XmlElement | undefined => (el.local === type ? el : el.children.map(find).find((x) => x !== undefined));
  return find(parseXml(xml))!.children.map((c) => c.local);
}

t.test('DeliveryReportReq in every release: round trip, namespace, element order, REL-5 vocabulary', async (t) => {
  for (const release of RELEASES) {
    for (const status of ALL_STATUSES) {
      const env = deliveryReportReq(fromVasp(release), '+15550002222', status, at, { transactionId: `dr-${release}`, relayServerId: 'mmsc' });
      const xml = buildMm7Soap(env);
      const back = parseMm7Soap(xml);
      t.same({ ...back, fault: undefined }, { ...env, fault: undefined }, `${release} ${status}: parse(build(x)) = x`);
      t.equal(back.release, release);
      t.match(xml, `xmlns="${namespaceOf(release)}"`);
      const mmStatus = back.message.mmStatus;
      if (isRel6(release)) t.ok(['Expired', 'Retrieved', 'Rejected', 'Indeterminate', 'Forwarded', 'Deferred', 'Unrecognised'].includes(mmStatus!), `${release}: ${mmStatus}`);
      else t.ok(['Expired', 'Retrieved', 'Rejected', 'Indeterminate', 'Forwarded'].includes(mmStatus!), `${release}: ${mmStatus} is REL-5 vocabulary`);
      if (mmStatus !== status) t.equal(back.message.statusText, status, 'a status the release cannot say is kept in StatusText');
    }
    const env = deliveryReportReq(fromVasp(release), '+15550002222', 'Retrieved', at, { transactionId: 'x', relayServerId: 'mmsc' });
    t.equal(env.message.mm7Version, DEFAULT_MM7_VERSION[release], 'MM7Version defaults by release');
    t.equal(deliveryReportReq(fromVasp(release, '9.9.9'), '+1', 'Retrieved', at, { transactionId: 'x' }).message.mm7Version, '9.9.9', 'the SubmitReq\'s MM7Version is echoed');
    t.same(childNames(buildMm7Soap(env), 'DeliveryReportReq'), ['MM7Version', 'MMSRelayServerID', 'MessageID', 'Recipient', 'Sender', 'Date', 'MMStatus'], `${release}: element order`);
  }
  const rel5 = buildMm7Soap(deliveryReportReq(fromVasp('REL-5-MM7-1-0'), '+15550002222', 'Deferred', at, { transactionId: 'x' }));
  t.notMatch(rel5, /MMStatusExtension|ApplicID|Deferred<\/MMStatus>/);
  t.equal(mm7MmStatusOf('Deferred', 'REL-6-MM7-1-4'), 'Deferred');
  t.equal(mm7MmStatusOf('Unreachable', 'REL-6-MM7-1-4'), 'Indeterminate');
});

t.test('DeliveryReportReq carries what the golden REL-5-MM7-1-2 fixture carries', async (t) => {
  // The SubmitReq came from short code 54321 in REL-5-MM7-1-2 with MM7Version 5.3.0.
  const m = message({ interface: 'mm7', vaspId: 'lab', release: 'REL-5-MM7-1-2', mm7Version: '5.3.0' }, { from: '54321' });
  const ours = parseMm7Soap(buildMm7Soap(deliveryReportReq(m, '+15550002222', 'Retrieved', at, { transactionId: 'dr-9', relayServerId: 'mmsc-a', statusText: 'Delivered to handset' })));
  const { readFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { REPO_ROOT } = await import('../helpers/fixtures.js');
  const golden = parseMm7Soap(readFileSync(join(REPO_ROOT, 'fixtures/mm7/soap/delivery-report-rel5-1-2.xml'), 'utf8'));
  t.same(ours, golden);
});

t.test('ReadReplyReq in every release', async (t) => {
  for (const release of RELEASES) {
    for (const status of ['Read', 'Deleted-without-being-read'] as ReadStatus[]) {
      const env = readReplyReq(fromVasp(release), '+15550002222', status, at, { transactionId: 'rr-1' });
      const back = parseMm7Soap(buildMm7Soap(env));
      t.same({ ...back, fault: undefined }, { ...env, fault: undefined }, `${release} ${status}`);
      t.equal(back.message.mmStatus, status === 'Read' ? 'Read' : 'Deleted');
      t.same(back.message.recipient, { kind: 'Number', value: '+15550002222' }, 'Recipient: who read it');
      t.same(back.message.sender, { kind: 'ShortCode', value: '12345' }, 'Sender: the VASP');
    }
  }
  t.throws(() => readReplyReq(fromPhone, '+1', 'Read', at, { transactionId: 'x' }), ReportError, 'not a VASP message');
  t.throws(() => deliveryReportReq(fromPhone, '+1', 'Read' as DeliveryStatus, at, { transactionId: 'x' }), ReportError);
});

const parts: StoredPart[] = [
  { contentType: 'application/smil', contentId: 'smil', data: Buffer.from('<smil><body><par><text src="t.txt"/></par></body></smil>') },
  { contentType: 'text/plain; charset=utf-8', contentId: 't', contentLocation: 't.txt', data: Buffer.from('answer B') },
  { contentType: 'image/png', contentLocation: 'a.png', data: Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0xff]) },
];

t.test('DeliverReq of a terminal message to a short code, with its content', async (t) => {
  const m = message({ interface: 'mm1', msisdn: '+15550001111', transactionId: 'tx-1' }, { to: ['12345'], cc: [], bcc: ['+15550004444'] });
  for (const release of ['REL-5-MM7-1-0', 'REL-6-MM7-1-4'] as const) {
    const { envelope, content } = deliverReq(m, parts, { transactionId: 'dl-1', release, relayServerId: 'mmsc', vaspId: 'demo', vasId: 'quiz' });
    const http = await encodeMm7Http(envelope, content);
    const back = await decodeMm7Http(http.contentType, http.body);
    const msg = back.envelope.message;
    t.equal(back.envelope.release, release);
    t.equal(msg.type, 'DeliverReq');
    t.equal(msg.linkedId, 'm-20240501-000123', 'LinkedID: the MMS-C message id');
    t.same(msg.sender, { kind: 'Number', value: '+15550001111' });
    t.same(msg.recipients, { to: [{ kind: 'ShortCode', value: '12345' }], cc: [], bcc: [] }, 'Bcc is not shown to the VASP');
    t.equal(msg.subject, 'Quiz answer');
    t.equal(msg.priority, 'High');
    t.same(msg.timeStamp, new Date('2024-05-01T10:00:00Z'));
    t.equal(msg.mmsRelayServerId, 'mmsc');
    t.equal(msg.vaspId, isRel6(release) ? 'demo' : undefined, 'VASPID only where the schema has it');
    t.equal(back.content?.mediaType, 'multipart/related');
    t.equal(back.content?.params.type, 'application/smil');
    t.same(back.content?.parts?.map((p) => [p.mediaType, p.contentId, p.contentLocation, p.body?.toString('hex')]), parts.map((p) => [p.contentType.split(';')[0], p.contentId, p.contentLocation, p.data.toString('hex')]));
  }
  const linked = deliverReq(m, parts, { transactionId: 'x', release: 'REL-6-MM7-1-4', linkedId: 'mo-77' });
  t.equal(linked.envelope.message.linkedId, 'mo-77');
  // A single-part message is its own content entity.
  const single = deliverReq(message(m.envelope.origin, { contentType: 'text/plain; charset=utf-8' }), [parts[1]!], { transactionId: 'x', release: 'REL-6-MM7-1-4' });
  t.same([single.content.mediaType, single.content.params, single.content.body?.toString()], ['text/plain', { charset: 'utf-8' }, 'answer B']);
  // A part whose Content-ID is the wrapper's default does not collide with it.
  const clash = deliverReq(m, [{ ...parts[0]!, contentId: 'mms-content@mmsc' }], { transactionId: 'x', release: 'REL-6-MM7-1-4' });
  t.equal(clash.envelope.message.content?.href, 'cid:mms-content-2@mmsc');
  t.throws(() => deliverReq(message(m.envelope.origin, {}, true), parts, { transactionId: 'x', release: 'REL-6-MM7-1-4' }), ReportError, 'destroyed content');
});

t.test('the release a VASP is written to', async (t) => {
  t.equal(releaseForVasp('all'), 'REL-6-MM7-1-4');
  t.equal(releaseForVasp(['REL-5-MM7-1-3', 'REL-5-MM7-1-0']), 'REL-5-MM7-1-3', 'the newest it accepts');
  const env: Mm7Envelope = deliveryReportReq(fromVasp('REL-9-unknown'), '+1', 'Retrieved', at, { transactionId: 'x' });
  t.equal(env.release, 'REL-6-MM7-1-4', 'an unknown stored release falls back to the default');
});
