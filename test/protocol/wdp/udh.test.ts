import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { ProtocolError } from '../../../protocol/errors.js';
import {
  applicationPorts,
  concatenation,
  decodeUserData,
  encodeUserData,
  MAX_SMS_OCTETS,
  WAP_PUSH_PORT,
  WSP_SERVER_PORT,
  type InformationElement,
  type UserDataHeader,
} from '../../../protocol/wdp/index.js';

const FIXTURES = new URL('../../../fixtures/sms/', import.meta.url);

/** `# comment` lines, then hex octets separated by white space. */
function readHex(name: string): { bytes: Buffer; directives: Map<string, string> } {
  const directives = new Map<string, string>();
  const hex: string[] = [];
  for (const line of readFileSync(new URL(name, FIXTURES), 'utf8').split('\n')) {
    const m = /^#\s*([a-z-]+):\s*(.*)$/.exec(line);
    if (m?.[1] !== undefined && m[2] !== undefined) directives.set(m[1], m[2].trim());
    if (line.startsWith('#')) continue;
    hex.push(...line.split(/\s+/).filter((s) => s !== ''));
  }
  for (const h of hex) if (!/^[0-9A-Fa-f]{2}$/.test(h)) throw new Error(`${name}: bad hex octet ${h}`);
  return { bytes: Buffer.from(hex.join(''), 'hex'), directives };
}

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// Spec h.1 "Complete user data", typed in independently of the fixture file.
const H1_UD = hex(`
  06 05 04 0B 84 23 F0 07 06 03 BE AF 84 8C 82 98 41 31 62 32 43 33 00 8D
  92 89 17 80 2B 34 34 37 35 35 35 30 31 32 33 2F 54 59 50 45 3D 50 4C 4D
  4E 00 96 07 EA 50 68 6F 74 6F 00 8A 80 8E 02 79 18 88 05 81 03 02 A3 00
  83 68 74 74 70 3A 2F 2F 6D 6D 73 63 2E 65 78 61 6D 70 6C 65 2E 6E 65 74
  2F 72 2F 37 4B 71 32 00`);

/** The few assertions expectError needs; tap's Test satisfies it. */
interface Asserts {
  ok(v: unknown, msg: string): unknown;
  equal(found: unknown, wanted: unknown, msg: string): unknown;
  fail(msg: string): unknown;
}

function expectError(t: Asserts, fn: () => unknown, code: string, field: string): void {
  try {
    fn();
    t.fail(`expected ProtocolError ${code} ${field}, nothing was thrown`);
  } catch (e) {
    t.ok(e instanceof ProtocolError, 'throws ProtocolError');
    if (e instanceof ProtocolError) {
      t.equal(e.code, code, `code ${code}`);
      t.equal(e.field, field, `field ${field}`);
    }
  }
}

t.test('constants', async (t) => {
  t.equal(WAP_PUSH_PORT, 2948);
  t.equal(WSP_SERVER_PORT, 9200);
  t.equal(MAX_SMS_OCTETS, 140);
});

t.test('spec h.1: one-SMS user data decodes to ports 2948/9200 and the 97-octet push', async (t) => {
  t.equal(H1_UD.length, 104);
  const { header, payload } = decodeUserData(H1_UD);
  t.same(header.elements, [{ kind: 'ports16', destinationPort: 2948, originatorPort: 9200 }]);
  t.equal(payload.length, 97);
  t.same(Buffer.from(payload.subarray(0, 6)), hex('07 06 03 BE AF 84'), 'push prefix: TID, Push, HeadersLen, BE, AF 84');
  t.same(applicationPorts(header), { destinationPort: 2948, originatorPort: 9200, bits: 16 });
  t.equal(concatenation(header), null);
  t.same(encodeUserData(header, payload), H1_UD, 'encode reproduces the spec octets');
  t.same(readHex('h1-push-one-sms.hex').bytes, H1_UD, 'fixture file holds the spec octets');
});

