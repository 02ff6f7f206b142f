/**
 * Base64 content transfer encoding (RFC 2045 §6.8) of one MIME part,
 * decoded as its body arrives, slice by slice, into one output buffer: the
 * base64 text is never joined, and only a window of it is held (a string
 * slice and a span of lines; all of it only while no line end came), so
 * the HTTP body it came in can go while it is read.
 *
 * The octets are exactly those of this whole-text algorithm:
 * - a text of at most STRING_SLICE octets: libbase64 (Node's decoder, '='
 *   ending a segment rather than the text);
 * - else the usual layout, lines of one width (a multiple of 4) ending in
 *   CRLF or LF, taken in spans of whole lines: every span but the last is
 *   decoded here octet by octet (no string, no garbage), the last by
 *   libbase64. A span that is not exactly such lines of alphabet characters
 *   sends the whole text to the general path;
 * - the general path: STRING_SLICE windows of the text, cleaned of
 *   non-alphabet characters, quanta carried across window ends, each window
 *   through libbase64.
 * Falling back from the line layout does not need the text from its start:
 * what the general path does with the lines already checked (clean
 * alphabet) is known, so it resumes at the window the failing span starts
 * in; the decoder holds the text from the start of the line that window
 * cuts.
 */
import libbase64 from 'libbase64';

/**
 * Strings longer than ~128 KiB are allocated in V8's large-object space,
 * measured 30-40× slower per octet than smaller ones on the bench machine:
 * base64 text is turned into strings at most this long.
 */
export const STRING_SLICE = 48 * 1024;

/** Base64 text to octets; characters outside the alphabet are skipped, as RFC 2045 §6.8 asks. */
export function decodeBase64(body: Buffer | readonly Buffer[]): Buffer {
  const chunks = Buffer.isBuffer(body) ? [body] : body;
  const decoder = new Base64Decoder(chunks.reduce((n, c) => n + c.length, 0));
  for (const chunk of chunks) decoder.push(chunk);
  return decoder.end();
}

