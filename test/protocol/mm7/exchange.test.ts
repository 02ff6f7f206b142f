import t from 'tap';
import { answer, buildMm7Soap, contentIdOfHref, faultAnswer, parseMm7Soap, Mm7Error, type Mm7Envelope } from '../../../protocol/mm7/index.js';
import { ProtocolError } from '../../../protocol/errors.js';

const submit: Mm7Envelope = {
  release: 'REL-5-MM7-1-2',
  transactionId: 'vasp-77',
  message: {
    type: 'SubmitReq',
    mm7Version: '5.5.0',
    senderIdentification: { vaspId: 'demo' },
    recipients: { to: [{ kind: 'Number', value: '+15550002222' }], cc: [], bcc: [] },
  },
};

t.test('an answer is in the request release and MM7Version, with the TransactionID echoed', async (t) => {
  const a = answer(submit, 1000, { messageId: 'm-1' });
  t.equal(a.httpStatus, 200);
  t.same(a.envelope, {
    release: 'REL-5-MM7-1-2',
    transactionId: 'vasp-77',
    message: { type: 'SubmitRsp', mm7Version: '5.5.0', status: { code: 1000, text: 'Success' }, messageId: 'm-1' },
  });
  const xml = buildMm7Soap(a.envelope);
  t.match(xml, /REL-5-MM7-1-2/);
  t.match(xml, /env:mustUnderstand="1">vasp-77</);
  t.same(parseMm7Soap(xml), a.envelope);
  t.equal(answer({ ...submit, message: { type: 'DeliveryReportReq' } }, 1000).envelope.message.type, 'DeliveryReportRsp');
  t.throws(() => answer({ ...submit, message: { type: 'SubmitRsp' } }, 1000), ProtocolError);
});

t.test('a request that cannot be read is answered with a Fault in what was read of it', async (t) => {
  const err = new Mm7Error('UNSUPPORTED', 'SubmitReq', 'namespace not supported', 4002, { release: 'REL-6-MM7-1-0', transactionId: 'tx-9', mm7Version: '6.3.0' });
  const a = faultAnswer(err, 'relay');
  t.equal(a.httpStatus, 500);
  t.equal(a.envelope.release, 'REL-6-MM7-1-0');
  t.equal(a.envelope.transactionId, 'tx-9');
  t.same(a.envelope.fault, { code: 'env:Client', string: 'Unsupported version' });
  const back = parseMm7Soap(buildMm7Soap(a.envelope));
  t.equal(back.message.type, 'RSErrorRsp');
  t.equal(back.message.status?.code, 4002);
  t.equal(back.message.mm7Version, '6.3.0');
  const plain = faultAnswer(new ProtocolError('TRUNCATED', 'multipart/related', 'closing boundary missing'), 'vasp');
  t.equal(plain.envelope.message.type, 'VASPErrorRsp');
  t.equal(plain.envelope.message.status?.code, 2007, 'any other decoding error is message format corrupt');
  t.equal(plain.envelope.release, 'REL-6-MM7-1-4', 'the default release when none was read');
  t.equal(plain.envelope.transactionId, undefined);
});

t.test('hrefs name Content-IDs with or without cid: and brackets', async (t) => {
  t.equal(contentIdOfHref('cid:mms-content@acme'), 'mms-content@acme');
  t.equal(contentIdOfHref('CID:<a@b>'), 'a@b');
  t.equal(contentIdOfHref('plain-id'), 'plain-id');
  t.equal(contentIdOfHref('cid:part%401'), 'part@1');
  t.equal(contentIdOfHref('cid:100%'), '100%', 'a stray % is kept');
});
