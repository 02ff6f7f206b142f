import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import {
  buildMm7Soap,
  Mm7Error,
  MESSAGE_TYPES,
  parseMm7Soap,
  RELEASES,
  REL6_ONLY,
  SCHEMA,
  isRel6,
  namespaceOf,
  statusText,
  statusClassOf,
  parseXml,
  type XmlElement,
  type Mm7Envelope,
  type Mm7Message,
  type Mm7MessageType,
  type Release,
} from '../../../protocol/mm7/index.js';
import { ProtocolError } from '../../../protocol/errors.js';
import { REPO_ROOT } from '../../helpers/fixtures.js';

const fixture = (name: string): string => readFileSync(join(REPO_ROOT, 'fixtures/mm7/soap', name), 'utf8');

function mm7Error(t: Test, fn: () => unknown, status: number, field?: string): Mm7Error | undefined {
  try {
    fn();
    t.fail(`expected MM7 status ${status}`);
    return undefined;
  } catch (e) {
    t.ok(e instanceof Mm7Error, `an Mm7Error (${String(e)})`);
    t.equal((e as Mm7Error).status, status, `status ${status}`);
    if (field !== undefined) t.equal((e as Mm7Error).field, field);
    return e as Mm7Error;
  }
}

t.test('REL-5-MM7-1-0 SubmitReq with prefixes everywhere and capitalised booleans', async (t) => {
  const env = parseMm7Soap(fixture('submit-rel5-1-0-prefixed.xml'));
  t.equal(env.release, 'REL-5-MM7-1-0');
  t.equal(env.transactionId, 'mbuni-77001');
  const m = env.message;
  t.equal(m.type, 'SubmitReq');
  t.equal(m.mm7Version, '5.3.0');
  t.same(m.senderIdentification, { vaspId: 'lab-vasp', vasId: 'quiz', senderAddress: { kind: 'ShortCode', value: '54321' } });
  t.same(m.recipients, {
    to: [{ kind: 'Number', value: '+15550002222' }, { kind: 'Number', value: '15550003333' }],
    cc: [{ kind: 'RFC2822Address', value: 'qa@lab.example' }],
    bcc: [{ kind: 'Number', value: '+15550004444', displayOnly: true }],
  });
  t.equal(m.serviceCode, 'QUIZ-7');
  t.equal(m.linkedId, 'mo-1234');
  t.equal(m.messageClass, 'Advertisement');
  t.equal(m.timeStamp?.toISOString(), '2024-05-01T10:00:00.000Z', 'offset +02:00 applied');
  t.same(m.replyCharging, { replyChargingSize: 2000, replyDeadline: { relative: 'P1D' } });
  t.same(m.earliestDeliveryTime, { relative: 'PT30M' });
  t.same(m.expiryDate, { absolute: new Date('2024-05-08T10:00:00Z') });
  t.equal(m.deliveryReport, true);
  t.equal(m.readReply, false);
  t.equal(m.priority, 'High');
  t.equal(m.subject, 'Quiz \u2013 round 2 & prizes', 'character and entity references decoded');
  t.equal(m.chargedParty, 'Recipient');
  t.equal(m.distributionIndicator, false);
  t.same(m.content, { href: 'cid:quiz-content', allowAdaptations: false });
});

t.test('REL-6-MM7-1-4 DeliverReq with the Rel-6 elements', async (t) => {
  const env = parseMm7Soap(fixture('deliver-rel6-1-4.xml'));
  t.equal(env.release, 'REL-6-MM7-1-4');
  t.equal(env.transactionId, 'mmsc-dlv-0042', 'TransactionID in a default namespace');
  const m = env.message;
  t.equal(m.type, 'DeliverReq');
  t.equal(m.mmsRelayServerId, 'mmsc.lab.example');
  t.equal(m.vaspId, 'lab-vasp');
  t.equal(m.vasId, 'quiz');
  t.equal(m.linkedId, 'mt-555');
  t.same(m.sender, { kind: 'Number', value: '+15550002222' });
  t.same(m.recipients?.to, [{ kind: 'ShortCode', value: '54321' }]);
  t.same(m.previouslySentBy, [{ sequence: 1, address: { kind: 'Number', value: '+15550009999' } }]);
  t.same(m.previouslySentDate, [{ sequence: 1, dateTime: new Date('2024-05-01T09:59:00Z') }]);
  t.equal(m.subject, 'Answer: B');
  t.equal(m.applicId, 'com.lab.quiz');
  t.equal(m.replyApplicId, 'com.lab.quiz.reply');
  t.equal(m.auxApplicInfo, 'round=2');
  t.same(m.uaCapabilities, { uaProf: 'http://uaprof.example/phone-x.xml', timeStamp: new Date('2024-05-01T10:00:00Z') });
  t.same(m.content, { href: 'cid:mo-content-1' });
});

