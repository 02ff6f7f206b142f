import t from 'tap';
import { mulberry32 } from '../../../bench/mutate.js';
import { ProtocolError } from '../../../protocol/errors.js';
import {
  encodeUserData,
  Reassembler,
  segment,
  type DroppedSet,
  type InformationElement,
  type Reassembled,
} from '../../../protocol/wdp/index.js';

/** Seeded, so a failure replays. */
const prng = mulberry32;

function shuffle<T>(items: T[], rnd: () => number): T[] {
  const a = items.slice();
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    const x = a[i] as T;
    a[i] = a[j] as T;
    a[j] = x;
  }
  return a;
}

function datagram(n: number, seed: number): Buffer {
  const rnd = prng(seed);
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rnd() * 256);
  return b;
}

/** The few assertions expectError needs; tap's Test satisfies it. */
interface Asserts {
  ok(v: unknown, msg: string): unknown;
  fail(msg: string): unknown;
}

function expectError(t: Asserts, fn: () => unknown, code: string, field: string, offset?: number): void {
  try {
    fn();
    t.fail(`expected ProtocolError ${code} ${field}, nothing was thrown`);
  } catch (e) {
    t.ok(
      e instanceof ProtocolError && e.code === code && e.field === field && (offset === undefined || e.offset === offset),
      `ProtocolError ${code} ${field}${offset === undefined ? '' : ` at ${offset}`}`,
    );
  }
}

const PORTS: InformationElement = { kind: 'ports16', destinationPort: 2948, originatorPort: 9200 };

/** A hand-built segment: ports, 8-bit concatenation, payload. */
function seg(ref: number, total: number, sequence: number, payload: number[], ports = PORTS): Buffer {
  return encodeUserData({ elements: [ports, { kind: 'concat8', reference: ref, total, sequence }] }, Uint8Array.from(payload));
}

t.test('segment -> shuffled with duplicates -> reassemble gives the datagram back', async (t) => {
  const cases: Array<[number, 8 | 16]> = [
    [0, 8], [1, 8], [133, 8], [134, 8], [128 * 2, 8], [128 * 255, 8],
    [0, 16], [1, 16], [133, 16], [134, 16], [127 * 2, 16], [127 * 255, 16],
  ];
  let seed = 1;
  for (const [n, bits] of cases) {
    const data = datagram(n, seed);
    const ref = bits === 8 ? (seed * 37) % 256 : 40000 + seed;
    const parts = segment(data, ref, { referenceBits: bits });
    const rnd = prng(seed++);
    const r = new Reassembler({ timeoutMs: 60_000 });
    // Every segment once, plus up to a third again, in random order.
    const feed = parts.length === 1 ? parts : shuffle([...parts, ...parts.filter(() => rnd() < 0.33)], rnd);
    const results: Reassembled[] = [];
    feed.forEach((ud, i) => {
      const out = r.push(ud, '+447700900123', 1000 + i);
      if (out !== null) results.push(out);
    });
    t.equal(results.length, 1, `${n} octets, ${bits}-bit: exactly one datagram out of ${feed.length} pushes`);
    const out = results[0];
    t.ok(out !== undefined && out.datagram.equals(data), `${n} octets, ${bits}-bit: same octets`);
    t.equal(out?.segments, parts.length);
    t.same(out?.ports, { destinationPort: 2948, originatorPort: 9200, bits: 16 });
    t.equal(out?.ref, parts.length === 1 ? null : ref);
    t.equal(out?.referenceBits, parts.length === 1 ? null : bits);
    t.equal(r.pendingCount, 0, 'nothing left pending');
  }
});

t.test('an unsegmented user data is returned at once, as a copy', async (t) => {
  const r = new Reassembler({ timeoutMs: 1000 });
  const ud = Buffer.from('0605040B8423F0070603BEAF84', 'hex');
  const out = r.push(ud, 'src', 0);
  t.same(out, {
    source: 'src',
    ports: { destinationPort: 2948, originatorPort: 9200, bits: 16 },
    ref: null,
    referenceBits: null,
    datagram: Buffer.from('070603BEAF84', 'hex'),
    segments: 1,
  });
  ud[7] = 0;
  t.equal(out?.datagram[0], 0x07, 'not a view of the input');
  t.equal(r.pendingCount, 0);
});

t.test('a concatenation with total 1 completes at once', async (t) => {
  const r = new Reassembler({ timeoutMs: 1000 });
  const out = r.push(seg(9, 1, 1, [1, 2, 3]), 'src', 0);
  t.same(out?.datagram, Buffer.from([1, 2, 3]));
  t.equal(out?.ref, 9);
  t.equal(r.pendingCount, 0);
});

