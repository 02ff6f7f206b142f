import t from 'tap';
import { readFileSync } from 'node:fs';
import { ProtocolError } from '../../../protocol/errors.js';
import { decodeUserData, segment, concatenation } from '../../../protocol/wdp/index.js';

const FIXTURES = new URL('../../../fixtures/sms/', import.meta.url);
const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** `# comment` lines, then hex octets separated by white space. */
function readHex(name: string): Buffer {
  const body = readFileSync(new URL(name, FIXTURES), 'utf8')
    .split('\n')
    .filter((l) => !l.startsWith('#'))
    .join(' ');
  return hex(body);
}

// The 97-octet push of spec h.1 (the user data minus its 7-octet UDH).
const H1_PUSH = hex(`
  07 06 03 BE AF 84 8C 82 98 41 31 62 32 43 33 00 8D
  92 89 17 80 2B 34 34 37 35 35 35 30 31 32 33 2F 54 59 50 45 3D 50 4C 4D
  4E 00 96 07 EA 50 68 6F 74 6F 00 8A 80 8E 02 79 18 88 05 81 03 02 A3 00
  83 68 74 74 70 3A 2F 2F 6D 6D 73 63 2E 65 78 61 6D 70 6C 65 2E 6E 65 74
  2F 72 2F 37 4B 71 32 00`);

/**
 * A 186-octet push for the two-SMS layout after h.1: the same notification
 * with X-Mms-Content-Location lengthened from 30 to 119 characters.
 */
function push186(): Buffer {
  const alnum = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
  let tail = '';
  for (let i = 0; i < 93; i++) tail += alnum[i % alnum.length];
  const uri = Buffer.from(`http://mmsc.example.net/r/${tail}\0`, 'latin1');
  const oldUri = Buffer.from('http://mmsc.example.net/r/7Kq2\0', 'latin1');
  const at = H1_PUSH.indexOf(oldUri);
  return Buffer.concat([H1_PUSH.subarray(0, at), uri, H1_PUSH.subarray(at + oldUri.length)]);
}

/** The few assertions expectError needs; tap's Test satisfies it. */
interface Asserts {
  ok(v: unknown, msg: string): unknown;
  fail(msg: string): unknown;
}

function expectError(t: Asserts, fn: () => unknown, code: string, field: string): void {
  try {
    fn();
    t.fail(`expected ProtocolError ${code} ${field}, nothing was thrown`);
  } catch (e) {
    t.ok(e instanceof ProtocolError && e.code === code && e.field === field, `ProtocolError ${code} ${field}`);
  }
}

t.test('spec h.1: a 97-octet push is one SMS with UDH 06 05 04 0B 84 23 F0', async (t) => {
  t.equal(H1_PUSH.length, 97);
  const out = segment(H1_PUSH, 0x5a);
  t.equal(out.length, 1);
  t.same(out[0], readHex('h1-push-one-sms.hex'));
  t.same(out[0]?.subarray(0, 7), hex('06 05 04 0B 84 23 F0'));
  t.equal(out[0]?.length, 104);
});

t.test('spec h.1: a 186-octet push is two SMS, 128 + 58 payload octets, reference 5A', async (t) => {
  const push = push186();
  t.equal(push.length, 186);
  const out = segment(push, 0x5a);
  t.equal(out.length, 2);
  const [a, b] = out;
  t.same(a?.subarray(0, 12), hex('0B 05 04 0B 84 23 F0 00 03 5A 02 01'));
  t.same(b?.subarray(0, 12), hex('0B 05 04 0B 84 23 F0 00 03 5A 02 02'));
  t.same(a?.subarray(12), push.subarray(0, 128));
  t.same(b?.subarray(12), push.subarray(128));
  t.equal(a?.length, 140);
  t.equal(b?.length, 12 + 58);
  t.same(a, readHex('h1-long-segment-1.hex'));
  t.same(b, readHex('h1-long-segment-2.hex'));
});

t.test('16-bit reference layout: 0C 05 04 dd dd oo oo 08 04 rr rr tt nn, 127 octets each', async (t) => {
  const data = Buffer.alloc(300, 0x42);
  const out = segment(data, 0x1234, { referenceBits: 16, destinationPort: 2949, originatorPort: 9201 });
  t.equal(out.length, 3);
  out.forEach((s, i) => {
    t.same(s.subarray(0, 13), hex(`0C 05 04 0B 85 23 F1 08 04 12 34 03 0${i + 1}`), `segment ${i + 1} UDH`);
  });
  t.same(out.map((s) => s.length), [140, 140, 13 + 300 - 254]);
});

t.test('segment boundaries: 133 / 134 octets, exact multiples, 255 segments', async (t) => {
  const sizes: Array<[number, 8 | 16, number[]]> = [
    [0, 8, [0]],
    [1, 8, [1]],
    [133, 8, [133]],
    [133, 16, [133]],
    [134, 8, [128, 6]],
    [134, 16, [127, 7]],
    [256, 8, [128, 128]],
    [254, 16, [127, 127]],
    [257, 8, [128, 128, 1]],
  ];
  for (const [n, bits, want] of sizes) {
    const out = segment(Buffer.alloc(n, 1), 7, { referenceBits: bits });
    const got = out.map((s) => decodeUserData(s).payload.length);
    t.same(got, want, `${n} octets, ${bits}-bit reference`);
    for (const s of out) t.ok(s.length <= 140, 'at most 140 octets');
  }
  const max8 = segment(Buffer.alloc(128 * 255), 1);
  t.equal(max8.length, 255);
  t.same(concatenation(decodeUserData(max8[254] ?? Buffer.alloc(0)).header), { reference: 1, total: 255, sequence: 255, bits: 8 });
  t.equal(segment(Buffer.alloc(127 * 255), 1, { referenceBits: 16 }).length, 255);
});

t.test('an empty datagram is one SMS with an empty payload', async (t) => {
  const out = segment(new Uint8Array(0), 0);
  t.equal(out.length, 1);
  t.same(out[0], hex('06 05 04 0B 84 23 F0'));
});

t.test('rejections', async (t) => {
  expectError(t, () => segment(Buffer.alloc(128 * 255 + 1), 1), 'BAD_LENGTH', 'datagram');
  expectError(t, () => segment(Buffer.alloc(127 * 255 + 1), 1, { referenceBits: 16 }), 'BAD_LENGTH', 'datagram');
  expectError(t, () => segment(Buffer.alloc(10), 256), 'BAD_VALUE', 'concatenation');
  expectError(t, () => segment(Buffer.alloc(10), -1), 'BAD_VALUE', 'concatenation');
  expectError(t, () => segment(Buffer.alloc(10), 1.5), 'BAD_VALUE', 'concatenation');
  expectError(t, () => segment(Buffer.alloc(10), 65536, { referenceBits: 16 }), 'BAD_VALUE', 'concatenation');
  expectError(t, () => segment(Buffer.alloc(10), 1, { destinationPort: 70000 }), 'BAD_VALUE', 'IEI 0x05');
  expectError(t, () => segment(Buffer.alloc(10), 1, { originatorPort: -1 }), 'BAD_VALUE', 'IEI 0x05');
  t.equal(segment(Buffer.alloc(10), 65535, { referenceBits: 16 }).length, 1, '65535 fits 16 bits');
});

t.test('segments are fresh buffers, not views of the datagram', async (t) => {
  const data = Buffer.alloc(200, 0x11);
  const out = segment(data, 3);
  data.fill(0x22);
  for (const s of out) t.notOk(s.subarray(12).includes(0x22));
});
