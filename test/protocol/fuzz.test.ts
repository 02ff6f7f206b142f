/**
 * The decoders' contract, checked on mutated PDUs: for any input a decoder
 * returns a value or throws ProtocolError with a known code and the offset
 * where it stopped; what decodes re-encodes without any other exception.
 * A few thousand iterations with fixed seeds; `npm run fuzz` runs the
 * same mutator (bench/mutate.ts) for 200 000.
 */
import t from 'tap';
import { ProtocolError, type ProtocolErrorCode } from '../../protocol/errors.js';
import { decodeMms } from '../../protocol/mms/index.js';
import { decodeUserData } from '../../protocol/wdp/index.js';
import { decodePush } from '../../protocol/wsp/index.js';
import { allSeeds, builtinSeeds, fuzzInput, problem, runChain, type Step } from '../../bench/fuzz.js';
import { deleteOctets, flipBits, inflateLength, insertOctets, mulberry32, mutate, splice, truncate, uintvar } from '../../bench/mutate.js';
import { fixtureKind, loadHexFixtures, parseHex, type FixtureKind } from '../helpers/fixtures.js';

t.test('parseHex and fixtureKind', async (t) => {
  t.same(parseHex('# a comment\n8C 82\n  # indented comment\n98\t41 00\r\n\n'), Buffer.from('8c82984100', 'hex'));
  t.same(parseHex('8c8\n2'), Buffer.from('8c82', 'hex'), 'whitespace, newlines included, is ignored');
  t.same(parseHex(''), Buffer.alloc(0));
  t.throws(() => parseHex('8C 8'), /odd number/);
  t.throws(() => parseHex('8C 8G'), /line 1: 'G'/);
  t.equal(fixtureKind('# title\n# as: push\n06'), 'push');
  t.equal(fixtureKind('# AS: SMS\n00'), 'sms');
  t.equal(fixtureKind('8C 82'), 'mms', 'mms by default');
  t.equal(fixtureKind('8C 82', 'sms'), 'sms', 'or the given default');
  t.throws(() => fixtureKind('# as: xml'), /not one of/);
});

t.test('loadHexFixtures finds the golden fixtures from any working directory', async (t) => {
  const cwd = process.cwd();
  process.chdir('/');
  try {
    const pdu = loadHexFixtures();
    for (const f of pdu) {
      t.ok(['mms', 'push', 'sms'].includes(f.as), `${f.name}: as ${f.as}`);
      t.ok(f.bytes.length > 0, `${f.name}: has octets`);
      t.notOk(f.name.endsWith('.hex'), `${f.name}: name without extension`);
    }
    t.same(loadHexFixtures('fixtures/no-such-dir'), [], 'a missing directory is empty');
    t.ok(loadHexFixtures('fixtures/sms', 'sms').every((f) => f.as === 'sms'), 'defaultAs applies');
  } finally {
    process.chdir(cwd);
  }
});

t.test('the mutator is deterministic and leaves its input alone', async (t) => {
  const input = Buffer.from('8c82984131620043330000', 'hex');
  const copy = Buffer.from(input);
  const run = (seed: number): string[] => {
    const rng = mulberry32(seed);
    return Array.from({ length: 50 }, () => mutate(input, rng, [copy]).toString('hex'));
  };
  t.same(run(7), run(7), 'same seed, same mutations');
  t.not(run(7).join(), run(8).join(), 'another seed, other mutations');
  const rng = mulberry32(1);
  for (const f of [flipBits, truncate, inflateLength, insertOctets, deleteOctets]) {
    for (let i = 0; i < 20; i++) f(input, rng);
    t.ok(truncate(input, rng).length < input.length, 'truncation shortens');
  }
  for (let i = 0; i < 20; i++) splice(input, copy, rng);
  t.same(input, copy, 'input unchanged');
  for (const empty of [flipBits, truncate, inflateLength, insertOctets, deleteOctets]) t.type(empty(Buffer.alloc(0), rng), Buffer);
  t.same(uintvar(300), Buffer.from('822c', 'hex'));
  t.same(uintvar(0xffffffff), Buffer.from('8fffffff7f', 'hex'));
});

const SEEDS = allSeeds();
const CODES_SEEN = new Map<string, number>();

function fuzz(seed: number, iterations: number): { problems: string[]; ok: number; rejected: number } {
  const problems: string[] = [];
  let ok = 0;
  let rejected = 0;
  for (let i = 0; i < iterations; i++) {
    const { fixture, bytes } = fuzzInput(SEEDS, seed, i);
    let first = true;
    runChain(fixture.as, bytes, (step: Step) => {
      const what = problem(step);
      if (what !== null && problems.length < 5) {
        const stack = step.error instanceof Error ? step.error.stack?.split('\n').slice(0, 3).join(' | ') : '';
        problems.push(`seed ${seed} iteration ${i} (${fixture.name}): ${what}; ${step.stage} input ${Buffer.from(step.input).toString('hex')}; ${stack}`);
      }
      if (step.error instanceof ProtocolError) CODES_SEEN.set(step.error.code, (CODES_SEEN.get(step.error.code) ?? 0) + 1);
      if (first) {
        if (step.error === undefined) ok++;
        else rejected++;
        first = false;
      }
    });
  }
  return { problems, ok, rejected };
}

