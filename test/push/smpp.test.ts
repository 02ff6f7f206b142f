import t, { type Test } from 'tap';
import { decodeMms } from '../../protocol/mms/codec.js';
import { encodeMmsPush } from '../../protocol/mms/push.js';
import { decodeUserData, concatenation } from '../../protocol/wdp/index.js';
import { SMPP_STATUS, SmppBearerError, SmppNotifier, TokenBucket, smppBearerConfigSchema, type DeliveryReceipt, type SmppNotifierOptions } from '../../src/push/smpp.js';
import { SmscSimulator, type SimSubmit } from '../../src/sim/smsc.js';
import { notification, pushFor, until } from '../sim/pushes.js';

// The smpp bearer against the SMSC simulator on 127.0.0.1: what goes on the
// wire, the window, and how every kind of failure is reported to the caller.

const ACCOUNT = { systemId: 'mmsc', password: 'secret' };

async function setup(t: Test, options: Partial<SmppNotifierOptions> = {}): Promise<{ sim: SmscSimulator; notifier: SmppNotifier; submits: SimSubmit[] }> {
  const sim = new SmscSimulator({ accounts: [ACCOUNT] });
  const { port } = await sim.start();
  const notifier = new SmppNotifier({ port, ...ACCOUNT, reconnect: { initialMs: 10, maxMs: 50 }, throttleDelayMs: 10, ...options });
  const submits: SimSubmit[] = [];
  sim.on('submit', (s: SimSubmit) => submits.push(s));
  t.teardown(async () => {
    await notifier.close();
    await sim.stop();
  });
  return { sim, notifier, submits };
}

async function rejection(p: Promise<unknown>): Promise<SmppBearerError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof SmppBearerError) return e;
    throw e;
  }
  throw new Error('expected a rejection, notify resolved');
}

t.test('one SMS: submit_sm fields of spec d.4, the push decoded by the SMSC equals the notification', async (t) => {
  const { sim, notifier, submits } = await setup(t);
  const push = pushFor('+15550002222', 'single1');
  await notifier.notify(push);
  t.equal(submits.length, 1);
  const s = submits[0]!;
  t.equal(s.status, 0);
  t.equal(s.esmClass, 0x40, 'esm_class UDHI');
  t.equal(s.dataCoding, 0x04, 'data_coding 8-bit');
  t.same(s.source, { address: 'MMSC', ton: 5, npi: 0 }, 'default source: alphanumeric MMSC');
  t.same(s.destination, { address: '15550002222', ton: 1, npi: 1 }, 'international, without the +');
  t.equal(s.registeredDelivery, 0);
  t.same(s.userData.subarray(0, 7), Buffer.from('0605040b8423f0', 'hex'), 'ports-only UDH, 2948 from 9200');
  t.same(s.userData.subarray(7), push.pushPdu, 'the push follows the UDH unchanged');
  t.equal(sim.pushes.length, 1);
  const got = sim.pushes[0]!;
  t.equal(got.destination, '15550002222');
  t.equal(got.segments, 1);
  t.same(got.datagram, push.pushPdu);
  t.same(got.pdu, decodeMms(encodeMmsPush(push.notification, 1).subarray(6)), 'the SMSC decoded the notification');
  t.equal(got.pdu.contentLocation, push.notification.contentLocation);
});

t.test('a push longer than one SMS: concatenated segments, one reference, all acknowledged', async (t) => {
  const { sim, notifier, submits } = await setup(t, { source: { address: '12345', ton: 3, npi: 0 }, registeredDelivery: true });
  const push = pushFor('+15550002222', 'long1', 300);
  await notifier.notify(push);
  t.ok(submits.length >= 3, `${submits.length} segments`);
  const refs = new Set<number>();
  submits.forEach((s, i) => {
    const c = concatenation(decodeUserData(s.userData).header)!;
    refs.add(c.reference);
    t.same([c.sequence, c.total], [i + 1, submits.length], `segment ${i + 1}`);
    t.ok(s.userData.length <= 140, 'fits one SMS');
    t.same(s.source, { address: '12345', ton: 3, npi: 0 }, 'configured source address');
    t.equal(s.registeredDelivery, 1, 'registered_delivery when configured');
  });
  t.equal(refs.size, 1, 'one reference for the whole push');
  t.equal(sim.pushes.length, 1);
  t.same(sim.pushes[0]!.datagram, push.pushPdu, 'reassembled to the same octets');
  t.equal(sim.pushes[0]!.messageIds.length, submits.length);
});

