import t from 'tap';
import { BearerError, isBearerError } from '../../src/push/errors.js';
import type { Notifier, PushRequest } from '../../src/push/notifier.js';
import { bearerSelectionSchema, matchesRange, SelectingNotifier } from '../../src/push/select.js';

/** A bearer that records what it was given. */
function recorder(): Notifier & { got: string[] } {
  const got: string[] = [];
  return { got, notify: async (p: PushRequest) => void got.push(p.to) };
}

const push = (to: string): PushRequest => ({ to, messageId: 'm', pushPdu: Buffer.from([1, 6, 3, 0xbe, 0xaf, 0x84]) });

t.test('each address goes to the first matching rule, else the fallback', async (t) => {
  const smpp = recorder();
  const pap = recorder();
  const spool = recorder();
  const selection = bearerSelectionSchema.parse({
    rules: [
      { ranges: ['+1555*'], bearer: 'smpp' },
      { ranges: ['+4475*', '+447700900123'], bearer: 'pap' },
      { ranges: ['+15550009999'], bearer: 'pap' },
    ],
    fallback: 'spool',
  });
  const n = new SelectingNotifier(selection, { smpp, pap, spool });
  for (const to of ['+15550002222', '+447512345678', '+447700900123', '+447700900124', '+15550009999', '+33612345678']) await n.notify(push(to));
  t.same(smpp.got, ['+15550002222', '+15550009999'], 'the first matching rule wins');
  t.same(pap.got, ['+447512345678', '+447700900123']);
  t.same(spool.got, ['+447700900124', '+33612345678']);
  t.equal(n.bearerFor('+1555'), 'smpp', 'the prefix itself matches');
  t.equal(n.bearerFor('+15551x'), 'spool', 'a range matches digits only');
});

t.test('no rule and no fallback: a permanent bearer error', async (t) => {
  const smpp = recorder();
  const n = new SelectingNotifier(bearerSelectionSchema.parse({ rules: [{ ranges: ['+1555*'], bearer: 'smpp' }] }), { smpp });
  try {
    await n.notify(push('+4475000'));
    t.fail('should not be sent');
  } catch (e) {
    t.ok(isBearerError(e));
    t.equal((e as BearerError).retryable, false);
    t.equal((e as BearerError).bearer, 'select');
    t.notOk(isBearerError(new Error('plain')));
  }
  t.same(smpp.got, []);
});

t.test('a bearer error passes through unchanged', async (t) => {
  const err = new BearerError('smpp', 'throttled', true, 1000);
  const n = new SelectingNotifier(bearerSelectionSchema.parse({ fallback: 'smpp' }), { smpp: { notify: async () => Promise.reject(err) } });
  await t.rejects(n.notify(push('+1')), err);
});

t.test('configuration is checked when the notifier is made', async (t) => {
  t.throws(() => new SelectingNotifier(bearerSelectionSchema.parse({ rules: [{ ranges: ['*'], bearer: 'pap' }] }), { smpp: recorder() }), /"pap", which is not configured/);
  t.throws(() => new SelectingNotifier(bearerSelectionSchema.parse({ fallback: 'spool' }), {}), /"spool"/);
  t.notOk(bearerSelectionSchema.safeParse({ rules: [{ ranges: ['1555?'], bearer: 'smpp' }] }).success, 'not a range pattern');
  t.notOk(bearerSelectionSchema.safeParse({ rules: [{ ranges: [], bearer: 'smpp' }] }).success, 'a rule needs a range');
  t.same(bearerSelectionSchema.parse({}), { rules: [] });
});

t.test('range patterns', async (t) => {
  t.ok(matchesRange('+15550002222', '*'));
  t.ok(matchesRange('user@example.org', '*'), '* is any address');
  t.ok(matchesRange('+15550002222', '+1555*'));
  t.notOk(matchesRange('+15560002222', '+1555*'));
  t.ok(matchesRange('+15550002222', '+15550002222'));
  t.notOk(matchesRange('+155500022220', '+15550002222'), 'a number without * matches only itself');
});
