import t, { type Test } from 'tap';
import { ProtocolError } from '../../../protocol/errors.js';
import { WspReader } from '../../../protocol/wsp/reader.js';
import { uintvarSize, WspWriter } from '../../../protocol/wsp/writer.js';
import { readEncodedString, writeEncodedString, readDate, writeDate } from '../../../protocol/wsp/values.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const out = (fn: (w: WspWriter) => void): string => {
  const w = new WspWriter(4);
  fn(w);
  return w.finish().toString('hex');
};

function throwsCode(t: Test, fn: () => unknown, code: string, offset?: number): void {
  try {
    fn();
    t.fail(`expected ProtocolError ${code}`);
  } catch (e) {
    t.ok(e instanceof ProtocolError, 'a ProtocolError');
    t.equal((e as ProtocolError).code, code);
    if (offset !== undefined) t.equal((e as ProtocolError).offset, offset, 'offset');
  }
}

t.test('uintvar (WSP-230 §8.1.2)', async (t) => {
  const cases: Array<[number, string]> = [
    [0, '00'],
    [127, '7f'],
    [128, '8100'],
    [300, '822c'],
    [16383, 'ff7f'],
    [16384, '818000'],
    [0x1fffff, 'ffff7f'],
    [0x200000, '81808000'],
    [0xfffffff, 'ffffff7f'],
    [0x10000000, '8180808000'],
    [0x80000000, '8880808000'],
    [0xffffffff, '8fffffff7f'],
  ];
  for (const [value, bytes] of cases) {
    t.equal(out((w) => w.uintvar(value)), bytes, `encode ${value}`);
    t.equal(uintvarSize(value), bytes.length / 2, `size of ${value}`);
    t.equal(new WspReader(hex(bytes)).uintvar('x'), value, `decode ${bytes}`);
  }
  throwsCode(t, () => new WspReader(hex('8080808080')).uintvar('x'), 'OVERFLOW', 0);
  throwsCode(t, () => new WspReader(hex('9fffffff7f')).uintvar('x'), 'OVERFLOW', 0);
  throwsCode(t, () => new WspReader(hex('8181')).uintvar('x'), 'TRUNCATED', 2);
  throwsCode(t, () => out((w) => w.uintvar(2 ** 32)), 'OVERFLOW');
});

t.test('short, long and integer values', async (t) => {
  t.equal(out((w) => w.shortInteger(0)), '80');
  t.equal(out((w) => w.shortInteger(127)), 'ff');
  t.equal(out((w) => w.longInteger(31000)), '027918', 'spec b.3 example');
  t.equal(out((w) => w.longInteger(0)), '0100');
  t.equal(out((w) => w.longInteger(172800)), '0302a300');
  t.equal(out((w) => w.integerValue(127)), 'ff');
  t.equal(out((w) => w.integerValue(128)), '0180');
  t.equal(new WspReader(hex('0302a300')).longInteger('x'), 172800);
  t.equal(new WspReader(hex('ea')).integerValue('x'), 106);
  t.equal(new WspReader(hex('0203e8')).integerValue('x'), 1000);
  throwsCode(t, () => new WspReader(hex('00')).longInteger('x'), 'BAD_LENGTH', 0);
  throwsCode(t, () => new WspReader(hex('1f')).longInteger('x'), 'BAD_LENGTH', 0);
  throwsCode(t, () => new WspReader(hex('07ffffffffffffff')).longInteger('x'), 'OVERFLOW', 0);
  throwsCode(t, () => new WspReader(hex('0401')).longInteger('x'), 'TRUNCATED', 1);
  throwsCode(t, () => new WspReader(hex('05')).shortInteger('x'), 'BAD_VALUE', 0);
  throwsCode(t, () => out((w) => w.shortInteger(128)), 'OVERFLOW');
});

t.test('value-length checks what is left', async (t) => {
  t.equal(new WspReader(hex('03 aabbcc')).valueLength('x'), 3);
  t.equal(new WspReader(hex(`1f 20 ${'00'.repeat(32)}`)).valueLength('x'), 32);
  t.equal(out((w) => w.valueLength(30)), '1e');
  t.equal(out((w) => w.valueLength(31)), '1f1f');
  throwsCode(t, () => new WspReader(hex('05 aabb')).valueLength('x'), 'BAD_LENGTH', 0);
  throwsCode(t, () => new WspReader(hex('1f 8fffffff7f')).valueLength('x'), 'BAD_LENGTH', 0);
  throwsCode(t, () => new WspReader(hex('20')).valueLength('x'), 'BAD_VALUE', 0);
});