t.test('transceiver with registered delivery: the SMSC receipt names the message id it gave', async (t) => {
  const receipts: DeliveryReceipt[] = [];
  const { notifier, submits } = await setup(t, { bindMode: 'transceiver', registeredDelivery: true, onReceipt: (r) => receipts.push(r) });
  await notifier.notify(pushFor('+15550002222', 'dr1'));
  await until(() => receipts.length === 1, 'a receipt');
  t.equal(receipts[0]!.messageId, submits[0]!.messageId);
  t.equal(receipts[0]!.stat, 'DELIVRD');
  t.equal(receipts[0]!.recipient, '15550002222');
});

t.test('the window bounds the submits outstanding', async (t) => {
  const { sim, notifier } = await setup(t, { window: 4, submitsPerSecond: 10_000 });
  await notifier.whenBound();
  sim.holdAnswers();
  const all = Array.from({ length: 20 }, (_, i) => notifier.notify(pushFor('+15550002222', `w${i}`)));
  await until(() => sim.heldCount === 4, 'four held submits');
  // Give a window-ignoring client every chance to send more.
  await new Promise((r) => setTimeout(r, 50));
  t.equal(sim.heldCount, 4, 'no fifth submit before an answer');
  sim.releaseAnswers();
  await Promise.all(all);
  t.equal(sim.maxUnanswered, 4);
  t.equal(sim.pushes.length, 20);
});

t.test('ESME_RTHROTTLED and ESME_RMSGQFUL: retryable, with a delay and the status', async (t) => {
  const { sim, notifier } = await setup(t, { throttleDelayMs: 25 });
  sim.failSubmits(1, SMPP_STATUS.ESME_RTHROTTLED);
  const e = await rejection(notifier.notify(pushFor('+15550002222', 'th1')));
  t.equal(e.code, 'THROTTLED');
  t.equal(e.retryable, true);
  t.equal(e.afterMs, 25);
  t.equal(e.commandStatus, 0x58);
  sim.failSubmits(1, SMPP_STATUS.ESME_RMSGQFUL);
  const q = await rejection(notifier.notify(pushFor('+15550002222', 'th2')));
  t.same([q.code, q.retryable, q.commandStatus], ['THROTTLED', true, 0x14]);
  t.equal(sim.pushes.length, 0, 'nothing refused was processed');
  await notifier.notify(pushFor('+15550002222', 'th3'));
  t.same(sim.pushes.map((p) => p.pdu.transactionId), ['th3']);
});

t.test('a permanent status rejects without retry; a refused segment stops the rest of its push', async (t) => {
  const { sim, notifier, submits } = await setup(t, { window: 1 });
  sim.failSubmits(1, SMPP_STATUS.ESME_RINVDSTADR);
  const e = await rejection(notifier.notify(pushFor('+15550002222', 'perm1')));
  t.same([e.code, e.retryable, e.commandStatus], ['REJECTED', false, 0x0b]);
  t.match(e.message, /ESME_RINVDSTADR \(0x0b\)/);

  submits.length = 0;
  sim.failSubmits(1, SMPP_STATUS.ESME_RX_P_APPN, 1);
  const long = pushFor('+15550002222', 'perm2', 400);
  const e2 = await rejection(notifier.notify(long));
  t.equal(e2.retryable, false);
  t.same(submits.map((s) => s.status), [0, 0x65], 'segment 1 acknowledged, segment 2 refused, segments 3.. never sent');
  t.equal(sim.pushes.length, 0);
});

t.test('wrong password: binds are refused with ESME_RINVPASWD, notify rejects as not bound (retryable)', async (t) => {
  const { sim, notifier } = await setup(t, { password: 'wrong', bindTimeoutMs: 150 });
  const binds: number[] = [];
  sim.on('bind', (b: { status: number }) => binds.push(b.status));
  const e = await rejection(notifier.notify(pushFor('+15550002222', 'pw1')));
  t.equal(e.code, 'NOT_BOUND');
  t.equal(e.retryable, true);
  t.equal(e.commandStatus, SMPP_STATUS.ESME_RINVPASWD);
  t.ok(binds.length >= 2, 'the bearer kept trying with backoff');
  t.ok(binds.every((s) => s === 0x0e));
  t.equal(notifier.stats.binds, 0);
});

t.test('enquire_link keeps the bind; an SMSC that stops answering them is left and rebound', async (t) => {
  const { sim, notifier } = await setup(t, { enquireLinkMs: 20, responseTimeoutMs: 100 });
  await notifier.whenBound();
  await until(() => sim.stats.enquireLinks >= 2, 'enquire_links');
  t.equal(notifier.stats.linksLost, 0, 'answered enquire_links keep the link');
  sim.ignoreEnquireLinks(true);
  await until(() => notifier.stats.linksLost >= 1, 'the link given up');
  sim.ignoreEnquireLinks(false);
  await until(() => notifier.bound && sim.stats.binds >= 2, 'a new bind');
  await notifier.notify(pushFor('+15550002222', 'el1'));
  t.equal(sim.pushes.length, 1);
});

