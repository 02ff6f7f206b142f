/**
 * An HTTP body for the MM7 binding to read: in memory (one buffer, or the
 * chunks it was read in), or still arriving (an async iterable such as a
 * request stream), so that it is parsed as it comes and never held whole.
 */
export type HttpBody = Buffer | readonly Buffer[] | AsyncIterable<Buffer>;

/**
 * Reads an HttpBody chunk by chunk and counts it. A failure of the body
 * itself (its iterator throws: the connection was lost, the server's size
 * limit was passed) is kept apart from the parser's errors, so that the
 * parser can rank it first, as when the body was read whole before being
 * parsed. The iterator's return() is never called: a Readable's would
 * destroy the request, and the socket the answer is to go out on.
 */
export class BodySource {
  /** Octets read so far. */
  total = 0;
  /** The body's length, when it was in memory. */
  readonly length: number | undefined;
  /** Set once the body's own iterator threw. */
  failure: { error: unknown } | undefined;
  #done = false;
  readonly #memory: readonly Buffer[] | undefined;
  #index = 0;
  readonly #iterator: AsyncIterator<Buffer> | undefined;
  /** Reads one after the other, whoever asks. */
  #last: Promise<unknown> = Promise.resolve();

  constructor(body: HttpBody) {
    if (body instanceof Uint8Array || Array.isArray(body)) {
      // a plain Uint8Array (typed as Buffer, but JS callers) is read through a Buffer view of it
      const bytes: Uint8Array | undefined = body instanceof Uint8Array ? body : undefined;
      this.#memory = bytes ? [Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)] : (body as readonly Buffer[]);
      this.length = this.#memory.reduce((n, c) => n + c.length, 0);
    } else {
      this.#iterator = (body as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
    }
  }

  /** The next non-empty chunk, undefined at the end (also after a failure, which next() threw once). */
  next(): Promise<Buffer | undefined> {
    if (this.#memory) return Promise.resolve(this.#nextInMemory());
    const read = this.#last.then(() => this.#read());
    this.#last = read.catch(() => undefined);
    return read;
  }

  /** next() without a promise for a body in memory (no event-loop turn, not even a microtask, per chunk). */
  take(): Buffer | undefined | Promise<Buffer | undefined> {
    return this.#memory ? this.#nextInMemory() : this.next();
  }

  #nextInMemory(): Buffer | undefined {
    const memory = this.#memory!;
    while (this.#index < memory.length) {
      const chunk = memory[this.#index++]!;
      if (chunk.length > 0) {
        this.total += chunk.length;
        return chunk;
      }
    }
    this.#done = true;
    return undefined;
  }

  /** Reads the rest, discarding it; a failure of the body is in `failure`, not thrown. */
  async drain(): Promise<void> {
    try {
      while ((await this.next()) !== undefined);
    } catch {
      // kept in `failure`
    }
  }

  async #read(): Promise<Buffer | undefined> {
    while (!this.#done) {
      let r: IteratorResult<Buffer>;
      try {
        r = await this.#iterator!.next();
      } catch (error) {
        this.#done = true;
        this.failure = { error };
        throw error;
      }
      if (r.done) this.#done = true;
      else if (r.value.length > 0) {
        this.total += r.value.length;
        return r.value;
      }
    }
    return undefined;
  }
}