t.test('REL-5-MM7-1-2 DeliveryReportReq: other prefixes, an unknown element skipped', async (t) => {
  const env = parseMm7Soap(fixture('delivery-report-rel5-1-2.xml'));
  t.equal(env.release, 'REL-5-MM7-1-2');
  t.equal(env.transactionId, 'dr-9');
  t.same(env.message, {
    type: 'DeliveryReportReq',
    mm7Version: '5.3.0',
    mmsRelayServerId: 'mmsc-a',
    messageId: 'm-20240501-000123',
    recipient: { kind: 'Number', value: '+15550002222' },
    sender: { kind: 'ShortCode', value: '54321' },
    date: new Date('2024-05-01T10:05:00Z'),
    mmStatus: 'Retrieved',
    statusText: 'Delivered to handset',
  });
});

t.test('REL-5-MM7-1-3 ReadReplyReq and REL-6-MM7-1-0 CancelReq', async (t) => {
  const rr = parseMm7Soap(fixture('read-reply-rel5-1-3.xml'));
  t.equal(rr.release, 'REL-5-MM7-1-3');
  t.equal(rr.message.type, 'ReadReplyReq');
  t.equal(rr.message.mmStatus, 'Read');
  t.same(rr.message.timeStamp, new Date('2024-05-01T10:06:00Z'));
  const cx = parseMm7Soap(fixture('cancel-rel6-1-0.xml'));
  t.equal(cx.release, 'REL-6-MM7-1-0');
  t.same(cx.message, { type: 'CancelReq', mm7Version: '6.3.0', senderIdentification: { vaspId: 'lab-vasp', vasId: 'quiz' }, messageId: 'm-20240501-000123' });
});

t.test('error answers: an error SubmitRsp and a Fault around RSErrorRsp', async (t) => {
  const rsp = parseMm7Soap(fixture('submit-rsp-error-rel6-1-4.xml'));
  t.same(rsp.message.status, { code: 2002, text: 'Address Error', details: 'Number +1555000 is too short' });
  t.equal(rsp.message.messageId, undefined);
  const fault = parseMm7Soap(fixture('rserror-fault-rel5-1-0.xml'));
  t.same(fault.fault, { code: 'env:Server', string: 'Server error' });
  t.equal(fault.message.type, 'RSErrorRsp');
  t.equal(fault.message.status?.code, 4001);
  t.equal(fault.message.mmsRelayServerId, 'mbuni');
  // Our builder puts RSErrorRsp in a Fault too, and it reads back.
  const built = buildMm7Soap({ release: 'REL-5-MM7-1-0', transactionId: 'x', message: { type: 'RSErrorRsp', mm7Version: '5.3.0', status: { code: 2007 } } });
  t.match(built, /<faultcode>env:Client<\/faultcode>/);
  t.same(parseMm7Soap(built).message, { type: 'RSErrorRsp', mm7Version: '5.3.0', status: { code: 2007, text: 'Message format corrupt' } });
});

function findElement(el: XmlElement, local: string): XmlElement | undefined {
  if (el.local === local) return el;
  for (const c of el.children) {
    const found = findElement(c, local);
    if (found) return found;
  }
  return undefined;
}

