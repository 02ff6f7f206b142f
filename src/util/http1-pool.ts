/**
 * A small HTTP/1.1 client for one origin over plain TCP, with keep-alive
 * sockets: what server 1 uses to POST archive forwards to server 2.
 *
 * Why not node:http's Agent: per forward it cost server 1 about 60-100 µs of
 * CPU (ClientRequest, the agent's bookkeeping, a parser and a readable
 * stream per answer), a tenth of a forward; this writes the request head
 * and the body's pieces in one corked writev and reads the answer from the
 * socket's chunks, 30-40 µs in all (.ab micro-benchmark, 20 KB bodies).
 *
 * What it understands of an answer (RFC 9112): a status line, header
 * fields (names case-insensitive, obs-fold refused), a body framed by
 * Content-Length, by chunked transfer coding (extensions and trailers
 * skipped) or, with neither, by the end of the connection; 1xx answers are
 * skipped. `Connection: close` or HTTP/1.0 closes the socket after the
 * answer; otherwise it goes back to the pool. Limits: 64 KiB of head, and
 * `maxBodyOctets` of body.
 *
 * Errors carry `reusedSocket: true` when a kept-alive socket failed before
 * any octet of an answer arrived (the peer closed it while it sat idle):
 * the caller may send once more, as it would with node:http.
 */
import { connect, type Socket } from 'node:net';

export interface Http1Answer {
  status: number;
  /** Lower-case names; a field given several times is joined with ", ". */
  headers: Record<string, string>;
  body: Buffer;
}

export interface Http1Request {
  method: string;
  path: string;
  /** Field name → value; Host and Content-Length are written by the pool. */
  headers: Record<string, string>;
  /** The body, written in order. */
  pieces: readonly Buffer[];
  timeoutMs: number;
}

export interface Http1PoolOptions {
  /** Sockets open at once; requests beyond wait for one. */
  maxSockets: number;
  maxBodyOctets?: number;
}

const MAX_HEAD_OCTETS = 64 * 1024;
const CRLF2 = Buffer.from('\r\n\r\n', 'latin1');
const CRLF = Buffer.from('\r\n', 'latin1');
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

function destroyOnData(this: Socket): void {
  this.destroy();
}

export class Http1Error extends Error {
  override readonly name = 'Http1Error';
  reusedSocket = false;
}

export class Http1Pool {
  readonly #host: string;
  readonly #port: number;
  readonly #hostHeader: string;
  readonly #max: number;
  readonly #maxBody: number;
  readonly #idle: Socket[] = [];
  readonly #all = new Set<Socket>();
  readonly #waiting: Array<() => void> = [];
  #closed = false;

  /** `origin`: an http: URL; its path is not used. */
  constructor(origin: URL, opts: Http1PoolOptions) {
    if (origin.protocol !== 'http:') throw new TypeError(`Http1Pool speaks plain HTTP, not ${origin.protocol}`);
    this.#host = origin.hostname.replace(/^\[(.*)\]$/, '$1');
    this.#port = origin.port === '' ? 80 : Number(origin.port);
    this.#hostHeader = origin.host;
    this.#max = opts.maxSockets;
    this.#maxBody = opts.maxBodyOctets ?? 16 << 20;
  }

  /** Sockets open now (idle or busy). */
  get sockets(): number {
    return this.#all.size;
  }

