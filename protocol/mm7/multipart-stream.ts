/**
 * The multipart splitter for a body still arriving: the MM7 binding's path
 * for a request longer than what it reads whole (binding.ts). It finds the
 * same parts as the in-memory splitter (multipart.ts, whose delimiter test,
 * header reading and final checks it shares) while holding only what it
 * cannot decide yet: a base64 part is decoded as its text comes, any other
 * part keeps views of the chunks, and between chunks at most the last,
 * unfinished line is carried over (copied once, with the next chunk).
 *
 * Why not mailsplit (which this replaced): it hands every line of every
 * part to JS as a fresh slice, about 30 MB of short-lived objects for a
 * 10 MB request, and the young generation grew by as much (bench/accept's
 * 10 MB growth). Here a chunk costs one indexOf per boundary in scope.
 *
 * The one fact a chunk boundary hides is whether the last line of the
 * chunk is a delimiter line: while it could still be one (it is a prefix of
 * `--boundary` at a line start, or that and blanks and CRs without the LF
 * yet), it and the line end before it (which a delimiter takes from the
 * part) wait for the next chunk; so does a trailing CR, which could be that
 * line end. Everything else is decided as it comes.
 */
import { ProtocolError } from '../errors.js';
import { Base64Decoder } from './base64.js';
import type { MimeEntity } from './mime-types.js';
import {
  admitPart,
  checkSplit,
  decodeTransfer,
  delimiterLine,
  delimiterOf,
  DelimiterScan,
  describePart,
  headerLineCost,
  headerTooLong,
  leafEnd,
  nearestDelimiter,
  MORE,
  type Delimiter,
  type SplitLimits,
} from './multipart.js';

const LF = 0x0a;
const CR = 0x0d;

interface Node {
  entity: MimeEntity;
  /** A multipart's nesting level (the HTTP body is 1); a leaf's is its parent's. */
  level: number;
  parent: Node | undefined;
  delimiter: Buffer | undefined;
  encoding: string;
  headEnded: boolean;
  /** A base64 leaf's body, decoded as it arrives. */
  decoder: Base64Decoder | undefined;
  /** Any other leaf's body: views of the chunks, decoded at the end. */
  pieces: Buffer[];
  octets: number;
}

/** The header block being read: the part is counted, its lines so far kept (latin1). */
interface Head {
  parent: Node;
  siblings: MimeEntity[];
  lines: string[];
  cost: number;
  /** The start of a line that cannot be a delimiter line, still waiting for its LF (latin1; '' if none). */
  partial: string;
}

/**
 * push() the body's chunks in order, then end() for the top-level entities
 * (nested multiparts split, leaf bodies decoded). Both throw the
 * ProtocolErrors splitMultipart throws for the same octets; after one, the
 * splitter is spent.
 */
export class MultipartStream {
  readonly #mediaType: string;
  readonly #boundary: string;
  readonly #lim: SplitLimits;
  /** The body's length if known (0 if not): a base64 part's output is sized from what is left of it. */
  readonly #expected: number;
  readonly #root: Node;
  readonly #leaves: Node[] = [];
  readonly #multiparts: Node[] = [];
  #last: Node | undefined;
  #count = 0;

  #cur: Node;
  /** Past #cur's closing delimiter: only its ancestors' delimiters count. */
  #inEpilogue = false;
  #head: Head | undefined;
  /** The rest of the body is ignored (a delimiter line without its LF ended it). */
  #stopped = false;
  #closed = false;
  #spent = false;

  /** Octets carried over to the next chunk. */
  #carry: Buffer = EMPTY;
  /**
   * The octet before them (LF at the body's start). Never a CR with `--`
   * after it: a CR that a delimiter line could follow is carried, not
   * consumed (see delimiterLine's `before`).
   */
  #before = LF;
  /** Where, in the next buffer, scanning resumes (octets before it were looked at but are carried for a part's body). */
  #resume = 0;
  /** Octets of the body before the current buffer. */
  #offset = 0;
  #lastOctet = -1;
  readonly #closing: ClosingDelimiterScan;