t.test('segments are copied: the caller may reuse its buffer', async (t) => {
  const r = new Reassembler({ timeoutMs: 1000 });
  const buf = seg(1, 2, 1, [0xaa, 0xbb]);
  t.equal(r.push(buf, 'src', 0), null);
  buf.fill(0);
  t.same(r.push(seg(1, 2, 2, [0xcc]), 'src', 1)?.datagram, Buffer.from([0xaa, 0xbb, 0xcc]));
});

t.test('same key and sequence with different octets is INCONSISTENT; the set survives', async (t) => {
  const r = new Reassembler({ timeoutMs: 1000 });
  t.equal(r.push(seg(5, 2, 2, [3, 4]), 'src', 0), null);
  t.equal(r.push(seg(5, 2, 2, [3, 4]), 'src', 1), null, 'exact duplicate ignored');
  expectError(t, () => r.push(seg(5, 2, 2, [3, 5]), 'src', 2), 'INCONSISTENT', 'concatenation', 9);
  t.equal(r.pendingCount, 1);
  t.same(r.push(seg(5, 2, 1, [1, 2]), 'src', 3)?.datagram, Buffer.from([1, 2, 3, 4]), 'first octets kept');
});

t.test('same source, ports and reference with a different total is INCONSISTENT', async (t) => {
  const r = new Reassembler({ timeoutMs: 1000 });
  t.equal(r.push(seg(5, 3, 1, [1]), 'src', 0), null);
  expectError(t, () => r.push(seg(5, 2, 2, [2]), 'src', 1), 'INCONSISTENT', 'concatenation', 10);
  t.equal(r.pendingCount, 1, 'the pending set is untouched');
  t.equal(r.push(seg(5, 3, 2, [2]), 'src', 2), null);
  t.same(r.push(seg(5, 3, 3, [3]), 'src', 3)?.datagram, Buffer.from([1, 2, 3]));
});

t.test('a different source, ports or reference width makes a different datagram', async (t) => {
  const r = new Reassembler({ timeoutMs: 1000 });
  const other: InformationElement = { kind: 'ports16', destinationPort: 2949, originatorPort: 9200 };
  const ref16 = (seq: number, payload: number[]) =>
    encodeUserData({ elements: [PORTS, { kind: 'concat16', reference: 5, total: 2, sequence: seq }] }, Uint8Array.from(payload));
  t.equal(r.push(seg(5, 2, 1, [1]), 'A', 0), null);
  t.equal(r.push(seg(5, 2, 1, [2]), 'B', 0), null);
  t.equal(r.push(seg(5, 2, 1, [3], other), 'A', 0), null);
  t.equal(r.push(ref16(1, [4]), 'A', 0), null);
  t.equal(r.pendingCount, 4);
  t.same(r.push(ref16(2, [40]), 'A', 1)?.datagram, Buffer.from([4, 40]));
  const o = r.push(seg(5, 2, 2, [30], other), 'A', 1);
  t.same(o?.datagram, Buffer.from([3, 30]));
  t.equal(o?.ports?.destinationPort, 2949);
  t.same(r.push(seg(5, 2, 2, [20]), 'B', 1)?.datagram, Buffer.from([2, 20]));
  t.same(r.push(seg(5, 2, 2, [10]), 'A', 1)?.datagram, Buffer.from([1, 10]));
  t.equal(r.pendingCount, 0);
});

t.test('expire(nowMs) drops sets older than timeoutMs, measured from the first segment', async (t) => {
  const dropped: Array<[DroppedSet, string]> = [];
  const r = new Reassembler({ timeoutMs: 1000, onDrop: (d, why) => dropped.push([d, why]) });
  t.equal(r.push(seg(7, 3, 1, [1]), 'src', 0), null);
  t.equal(r.push(seg(7, 3, 2, [2]), 'src', 900), null);
  t.same(r.expire(1000), [], 'age exactly timeoutMs is not yet older');
  t.equal(r.pendingCount, 1);
  const gone = r.expire(1001);
  t.same(gone, [
    { source: 'src', ref: 7, referenceBits: 8, ports: { destinationPort: 2948, originatorPort: 9200, bits: 16 }, received: 2, total: 3, firstMs: 0 },
  ]);
  t.equal(dropped.length, 1);
  t.equal(dropped[0]?.[1], 'timeout');
  t.equal(r.pendingCount, 0);
  t.equal(r.push(seg(7, 3, 3, [3]), 'src', 1002), null, 'the last segment alone does not complete');
  t.equal(r.pendingCount, 1);
});

