import { ProtocolError } from '../errors.js';

/**
 * A growable output buffer with the WSP primitive encodings (after
 * pg-protocol's BufferWriter). Length-prefixed structures are written in
 * place and their prefix inserted afterwards, so nothing is encoded twice.
 */
export class WspWriter {
  private buf: Buffer;
  private pos = 0;

  constructor(initialSize = 256) {
    this.buf = Buffer.allocUnsafe(initialSize);
  }

  get length(): number {
    return this.pos;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const grown = Buffer.allocUnsafe(size);
    this.buf.copy(grown, 0, 0, this.pos);
    this.buf = grown;
  }

  u8(octet: number): this {
    this.ensure(1);
    this.buf[this.pos++] = octet;
    return this;
  }

  bytes(octets: Uint8Array): this {
    this.ensure(octets.length);
    this.buf.set(octets, this.pos);
    this.pos += octets.length;
    return this;
  }

  uintvar(value: number, field = 'uintvar'): this {
    if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
      throw new ProtocolError('OVERFLOW', field, `${value} does not fit a 32-bit uintvar`);
    }
    this.ensure(5);
    // value fits 32 bits unsigned: >>> reads it so (no float division on this hot path)
    let shift = 28;
    while (shift > 0 && value >>> shift === 0) shift -= 7;
    for (; shift > 0; shift -= 7) this.buf[this.pos++] = 0x80 | ((value >>> shift) & 0x7f);
    this.buf[this.pos++] = value & 0x7f;
    return this;
  }

  shortInteger(value: number, field = 'Short-integer'): this {
    if (!Number.isInteger(value) || value < 0 || value > 127) {
      throw new ProtocolError('OVERFLOW', field, `${value} does not fit a Short-integer`);
    }
    return this.u8(0x80 | value);
  }

  /** Long-integer with the fewest octets (at least one). */
  longInteger(value: number, field = 'Long-integer'): this {
    if (!Number.isInteger(value) || value < 0 || value > 0xffffffffffff) {
      throw new ProtocolError('OVERFLOW', field, `${value} does not fit a 48-bit Long-integer`);
    }
    const len = value < 0x100 ? 1 : value < 0x10000 ? 2 : value < 0x1000000 ? 3 : value < 0x100000000 ? 4 : value < 0x10000000000 ? 5 : 6;
    this.ensure(len + 1);
    this.buf[this.pos++] = len;
    this.buf.writeUIntBE(value, this.pos, len);
    this.pos += len;
    return this;
  }

  /** Integer-value: Short-integer when it fits, else Long-integer. */
  integerValue(value: number, field = 'Integer-value'): this {
    return value >= 0 && value < 128 && Number.isInteger(value)
      ? this.shortInteger(value, field)
      : this.longInteger(value, field);
  }

  valueLength(len: number): this {
    if (len <= 30) return this.u8(len);
    return this.u8(31).uintvar(len);
  }

  /**
   * Text-string from octets: Quote (0x7F) first when the first octet is
   * ≥ 0x80, and also before a literal 0x7F so the reader's unquoting is exact.
   * A first octet below 0x20 would be read back as a length wherever a
   * decoder tells values apart by their first octet, so it is refused.
   */
  textOctets(octets: Uint8Array, field = 'Text-string'): this {
    if (octets.length > 0) {
      const first = octets[0]!;
      if (first < 0x20) throw new ProtocolError('BAD_VALUE', field, `text cannot start with control character 0x${first.toString(16)}`);
      if (first >= 0x7f) this.u8(0x7f);
    }
    return this.bytes(octets).u8(0);
  }

  /** Text-string of UTF-8 text, written in place (the encoder's hot path: no intermediate buffer). */
  textString(text: string, field = 'Text-string'): this {
    if (text.length === 0) return this.u8(0);
    const first = text.charCodeAt(0);
    if (first < 0x20) throw new ProtocolError('BAD_VALUE', field, `text cannot start with control character 0x${first.toString(16)}`);
    // UTF-8 has a zero octet for U+0000 only
    if (text.includes('\0')) throw new ProtocolError('BAD_VALUE', field, 'text contains a NUL character');
    const size = Buffer.byteLength(text, 'utf8');
    this.ensure(size + 2);
    // Any character from U+007F up encodes to a first octet >= 0x7F.
    if (first >= 0x7f) this.buf[this.pos++] = 0x7f;
    this.pos += this.buf.write(text, this.pos, 'utf8');
    this.buf[this.pos++] = 0;
    return this;
  }

  tokenText(token: string, field = 'Token-text'): this {
    for (let i = 0; i < token.length; i++) {
      const c = token.charCodeAt(i);
      if (c < 0x20 || c >= 0x7f) throw new ProtocolError('BAD_VALUE', field, `"${token}" is not a token`);
    }
    if (token.length === 0) throw new ProtocolError('BAD_VALUE', field, 'empty token');
    this.ensure(token.length + 1);
    this.pos += this.buf.write(token, this.pos, 'latin1');
    return this.u8(0);
  }

  quotedString(text: string, field = 'Quoted-string'): this {
    if (text.includes('\0')) throw new ProtocolError('BAD_VALUE', field, 'text contains a NUL character');
    // written in place, as textString: no intermediate buffer
    this.ensure(Buffer.byteLength(text, 'utf8') + 2);
    this.buf[this.pos++] = 0x22;
    this.pos += this.buf.write(text, this.pos, 'utf8');
    this.buf[this.pos++] = 0;
    return this;
  }

  /** Writes what `body` writes, preceded by its Value-length. */
  withValueLength(body: (w: this) => void): this {
    return this.withLength(body, (len) => (len <= 30 ? 1 : 1 + uintvarSize(len)), (len) => this.valueLength(len));
  }

  /** Writes what `body` writes, preceded by its length as a uintvar. */
  withUintvarLength(body: (w: this) => void): this {
    return this.withLength(body, uintvarSize, (len) => this.uintvar(len));
  }

  private withLength(body: (w: this) => void, prefixSize: (len: number) => number, writePrefix: (len: number) => void): this {
    const start = this.pos;
    body(this);
    const len = this.pos - start;
    const size = prefixSize(len);
    this.ensure(size);
    this.buf.copyWithin(start + size, start, this.pos);
    const end = this.pos + size;
    this.pos = start;
    writePrefix(len);
    this.pos = end;
    return this;
  }

  /** The bytes written, as a view of the internal buffer (no copy). */
  finish(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

export function uintvarSize(value: number): number {
  return value < 0x80 ? 1 : value < 0x4000 ? 2 : value < 0x200000 ? 3 : value < 0x10000000 ? 4 : 5;
}