  constructor(mediaType: string, boundary: string, lim: SplitLimits, expectedOctets = 0) {
    this.#mediaType = mediaType;
    this.#boundary = boundary;
    this.#lim = lim;
    this.#expected = expectedOctets;
    this.#root = {
      entity: { mediaType, params: { boundary }, headers: [], parts: [] },
      level: 1,
      parent: undefined,
      delimiter: delimiterOf(boundary),
      encoding: '',
      headEnded: true,
      decoder: undefined,
      pieces: [],
      octets: 0,
    };
    this.#cur = this.#root;
    this.#closing = new ClosingDelimiterScan(boundary);
  }

  /** Octets of the chunks so far still held over, waiting for the next chunk to decide them (a line at most). */
  get carried(): number {
    return this.#carry.length;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.#guard(() => {
      this.#closing.push(chunk);
      this.#lastOctet = chunk[chunk.length - 1]!;
      this.#run(this.#carry.length > 0 ? Buffer.concat([this.#carry, chunk]) : chunk, false);
    });
  }

  end(): MimeEntity[] {
    return this.#guard(() => {
      this.#run(this.#carry, true);
      const last = this.#last;
      for (const p of this.#leaves) if (p.decoder) p.entity.body = p.decoder.end();
      const closed = this.#closed || this.#closing.found;
      checkSplit(
        this.#mediaType,
        this.#boundary,
        this.#root.entity,
        this.#multiparts,
        closed,
        this.#offset,
        this.#lastOctet,
        closed || !last ? undefined : { mediaType: last.entity.mediaType, headEnded: last.headEnded, base64Kept: last.decoder?.keptOctets },
      );
      for (const p of this.#leaves) {
        if (p.decoder) continue;
        p.entity.body = decodeTransfer(p.pieces.length === 1 ? p.pieces[0]! : Buffer.concat(p.pieces, p.octets), p.encoding);
        // the pieces are views of the chunks: let them go as soon as the caller does
        p.pieces = [];
      }
      this.#spent = true;
      return this.#root.entity.parts!;
    });
  }

  #guard<T>(step: () => T): T {
    if (this.#spent) throw new ProtocolError('BAD_VALUE', 'multipart', 'the splitter is spent (it failed or ended)');
    try {
      return step();
    } catch (e) {
      this.#spent = true;
      throw e;
    }
  }

  /** Splits what `buf` decides; carries the rest over. `atEnd`: `buf` ends the body. */
  #run(buf: Buffer, atEnd: boolean): void {
    const scans = new Map<Buffer, DelimiterScan>();
    const scanOf = (needle: Buffer): DelimiterScan => {
      let s = scans.get(needle);
      if (!s) scans.set(needle, (s = new DelimiterScan(buf, needle, atEnd, this.#before)));
      return s;
    };
    const nextDelimiter = (node: Node, own: boolean, from: number): { d: Delimiter; owner: Node } | undefined => nearestDelimiter(node, own, from, scanOf);

    let pos = this.#resume;
    /** Where the current leaf's octets not yet handed to it start. */
    let bodyFrom = 0;
    for (;;) {
      if (this.#stopped) {
        pos = buf.length;
        break;
      }
      const head = this.#head;
      if (head) {
        const stop = nextDelimiter(head.parent, true, pos);
        pos = this.#readHead(head, buf, pos, stop ? stop.d.at : -1, atEnd);
        if (this.#head) break;
        bodyFrom = pos;
        continue;
      }
      const cur = this.#cur;
      const found = nextDelimiter(cur, !this.#inEpilogue && cur.delimiter !== undefined, pos);
      if (!found) break;
      const { d, owner } = found;
      if (owner === cur && d.closing) {
        // preamble of a multipart, content of a leaf (see splitMultipart)
        pos = d.next;
        continue;
      }
      if (!cur.entity.parts) {
        // (the line end before the delimiter is still in buf: see #undecided)
        this.#feed(cur, buf, bodyFrom, leafEnd(buf, d.at, bodyFrom));
      }
      pos = d.next;
      if (d.closing) {
        if (owner === this.#root) this.#closed = true;
        this.#cur = owner;
        this.#inEpilogue = true;
        continue;
      }
      if (d.next === buf.length && buf[d.next - 1] !== LF) {
        // (only at the end) a delimiter line without its LF opens nothing
        this.#stopped = true;
        continue;
      }
      this.#head = { parent: owner, siblings: admitPart(owner.entity, ++this.#count, this.#lim), lines: [], cost: 0, partial: '' };
    }

    const inLeaf = !this.#head && !this.#cur.entity.parts && !this.#stopped;
    if (atEnd) {
      if (inLeaf) this.#feed(this.#cur, buf, bodyFrom, buf.length);
      this.#offset += buf.length;
      this.#carry = EMPTY;
      return;
    }
    // a header block's unfinished line waits whole; elsewhere only what could start a delimiter line does
    const keep = this.#head ? pos : this.#undecided(buf, pos, inLeaf ? bodyFrom : pos);
    if (inLeaf) this.#feed(this.#cur, buf, bodyFrom, keep);
    if (keep > 0) this.#before = buf[keep - 1]!;
    this.#resume = Math.max(0, pos - keep);
    this.#offset += keep;
    // a view: the next chunk is joined to it, a copy of that chunk (rare: most chunks end inside a line of a part)
    this.#carry = buf.subarray(keep);
  }

  /**
   * Where the octets still undecided start, scanning having stopped at
   * `pos` (a line start) without a delimiter: the last line if it could
   * still become a delimiter line, with the line end before it (not below
   * `floor`, what a leaf already has); else a trailing CR.
   */
  #undecided(buf: Buffer, pos: number, floor: number): number {
    const length = buf.length;
    const lf = buf.lastIndexOf(LF);
    const lineStart = lf >= pos ? lf + 1 : pos;
    const cur = this.#cur;
    if (this.#couldBeDelimiter(buf, lineStart, cur, !this.#inEpilogue && cur.delimiter !== undefined)) {
      return leafEnd(buf, lineStart, floor);
    }
    return length > pos && buf[length - 1] === CR ? length - 1 : length;
  }

  /**
   * Whether the line from `lineStart` to the end of `buf` (no LF in it)
   * could still be a delimiter line of `node` (when `own`) or an ancestor:
   * a prefix of `--boundary` after an optional CR, or all of it with blanks
   * and CRs that still wait for their LF.
   */
  #couldBeDelimiter(buf: Buffer, lineStart: number, node: Node, own: boolean): boolean {
    let dash = lineStart;
    if (dash < buf.length && buf[dash] === CR) dash++;
    const rest = buf.length - dash;
    for (let n: Node | undefined = own ? node : node.parent; n; n = n.parent) {
      const needle = n.delimiter;
      if (!needle) continue;
      if (rest < needle.length) {
        if (buf.compare(needle, 0, rest, dash, buf.length) === 0) return true;
      } else if (buf.compare(needle, 0, needle.length, dash, dash + needle.length) === 0) {
        if (delimiterLine(buf, dash, needle.length, false, this.#before) === MORE) return true;
      }
    }
    return false;
  }

  /**
   * Reads header lines from `pos` up to the blank line, the delimiter line
   * at `stop` (-1: none in buf) or the end, and opens the part; returns
   * where its body starts. While the block goes on past `buf` (#head still
   * set), returns where its unfinished line starts.
   */
  #readHead(head: Head, buf: Buffer, pos: number, stop: number, atEnd: boolean): number {
    const lim = this.#lim;
    let line = pos;
    let ended = false;
    while (line !== stop) {
      const lf = buf.indexOf(LF, line);
      if (lf < 0) {
        const text = head.partial + buf.toString('latin1', line);
        if (!atEnd) {
          if (head.partial === '' && this.#couldBeDelimiter(buf, line, head.parent, true)) return line;
          // not a delimiter line: kept as text, so a long line arriving in small chunks is not joined again and again
          if (head.cost + headerLineCost(text.length, false) > lim.maxHeadOctets) throw headerTooLong(lim);
          head.partial = text;
          return buf.length;
        }
        if (text !== '') {
          head.cost += headerLineCost(text.length, false);
          if (head.cost > lim.maxHeadOctets) throw headerTooLong(lim);
          head.lines.push(text);
          head.partial = '';
          line = buf.length;
        }
        break;
      }
      const lineEnd = lf + 1;
      const text = head.partial + buf.toString('latin1', line, lineEnd);
      head.partial = '';
      const blank = text === '\n' || text === '\r\n';
      head.cost += headerLineCost(text.length, blank);
      if (head.cost > lim.maxHeadOctets) throw headerTooLong(lim);
      head.lines.push(text);
      line = lineEnd;
      if (blank) {
        ended = true;
        break;
      }
    }
    this.#openPart(head, ended, this.#offset + line);
    return line;
  }

  #openPart(head: Head, headEnded: boolean, bodyStart: number): void {
    const { entity, encoding, level, delimiter } = describePart(head.lines.join(''), head.parent.level, this.#lim);
    head.siblings.push(entity);
    const leaf = !entity.parts;
    const node: Node = {
      entity,
      level,
      parent: head.parent,
      delimiter,
      encoding,
      headEnded,
      decoder: leaf && encoding === 'base64' ? new Base64Decoder(Math.max(0, this.#expected - bodyStart)) : undefined,
      pieces: [],
      octets: 0,
    };
    (leaf ? this.#leaves : this.#multiparts).push(node);
    this.#last = node;
    this.#head = undefined;
    this.#cur = node;
    this.#inEpilogue = false;
  }

  /** Hands a leaf the octets [from, to) of buf. */
  #feed(leaf: Node, buf: Buffer, from: number, to: number): void {
    if (to <= from) return;
    const piece = from === 0 && to === buf.length ? buf : buf.subarray(from, to);
    if (leaf.decoder) leaf.decoder.push(piece);
    else leaf.pieces.push(piece);
    leaf.octets += piece.length;
  }
}

const EMPTY = Buffer.alloc(0);

/**
 * Whether a `--boundary--` line closes the body (RFC 2046 §5.1.1: at a line
 * start, optional blanks after), found chunk by chunk as the body is read:
 * in each chunk, and across the seam with the octets read before it. (The
 * in-memory splitter accepts the same test over the whole body.)
 */
export class ClosingDelimiterScan {
  found = false;
  readonly #needle: Buffer;
  /** The last octets read, as many as the needle has at most (a copy). */
  #recent = Buffer.alloc(0);
  /** The octet before #recent; -1 while #recent starts the body. */
  #before = -1;

  constructor(boundary: string) {
    this.#needle = Buffer.from(`--${boundary}--`, 'latin1');
  }

  push(chunk: Buffer): void {
    if (this.found || chunk.length === 0) return;
    const needle = this.#needle;
    const n = needle.length;
    const recent = this.#recent;
    const atLineStart = (previous: number | undefined): boolean => previous === -1 || previous === LF;
    if (recent.length > 0) {
      // one that starts in what was read before and ends in this chunk
      const seam = Buffer.concat([recent, chunk.subarray(0, n - 1)]);
      for (let k = Math.max(0, recent.length - n + 1); k < recent.length && k + n <= seam.length; k++) {
        if (seam.compare(needle, 0, n, k, k + n) === 0 && atLineStart(k > 0 ? seam[k - 1] : this.#before)) {
          this.found = true;
          return;
        }
      }
    }
    for (let at = chunk.indexOf(needle); at >= 0; at = chunk.indexOf(needle, at + 1)) {
      if (atLineStart(at > 0 ? chunk[at - 1] : recent.length > 0 ? recent[recent.length - 1] : this.#before)) {
        this.found = true;
        return;
      }
    }
    const joined = chunk.length >= n ? chunk : Buffer.concat([recent, chunk]);
    if (joined.length > n) this.#before = joined[joined.length - n - 1]!;
    else if (joined === chunk && recent.length > 0) this.#before = recent[recent.length - 1]!;
    this.#recent = Buffer.from(joined.subarray(Math.max(0, joined.length - n)));
  }
}
