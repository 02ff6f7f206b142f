import t from 'tap';
import { ProtocolError } from '../../protocol/errors.js';

t.test('ProtocolError names the field and the offset', async (t) => {
  const e = new ProtocolError('TRUNCATED', 'X-Mms-Transaction-Id', 'text-string has no terminating NUL', 12);
  t.equal(e.code, 'TRUNCATED');
  t.equal(e.offset, 12);
  t.match(e.message, /X-Mms-Transaction-Id/);
  t.match(e.message, /octet 12/);
  t.ok(e instanceof Error);
});