  async request(r: Http1Request): Promise<Http1Answer> {
    if (this.#closed) throw new Http1Error('the pool is closed');
    for (const [name, value] of Object.entries(r.headers)) {
      if (!TOKEN.test(name) || /[\r\n]/.test(value)) throw new Http1Error(`header ${JSON.stringify(name)} cannot be sent`);
    }
    let socket = this.#takeIdle();
    let reused = socket !== undefined;
    while (!socket) {
      if (this.#closed) throw new Http1Error('the pool is closed');
      if (this.#all.size < this.#max) {
        socket = this.#open();
        break;
      }
      // Woken by a socket going idle or closing; another request may have been quicker.
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
      socket = this.#takeIdle();
      reused = socket !== undefined;
    }
    return this.#exchange(socket, reused, r);
  }

  /** Destroys every socket; requests in flight fail. */
  close(): void {
    this.#closed = true;
    for (const s of this.#all) s.destroy();
    this.#all.clear();
    this.#idle.length = 0;
    for (const wake of this.#waiting.splice(0)) wake();
  }

  #takeIdle(): Socket | undefined {
    const s = this.#idle.pop();
    s?.off('data', destroyOnData).ref();
    return s;
  }

  #open(): Socket {
    const s = connect({ host: this.#host, port: this.#port, noDelay: true });
    this.#all.add(s);
    s.on('close', () => {
      const at = this.#idle.indexOf(s);
      if (at >= 0) this.#idle.splice(at, 1);
      if (this.#all.delete(s)) this.#waiting.shift()?.();
    });
    // An idle socket's error ends in 'close'; a busy one's is handled by its exchange.
    s.on('error', () => undefined);
    return s;
  }

  #release(s: Socket, keep: boolean): void {
    if (!keep || this.#closed || s.destroyed) {
      this.#discard(s);
      return;
    }
    // Octets on an idle socket answer nothing we asked: the connection is out of step.
    s.on('data', destroyOnData).unref();
    this.#idle.push(s);
    this.#waiting.shift()?.();
  }

  /** Closes a socket and frees its place at once ('close' comes a tick later and finds it gone). */
  #discard(s: Socket): void {
    s.destroy();
    if (this.#all.delete(s)) this.#waiting.shift()?.();
  }

  #exchange(s: Socket, reused: boolean, r: Http1Request): Promise<Http1Answer> {
    const length = r.pieces.reduce((n, p) => n + p.length, 0);
    let head = `${r.method} ${r.path} HTTP/1.1\r\nHost: ${this.#hostHeader}\r\n`;
    for (const [name, value] of Object.entries(r.headers)) {
      if (name.toLowerCase() !== 'content-length' && name.toLowerCase() !== 'host') head += `${name}: ${value}\r\n`;
    }
    head += `Content-Length: ${length}\r\n\r\n`;

    return new Promise<Http1Answer>((resolve, reject) => {
      const reader = new AnswerReader(this.#maxBody);
      let gotAny = false;
      let done = false;
      const finish = (err: Error | undefined, answer?: Http1Answer, keep = false): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        s.off('data', onData);
        s.off('end', onEnd);
        s.off('error', onError);
        s.off('close', onClose);
        if (err) {
          this.#discard(s);
          if (err instanceof Http1Error && reused && !gotAny) err.reusedSocket = true;
          reject(err);
          return;
        }
        this.#release(s, keep);
        resolve(answer!);
      };
      const onData = (chunk: Buffer): void => {
        gotAny = true;
        try {
          const out = reader.push(chunk);
          if (out) finish(undefined, out.answer, out.keepAlive);
        } catch (e) {
          finish(e instanceof Error ? e : new Http1Error(String(e)));
        }
      };
      const onEnd = (): void => {
        try {
          const answer = reader.end();
          if (answer) finish(undefined, answer, false);
          else finish(new Http1Error(gotAny ? 'the connection closed in the middle of an answer' : 'the connection closed before an answer'));
        } catch (e) {
          finish(e instanceof Error ? e : new Http1Error(String(e)));
        }
      };
      const onError = (e: Error): void => finish(Object.assign(new Http1Error(e.message), { cause: e }));
      const onClose = (): void => finish(new Http1Error('the connection closed before an answer'));
      const timer = setTimeout(() => finish(new Http1Error(`no answer within ${r.timeoutMs} ms`)), r.timeoutMs);
      s.on('data', onData);
      s.on('end', onEnd);
      s.on('error', onError);
      s.on('close', onClose);
      s.cork();
      s.write(head, 'latin1');
      for (const piece of r.pieces) if (piece.length > 0) s.write(piece);
      s.uncork();
    });
  }
}

/** Reads one answer from a socket's chunks (exported for its tests). */
export class AnswerReader {
  #buf: Buffer = Buffer.alloc(0);
  #answer: Http1Answer | undefined;
  #keepAlive = true;
  /** 'length': `#left` octets to go; 'chunked': decoding; 'close': until the end. */
  #framing: 'length' | 'chunked' | 'close' | undefined;
  #left = 0;
  readonly #body: Buffer[] = [];
  #bodyOctets = 0;

  constructor(private readonly maxBody: number) {}

  /** The answer once it is complete, else undefined. */
  push(chunk: Buffer): { answer: Http1Answer; keepAlive: boolean } | undefined {
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    while (this.#framing === undefined) {
      const end = this.#buf.indexOf(CRLF2);
      if (end < 0) {
        if (this.#buf.length > MAX_HEAD_OCTETS) throw new Http1Error('the answer\'s head is longer than 64 KiB');
        return undefined;
      }
      const head = this.#buf.toString('latin1', 0, end);
      this.#buf = this.#buf.subarray(end + 4);
      this.#readHead(head);
    }
    return this.#readBody();
  }

  /** The connection ended: the answer if it was framed by the close, else undefined (incomplete). */
  end(): Http1Answer | undefined {
    if (this.#framing !== 'close' || !this.#answer) return undefined;
    this.#take(this.#buf);
    this.#answer.body = Buffer.concat(this.#body, this.#bodyOctets);
    return this.#answer;
  }

  #readHead(head: string): void {
    const lines = head.split('\r\n');
    const m = /^HTTP\/1\.([01]) (\d{3})(?: .*)?$/.exec(lines[0]!);
    if (!m) throw new Http1Error(`not an HTTP/1.x status line: ${JSON.stringify(lines[0]!.slice(0, 80))}`);
    const status = Number(m[2]);
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon <= 0 || line[0] === ' ' || line[0] === '\t') throw new Http1Error(`a header line that is not a field: ${JSON.stringify(line.slice(0, 80))}`);
      const name = line.slice(0, colon).toLowerCase();
      if (!TOKEN.test(name)) throw new Http1Error(`a header line that is not a field: ${JSON.stringify(line.slice(0, 80))}`);
      const value = line.slice(colon + 1).trim();
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
    // 1xx: an interim answer, the real one follows.
    if (status < 200) return;
    const connection = (headers.connection ?? '').toLowerCase();
    this.#keepAlive = m[1] === '1' ? !/\bclose\b/.test(connection) : /\bkeep-alive\b/.test(connection);
    this.#answer = { status, headers, body: Buffer.alloc(0) };
    const te = (headers['transfer-encoding'] ?? '').toLowerCase();
    if (te !== '') {
      if (!/(^|,)\s*chunked\s*$/.test(te)) throw new Http1Error(`transfer coding "${te}" is not chunked`);
      this.#framing = 'chunked';
      this.#left = -1;
    } else if (headers['content-length'] !== undefined) {
      if (!/^\d+$/.test(headers['content-length'])) throw new Http1Error(`Content-Length "${headers['content-length']}"`);
      this.#left = Number(headers['content-length']);
      if (this.#left > this.maxBody) throw new Http1Error(`an answer of ${this.#left} octets, more than ${this.maxBody}`);
      this.#framing = 'length';
    } else if (status === 204 || status === 304) {
      this.#framing = 'length';
      this.#left = 0;
    } else {
      this.#framing = 'close';
      this.#keepAlive = false;
    }
  }

  #readBody(): { answer: Http1Answer; keepAlive: boolean } | undefined {
    const answer = this.#answer!;
    if (this.#framing === 'close') {
      this.#take(this.#buf);
      this.#buf = Buffer.alloc(0);
      return undefined;
    }
    if (this.#framing === 'length') {
      if (this.#buf.length < this.#left) return undefined;
      answer.body = this.#buf.subarray(0, this.#left);
      if (this.#buf.length > this.#left) this.#keepAlive = false; // octets nobody asked for: do not reuse
      return { answer, keepAlive: this.#keepAlive };
    }
    // chunked: `#left` is -1 between chunks (a size line expected), else the octets left in this chunk.
    for (;;) {
      if (this.#left < 0) {
        const eol = this.#buf.indexOf(CRLF);
        if (eol < 0) {
          if (this.#buf.length > 1024) throw new Http1Error('a chunk size line longer than 1 KiB');
          return undefined;
        }
        const sizeText = this.#buf.toString('latin1', 0, eol).split(';')[0]!.trim();
        if (!/^[0-9A-Fa-f]{1,8}$/.test(sizeText)) throw new Http1Error(`chunk size "${sizeText.slice(0, 20)}"`);
        const size = parseInt(sizeText, 16);
        if (size === 0) {
          // The last chunk: trailer fields, if any, up to an empty line.
          const rest = this.#buf.subarray(eol + 2);
          const endOfTrailers = rest.indexOf(CRLF) === 0 ? 0 : rest.indexOf(CRLF2);
          if (endOfTrailers < 0) return undefined;
          answer.body = Buffer.concat(this.#body, this.#bodyOctets);
          return { answer, keepAlive: this.#keepAlive };
        }
        if (this.#bodyOctets + size > this.maxBody) throw new Http1Error(`an answer of more than ${this.maxBody} octets`);
        this.#buf = this.#buf.subarray(eol + 2);
        this.#left = size;
      }
      if (this.#buf.length < this.#left + 2) return undefined;
      if (this.#buf[this.#left] !== 0x0d || this.#buf[this.#left + 1] !== 0x0a) throw new Http1Error('a chunk not followed by CRLF');
      this.#take(this.#buf.subarray(0, this.#left));
      this.#buf = this.#buf.subarray(this.#left + 2);
      this.#left = -1;
    }
  }

  #take(octets: Buffer): void {
    if (octets.length === 0) return;
    this.#bodyOctets += octets.length;
    if (this.#bodyOctets > this.maxBody) throw new Http1Error(`an answer of more than ${this.maxBody} octets`);
    this.#body.push(octets);
  }
}