t.test('payload and unknown IE data are views into the input, not copies', async (t) => {
  // A plain Uint8Array: on a Buffer, slice() would be a view too and hide a copy.
  const ud = new Uint8Array(hex('0B 05 04 0B 84 23 F0 70 03 AA BB CC 07 06'));
  const { header, payload } = decodeUserData(ud);
  t.equal(payload.buffer, ud.buffer);
  t.equal(payload.byteOffset, ud.byteOffset + 12);
  const other = header.elements[1];
  t.equal(other?.kind, 'other');
  if (other?.kind === 'other') {
    t.equal(other.iei, 0x70);
    t.equal(other.data.buffer, ud.buffer);
    t.same(Buffer.from(other.data), hex('AA BB CC'));
  }
  ud[12] = 0x99;
  t.equal(payload[0], 0x99, 'writes to the input show through');
});

t.test('every fixture under fixtures/sms decodes as its header says', async (t) => {
  const names = readdirSync(FIXTURES).filter((n) => n.endsWith('.hex')).sort();
  t.ok(names.length >= 17, `found ${names.length} fixtures`);
  for (const name of names) {
    const { bytes, directives } = readHex(name);
    const expect = directives.get('expect');
    t.ok(expect !== undefined, `${name} declares what to expect`);
    if (expect === 'ok') {
      const { header, payload } = decodeUserData(bytes);
      t.equal(payload.length, Number(directives.get('payload-octets')), `${name}: payload length`);
      t.same(encodeUserData(header, payload), bytes, `${name}: encode(decode(x)) = x`);
    } else if (expect !== undefined) {
      const sp = expect.indexOf(' ');
      expectError(t, () => decodeUserData(bytes), expect.slice(0, sp), expect.slice(sp + 1));
    }
  }
});

t.test('errors carry the octet offset where decoding stopped', async (t) => {
  const cases: Array<[string, number]> = [
    ['0A 05 04 0B 84 23 F0 07', 0], // UDHL
    ['06 05 06 0B 84 23 F0 07 06', 2], // IE length octet
    ['01 05 07 06', 1], // IEI with no length octet
    ['0B 05 04 0B 84 23 F0 00 03 5A 02 03 07', 11], // sequence octet
    ['0B 05 04 0B 84 23 F0 00 03 5A 00 01 07', 10], // total octet
    ['0C 05 04 0B 84 23 F0 08 04 01 2C 00 01 07', 11], // 16-bit: total octet
  ];
  for (const [h, offset] of cases) {
    try {
      decodeUserData(hex(h));
      t.fail(`${h} decoded`);
    } catch (e) {
      t.ok(e instanceof ProtocolError && e.offset === offset, `${h}: offset ${offset}`);
    }
  }
});

t.test('round trips: decode(encode(h, p)) gives back h and p', async (t) => {
  const headers: InformationElement[][] = [
    [],
    [{ kind: 'ports16', destinationPort: 2948, originatorPort: 9200 }],
    [{ kind: 'ports16', destinationPort: 0, originatorPort: 65535 }],
    [{ kind: 'ports8', destinationPort: 245, originatorPort: 0 }],
    [
      { kind: 'ports16', destinationPort: 2948, originatorPort: 9200 },
      { kind: 'concat8', reference: 255, total: 255, sequence: 255 },
    ],
    [
      { kind: 'ports16', destinationPort: 2948, originatorPort: 9200 },
      { kind: 'concat16', reference: 0xbeef, total: 3, sequence: 1 },
    ],
    [
      { kind: 'other', iei: 0x24, data: new Uint8Array(0) },
      { kind: 'concat8', reference: 0, total: 1, sequence: 1 },
      { kind: 'other', iei: 0xff, data: new Uint8Array([1, 2, 3, 4, 5]) },
    ],
  ];
  const payloads = [new Uint8Array(0), hex('07 06 03 BE AF 84'), new Uint8Array(120).fill(0xa5)];
  for (const elements of headers) {
    for (const payload of payloads) {
      const ud = encodeUserData({ elements }, payload);
      const back = decodeUserData(ud);
      const norm = (h: UserDataHeader): unknown[] =>
        h.elements.map((e) => (e.kind === 'other' ? { ...e, data: Buffer.from(e.data) } : e));
      t.same(norm(back.header), norm({ elements }), `header ${JSON.stringify(norm({ elements }))}`);
      t.same(Buffer.from(back.payload), Buffer.from(payload));
      t.same(encodeUserData(back.header, back.payload), ud, 'encode(decode(encode)) is stable');
    }
  }
});