/** Base64 alphabet values, base64url's '-' and '_' included (as Node's decoder reads them); 255: not in the alphabet (line ends, '=', the rest). */
const VALUE = new Uint8Array(256).fill(255);
for (const [i, c] of [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'].entries()) VALUE[c.charCodeAt(0)] = i;
VALUE[0x2d] = 62;
VALUE[0x5f] = 63;

/** What the general path keeps of a text: the alphabet and '='. */
const NOT_KEPT = /[^A-Za-z0-9+/=_-]/;
const NOT_KEPT_RUNS = /[^A-Za-z0-9+/=_-]+/g;

function keptOctets(text: string): number {
  return NOT_KEPT.test(text) ? text.replace(NOT_KEPT_RUNS, '').length : text.length;
}

/**
 * wait: not decided (at most STRING_SLICE octets so far, or no line end
 * yet), everything is held; lines: the line layout, `next` is the start of
 * the next span; windows: the general path, `next` is the start of the
 * next window.
 */
type Mode = 'wait' | 'lines' | 'windows';

/** One part's base64 body: push() its slices in order, then end(). */
export class Base64Decoder {
  /** The text held: #held[0] starts at offset #base of the part. */
  #held: Buffer[] = [];
  #base = 0;
  #total = 0;
  /** Offset of the first LF, -1 before one arrived. */
  #lf = -1;
  #mode: Mode = 'wait';
  #width = 0;
  #eol = 0;
  #stride = 0;
  #span = 0;
  #next = 0;
  /** Windows: the kept characters of the last window that did not fill a quantum. */
  #carry = '';
  #out: Buffer | undefined;
  #o = 0;
  /** Octets of the text the general path keeps (alphabet and '='), in what was decoded... */
  #kept = 0;
  /** ...but in this text, counted only if asked (only a body cut short is). */
  #uncounted: string | undefined;
  #scratch: Buffer | undefined;

  /** `expected`: the most octets the text may have (e.g. what is left of the HTTP body), to size the output once; 0 if unknown. */
  constructor(private readonly expected = 0) {}

  /** Octets of the text that are base64 alphabet or '=' (once end() returned): a text cut inside a quantum has a count that is not a multiple of 4. */
  get keptOctets(): number {
    if (this.#uncounted !== undefined) {
      this.#kept += keptOctets(this.#uncounted);
      this.#uncounted = undefined;
    }
    return this.#kept;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.#held.push(chunk);
    const at = this.#total;
    this.#total += chunk.length;
    if (this.#mode === 'wait') {
      if (this.#lf < 0) {
        const i = chunk.indexOf(0x0a);
        if (i >= 0) this.#lf = at + i;
      }
      if (this.#total <= STRING_SLICE || this.#lf < 0) return;
      this.#decide();
    }
    this.#advance(false);
  }

  end(): Buffer {
    if (this.#mode === 'wait') {
      if (this.#total <= STRING_SLICE) {
        const text = this.#latin1(0, this.#total);
        this.#held = [];
        this.#uncounted = text;
        return libbase64.decode(text);
      }
      // more than a slice and no line end at all: not the line layout
      this.#mode = 'windows';
    }
    this.#advance(true);
    if (this.#mode === 'lines') {
      const tail = this.#latin1(this.#next, this.#total);
      this.#uncounted = tail;
      this.#append(libbase64.decode(tail));
    }
    this.#held = [];
    const out = this.#out;
    const o = this.#o;
    this.#out = undefined;
    if (!out) return Buffer.alloc(0);
    // An output sized from a loose `expected` is not kept at several times its content.
    if (out.length - o > 64 * 1024 && out.length > o + (o >> 2)) return Buffer.from(out.subarray(0, o));
    // allocUnsafe: no stale heap octets may stay reachable through .buffer
    out.fill(0, o);
    return out.subarray(0, o);
  }

  /** Past the first slice, with a line end seen: the line layout, if the first line has a usable width. */
  #decide(): void {
    const lf = this.#lf;
    const eol = lf > 0 && this.#at(lf - 1) === 0x0d ? 2 : 1;
    const width = lf + 1 - eol;
    if (lf <= 0 || width === 0 || width % 4 !== 0) {
      this.#mode = 'windows';
      return;
    }
    this.#mode = 'lines';
    this.#width = width;
    this.#eol = eol;
    this.#stride = width + eol;
    this.#span = this.#stride * Math.max(1, Math.floor(STRING_SLICE / this.#stride));
  }

  /** Decodes what is certain not to be the end of the text (all of it when `final`). */
  #advance(final: boolean): void {
    if (this.#mode === 'lines') {
      // a span with more text after it is not the last one, which libbase64 decodes at the end
      while (this.#total - this.#next > this.#span) {
        if (!this.#spanOfLines(this.#next, this.#next + this.#span)) {
          this.#resumeAsWindows();
          break;
        }
        this.#next += this.#span;
        this.#kept += (this.#span / this.#stride) * this.#width;
        this.#release(this.#linesHoldFrom());
      }
    }
    if (this.#mode === 'windows') {
      // a window that ends the text keeps its partial quantum: only the final call decodes it
      while (final ? this.#next < this.#total : this.#total - this.#next > STRING_SLICE) {
        const end = Math.min(this.#total, this.#next + STRING_SLICE);
        let s = this.#carry + this.#latin1(this.#next, end);
        // '-' and '_' stay: Node's decoder (and so libbase64) reads them as base64url's 62 and 63
        if (NOT_KEPT.test(s)) s = s.replace(NOT_KEPT_RUNS, '');
        this.#kept += s.length - this.#carry.length;
        const keep = end === this.#total ? s.length : s.length - (s.length % 4);
        this.#carry = s.slice(keep);
        if (keep > 0) this.#append(libbase64.decode(keep === s.length ? s : s.slice(0, keep)));
        this.#next = end;
        this.#release(this.#next);
      }
    }
  }

  /**
   * Where the general path would be at the window the next span starts in:
   * the lines before are whole and clean, so it has decoded their alphabet
   * characters but the last (count mod 4), which it carries.
   */
  #linesHoldFrom(): number {
    const w = Math.floor(this.#next / STRING_SLICE) * STRING_SLICE;
    return w - (w % this.#stride);
  }

  #resumeAsWindows(): void {
    const w = Math.floor(this.#next / STRING_SLICE) * STRING_SLICE;
    const lineStart = w - (w % this.#stride);
    const cut = Math.min(w - lineStart, this.#width);
    const chars = (lineStart / this.#stride) * this.#width + cut;
    const carry = chars % 4;
    this.#carry = this.#latin1(lineStart + cut - carry, lineStart + cut);
    this.#o = ((chars - carry) / 4) * 3;
    this.#kept = chars;
    this.#mode = 'windows';
    this.#next = w;
  }

  /**
   * Lines [from, end) decoded into the output. False, with the output
   * position unmoved, at the first octet that breaks the layout. For such
   * lines the octets are what Node's decoder gives for them as text.
   */
  #spanOfLines(from: number, end: number): boolean {
    const width = this.#width;
    const eol = this.#eol;
    const stride = this.#stride;
    const lines = (end - from) / stride;
    const out = this.#reserve((lines * width * 3) / 4);
    let o = this.#o;
    if (stride > STRING_SLICE) {
      // lines too long for the octet loop's one-line scratch buffer: one string each
      for (let p = from; p < end; p += stride) {
        const text = this.#latin1(p, p + stride);
        if (text.charCodeAt(stride - 1) !== 0x0a || (eol === 2 && text.charCodeAt(stride - 2) !== 0x0d)) return false;
        const n = out.write(text, o, 'base64');
        if (n !== (width * 3) / 4) return false;
        o += n;
      }
      this.#o = o;
      return true;
    }
    const held = this.#held;
    let ci = 0;
    let base = this.#base;
    for (let p = from; p < end; p += stride) {
      while (p >= base + held[ci]!.length) base += held[ci++]!.length;
      let line = held[ci]!;
      let at = p - base;
      if (at + stride > line.length) {
        const scratch = (this.#scratch ??= Buffer.allocUnsafe(stride));
        for (let k = 0, i = ci, src = at; k < stride; i++, src = 0) {
          const c = held[i]!;
          k += c.copy(scratch, k, src, Math.min(c.length, src + stride - k));
        }
        line = scratch;
        at = 0;
      }
      if (line[at + stride - 1] !== 0x0a || (eol === 2 && line[at + stride - 2] !== 0x0d)) return false;
      for (let q = at, stop = at + width; q < stop; q += 4) {
        const a = VALUE[line[q]!]!;
        const b = VALUE[line[q + 1]!]!;
        const c = VALUE[line[q + 2]!]!;
        const d = VALUE[line[q + 3]!]!;
        if ((a | b | c | d) > 63) return false;
        out[o++] = (a << 2) | (b >> 4);
        out[o++] = ((b & 15) << 4) | (c >> 2);
        out[o++] = ((c & 3) << 6) | d;
      }
    }
    this.#o = o;
    return true;
  }

  #append(octets: Buffer): void {
    this.#o += octets.copy(this.#reserve(octets.length), this.#o);
  }

  /** The output, with room for `n` more octets after the position. */
  #reserve(n: number): Buffer {
    const need = this.#o + n;
    let out = this.#out;
    if (!out) {
      // n characters never decode to more than n * 3 / 4 octets, however '=' cuts them into segments
      out = this.#out = Buffer.allocUnsafe(Math.max(need, Math.floor((Math.max(this.expected, this.#total) * 3) / 4) + 3));
    } else if (need > out.length) {
      const grown = Buffer.allocUnsafe(Math.max(need, Math.floor(((this.#total + (this.#total >> 1)) * 3) / 4) + 3));
      out.copy(grown, 0, 0, this.#o);
      out = this.#out = grown;
    }
    return out;
  }

  /** Lets go of the held chunks that end before `offset`. */
  #release(offset: number): void {
    let drop = 0;
    while (drop < this.#held.length - 1 && this.#base + this.#held[drop]!.length <= offset) this.#base += this.#held[drop++]!.length;
    if (drop > 0) this.#held = this.#held.slice(drop);
  }

  #at(offset: number): number | undefined {
    let base = this.#base;
    for (const chunk of this.#held) {
      if (offset < base + chunk.length) return chunk[offset - base];
      base += chunk.length;
    }
    return undefined;
  }

  /** Text [start, end) of the part, which must be held. */
  #latin1(start: number, end: number): string {
    let out = '';
    let base = this.#base;
    for (const chunk of this.#held) {
      const from = Math.max(0, start - base);
      const to = Math.min(chunk.length, end - base);
      if (to > from) out += chunk.toString('latin1', from, to);
      base += chunk.length;
      if (base >= end) break;
    }
    return out;
  }
}