/** A message of the type with every element its schema has in the release, with values of the right kind. */
function fullMessage(type: Mm7MessageType, release: Release): Mm7Message {
  const address = { kind: 'Number' as const, value: '+15550002222' };
  const values: Record<string, unknown> = {
    string: 'v-1',
    integer: 7,
    boolean: true,
    dateTime: new Date('2024-05-01T10:00:00Z'),
    time: { relative: 'P2DT3H' },
    address,
    recipients: { to: [address], cc: [{ kind: 'RFC2822Address', value: 'a@b.example', id: 'r2' }], bcc: [{ kind: 'ShortCode', value: '12345', displayOnly: true, addressCoding: 'obfuscated' }] },
    senderIdentification: { vaspId: 'demo', vasId: 'demo', senderAddress: { kind: 'ShortCode', value: '12345' } },
    status: { code: 1000, text: 'Success', details: 'ok' },
    content: { href: 'cid:c1', allowAdaptations: true },
    replyCharging: { replyChargingSize: 1000, replyDeadline: { absolute: new Date('2024-05-02T00:00:00Z') } },
    deliveryCondition: [1, 2],
    uaCapabilities: { uaProf: 'http://u.example/p.xml', timeStamp: new Date('2024-05-01T10:00:00Z') },
    previouslySentBy: [{ sequence: 1, address }],
    previouslySentDate: [{ sequence: 1, dateTime: new Date('2024-05-01T09:00:00Z') }],
  };
  const m: Record<string, unknown> = { type };
  for (const def of SCHEMA[type]) {
    if (def.rel6 && !isRel6(release)) continue;
    m[def.key] = def.key === 'mm7Version' ? '6.8.0' : values[def.kind];
  }
  return m as unknown as Mm7Message;
}

t.test('parse(build(x)) = x for every message type in every release that defines it', async (t) => {
  let count = 0;
  for (const release of RELEASES) {
    for (const type of MESSAGE_TYPES) {
      if (REL6_ONLY.has(type) && !isRel6(release)) continue;
      const env: Mm7Envelope = { release, transactionId: `tx-${type}`, message: fullMessage(type, release) };
      const xml = buildMm7Soap(env);
      const back = parseMm7Soap(xml);
      t.same({ ...back, fault: undefined }, { ...env, fault: undefined }, `${release} ${type}`);
      count++;
    }
  }
  t.equal(count, 6 * 14 + 5 * 18, 'every (release, message) pair');
});

t.test('element order is pinned (derived from 23.140; no XSD available)', async (t) => {
  // Written out literally so that a change to the schema table must change this test too.
  const pinned: Partial<Record<Mm7MessageType, string>> = {
    SubmitReq:
      'MM7Version SenderIdentification Recipients ServiceCode LinkedID MessageClass TimeStamp ReplyCharging EarliestDeliveryTime ExpiryDate DeliveryReport ReadReply Priority Subject ChargedParty ChargedPartyID DistributionIndicator DeliveryCondition ApplicID ReplyApplicID AuxApplicInfo ContentClass DRMContent Content',
    SubmitRsp: 'MM7Version Status MessageID',
    DeliverReq:
      'MM7Version MMSRelayServerID VASPID VASID LinkedID Sender Recipients Previouslysentby Previouslysentdateandtime SenderSPI RecipientSPI TimeStamp ReplyChargingID Priority Subject ApplicID ReplyApplicID AuxApplicInfo UACapabilities Content',
    DeliverRsp: 'MM7Version Status ServiceCode',
    CancelReq: 'MM7Version SenderIdentification MessageID',
    ReplaceReq: 'MM7Version SenderIdentification MessageID ServiceCode TimeStamp ReadReply EarliestDeliveryTime DistributionIndicator ContentClass DRMContent Content',
    DeliveryReportReq: 'MM7Version MMSRelayServerID MessageID Recipient Sender Date MMStatus MMStatusExtension StatusText ApplicID ReplyApplicID AuxApplicInfo UACapabilities',
    ReadReplyReq: 'MM7Version MMSRelayServerID MessageID Recipient Sender TimeStamp MMStatus StatusText ApplicID ReplyApplicID AuxApplicInfo',
    RSErrorRsp: 'MM7Version MMSRelayServerID Status',
  };
  for (const [type, order] of Object.entries(pinned) as [Mm7MessageType, string][]) {
    const xml = buildMm7Soap({ release: 'REL-6-MM7-1-4', message: fullMessage(type, 'REL-6-MM7-1-4') });
    const el = findElement(parseXml(xml), type)!;
    const names = el.children.map((c) => c.local);
    t.equal(names.join(' '), order, `${type} element order`);
  }
  // REL-5 documents leave the Rel-6 elements out.
  const rel5 = buildMm7Soap({ release: 'REL-5-MM7-1-0', message: fullMessage('SubmitReq', 'REL-5-MM7-1-0') });
  t.notMatch(rel5, /ApplicID|ContentClass|DRMContent|DeliveryCondition|ChargedPartyID/);
  t.match(rel5, new RegExp(`xmlns="${namespaceOf('REL-5-MM7-1-0')}"`));
});

