import t from 'tap';
import { ProtocolError } from '../../../protocol/errors.js';
import { buildPapRequest, mmsPapContent, parseMediaType, parsePapRequest, MMS_APPLICATION_ID } from '../../../protocol/pap/index.js';

const control = '<?xml version="1.0"?>\n<pap/>\n';

function errorOf(fn: () => unknown): string {
  try {
    fn();
    return 'no error';
  } catch (e) {
    return e instanceof ProtocolError ? `${e.code} ${e.field}` : `not a ProtocolError: ${String(e)}`;
  }
}

t.test('the submission body, octet for octet', async (t) => {
  const pdu = Buffer.from([0x8c, 0x86, 0x98, 0x41, 0x00, 0x8d, 0x92]);
  const { contentType, body } = buildPapRequest({ control, content: mmsPapContent(pdu) }, 'B1');
  t.equal(contentType, 'multipart/related; boundary="B1"; type="application/xml"');
  const expected = Buffer.concat([
    Buffer.from('--B1\r\nContent-Type: application/xml\r\n\r\n' + control + '\r\n--B1\r\n'),
    Buffer.from('Content-Type: application/vnd.wap.mms-message\r\nX-Wap-Application-Id: x-wap-application:mms.ua\r\nContent-Transfer-Encoding: binary\r\n\r\n'),
    pdu,
    Buffer.from('\r\n--B1--\r\n'),
  ]);
  t.equal(body.toString('hex'), expected.toString('hex'));
});

t.test('parse(build(x)) = x, with binary content that looks like MIME', async (t) => {
  // CRLF, a lone "--", and the boundary without its leading dashes: none may cut the entity.
  const pdu = Buffer.concat([Buffer.from([0x00, 0xff, 0x0d, 0x0a]), Buffer.from('--\r\n\r\nB2 X-Wap: no\r\n'), Buffer.from([0x0d])]);
  const { contentType, body } = buildPapRequest({ control, content: mmsPapContent(pdu) }, 'B2');
  const back = parsePapRequest(contentType, body);
  t.equal(back.control, control);
  t.equal(back.content.contentType, 'application/vnd.wap.mms-message');
  t.same(back.content.headers, [
    ['X-Wap-Application-Id', MMS_APPLICATION_ID],
    ['Content-Transfer-Encoding', 'binary'],
  ]);
  t.equal(Buffer.from(back.content.body).toString('hex'), pdu.toString('hex'));
});

t.test('the builder refuses a boundary it cannot use', async (t) => {
  const pdu = Buffer.from('abc--B3def');
  t.equal(errorOf(() => buildPapRequest({ control, content: mmsPapContent(pdu) }, 'B3')), 'BAD_VALUE boundary', 'the boundary occurs in the content');
  t.equal(errorOf(() => buildPapRequest({ control, content: mmsPapContent(pdu) }, 'has"quote')), 'BAD_VALUE boundary');
  t.equal(errorOf(() => buildPapRequest({ control, content: mmsPapContent(pdu) }, 'x'.repeat(71))), 'BAD_VALUE boundary');
  t.equal(errorOf(() => buildPapRequest({ control, content: { ...mmsPapContent(pdu), headers: [['X-Evil', 'a\r\nInjected: 1']] } }, 'B4')), 'BAD_VALUE X-Evil');
});

t.test('what a PPG refuses', async (t) => {
  const { contentType, body } = buildPapRequest({ control, content: mmsPapContent(Buffer.from([1, 2, 3])) }, 'B5');
  t.equal(errorOf(() => parsePapRequest('multipart/mixed; boundary=B5', body)), 'BAD_VALUE Content-Type');
  t.equal(errorOf(() => parsePapRequest('multipart/related; type="application/xml"', body)), 'MISSING_HEADER boundary');
  t.equal(errorOf(() => parsePapRequest('multipart/related; boundary=B5', body)), 'BAD_VALUE type', 'Kannel insists on type=application/xml');
  t.equal(errorOf(() => parsePapRequest(contentType, body.subarray(0, body.length - 10))), 'TRUNCATED multipart');
  t.equal(errorOf(() => parsePapRequest(contentType, Buffer.from('--B5\r\nContent-Type: application/xml\r\n\r\n<pap/>\r\n--B5--\r\n'))), 'MISSING_HEADER multipart');
  t.equal(
    errorOf(() => parsePapRequest(contentType, Buffer.from('--B5\r\nContent-Type: text/plain\r\n\r\nhi\r\n--B5\r\nContent-Type: a/b\r\n\r\nx\r\n--B5--\r\n'))),
    'BAD_VALUE control entity',
  );
  t.equal(errorOf(() => parsePapRequest(contentType, Buffer.from('no delimiter here'))), 'BAD_VALUE multipart');
  t.equal(errorOf(() => parsePapRequest('text', body)), 'BAD_VALUE Content-Type');
});

t.test('media type parameters', async (t) => {
  t.same(parseMediaType('Multipart/Related; Boundary="a b"; type=application/xml'), { mediaType: 'multipart/related', params: { boundary: 'a b', type: 'application/xml' } });
  t.same(parseMediaType('text/plain;'), { mediaType: 'text/plain', params: {} });
  t.throws(() => parseMediaType('text/plain; =x'), ProtocolError);
});
