import t from 'tap';
import { Semaphore } from '../../src/util/semaphore.js';

/** A task that holds its units until released by hand. */
function held(): { promise: Promise<void>; release: () => void; started: boolean } {
  let release!: () => void;
  const h = { promise: new Promise<void>((r) => (release = r)), release: () => release(), started: false };
  return h;
}

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

t.test('weights: holders share the size, waiters go in order, an oversized one runs alone', async (t) => {
  const s = new Semaphore(10);
  const a = held();
  const b = held();
  const c = held();
  const d = held();
  const run = (h: ReturnType<typeof held>, w: number): Promise<void> => s.run(async () => ((h.started = true), await h.promise), w);
  const done = [run(a, 6), run(b, 6), run(c, 1), run(d, 50)];
  await turn();
  t.same([a.started, b.started, c.started, d.started], [true, false, false, false], '6 of 10 taken: the next 6 waits, and the 1 behind it waits too (first come, first served)');
  a.release();
  await turn();
  t.same([b.started, c.started, d.started], [true, true, false], 'a released: b and c fit (7 of 10)');
  b.release();
  await turn();
  t.equal(d.started, false, 'd (50, taken as 10) waits while c holds 1');
  c.release();
  await turn();
  t.equal(d.started, true, 'then runs alone');
  d.release();
  await Promise.all(done);
});

t.test('a throwing holder gives its units back', async (t) => {
  const s = new Semaphore(1);
  await t.rejects(s.run(async () => Promise.reject(new Error('boom'))), /boom/);
  t.equal(await s.run(async () => 42), 42, 'the unit is free again');
  t.throws(() => new Semaphore(0), RangeError);
});
