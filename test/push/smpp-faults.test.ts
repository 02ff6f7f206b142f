import t from 'tap';
import { SMPP_STATUS, SmppBearerError, SmppNotifier } from '../../src/push/smpp.js';
import type { PushRequest } from '../../src/push/notifier.js';
import { SmscSimulator, type SimSubmit } from '../../src/sim/smsc.js';
import { pushFor, until } from '../sim/pushes.js';

// Every push arrives exactly once across the faults of issue 5: binds
// refused for a while, throttling, a connection dropped mid-window, the SMSC
// coming back. The retry loop stands in for the durable outbox: it retries
// a retryable rejection after its delay and forgets a resolved push. No
// dedupe anywhere: the simulator counts a push once all its segments of one
// concatenation reference arrived (see the argument in src/push/smpp.ts).

/** What the outbox does with one job: notify until it resolves, wait afterMs between tries. */
async function deliverWithRetry(notifier: SmppNotifier, push: PushRequest): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    try {
      await notifier.notify(push);
      return attempt;
    } catch (e) {
      if (!(e instanceof SmppBearerError) || !e.retryable) throw e;
      await new Promise((r) => setTimeout(r, Math.max(5, Math.min(e.afterMs ?? 20, 100))));
    }
  }
}

t.test('exactly once across refused binds, throttling, drops mid-window and an SMSC restart', async (t) => {
  const sim = new SmscSimulator({ accounts: [{ systemId: 'mmsc', password: 'pw' }] });
  const { port } = await sim.start();
  const notifier = new SmppNotifier({
    port,
    systemId: 'mmsc',
    password: 'pw',
    window: 6,
    submitsPerSecond: 5_000,
    bindTimeoutMs: 80,
    throttleDelayMs: 15,
    reconnect: { initialMs: 5, maxMs: 40 },
  });
  t.teardown(async () => {
    await notifier.close();
    await sim.stop();
  });

  const submits: SimSubmit[] = [];
  sim.on('submit', (s: SimSubmit) => submits.push(s));
  // Faults keyed to the traffic, so they land mid-stream whatever the machine's speed.
  const acked = (): number => submits.filter((s) => s.status === 0).length;
  sim.refuseBinds(3);
  let step = 0;
  sim.on('submit', () => {
    const n = acked();
    if (step === 0 && n >= 15) {
      step++;
      sim.failSubmits(4, SMPP_STATUS.ESME_RTHROTTLED);
    } else if (step === 1 && n >= 40) {
      step++;
      sim.dropAfterSubmits(2);
    } else if (step === 2 && n >= 70) {
      step++;
      sim.failSubmits(3, SMPP_STATUS.ESME_RMSGQFUL);
    } else if (step === 3 && n >= 90) {
      step++;
      // An SMSC restart: every connection gone, binds refused for a while.
      sim.refuseBindsFor(150);
      sim.dropAll();
    } else if (step === 4 && n >= 120) {
      step++;
      sim.dropAfterSubmits(1);
    }
  });

  // 1, 2 and 3-segment pushes, all in flight together.
  const pushes = Array.from({ length: 60 }, (_, i) => pushFor(`+1555000${String(i).padStart(4, '0')}`, `tx${i}`, [5, 150, 300][i % 3]!));
  const attempts = await Promise.all(pushes.map((p) => deliverWithRetry(notifier, p)));

  await until(() => sim.pushes.length >= pushes.length, 'all pushes');
  const arrivals = new Map<string, number>();
  for (const p of sim.pushes) arrivals.set(String(p.pdu.transactionId), (arrivals.get(String(p.pdu.transactionId)) ?? 0) + 1);
  t.equal(sim.pushes.length, pushes.length, 'as many complete pushes as notifications');
  t.same(
    pushes.filter((p) => arrivals.get(p.notification.transactionId) !== 1).map((p) => p.notification.transactionId),
    [],
    'each notification arrived exactly once',
  );
  for (const p of sim.pushes) {
    const sent = pushes.find((q) => q.notification.transactionId === p.pdu.transactionId)!;
    if (!p.datagram.equals(sent.pushPdu) || p.destination !== sent.to.slice(1)) t.fail(`push ${String(p.pdu.transactionId)} arrived altered`);
  }

  // The faults really happened, and the retries covered them.
  t.ok(sim.stats.bindsRefused >= 3, `binds refused: ${sim.stats.bindsRefused}`);
  t.ok(sim.stats.failed >= 7, `submits throttled or queue-full: ${sim.stats.failed}`);
  t.ok(sim.stats.drops >= 3, `connections dropped: ${sim.stats.drops}`);
  t.ok(notifier.stats.linksLost >= 3, `links lost: ${notifier.stats.linksLost}`);
  t.ok(attempts.some((a) => a > 1), `retried pushes: ${attempts.filter((a) => a > 1).length}`);
  const segmentsInCompletePushes = sim.pushes.reduce((n, p) => n + p.segments, 0);
  t.ok(acked() > segmentsInCompletePushes, `segments of abandoned attempts reached the SMSC (${acked() - segmentsInCompletePushes}) and made no duplicate`);
});

t.test('a multi-segment push cut after its first acknowledged segment is resent whole, under a new reference', async (t) => {
  const sim = new SmscSimulator();
  const { port } = await sim.start();
  const notifier = new SmppNotifier({ port, window: 1, reconnect: { initialMs: 5, maxMs: 20 } });
  t.teardown(async () => {
    await notifier.close();
    await sim.stop();
  });
  const submits: SimSubmit[] = [];
  sim.on('submit', (s: SimSubmit) => submits.push(s));
  await notifier.whenBound();
  sim.dropAfterSubmits(1);
  const push = pushFor('+15550002222', 'cut1', 300);
  const attempts = await deliverWithRetry(notifier, push);
  t.equal(attempts, 2, 'the first attempt was rejected');
  const refs = submits.map((s) => s.userData[9]);
  t.equal(refs[0] !== refs[1], true, 'the retry used another reference');
  t.equal(submits.filter((s) => s.userData[9] === refs[0]).length, 1, 'one segment of the first attempt reached the SMSC');
  t.equal(sim.pushes.length, 1, 'and it made no second push');
  t.same(sim.pushes[0]!.datagram, push.pushPdu);
});
