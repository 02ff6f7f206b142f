import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import type { Clock, NewMessage } from '../../src/mmsc/model.js';
import { Outbox } from '../../src/outbox/outbox.js';
import type { JobOutcome, NewJob, OutboxJob } from '../../src/outbox/types.js';
import { backoffDelay, OutboxWorker } from '../../src/outbox/worker.js';
import { Db1 } from '../../src/store/db1.js';

const T0 = Date.UTC(2026, 10, 25, 12, 0, 0);

class TestClock implements Clock {
  constructor(public ms = T0) {}
  now(): Date {
    return new Date(this.ms);
  }
}

function open(t: Test, clock: Clock): { db: Db1; path: string; outbox: Outbox } {
  const dir = mkdtempSync(join(tmpdir(), 'outbox-'));
  const path = join(dir, 'db1.sqlite');
  const db = Db1.open(path, { clock });
  t.teardown(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { db, path, outbox: new Outbox(db, clock) };
}

function message(expiresAt = T0 + 60_000): NewMessage {
  return {
    envelope: {
      from: '12345',
      to: ['+15550002222'],
      cc: [],
      bcc: [],
      date: new Date(T0),
      expiresAt: new Date(expiresAt),
      deliveryReport: false,
      readReport: false,
      contentType: 'text/plain',
      allowAdaptations: true,
      origin: { interface: 'mm7', vaspId: 'demo', release: 'REL-6-MM7-1-4', mm7Version: '6.8.0' },
    },
    parts: [{ contentType: 'text/plain', data: Buffer.from('hello') }],
    recipients: [{ address: '+15550002222', kind: 'to', state: 'accepted' }],
  };
}

const job = (key: string, extra: Partial<NewJob> = {}): NewJob => ({ kind: 'mm3', key, payload: { n: key }, ...extra });

/** A worker whose one kind ('mm3') answers from a script of outcomes, recording each attempt. */
function scripted(outbox: Outbox, clock: Clock, outcomes: JobOutcome[], more: Partial<ConstructorParameters<typeof OutboxWorker>[0]> = {}) {
  const attempts: OutboxJob[] = [];
  const worker = new OutboxWorker({
    outbox,
    clock,
    backoff: { baseMs: 1000, maxMs: 8000 },
    random: () => 0.5,
    kinds: { mm3: { handler: async (j) => (attempts.push(j), outcomes.shift() ?? { status: 'done' }) } },
    ...more,
  });
  return { worker, attempts };
}

t.test('backoff doubles from the base, capped, with bounded jitter', async (t) => {
  const b = { baseMs: 1000, maxMs: 8000 };
  t.same([1, 2, 3, 4, 5, 9].map((n) => backoffDelay(n, b, () => 0.5)), [1000, 2000, 4000, 8000, 8000, 8000]);
  t.equal(backoffDelay(1, b, () => 0), 800, '-20 %');
  t.equal(backoffDelay(1, b, () => 1), 1200, '+20 %');
  t.equal(backoffDelay(9, b, () => 1), 8000, 'never above the cap');
});

t.test('a key is stored once per kind; the same key in another kind is another job', async (t) => {
  const clock = new TestClock();
  const { outbox } = open(t, clock);
  const [a] = await outbox.enqueue([job('m1/x')]);
  const [again] = await outbox.enqueue([job('m1/x', { payload: 'other' })]);
  t.equal(again!.id, a!.id, 'the first row comes back');
  t.same(again!.payload, { n: 'm1/x' }, 'and keeps its payload');
  const [other] = await outbox.enqueue([{ ...job('m1/x'), kind: 'mm4-forward' }]);
  t.not(other!.id, a!.id);
  t.same(outbox.counts().map((c) => [c.kind, c.pending]), [['mm3', 1], ['mm4-forward', 1]]);
});

t.test('jobs written with a message commit with it; a duplicate accept writes none', async (t) => {
  const clock = new TestClock();
  const { db, outbox } = open(t, clock);
  const key = { source: 'mm7:demo', transactionId: 'tx-1' };
  const first = await db.accept(message(), key, (s) => outbox.insertNow([job(`${s.messageId}/+15550002222`, { messageId: s.messageId })]));
  t.equal(first.also?.length, 1);
  t.equal(first.also?.[0]?.messageId, first.messageId);
  let called = false;
  const dup = await db.accept(message(), key, () => ((called = true), []));
  t.ok(dup.duplicate);
  t.notOk(called, 'no planning for a duplicate');
  t.equal(outbox.forMessage(first.messageId).length, 1);

  // A write that throws inside accept rolls the message back with its jobs.
  await t.rejects(
    db.accept(message(), undefined, (s) => {
      outbox.insertNow([job(`${s.messageId}/boom`, { messageId: s.messageId })]);
      throw new Error('planner broke');
    }),
    /planner broke/,
  );
  t.same(
    outbox.counts().map((c) => c.pending),
    [1],
    'nothing of the failed accept stayed',
  );
});

t.test('done deletes the job and runs onDone in the same commit', async (t) => {
  const clock = new TestClock();
  const { db, outbox } = open(t, clock);
  const stored = await db.accept(message(), undefined, (s) => outbox.insertNow([{ kind: 'push', key: 'n1', messageId: s.messageId, address: '+15550002222', payload: {} }]));
  const worker = new OutboxWorker({
    outbox,
    clock,
    kinds: {
      push: {
        handler: async () => ({ status: 'done' }),
        onDone: (j) => {
          db.setStateNow(j.messageId!, j.address!, 'notified', 'sent');
        },
      },
    },
  });
  worker.start();
  worker.run(stored.also!);
  await worker.idle();
  await worker.stop();
  t.same(outbox.forMessage(stored.messageId), [], 'the row is gone');
  t.equal(db.getMessage(stored.messageId)?.recipients[0]?.state, 'notified');
});

t.test("a done job is logged once durable: the event its kind's onDone returns, else job-done", async (t) => {
  const clock = new TestClock();
  const { db, outbox } = open(t, clock);
  const stored = await db.accept(message(), undefined, (s) =>
    outbox.insertNow([
      { kind: 'push', key: 'told', messageId: s.messageId, address: '+15550002222', payload: { tell: true } },
      { kind: 'push', key: 'silent', messageId: s.messageId, address: '+15550002222', payload: { tell: false } },
    ]),
  );
  const lines: Array<Record<string, unknown>> = [];
  const worker = new OutboxWorker({
    outbox,
    clock,
    log: (e) => lines.push(e),
    kinds: {
      push: {
        handler: async () => ({ status: 'done' }),
        onDone: (j) => ((j.payload as { tell: boolean }).tell ? { event: 'told', messageId: j.messageId! } : undefined),
      },
    },
  });
  worker.start();
  worker.run(stored.also!, 'req-1');
  await worker.idle();
  await worker.stop();
  t.same(
    lines.map((l) => l.event).sort(),
    ['job-done', 'told'],
    'one line per job',
  );
  t.match(lines.find((l) => l.event === 'told'), { messageId: stored.messageId, requestId: 'req-1', attempts: 1 });
  t.match(lines.find((l) => l.event === 'job-done'), { key: 'silent', requestId: 'req-1', attempts: 1 });
});

t.test('retry after backoff, then done; a throw is a retry; afterMs is honoured', async (t) => {
  const clock = new TestClock();
  const { outbox } = open(t, clock);
  const { worker, attempts } = scripted(outbox, clock, [
    { status: 'retry', error: 'peer down' },
    { status: 'retry', error: 'throttled', afterMs: 5 },
    { status: 'done' },
  ]);
  const jobs = await outbox.enqueue([job('a')]);
  worker.start();
  worker.run(jobs);
  await worker.idle();
  t.equal(attempts.length, 1);
  let [row] = outbox.due(new Date(clock.ms + 10_000), ['mm3'], 10);
  t.equal(row?.attempts, 1);
  t.equal(row?.lastError, 'peer down');
  t.same(outbox.due(new Date(clock.ms + 999), ['mm3'], 10), [], 'not due before the backoff (1 s at attempt 1)');
  t.equal(outbox.due(new Date(clock.ms + 1000), ['mm3'], 10).length, 1, 'due at the backoff');

  clock.ms += 1000;
  worker.kick();
  await t.resolves(waitFor(() => attempts.length === 2));
  await worker.idle();
  [row] = outbox.due(new Date(clock.ms + 5), ['mm3'], 10);
  t.equal(row?.lastError, 'throttled');
  t.same(outbox.due(new Date(clock.ms + 4), ['mm3'], 10), [], 'afterMs instead of the backoff');
  clock.ms += 5;
  worker.kick();
  await t.resolves(waitFor(() => attempts.length === 3));
  await worker.idle();
  await worker.stop();
  t.same(outbox.counts(), [], 'done: nothing left');
  t.same(
    attempts.map((a) => a.attempts),
    [0, 1, 2],
    'each attempt sees the count of those before it',
  );
});

t.test('past giveUpAt a retry becomes a failure; failed says why and runs onFailed; a thrown handler retries', async (t) => {
  const clock = new TestClock();
  const { outbox } = open(t, clock);
  const failures: string[] = [];
  const worker = new OutboxWorker({
    outbox,
    clock,
    backoff: { baseMs: 1000, maxMs: 1000 },
    kinds: {
      mm3: {
        handler: async (j) => {
          if (j.key === 'throws') throw new Error('socket hang up');
          return j.key === 'permanent' ? { status: 'failed', error: '550 no such user' } : { status: 'retry', error: '421 busy' };
        },
        onFailed: (j, e) => void failures.push(`${j.key}: ${e}`),
      },
    },
  });
  const jobs = await outbox.enqueue([job('expiring', { giveUpAt: new Date(T0 + 500) }), job('permanent'), job('throws')]);
  worker.start();
  worker.run(jobs);
  await worker.idle();
  await worker.stop();
  t.same(failures.sort(), ['expiring: gave up after 1 attempts: 421 busy', 'permanent: 550 no such user']);
  const counts = outbox.counts()[0]!;
  t.same([counts.pending, counts.failed], [1, 2]);
  t.same(
    outbox.recentFailures(10).map((j) => j.key).sort(),
    ['expiring', 'permanent'],
  );
  t.equal(outbox.due(new Date(T0 + 2000), ['mm3'], 10)[0]?.lastError, 'socket hang up', 'a throw is recorded and retried');
});

t.test('jobs left pending by an earlier process run when a worker starts', async (t) => {
  const clock = new TestClock();
  const { db, path, outbox } = open(t, clock);
  await outbox.enqueue([job('left-1'), job('left-2', { dueAt: new Date(T0 + 3_600_000) })]);
  db.close();
  const again = Db1.open(path, { clock });
  t.teardown(() => again.close());
  const box = new Outbox(again, clock);
  const { worker, attempts } = scripted(box, clock, []);
  worker.start();
  await waitFor(() => attempts.length === 1);
  await worker.idle();
  t.same(
    attempts.map((a) => a.key),
    ['left-1'],
    'the due one ran, the future one waits',
  );
  clock.ms += 3_600_000;
  worker.kick();
  await waitFor(() => attempts.length === 2);
  await worker.idle();
  await worker.stop();
  t.same(box.counts(), []);
});

t.test('a job a poll reads from a commit not yet on disk runs only once it is', async (t) => {
  const clock = new TestClock();
  const { db } = open(t, clock);
  // DB1 fsyncs after COMMIT (group-commit.ts): a poll can read a job a power cut could still undo.
  let onDisk: () => void = () => undefined;
  let gate: Promise<void> | undefined;
  const box = new Outbox({ sqlite: db.sqlite, write: (w) => db.write(w), durable: () => gate }, clock);
  await box.enqueue([job('fresh-1')]);
  gate = new Promise<void>((r) => (onDisk = r));
  const { worker, attempts } = scripted(box, clock, []);
  worker.start();
  await waitFor(() => worker.busy === 1);
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  t.equal(attempts.length, 0, 'read, but held while its commit is not durable');
  t.equal(worker.busy, 1, 'and counted in flight, so no other poll takes it');
  gate = undefined;
  onDisk();
  await waitFor(() => attempts.length === 1);
  await worker.idle();
  await worker.stop();
  t.same(attempts.map((a) => a.key), ['fresh-1'], 'run once, after the fsync');
  t.same(box.counts(), []);
});

t.test('a kind never runs more than its concurrency; the rest waits its turn', async (t) => {
  const clock = new TestClock();
  const { outbox } = open(t, clock);
  let running = 0;
  let peak = 0;
  const releases: Array<() => void> = [];
  const worker = new OutboxWorker({
    outbox,
    clock,
    kinds: {
      mm3: {
        concurrency: 3,
        handler: async () => {
          running++;
          peak = Math.max(peak, running);
          await new Promise<void>((r) => releases.push(r));
          running--;
          return { status: 'done' };
        },
      },
    },
  });
  const jobs = await outbox.enqueue(Array.from({ length: 10 }, (_, i) => job(`c${i}`)));
  worker.start();
  worker.run(jobs);
  let released = 0;
  while (released < 10) {
    await waitFor(() => releases.length > 0);
    releases.shift()!();
    released++;
  }
  await worker.idle();
  await worker.stop();
  t.equal(peak, 3);
  t.same(outbox.counts(), [], 'all ten done');
});

t.test('the retention guard: a message held by a pending job outlives its TTL until the job is done', async (t) => {
  const clock = new TestClock();
  const { db, outbox } = open(t, clock);
  const held = await db.accept(message(T0 + 1000), undefined, (s) =>
    outbox.insertNow([{ kind: 'archive-forward', key: `${s.messageId}/+15550002222`, messageId: s.messageId, payload: {}, holdsMessage: true }]),
  );
  const plain = await db.accept(message(T0 + 1000), undefined, (s) => outbox.insertNow([{ kind: 'push', key: `${s.messageId}/n`, messageId: s.messageId, payload: {} }]));
  const expired = await db.expire(new Date(T0 + 5000), 10);
  t.same(
    expired.map((e) => e.messageId),
    [plain.messageId],
    'only the message nobody holds',
  );
  t.notOk(db.getMessage(held.messageId)?.destroyed);
  t.ok(outbox.holds(held.messageId));
  t.equal(db.getParts(held.messageId).length, 1, 'content kept');

  await outbox.complete(held.also![0]!.id);
  t.notOk(outbox.holds(held.messageId));
  t.same(
    (await db.expire(new Date(T0 + 6000), 10)).map((e) => e.messageId),
    [held.messageId],
    'destroyed as soon as the forward is done and the TTL is past',
  );

  // A failed job no longer holds (it will never complete).
  const failedHold = await db.accept(message(T0 + 1000), undefined, (s) =>
    outbox.insertNow([{ kind: 'archive-forward', key: `${s.messageId}/x`, messageId: s.messageId, payload: {}, holdsMessage: true }]),
  );
  await outbox.fail(failedHold.also![0]!.id, 'refused for good');
  t.same(
    (await db.expire(new Date(T0 + 7000), 10)).map((e) => e.messageId),
    [failedHold.messageId],
  );
});

async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 5));
  }
}