t.test('bind lost mid-window: the pushes in flight reject (retryable), the bearer rebinds', async (t) => {
  const { sim, notifier } = await setup(t, { window: 8, submitsPerSecond: 10_000 });
  await notifier.whenBound();
  sim.dropAfterSubmits(2);
  const results = await Promise.allSettled(Array.from({ length: 6 }, (_, i) => notifier.notify(pushFor('+15550002222', `d${i}`))));
  const ok = results.filter((r) => r.status === 'fulfilled').length;
  const lost = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as SmppBearerError] : []));
  t.equal(ok, 2, 'the two acknowledged before the drop resolved');
  t.ok(lost.length >= 1);
  t.ok(lost.every((e) => e.code === 'BIND_LOST' && e.retryable), 'the others: BIND_LOST, retryable');
  t.equal(sim.pushes.length, 2, 'the SMSC processed exactly the acknowledged ones');
  await notifier.whenBound();
  await notifier.notify(pushFor('+15550002222', 'after'));
  t.equal(sim.pushes.length, 3);
});

t.test('SMSC down at first: the bearer retries with backoff and delivers once it listens', async (t) => {
  const probe = new SmscSimulator();
  const { port } = await probe.start();
  await probe.stop();
  const notifier = new SmppNotifier({ port, reconnect: { initialMs: 5, maxMs: 20 }, bindTimeoutMs: 60_000 });
  t.teardown(() => notifier.close());
  const pending = notifier.notify(pushFor('+15550002222', 'late1'));
  await until(() => notifier.stats.connects >= 3, 'connection attempts');
  t.equal(notifier.bound, false);
  const sim = new SmscSimulator({ port });
  await sim.start();
  t.teardown(() => sim.stop());
  await pending;
  t.same(sim.pushes.map((p) => p.pdu.transactionId), ['late1']);
});

t.test('a push too big for 255 SMS is refused at once, not retryable', async (t) => {
  const { notifier } = await setup(t);
  const n = notification('big', 10);
  n.contentLocation = `http://x/${'a'.repeat(255 * 128)}`;
  const e = await rejection(notifier.notify({ to: '+15550002222', messageId: 'big', pushPdu: encodeMmsPush(n, 1) }));
  t.same([e.code, e.retryable], ['UNENCODABLE', false]);
});

t.test('close() rejects what is still queued (retryable) and unbinds', async (t) => {
  const sim = new SmscSimulator();
  const { port } = await sim.start();
  t.teardown(() => sim.stop());
  const notifier = new SmppNotifier({ port, submitsPerSecond: 1 });
  await notifier.whenBound();
  const first = notifier.notify(pushFor('+15550002222', 'c1'));
  const second = notifier.notify(pushFor('+15550002222', 'c2'));
  await first;
  const closing = notifier.close();
  const e = await rejection(second);
  await closing;
  t.same([e.code, e.retryable], ['CLOSED', true]);
  const late = await rejection(notifier.notify(pushFor('+15550002222', 'c3')));
  t.equal(late.code, 'CLOSED');
  await until(() => sim.boundCount() === 0, 'the unbind');
  t.equal(sim.pushes.length, 1);
});

t.test('TokenBucket: a burst, then one token per 1/rate', async (t) => {
  const b = new TokenBucket(10, 2);
  t.equal(b.take(0), 0);
  t.equal(b.take(0), 0);
  t.equal(b.take(0), 100, 'empty: the next token in 100 ms');
  t.equal(b.take(50), 50);
  t.equal(b.take(100), 0);
  t.equal(b.take(1000), 0, 'refilled, but only up to the burst');
  t.equal(b.take(1000), 0);
  t.equal(b.take(1000), 100);
  t.throws(() => new TokenBucket(0, 1), RangeError);
});

t.test('config schema: defaults of spec d.4, limits of SMPP 3.4', async (t) => {
  const c = smppBearerConfigSchema.parse({});
  t.match(c, { port: 2775, bindMode: 'transmitter', source: { address: 'MMSC', ton: 5, npi: 0 }, destination: { ton: 1, npi: 1 }, window: 10, referenceBits: 8 });
  t.same(smppBearerConfigSchema.parse(c), c, 'a parsed config parses to itself');
  t.notOk(smppBearerConfigSchema.safeParse({ systemId: 'x'.repeat(16) }).success, 'system_id ≤ 15');
  t.notOk(smppBearerConfigSchema.safeParse({ password: '123456789' }).success, 'password ≤ 8');
  t.notOk(smppBearerConfigSchema.safeParse({ bindMode: 'receiver' }).success);
});
