/**
 * The timing harness of the benches (bench/pdu.ts, bench/mm7.ts), and what
 * the others share with them: argument parsing, medians, number formatting.
 *
 * Each benchmark is warmed up for 250 ms (which also sizes its batch to
 * ~5 ms), then timed in rounds. A round gives every benchmark of a group
 * `roundMs` in all, in 50 ms slices taken in turn, the order reversed every
 * other turn: a load spike on a shared machine then hits all benchmarks of
 * the group alike, and the slices taken side by side give ratios that hold
 * even while absolute rates wander. Rates are reported as the median round,
 * ratios as the median over the slices (timeRatio). Groups run one after the
 * other, so one group's garbage is not collected in another's time.
 */
import { performance } from 'node:perf_hooks';

export interface Bench {
  name: string;
  /** One operation; returns a number (or a promise of one) so the work cannot be optimised away. */
  op: () => number | Promise<number>;
  /** Every operation awaited (asyncBench), or called in a plain loop (bench). */
  awaited: boolean;
  /** Operations per batch, set during warm-up so a batch lasts ~5 ms. */
  batch: number;
  /** Operations per second of each round. */
  rates: number[];
  /** Milliseconds per operation in each slice, for ratios between benchmarks. */
  sliceMs: number[];
}

let sink = 0;

/** Adds a result to the checksum printed at the end, for work done outside a benchmark. */
export function consume(n: number): void {
  sink += n;
}

/** A benchmark of a synchronous operation, called in a plain loop. */
export function bench(name: string, op: () => number): Bench {
  return { name, op, awaited: false, batch: 1, rates: [], sliceMs: [] };
}

/**
 * A benchmark whose every operation is awaited, even one that returns a
 * plain number: a synchronous baseline beside an async parse then pays the
 * same await per operation as the parse does.
 */
export function asyncBench(name: string, op: () => number | Promise<number>): Bench {
  return { name, op, awaited: true, batch: 1, rates: [], sliceMs: [] };
}

async function run(b: Bench): Promise<void> {
  const r = b.op();
  sink += typeof r === 'number' ? r : await r;
}

async function warmUp(b: Bench, ms: number): Promise<void> {
  const start = performance.now();
  let n = 0;
  while (performance.now() - start < ms) {
    if (b.awaited) await run(b);
    else sink += b.op() as number;
    n++;
  }
  b.batch = Math.max(1, Math.round(5 / ((performance.now() - start) / n)));
}

/** Runs whole batches for about `ms`; returns [operations, milliseconds]. */
async function slice(b: Bench, ms: number): Promise<[number, number]> {
  const start = performance.now();
  let ops = 0;
  let elapsed = 0;
  do {
    if (b.awaited) for (let i = 0; i < b.batch; i++) await run(b);
    else for (let i = 0; i < b.batch; i++) sink += b.op() as number;
    ops += b.batch;
    elapsed = performance.now() - start;
  } while (elapsed < ms);
  b.sliceMs.push(elapsed / ops);
  return [ops, elapsed];
}

const SLICE_MS = 50;

/** One round: every benchmark of the group runs for `ms` in all, in 50 ms slices taken in turn (order reversed every other turn). */
async function round(benches: readonly Bench[], ms: number): Promise<void> {
  const ops = benches.map(() => 0);
  const time = benches.map(() => 0);
  const turns = Math.max(1, Math.round(ms / SLICE_MS));
  for (let turn = 0; turn < turns; turn++) {
    for (let k = 0; k < benches.length; k++) {
      const i = turn % 2 === 0 ? k : benches.length - 1 - k;
      const [n, t] = await slice(benches[i]!, SLICE_MS);
      ops[i]! += n;
      time[i]! += t;
    }
  }
  benches.forEach((b, i) => b.rates.push((ops[i]! * 1000) / time[i]!));
}

export interface RoundOpts {
  rounds: number;
  roundMs: number;
}

/** Group after group: each benchmark of the group warmed up, then `rounds` rounds of the group. */
export async function measure(groups: ReadonlyArray<readonly Bench[]>, { rounds, roundMs }: RoundOpts): Promise<void> {
  for (const group of groups) {
    for (const b of group) await warmUp(b, 250);
    for (let r = 0; r < rounds; r++) await round(group, roundMs);
  }
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Median over the slices taken side by side of a's time per operation divided by b's. */
export function timeRatio(a: Bench, b: Bench): number {
  return median(a.sliceMs.map((t, i) => t / b.sliceMs[i]!));
}

/** Operations per second: the median round. */
export const rate = (b: Bench): number => median(b.rates);

/** Half the range of the rounds' rates, as a share of the median. */
export function spread(b: Bench): string {
  const lo = Math.min(...b.rates);
  const hi = Math.max(...b.rates);
  return `±${(((hi - lo) / 2 / rate(b)) * 100).toFixed(1)}%`;
}

/** Time per operation at the median rate. */
export const us = (b: Bench): string => `${(1e6 / rate(b)).toFixed(1)} µs`;

export const fmt = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
export const mib = (octets: number): string => `${(octets / 2 ** 20).toFixed(1)} MiB`;

/** The first line of a timing bench's output. */
export const header = ({ rounds, roundMs }: RoundOpts): string => `node ${process.version}, ${rounds} rounds of ${roundMs} ms per benchmark, median reported`;

/** The last line: time since `started` and the checksum of all results. */
export const footer = (started: number): string => `(${((performance.now() - started) / 1000).toFixed(1)} s, checksum ${sink % 1000})`;

// -------------------------------------------------------------- arguments

/** Reads the value that follows `flag` (undefined: there is none); throws an Error naming the flag when it will not do. */
export type Reader<T> = (raw: string | undefined, flag: string) => T;

export const positiveInt: Reader<number> = (raw, flag) => {
  const v = Number(raw);
  if (!Number.isInteger(v) || v < 1) throw new Error(`${flag} needs a positive integer`);
  return v;
};

export const text: Reader<string> = (raw, flag) => {
  if (raw === undefined) throw new Error(`${flag} needs a value`);
  return raw;
};

/** For each flag, the option it sets and how its value is read. */
export type Flags<T> = Readonly<Record<string, { [K in keyof T]-?: readonly [K, Reader<T[K]>] }[keyof T]>>;

export const ROUND_DEFAULTS: Readonly<RoundOpts> = { rounds: 3, roundMs: 1000 };
export const ROUND_FLAGS: Flags<RoundOpts> = { '--rounds': ['rounds', positiveInt], '--round-ms': ['roundMs', positiveInt] };

/** A flag that takes no value: given means true. */
export const present: Reader<boolean> & { readonly takesNoValue: true } = Object.assign(() => true, { takesNoValue: true as const });

/** `--flag value` pairs (or a lone `--flag` read by `present`) over `defaults`; throws on an unknown flag (naming `usage`) or a value its reader refuses. */
export function parseArgs<T extends object>(argv: readonly string[], defaults: T, flags: Flags<T>, usage: string): T {
  const opts = { ...defaults };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const known = flags[flag];
    if (!known) throw new Error(`unknown argument ${flag} (use ${usage})`);
    const [key, read] = known;
    const raw = 'takesNoValue' in read ? undefined : argv[++i];
    opts[key] = read(raw, flag);
  }
  return opts;
}