t.test('the builder refuses what the release cannot say', async (t) => {
  const rel6Only = fullMessage('SubmitReq', 'REL-6-MM7-1-4');
  t.throws(() => buildMm7Soap({ release: 'REL-5-MM7-1-3', message: rel6Only }), ProtocolError);
  t.throws(() => buildMm7Soap({ release: 'REL-5-MM7-1-0', message: fullMessage('extendedCancelReq', 'REL-6-MM7-1-4') }), ProtocolError);
  const { recipients: _r, ...noRecipients } = fullMessage('SubmitReq', 'REL-5-MM7-1-0');
  try {
    buildMm7Soap({ release: 'REL-5-MM7-1-0', message: noRecipients as Mm7Message });
    t.fail('built without Recipients');
  } catch (e) {
    t.equal((e as ProtocolError).code, 'MISSING_HEADER');
    t.equal((e as ProtocolError).field, 'Recipients');
  }
  t.throws(() => buildMm7Soap({ release: 'REL-6-MM7-1-4', message: { ...fullMessage('SubmitReq', 'REL-6-MM7-1-4'), expiryDate: { relative: '2 days' } } }), ProtocolError);
});

const ns6 = namespaceOf('REL-6-MM7-1-4');
const envelope = (body: string, header = `<env:Header><mm7:TransactionID xmlns:mm7="${ns6}" env:mustUnderstand="1">t-1</mm7:TransactionID></env:Header>`): string =>
  `<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/">${header}<env:Body>${body}</env:Body></env:Envelope>`;