t.test('length-prefixed writes shift the body into place', async (t) => {
  const body = Buffer.alloc(200, 0x41);
  const bytes = new WspWriter(8).withValueLength((w) => w.bytes(body)).finish();
  t.equal(bytes.subarray(0, 3).toString('hex'), '1f8148', 'Length-quote + uintvar 200');
  t.same(bytes.subarray(3), body);
  const small = new WspWriter(8).withUintvarLength((w) => w.u8(1).u8(2)).finish();
  t.equal(small.toString('hex'), '020102');
});

t.test('text-string, quoted-string and token-text', async (t) => {
  t.equal(out((w) => w.textString('abc')), '61626300');
  t.equal(out((w) => w.textString('é')), '7fc3a900', 'Quote before an octet >= 0x80');
  t.equal(out((w) => w.quotedString('<img1>')), '223c696d67313e00');
  t.equal(out((w) => w.quotedString('ré')), '2272c3a900', 'UTF-8 after the quote');
  throwsCode(t, () => out((w) => w.quotedString('a\0b')), 'BAD_VALUE');
  t.equal(new WspReader(hex('7fc3a900')).textString('x'), 'é', 'Quote is not part of the value');
  t.equal(new WspReader(hex('223c613e00')).quotedString('x'), '<a>');
  t.equal(new WspReader(hex('4869 00')).textString('x'), 'Hi');
  throwsCode(t, () => new WspReader(hex('616263')).textString('x'), 'TRUNCATED', 0);
  throwsCode(t, () => new WspReader(hex('3c613e00')).quotedString('x'), 'BAD_VALUE', 0);
  throwsCode(t, () => out((w) => w.textString('a\0b')), 'BAD_VALUE');
  throwsCode(t, () => out((w) => w.tokenText('a b\u00ff')), 'BAD_VALUE');
  // A sub-reader never reads past its end, even when a NUL follows it.
  const r = new WspReader(hex('02 6162 00'));
  const sub = r.sub(r.valueLength('x'), 'x');
  throwsCode(t, () => sub.textString('x'), 'TRUNCATED', 1);
});

t.test('encoded-string-value in every charset the codec writes', async (t) => {
  const cases: Array<[string, number | undefined, string]> = [
    ['Photo', undefined, '50686f746f00'],
    ['Photo', 106, '07ea50686f746f00'],
    ['Café', 106, '07ea436166c3a900'],
    ['Café', 4, '0684436166e900'],
    ['Hi', 3, '0483486900'],
    ['Ж', 1000, '060203e8041600'],
    ['Ж', 1015, '060203f7041600'],
    ['', 106, '02ea00'],
  ];
  for (const [text, charset, bytes] of cases) {
    const value = charset === undefined ? { text } : { text, charset };
    t.equal(out((w) => writeEncodedString(w, value, 'Subject')), bytes, `encode ${text} in ${charset}`);
    t.same(readEncodedString(new WspReader(hex(bytes)), 'Subject'), value, `decode ${bytes}`);
  }
  // UCS-2 text whose octets contain zeros is read to the end of its Value-length, not to the first NUL.
  t.same(readEncodedString(new WspReader(hex('08 0203e8 0041 0042 00')), 'Subject'), { text: 'AB', charset: 1000 });
  // UTF-16 with a little-endian byte order mark.
  t.same(readEncodedString(new WspReader(hex('08 0203f7 fffe 4100 00')), 'Subject'), { text: 'A', charset: 1015 });
  // A charset the codec can read but not write (Shift_JIS).
  t.same(readEncodedString(new WspReader(hex('04 91 82a0 00')), 'Subject'), { text: 'あ', charset: 17 });
  throwsCode(t, () => out((w) => writeEncodedString(w, { text: 'x', charset: 17 }, 'Subject')), 'UNSUPPORTED');
  throwsCode(t, () => out((w) => writeEncodedString(w, { text: '€', charset: 4 }, 'Subject')), 'BAD_VALUE');
  throwsCode(t, () => readEncodedString(new WspReader(hex('03 ea 4142')), 'Subject'), 'BAD_VALUE');
  throwsCode(t, () => readEncodedString(new WspReader(hex('09 ea 4142 00')), 'Subject'), 'BAD_LENGTH', 0);
});

t.test('date-value is seconds since the epoch', async (t) => {
  t.equal(out((w) => writeDate(w, new Date('2023-11-14T22:13:20Z'), 'Date')), '046553f100', 'spec h.2');
  t.equal(readDate(new WspReader(hex('046553f100')), 'Date').toISOString(), '2023-11-14T22:13:20.000Z');
  throwsCode(t, () => out((w) => writeDate(w, new Date('invalid'), 'Date')), 'BAD_VALUE');
});