t.test('encodeUserData refuses what decode would reject', async (t) => {
  const e = (elements: InformationElement[]) => () => encodeUserData({ elements }, new Uint8Array(0));
  expectError(t, e([{ kind: 'ports16', destinationPort: 65536, originatorPort: 1 }]), 'BAD_VALUE', 'IEI 0x05');
  expectError(t, e([{ kind: 'ports16', destinationPort: 1.5, originatorPort: 1 }]), 'BAD_VALUE', 'IEI 0x05');
  expectError(t, e([{ kind: 'ports8', destinationPort: 1, originatorPort: 256 }]), 'BAD_VALUE', 'IEI 0x04');
  expectError(t, e([{ kind: 'concat8', reference: 256, total: 2, sequence: 1 }]), 'BAD_VALUE', 'concatenation');
  expectError(t, e([{ kind: 'concat16', reference: -1, total: 2, sequence: 1 }]), 'BAD_VALUE', 'concatenation');
  expectError(t, e([{ kind: 'concat8', reference: 1, total: 2, sequence: 0 }]), 'BAD_VALUE', 'concatenation');
  expectError(t, e([{ kind: 'concat8', reference: 1, total: 2, sequence: 3 }]), 'BAD_VALUE', 'concatenation');
  expectError(t, e([{ kind: 'concat8', reference: 1, total: 0, sequence: 0 }]), 'BAD_VALUE', 'concatenation');
  expectError(t, e([{ kind: 'concat8', reference: 1, total: 256, sequence: 1 }]), 'BAD_VALUE', 'concatenation');
  expectError(t, e([{ kind: 'other', iei: 0x05, data: new Uint8Array(3) }]), 'BAD_VALUE', 'IEI 0x05');
  expectError(t, e([{ kind: 'other', iei: 0x70, data: new Uint8Array(256) }]), 'BAD_LENGTH', 'IEI 0x70');
  expectError(t, e([{ kind: 'other', iei: 256, data: new Uint8Array(0) }]), 'BAD_VALUE', 'IEI');
  const big: InformationElement[] = [
    { kind: 'other', iei: 0x70, data: new Uint8Array(200) },
    { kind: 'other', iei: 0x71, data: new Uint8Array(60) },
  ];
  expectError(t, e(big), 'BAD_LENGTH', 'UDHL');
});

t.test('23.040: the last of repeated or mutually exclusive IEs is the one used', async (t) => {
  // 8-bit ports, then 16-bit ports; 8-bit concatenation, then 16-bit concatenation.
  const ud = hex('15 04 02 F5 F6 05 04 0B 84 23 F0 00 03 01 02 01 08 04 01 2C 03 02');
  const { header } = decodeUserData(ud);
  t.equal(header.elements.length, 4, 'all IEs are kept in order');
  t.same(applicationPorts(header), { destinationPort: 2948, originatorPort: 9200, bits: 16 });
  t.same(concatenation(header), { reference: 300, total: 3, sequence: 2, bits: 16 });
  const reversed = decodeUserData(hex('0A 05 04 0B 84 23 F0 04 02 F5 F6')).header;
  t.same(applicationPorts(reversed), { destinationPort: 0xf5, originatorPort: 0xf6, bits: 8 });
});