t.test('malformed and hostile SOAP gets its MM7 status, with the TransactionID when it was read', async (t) => {
  const bomb = `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><lolz>&lol3;</lolz>`;
  mm7Error(t, () => parseMm7Soap(bomb), 2007);
  mm7Error(t, () => parseMm7Soap(`<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>${envelope('<SubmitReq/>')}`), 2007);
  mm7Error(t, () => parseMm7Soap(`${'<a>'.repeat(10_000)}${'</a>'.repeat(10_000)}`), 2007);
  mm7Error(t, () => parseMm7Soap('<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"><env:Body><Sub'), 2007);
  mm7Error(t, () => parseMm7Soap('<html><body>not soap</body></html>'), 2007);
  mm7Error(t, () => parseMm7Soap('<x:Envelope><x:Body/></x:Envelope>'), 2007);
  mm7Error(t, () => parseMm7Soap(envelope('')), 2007, 'Body');
  mm7Error(t, () => parseMm7Soap('x'.repeat(2_000_000)), 2007);
  mm7Error(t, () => parseMm7Soap(envelope(`<SubmitRsp xmlns="${ns6}"><MM7Version>&nbsp;</MM7Version></SubmitRsp>`)), 2007, 'SOAP envelope');
  mm7Error(t, () => parseMm7Soap(envelope(`<SubmitRsp xmlns="${ns6}"><MM7Version>&#xD800;</MM7Version></SubmitRsp>`)), 2007, 'SOAP envelope');

  const unknownNs = mm7Error(t, () => parseMm7Soap(envelope(`<SubmitReq xmlns="urn:vendor:mm7:v9"><MM7Version>9</MM7Version></SubmitReq>`)), 4002);
  t.equal(unknownNs?.context.transactionId, 't-1', 'TransactionID kept for the answer');
  t.equal(unknownNs?.context.release, 'REL-6-MM7-1-4', 'release taken from the header for the answer');
  mm7Error(t, () => parseMm7Soap(envelope(`<FetchReq xmlns="${ns6}"><MM7Version>6.8.0</MM7Version></FetchReq>`)), 4003);
  const missing = mm7Error(t, () => parseMm7Soap(envelope(`<CancelReq xmlns="${ns6}"><MM7Version>6.8.0</MM7Version><SenderIdentification/></CancelReq>`)), 4004, 'MessageID');
  t.equal(missing?.context.mm7Version, '6.8.0');
  mm7Error(t, () => parseMm7Soap(envelope(`<SubmitRsp xmlns="${ns6}"><MM7Version>6.8.0</MM7Version><Status><StatusCode>ok</StatusCode></Status></SubmitRsp>`)), 4004, 'StatusCode');
  mm7Error(t, () => parseMm7Soap(envelope(`<SubmitReq xmlns="${ns6}"><MM7Version>6.8.0</MM7Version><SenderIdentification/><Recipients><To><Number>1</Number></To></Recipients><DeliveryReport>maybe</DeliveryReport></SubmitReq>`)), 4004, 'DeliveryReport');
  mm7Error(t, () => parseMm7Soap(envelope(`<SubmitReq xmlns="${ns6}"><MM7Version>6.8.0</MM7Version><SenderIdentification/><Recipients><To><Phone>1</Phone></To></Recipients></SubmitReq>`)), 4004);
  mm7Error(t, () => parseMm7Soap(envelope(`<SubmitReq xmlns="${ns6}"><MM7Version>6.8.0</MM7Version><SenderIdentification/><Recipients/></SubmitReq>`)), 4004, 'Recipients');
  mm7Error(t, () => parseMm7Soap(envelope(`<p:SubmitReq><MM7Version>6.8.0</MM7Version></p:SubmitReq>`)), 2007);
  // A huge attribute value is just data: it parses (within the size limit) and is kept.
  const href = `cid:${'a'.repeat(500_000)}`;
  const big = parseMm7Soap(envelope(`<SubmitReq xmlns="${ns6}"><MM7Version>6.8.0</MM7Version><SenderIdentification/><Recipients><To><Number>1</Number></To></Recipients><Content href="${href}"/></SubmitReq>`));
  t.equal(big.message.content?.href.length, href.length);
});

t.test('status codes: names and classes', async (t) => {
  t.equal(statusText(1000), 'Success');
  t.equal(statusText(2007), 'Message format corrupt');
  t.equal(statusText(4004), 'Validation error');
  t.equal(statusText(2515), 'Client error', 'a vendor code reads by its class');
  t.equal(statusClassOf(3100), 'server-error');
  t.equal(statusClassOf(1100), 'success');
});

t.test('a truncated envelope is refused, not read as a shorter valid one', async (t) => {
  const answer = buildMm7Soap({
    release: 'REL-6-MM7-1-4',
    transactionId: 'cut-1',
    message: { type: 'DeliveryReportRsp', mm7Version: '6.8.0', status: { code: 1000, text: 'Success' } },
  });
  t.equal(parseMm7Soap(answer).message.status?.code, 1000, 'the whole answer parses');
  const cut = answer.slice(0, answer.indexOf('</StatusCode>') + '</StatusCode>'.length);
  let refusal: unknown;
  try {
    parseMm7Soap(cut);
  } catch (e) {
    refusal = e;
  }
  t.equal((refusal as { status?: number } | undefined)?.status, 2007, 'cut after its StatusCode: 2007, not a 1000');
  t.throws(() => parseXml(answer.slice(0, -3)), /not well-formed|truncated/, 'cut inside the end tag');
  t.doesNotThrow(() => parseXml(`${answer}\n<!-- trailer -->\n<?pi x?>  `), 'trailing comments, PIs and whitespace are fine');
  t.doesNotThrow(() => parseXml('<a:Envelope xmlns:a="urn:x"/>'), 'a self-closed root');
  t.throws(() => parseXml('<a:Envelope xmlns:a="urn:x"><a:Body><a:Leaf/>'), /truncated/, 'a cut after a self-closed child is still cut');
  t.doesNotThrow(() => parseXml('<a:Envelope xmlns:a="urn:x"><a:Body/></a:Envelope   >'), 'spaces before > in the end tag');
});