for (const seed of [1, 2, 0x5eed]) {
  t.test(`mutated PDUs, seed ${seed}: every decode returns or throws ProtocolError with code and offset`, async (t) => {
    t.ok(SEEDS.length >= builtinSeeds().length, `${SEEDS.length} seeds`);
    const N = 2000;
    const { problems, ok, rejected } = fuzz(seed, N);
    t.same(problems, [], 'no exception other than ProtocolError, every decode error has a known code and an offset in the input');
    t.ok(ok > N / 20, `some mutations still decode at the first layer (${ok})`);
    t.ok(rejected > N / 4, `many mutations are rejected (${rejected})`);
  });
}

t.test('the fuzzing reached every common error code', async (t) => {
  for (const code of ['TRUNCATED', 'BAD_LENGTH', 'BAD_VALUE', 'OVERFLOW', 'MISSING_HEADER', 'TRAILING_DATA'] satisfies ProtocolErrorCode[]) {
    t.ok((CODES_SEEN.get(code) ?? 0) > 0, `${code} seen ${CODES_SEEN.get(code) ?? 0} times`);
  }
});

/**
 * Hostile inputs pinned with the code they must give: lengths inflated the
 * way the mutator does it, at the places where a decoder that trusts a
 * length would allocate, loop or read past the end.
 */
const H1 = '8c8298413162324333008d928917802b343437353535303132332f545950453d504c4d4e0096';
const H1_AFTER_SUBJECT_LENGTH = 'ea50686f746f008a808e0279188805810302a30083687474703a2f2f6d6d73632e6578616d706c652e6e65742f722f374b713200';
const PINNED: Array<{ name: string; as: FixtureKind; hex: string; code: ProtocolErrorCode; offset: number }> = [
  { name: 'empty MMS PDU', as: 'mms', hex: '', code: 'TRUNCATED', offset: 0 },
  { name: 'empty push', as: 'push', hex: '', code: 'TRUNCATED', offset: 0 },
  { name: 'empty user data', as: 'sms', hex: '', code: 'TRUNCATED', offset: 0 },
  { name: 'Subject Value-length: Length-quote and a uintvar beyond 32 bits', as: 'mms', hex: `${H1}1fffffffff0f${H1_AFTER_SUBJECT_LENGTH}`, code: 'OVERFLOW', offset: 39 },
  { name: 'Subject Value-length: Length-quote and 2^32-1', as: 'mms', hex: `${H1}1f8fffffff7f${H1_AFTER_SUBJECT_LENGTH}`, code: 'BAD_LENGTH', offset: 38 },
  { name: 'Subject Value-length 30, past its NUL', as: 'mms', hex: `${H1}1e${H1_AFTER_SUBJECT_LENGTH}`, code: 'BAD_VALUE', offset: 68 },
  { name: 'multipart nEntries 2^32-1 with no entry behind it', as: 'mms', hex: '8c848d9285046553f10084a38fffffff7f', code: 'TRUNCATED', offset: 12 },
  { name: 'Long-integer of 30 octets with 2 present', as: 'mms', hex: '8c829841008d928e1e0102', code: 'TRUNCATED', offset: 9 },
  { name: 'push HeadersLen 2^32-1', as: 'push', hex: '01068fffffff7fbe', code: 'TRUNCATED', offset: 7 },
  { name: 'push HeadersLen uintvar of 6 octets', as: 'push', hex: '01068080808080 01be', code: 'OVERFLOW', offset: 2 },
  { name: 'Transaction-Id that is a lone Quote', as: 'mms', hex: '8c85987f', code: 'TRUNCATED', offset: 4 },
  { name: 'a single-valued header twice', as: 'mms', hex: '8c859841009841008d92', code: 'BAD_VALUE', offset: 5 },
];

t.test('pinned hostile inputs', async (t) => {
  const decoders: Record<FixtureKind, (b: Uint8Array) => unknown> = { mms: decodeMms, push: decodePush, sms: decodeUserData };
  for (const p of PINNED) {
    const bytes = Buffer.from(p.hex.replace(/\s+/g, ''), 'hex');
    t.throws(() => decoders[p.as](bytes), { name: 'ProtocolError', code: p.code, offset: p.offset }, p.name);
    const bad: string[] = [];
    runChain(p.as, bytes, (s) => {
      const what = problem(s);
      if (what) bad.push(what);
    });
    t.same(bad, [], `${p.name}: the whole chain keeps the contract`);
  }
});
