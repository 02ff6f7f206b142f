import { ProtocolError } from '../errors.js';

/**
 * A cursor over hostile bytes (after pg-protocol's BufferReader, but every
 * read checks what is left and throws ProtocolError with the offset).
 *
 * `offset` is absolute in the underlying buffer so that nested readers made
 * by `sub()` report offsets of the whole PDU. `bytes()` returns views, never
 * copies: an MMS body of 300 KB costs no more to decode than one of 3 KB.
 */
export class WspReader {
  offset: number;
  readonly end: number;
  /** The input as a Buffer view (no copy), for Buffer's fast ranged string reads. */
  readonly buf: Buffer;

  constructor(input: Uint8Array, start = 0, end = input.length) {
    this.buf = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
    this.offset = start;
    this.end = end;
  }

  get remaining(): number {
    return this.end - this.offset;
  }

  get atEnd(): boolean {
    return this.offset >= this.end;
  }

  fail(code: ConstructorParameters<typeof ProtocolError>[0], field: string, detail: string, at = this.offset): never {
    throw new ProtocolError(code, field, detail, at);
  }

  private need(n: number, field: string): void {
    if (n > this.end - this.offset) {
      this.fail('TRUNCATED', field, `needs ${n} octet(s), ${this.end - this.offset} left`);
    }
  }

  peek(field: string): number {
    this.need(1, field);
    return this.buf[this.offset]!;
  }

  u8(field: string): number {
    this.need(1, field);
    return this.buf[this.offset++]!;
  }

  /** A view of the next n octets. */
  bytes(n: number, field: string): Uint8Array {
    this.need(n, field);
    const view = this.buf.subarray(this.offset, this.offset + n);
    this.offset += n;
    return view;
  }

  /** The rest of this reader's range, as a view. */
  rest(): Uint8Array {
    const view = this.buf.subarray(this.offset, this.end);
    this.offset = this.end;
    return view;
  }

  /**
   * A reader over the next n octets; this reader moves past them. Used for
   * every Value-length structure so a field can never read into its
   * neighbour.
   */
  sub(n: number, field: string): WspReader {
    this.need(n, field);
    const child = new WspReader(this.buf, this.offset, this.offset + n);
    this.offset += n;
    return child;
  }

  /** WSP-230 §8.1.2: 7 bits per octet, continuation bit 7, at most 32 bits. */
  uintvar(field: string): number {
    const start = this.offset;
    let value = 0;
    for (let i = 0; i < 5; i++) {
      const octet = this.u8(field);
      value = value * 128 + (octet & 0x7f);
      if ((octet & 0x80) === 0) {
        if (value > 0xffffffff) this.fail('OVERFLOW', field, 'uintvar exceeds 32 bits', start);
        return value;
      }
    }
    return this.fail('OVERFLOW', field, 'uintvar longer than 5 octets', start);
  }

  /** Short-integer: one octet with bit 7 set, value 0–127. */
  shortInteger(field: string): number {
    const octet = this.u8(field);
    if (octet < 0x80) this.fail('BAD_VALUE', field, `0x${hex(octet)} is not a Short-integer`, this.offset - 1);
    return octet & 0x7f;
  }

  /**
   * Long-integer: Short-length (1–30) then big-endian octets. Values beyond
   * 48 bits cannot be held exactly in a JS number and no MMS field needs
   * them, so they are refused rather than rounded.
   */
  longInteger(field: string): number {
    const start = this.offset;
    const len = this.u8(field);
    if (len < 1 || len > 30) this.fail('BAD_LENGTH', field, `Long-integer length ${len} outside 1–30`, start);
    const octets = this.bytes(len, field);
    let value = 0;
    for (const octet of octets) {
      value = value * 256 + octet;
      if (value > 0xffffffffffff) this.fail('OVERFLOW', field, 'Long-integer exceeds 48 bits', start);
    }
    return value;
  }

  /** Integer-value: Short-integer or Long-integer, told apart by the first octet. */
  integerValue(field: string): number {
    return this.peek(field) >= 0x80 ? this.shortInteger(field) : this.longInteger(field);
  }

  /**
   * Value-length: 0–30 in one octet, or Length-quote (31) and a uintvar.
   * The length is checked against what is left, so the caller can trust it.
   */
  valueLength(field: string): number {
    const start = this.offset;
    const first = this.u8(field);
    let len: number;
    if (first <= 30) len = first;
    else if (first === 31) len = this.uintvar(field);
    else return this.fail('BAD_VALUE', field, `0x${hex(first)} is not a Value-length`, start);
    if (len > this.remaining) this.fail('BAD_LENGTH', field, `Value-length ${len} exceeds the ${this.remaining} octet(s) left`, start);
    return len;
  }

  /** Offset of the NUL ending the string that starts here; the reader moves past it. */
  private nulEnd(field: string): number {
    const start = this.offset;
    const nul = this.buf.indexOf(0, start);
    if (nul < 0 || nul >= this.end) this.fail('TRUNCATED', field, 'string has no terminating NUL', start);
    this.offset = nul + 1;
    return nul;
  }

  /** Octets up to (not including) the next NUL; the NUL is consumed. */
  private nulTerminated(field: string): Uint8Array {
    const start = this.offset;
    return this.buf.subarray(start, this.nulEnd(field));
  }

  /**
   * Text-string: octets and NUL; a leading Quote (0x7F) guards text whose
   * first octet is ≥ 0x80 and is not part of the value (WSP-230 §8.4.2.1).
   * Undeclared text is read as UTF-8, which is what terminals send.
   */
  textString(field: string): string {
    if (this.peek(field) === 0x7f) this.offset++;
    const start = this.offset;
    return this.buf.toString('utf8', start, this.nulEnd(field));
  }

  /** Raw octets of a Text-string (quote removed), for charset-aware callers. */
  textOctets(field: string): Uint8Array {
    if (this.peek(field) === 0x7f) this.offset++;
    return this.nulTerminated(field);
  }

  /** Token-text: token characters and NUL. */
  tokenText(field: string): string {
    const first = this.peek(field);
    if (first < 0x20 || first >= 0x7f) this.fail('BAD_VALUE', field, `0x${hex(first)} cannot start a Token-text`);
    const start = this.offset;
    return this.buf.toString('latin1', start, this.nulEnd(field));
  }

  /** Quoted-string: 0x22, text, NUL; the quote is not part of the value. */
  quotedString(field: string): string {
    const first = this.u8(field);
    if (first !== 0x22) this.fail('BAD_VALUE', field, 'Quoted-string must start with 0x22', this.offset - 1);
    const start = this.offset;
    return this.buf.toString('utf8', start, this.nulEnd(field));
  }

  /** Fail when octets are left over inside a structure that should be complete. */
  expectEnd(field: string): void {
    if (this.offset < this.end) this.fail('TRAILING_DATA', field, `${this.end - this.offset} unexpected octet(s)`);
  }
}

export function hex(n: number): string {
  return n.toString(16).padStart(2, '0').toUpperCase();
}
