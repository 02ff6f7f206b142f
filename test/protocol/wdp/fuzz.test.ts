import t from 'tap';
import { mulberry32 } from '../../../bench/mutate.js';
import { ProtocolError, type ProtocolErrorCode } from '../../../protocol/errors.js';
import { decodeUserData, encodeUserData, Reassembler, segment } from '../../../protocol/wdp/index.js';

/** Seeded, so a failure replays. */
const prng = mulberry32;

// Spec h.1 user data, and a two- and a 16-bit-reference segment as further seeds.
const H1_UD = Buffer.from(
  '0605040B8423F0070603BEAF848C8298413162324333008D928917802B343437353535303132332F545950453D504C4D' +
    '4E009607EA50686F746F008A808E0279188805810302A3008368747470' +
    '3A2F2F6D6D73632E6578616D706C652E6E65742F722F374B713200',
  'hex',
);
const SEEDS: Buffer[] = [
  H1_UD,
  ...segment(Buffer.alloc(200, 0x5a), 0x5a),
  ...segment(Buffer.alloc(200, 0x5a), 0x1234, { referenceBits: 16 }),
  Buffer.from('0B05040B8423F0700300000107', 'hex'),
];

const CODES: ReadonlySet<ProtocolErrorCode> = new Set<ProtocolErrorCode>([
  'TRUNCATED', 'BAD_LENGTH', 'BAD_VALUE', 'OVERFLOW', 'MISSING_HEADER', 'TRAILING_DATA', 'UNSUPPORTED', 'INCONSISTENT',
]);

function mutate(src: Buffer, rnd: () => number): Buffer {
  const b = Buffer.from(src);
  const pick = (n: number) => Math.floor(rnd() * n);
  const udhl = b[0] ?? 0;
  switch (pick(6)) {
    case 0: { // 1 to 4 bit flips, biased towards the UDH
      const flips = 1 + pick(4);
      for (let i = 0; i < flips; i++) {
        const at = rnd() < 0.7 ? pick(Math.min(b.length, udhl + 1)) : pick(b.length);
        b[at] = (b[at] ?? 0) ^ (1 << pick(8));
      }
      return b;
    }
    case 1: // truncation
      return b.subarray(0, pick(b.length + 1));
    case 2: // UDHL inflation or deflation
      b[0] = rnd() < 0.5 ? Math.min(255, udhl + 1 + pick(16)) : pick(256);
      return b;
    case 3: { // an IE length octet (second octet of some IE position) inflated
      const at = 2 + pick(Math.max(1, udhl));
      b[at] = rnd() < 0.5 ? 255 : ((b[at] ?? 0) + 1 + pick(8)) & 0xff;
      return b;
    }
    case 4: { // insert or delete an octet inside the UDH
      const at = 1 + pick(Math.max(1, udhl));
      return rnd() < 0.5
        ? Buffer.concat([b.subarray(0, at), Buffer.from([pick(256)]), b.subarray(at)])
        : Buffer.concat([b.subarray(0, at), b.subarray(at + 1)]);
    }
    default: { // random octets in the concatenation or port values
      const n = 1 + pick(3);
      for (let i = 0; i < n; i++) b[1 + pick(Math.max(1, Math.min(udhl, b.length - 1)))] = pick(256);
      return b;
    }
  }
}

t.test('decode of mutated user data returns or throws ProtocolError, nothing else', async (t) => {
  const rnd = prng(0x5eed);
  const N = 5000;
  let accepted = 0;
  let rejected = 0;
  const problems: string[] = [];
  for (let i = 0; i < N; i++) {
    const seed = SEEDS[i % SEEDS.length] ?? H1_UD;
    const x = mutate(seed, rnd);
    try {
      const { header, payload } = decodeUserData(x);
      accepted++;
      // What decodes must re-encode to the same octets, and the payload is what follows the UDH.
      if (!encodeUserData(header, payload).equals(x)) problems.push(`round trip differs: ${x.toString('hex')}`);
      if (payload.length !== x.length - 1 - (x[0] ?? 0)) problems.push(`payload length: ${x.toString('hex')}`);
    } catch (e) {
      rejected++;
      if (!(e instanceof ProtocolError)) {
        problems.push(`${String(e)} for ${x.toString('hex')}`);
      } else if (!CODES.has(e.code) || e.field === '' || e.offset < 0 || e.offset > x.length) {
        problems.push(`bad error ${e.code}/${e.field}/${e.offset} for ${x.toString('hex')}`);
      }
    }
  }
  t.same(problems.slice(0, 5), [], 'no problems');
  t.ok(accepted > N / 20, `some mutations still decode (${accepted})`);
  t.ok(rejected > N / 4, `many mutations are rejected (${rejected})`);
});

t.test('the reassembler fed mutated segments returns, or throws ProtocolError', async (t) => {
  const rnd = prng(0xfeed);
  const r = new Reassembler({ timeoutMs: 50, maxPending: 16 });
  const problems: string[] = [];
  for (let i = 0; i < 3000; i++) {
    const seed = SEEDS[i % SEEDS.length] ?? H1_UD;
    const x = rnd() < 0.3 ? seed : mutate(seed, rnd);
    try {
      r.push(x, rnd() < 0.5 ? 'a' : 'b', i);
    } catch (e) {
      if (!(e instanceof ProtocolError)) problems.push(`${String(e)} for ${x.toString('hex')}`);
    }
  }
  t.same(problems.slice(0, 5), []);
  t.ok(r.pendingCount <= 16, 'maxPending holds under noise');
});
