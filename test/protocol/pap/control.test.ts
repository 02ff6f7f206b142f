import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { ProtocolError } from '../../../protocol/errors.js';
import {
  buildPapResponse,
  buildPushMessage,
  formatPapTimestamp,
  formatWappushAddress,
  papCodeAction,
  papCodeClass,
  papCodeText,
  parsePapResponse,
  parsePapTimestamp,
  parsePushMessage,
  parseWappushAddress,
  type PushMessage,
} from '../../../protocol/pap/index.js';
import { REPO_ROOT } from '../../helpers/fixtures.js';

const fixture = (name: string): string => readFileSync(join(REPO_ROOT, 'fixtures/pap', name), 'utf8');

const mmsPush: PushMessage = {
  pushId: 'm-20240501-000123.9f86d081884c7d659a2f@mmsc.local',
  addresses: ['WAPPUSH=+15550002222/TYPE=PLMN@ppg.example'],
  deliverBeforeTimestamp: new Date('2024-05-03T10:00:00.000Z'),
  qualityOfService: { deliveryMethod: 'unconfirmed' },
};

const fullPush: PushMessage = {
  pushId: 'lab"1"&2@mmsc.local',
  addresses: ['WAPPUSH=+15550002222/TYPE=PLMN@ppg.example', 'WAPPUSH=192.0.2.7/TYPE=IPv4@ppg.example'],
  deliverBeforeTimestamp: new Date('2024-05-03T10:00:00Z'),
  deliverAfterTimestamp: new Date('2024-05-01T10:00:00Z'),
  sourceReference: 'mmsc',
  ppgNotifyRequestedTo: 'http://127.0.0.1:8081/pap-notify',
  progressNotesRequested: false,
  qualityOfService: { priority: 'high', deliveryMethod: 'preferconfirmed', network: 'GSM', networkRequired: true, bearer: 'SMS', bearerRequired: false },
};

t.test('push-message: the builder writes the golden documents, and they parse back', async (t) => {
  t.equal(buildPushMessage(mmsPush), fixture('push-message-mms.xml'), 'MMS notification push');
  t.equal(buildPushMessage(fullPush), fixture('push-message-full.xml'), 'every attribute, escaped');
  t.same(parsePushMessage(fixture('push-message-mms.xml')), mmsPush);
  t.same(parsePushMessage(fixture('push-message-full.xml')), fullPush);
  // deliver-before is optional and absent when not asked for.
  const { deliverBeforeTimestamp: _d, ...noDeadline } = mmsPush;
  const xml = buildPushMessage(noDeadline);
  t.notMatch(xml, /deliver-before-timestamp/);
  t.same(parsePushMessage(xml), noDeadline);
});

t.test('push-message: the builder refuses what PAP cannot say', async (t) => {
  const code = (fn: () => unknown): string | undefined => {
    try {
      fn();
      return undefined;
    } catch (e) {
      return e instanceof ProtocolError ? `${e.code} ${e.field}` : String(e);
    }
  };
  t.equal(code(() => buildPushMessage({ ...mmsPush, pushId: ' ' })), 'MISSING_HEADER push-id');
  t.equal(code(() => buildPushMessage({ ...mmsPush, addresses: [] })), 'MISSING_HEADER address');
  t.equal(code(() => buildPushMessage({ ...mmsPush, qualityOfService: { deliveryMethod: 'later' as never } })), 'BAD_VALUE delivery-method');
  t.equal(code(() => buildPushMessage({ ...mmsPush, deliverBeforeTimestamp: new Date('nope') })), 'BAD_VALUE timestamp');
});

t.test('push-response and badmessage-response fixtures', async (t) => {
  t.same(parsePapResponse(fixture('push-response-1001.xml')), {
    kind: 'push-response',
    pushId: 'm-20240501-000123.9f86d081884c7d659a2f@mmsc.local',
    code: 1001,
    desc: 'The request has been accepted for processing',
    senderAddress: 'http://ppg.example:8080/wappush',
    senderName: 'Lab PPG',
    replyTime: new Date('2024-05-01T10:00:01Z'),
  });
  t.same(parsePapResponse(fixture('push-response-pap10-progress.xml')), { kind: 'push-response', pushId: 'abc@pi', code: 1000 });
  const rejected = parsePapResponse(fixture('push-response-2002.xml'));
  t.equal(rejected.code, 2002);
  t.equal(papCodeAction(rejected.code), 'fail');
  t.same(parsePapResponse(fixture('badmessage-response-2000.xml')), {
    kind: 'badmessage-response',
    code: 2000,
    desc: 'Not understood due to malformed syntax',
    badMessageFragment: '<push-mesage',
  });
});