t.test('push expires stale sets before taking the segment', async (t) => {
  const r = new Reassembler({ timeoutMs: 1000 });
  t.equal(r.push(seg(1, 2, 1, [1]), 'src', 0), null);
  t.equal(r.push(seg(2, 2, 1, [1]), 'src', 10), null);
  t.equal(r.pendingCount, 2);
  t.equal(r.push(seg(1, 2, 2, [2]), 'src', 1005), null, 'ref 1 expired first; its segment 2 starts a new set');
  t.equal(r.pendingCount, 2, 'ref 2 (age 995) kept, new ref 1 set added');
  t.same(r.push(seg(2, 2, 2, [2]), 'src', 1010)?.datagram, Buffer.from([1, 2]), 'age exactly timeoutMs still joins');
});

t.test('maxPending: the oldest incomplete set is dropped', async (t) => {
  const dropped: Array<[DroppedSet, string]> = [];
  const r = new Reassembler({ timeoutMs: 60_000, maxPending: 2, onDrop: (d, why) => dropped.push([d, why]) });
  t.equal(r.push(seg(1, 2, 1, [1]), 'src', 0), null);
  t.equal(r.push(seg(2, 2, 1, [2]), 'src', 1), null);
  t.equal(r.pendingCount, 2);
  t.equal(r.push(seg(3, 2, 1, [3]), 'src', 2), null);
  t.equal(r.pendingCount, 2);
  t.same(dropped.map(([d, why]) => [d.ref, d.received, why]), [[1, 1, 'evicted']]);
  t.same(r.push(seg(2, 2, 2, [20]), 'src', 3)?.datagram, Buffer.from([2, 20]), 'ref 2 still there');
  t.same(r.push(seg(3, 2, 2, [30]), 'src', 3)?.datagram, Buffer.from([3, 30]), 'ref 3 still there');
  t.equal(r.push(seg(1, 2, 2, [10]), 'src', 4), null, 'ref 1 was dropped');
});

t.test('a late exact duplicate after completion is ignored; a reused reference is a new datagram', async (t) => {
  const r = new Reassembler({ timeoutMs: 1000 });
  r.push(seg(4, 2, 1, [1]), 'src', 0);
  t.same(r.push(seg(4, 2, 2, [2]), 'src', 10)?.datagram, Buffer.from([1, 2]));
  t.equal(r.push(seg(4, 2, 2, [2]), 'src', 500), null, 'late duplicate swallowed');
  t.equal(r.pendingCount, 0, 'and it started no set');
  // New datagram with the same reference: different octets.
  t.equal(r.push(seg(4, 2, 2, [9]), 'src', 600), null);
  t.same(r.push(seg(4, 2, 1, [8]), 'src', 601)?.datagram, Buffer.from([8, 9]));
  // Completed memory lasts timeoutMs after completion.
  t.equal(r.push(seg(4, 2, 1, [8]), 'src', 1601), null);
  t.equal(r.pendingCount, 0, 'still within timeoutMs of completion at 601');
  t.equal(r.push(seg(4, 2, 1, [8]), 'src', 1602), null);
  t.equal(r.pendingCount, 1, 'after that, a copy starts a new set');
});

t.test('rejections', async (t) => {
  const r = new Reassembler({ timeoutMs: 1000 });
  expectError(t, () => r.push(Buffer.alloc(141), 'src', 0), 'BAD_LENGTH', 'TP-UD');
  expectError(t, () => r.push(Buffer.from('0B05040B8423F000035A0200', 'hex'), 'src', 0), 'BAD_VALUE', 'concatenation');
  expectError(t, () => r.push(Buffer.from('0B05040B8423F000035A0203', 'hex'), 'src', 0), 'BAD_VALUE', 'concatenation');
  expectError(t, () => r.push(Buffer.from('0A05040B8423F0', 'hex'), 'src', 0), 'BAD_LENGTH', 'UDHL');
  expectError(t, () => r.push(new Uint8Array(0), 'src', 0), 'TRUNCATED', 'UDHL');
  t.equal(r.pendingCount, 0);
  t.throws(() => r.push(seg(1, 2, 1, [1]), 'src', Number.NaN), RangeError);
  t.throws(() => new Reassembler({ timeoutMs: -1 }), RangeError);
  t.throws(() => new Reassembler({ timeoutMs: 1, maxPending: 0 }), RangeError);
});
