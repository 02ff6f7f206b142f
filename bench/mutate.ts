/**
 * Mutations of well-formed PDUs for fuzzing the decoders (after
 * mqtt-packet's testRandom, but starting from real PDUs so that mutations
 * reach past the first header).
 *
 * Everything here is pure and deterministic: the same input and the same
 * PRNG state give the same output, so a finding is replayed from its seed.
 * Inputs are never modified; every function returns a new Buffer.
 */

/** A PRNG: uniform floats in [0, 1). */
export type Rng = () => number;

/** mulberry32: a 32-bit state, good enough for fuzzing and tiny. */
export function mulberry32(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/** A seed for iteration `i` of run `seed`, so any iteration replays alone. */
export function iterationSeed(seed: number, i: number): number {
  let h = Math.imul((seed >>> 0) ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(i >>> 0, 0xc2b2ae35);
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  return h >>> 0;
}

/** An integer in [0, n). */
export function pick(rng: Rng, n: number): number {
  return Math.floor(rng() * n);
}

function choose<T>(rng: Rng, items: readonly T[]): T {
  return items[pick(rng, items.length)]!;
}

/** WSP uintvar of a value up to 2^35 - 1 (5 octets; above 2^32 - 1 it overflows the spec on purpose). */
export function uintvar(value: number): Buffer {
  const groups: number[] = [value % 128];
  let v = Math.floor(value / 128);
  while (v > 0) {
    groups.unshift(0x80 | v % 128);
    v = Math.floor(v / 128);
  }
  return Buffer.from(groups);
}

/** Flip 1–8 random bits. */
export function flipBits(input: Uint8Array, rng: Rng): Buffer {
  const b = Buffer.from(input);
  if (b.length === 0) return b;
  const flips = 1 + pick(rng, 8);
  for (let i = 0; i < flips; i++) {
    const at = pick(rng, b.length);
    b[at] = b[at]! ^ (1 << pick(rng, 8));
  }
  return b;
}

/** Cut the input at a random offset (possibly to nothing, never the whole). */
export function truncate(input: Uint8Array, rng: Rng): Buffer {
  return Buffer.from(input.subarray(0, pick(rng, input.length)));
}

/** Lengths that sit just past a limit or far beyond anything present. */
const LARGE_LENGTHS = [31, 127, 128, 0x3fff, 0x4000, 0x1fffff, 0xfffffff, 0x7fffffff, 0xffffffff];
/** Octets that are a limit of some encoding: Value-length 30, Length-quote's neighbours, Quote, Short-integer 127. */
const EDGE_OCTETS = [0x1e, 0xff, 0x7f];

/**
 * Make some octet claim more than there is: replace it with Length-quote
 * (0x1F) and a large uintvar, or with one of 0x1E / 0xFF / 0x7F.
 */
export function inflateLength(input: Uint8Array, rng: Rng): Buffer {
  if (input.length === 0) return Buffer.from([0x1f, ...uintvar(choose(rng, LARGE_LENGTHS))]);
  const at = pick(rng, input.length);
  const before = input.subarray(0, at);
  const after = input.subarray(at + 1);
  if (rng() < 0.5) {
    const r = rng();
    // Mostly plausible-but-large, sometimes a 5-octet uintvar beyond 32 bits.
    const len = r < 0.6 ? choose(rng, LARGE_LENGTHS) : r < 0.9 ? input.length - at + 1 + pick(rng, 64) : 2 ** 32 + pick(rng, 2 ** 30);
    return Buffer.concat([before, Buffer.from([0x1f]), uintvar(len), after]);
  }
  const b = Buffer.from(input);
  b[at] = choose(rng, EDGE_OCTETS);
  return b;
}

/** Insert 1–4 random octets at a random place. */
export function insertOctets(input: Uint8Array, rng: Rng): Buffer {
  const at = pick(rng, input.length + 1);
  const n = 1 + pick(rng, 4);
  const extra = Buffer.alloc(n);
  for (let i = 0; i < n; i++) extra[i] = rng() < 0.5 ? pick(rng, 256) : choose(rng, [0x00, 0x1f, 0x22, 0x7f, 0x80, 0xff]);
  return Buffer.concat([input.subarray(0, at), extra, input.subarray(at)]);
}

/** Delete 1–4 octets at a random place. */
export function deleteOctets(input: Uint8Array, rng: Rng): Buffer {
  if (input.length === 0) return Buffer.alloc(0);
  const at = pick(rng, input.length);
  const n = 1 + pick(rng, 4);
  return Buffer.concat([input.subarray(0, at), input.subarray(at + n)]);
}

/** The head of `a` up to a random offset, then the tail of `b` from a random offset. */
export function splice(a: Uint8Array, b: Uint8Array, rng: Rng): Buffer {
  return Buffer.concat([a.subarray(0, pick(rng, a.length + 1)), b.subarray(pick(rng, b.length + 1))]);
}

/** The mutations mutate() picks from by index: their order is part of every seed's replay. */
const MUTATIONS: ReadonlyArray<(b: Buffer, rng: Rng, others: readonly Uint8Array[]) => Buffer> = [
  flipBits,
  truncate,
  inflateLength,
  insertOctets,
  deleteOctets,
  (b, rng, others) => splice(b, others.length > 0 ? choose(rng, others) : b, rng),
];

/**
 * One mutation of `input`, picked at random; a quarter of the time two or
 * three are stacked. `others` are splice partners (other fixtures); without
 * them the input is spliced with itself at other offsets.
 */
export function mutate(input: Uint8Array, rng: Rng, others: readonly Uint8Array[] = []): Buffer {
  const rounds = rng() < 0.25 ? 2 + pick(rng, 2) : 1;
  let b: Buffer = Buffer.from(input);
  for (let i = 0; i < rounds; i++) b = MUTATIONS[pick(rng, MUTATIONS.length)]!(b, rng, others);
  return b;
}