t.test('our PPG-side answer builder round-trips', async (t) => {
  const ok = { kind: 'push-response' as const, pushId: 'p&1', code: 1001, desc: 'Accepted for processing', replyTime: new Date('2024-05-01T10:00:01Z') };
  t.same(parsePapResponse(buildPapResponse(ok)), ok);
  const bad = { kind: 'badmessage-response' as const, code: 3002, desc: 'Version not supported' };
  t.same(parsePapResponse(buildPapResponse(bad)), bad);
});

t.test('every malformed answer is a ProtocolError', async (t) => {
  const dir = join(REPO_ROOT, 'fixtures/pap/bad');
  const files = readdirSync(dir).filter((f) => f.endsWith('.xml'));
  t.equal(files.length, 8, 'all bad fixtures are exercised');
  for (const f of files) {
    t.throws(() => parsePapResponse(readFileSync(join(dir, f), 'utf8')), ProtocolError, f);
  }
  // A real PPG's HTML error page, plain text, and an oversized answer.
  t.throws(() => parsePapResponse('502 Bad Gateway'), ProtocolError);
  t.throws(() => parsePapResponse(''), ProtocolError);
  t.throws(() => parsePapResponse(`<pap>${' '.repeat(70_000)}</pap>`), ProtocolError);
  try {
    parsePapResponse(readFileSync(join(dir, 'internal-subset.xml'), 'utf8'));
  } catch (e) {
    t.equal((e as ProtocolError).field, 'PAP response', 'the error names the PAP document, not SOAP');
  }
});

t.test('result codes: classes and what a push initiator does', async (t) => {
  t.equal(papCodeClass(1001), 'success');
  t.equal(papCodeClass(2007), 'client-error');
  t.equal(papCodeClass(3009), 'server-error');
  t.equal(papCodeClass(4001), 'service-failure');
  t.equal(papCodeClass(5028), 'client-aborted');
  t.equal(papCodeClass(9000), undefined);
  t.equal(papCodeAction(1000), 'accepted');
  t.equal(papCodeAction(1001), 'accepted');
  for (const c of [2000, 2001, 2002, 2003, 2005, 5028]) t.equal(papCodeAction(c), 'fail', `${c} fails`);
  for (const c of [3000, 3003, 3007, 3008, 3009, 3010, 4000, 4001, 4999]) t.equal(papCodeAction(c), 'retry', `${c} retries`);
  for (const c of [3001, 3002, 3004, 3005, 3006, 3011]) t.equal(papCodeAction(c), 'fail', `${c}: the PPG cannot do this at all`);
  t.equal(papCodeText(2007), 'Duplicate push ID');
  t.equal(papCodeText(2099), 'Bad request', 'a vendor code reads as its class');
  t.equal(papCodeText(5028), 'Mobile client aborted');
});

t.test('WAPPUSH addresses', async (t) => {
  t.equal(formatWappushAddress({ value: '+15550002222', type: 'PLMN', ppg: 'ppg.example' }), 'WAPPUSH=+15550002222/TYPE=PLMN@ppg.example');
  t.same(parseWappushAddress('WAPPUSH=+15550002222/TYPE=PLMN@ppg.example'), { value: '+15550002222', type: 'PLMN', ppg: 'ppg.example' });
  t.same(parseWappushAddress('WAPPUSH=2001:db8::1/TYPE=ipv6@ppg'), { value: '2001:db8::1', type: 'IPv6', ppg: 'ppg' });
  t.same(parseWappushAddress('WAPPUSH=alice/TYPE=USER@ppg.example'), { value: 'alice', type: 'USER', ppg: 'ppg.example' });
  t.throws(() => formatWappushAddress({ value: 'alice@example.org', type: 'PLMN', ppg: 'ppg.example' }), ProtocolError);
  t.throws(() => formatWappushAddress({ value: '+15550002222', type: 'PLMN', ppg: 'bad host' }), ProtocolError);
  t.throws(() => parseWappushAddress('+15550002222/TYPE=PLMN'), ProtocolError);
  t.throws(() => parseWappushAddress('WAPPUSH=1/TYPE=EMAIL@ppg'), ProtocolError);
  t.throws(() => parseWappushAddress('WAPPUSH=300.1.1.1/TYPE=IPv4@ppg'), ProtocolError);
});

t.test('PAP timestamps', async (t) => {
  t.equal(formatPapTimestamp(new Date('2024-05-03T10:00:00.789Z')), '2024-05-03T10:00:00Z', 'no fraction');
  t.equal(parsePapTimestamp('2024-05-03T10:00:00Z', 'x').toISOString(), '2024-05-03T10:00:00.000Z');
  t.throws(() => parsePapTimestamp('2024-05-03 10:00:00', 'x'), ProtocolError);
  t.throws(() => parsePapTimestamp('2024-13-01T00:00:00Z', 'x'), ProtocolError);
});
