/**
 * Random octets for ids and tokens, drawn from the CSPRNG a pool at a time
 * (one synchronous randomBytes call per 256 tokens): a call per id or token
 * showed in both nodes' profiles. Each octet is handed out once, as a view
 * the caller turns into a string at once.
 */
import { randomBytes } from 'node:crypto';

export class RandomPool {
  static readonly POOL_OCTETS = 4096;
  #buf = Buffer.alloc(0);
  #pos = 0;

  take(n: number): Buffer {
    if (this.#pos + n > this.#buf.length) {
      this.#buf = randomBytes(Math.max(RandomPool.POOL_OCTETS, n));
      this.#pos = 0;
    }
    const out = this.#buf.subarray(this.#pos, this.#pos + n);
    this.#pos += n;
    return out;
  }

  /**
   * The time (ms, base36, 9 characters) then `chars` random base64url
   * characters (6 bits each): unguessable, and in creation order, so that an
   * index on it grows at its end instead of in random leaves (one more WAL
   * frame per insert, and its checkpoint copy).
   */
  timeOrdered(ms: number, chars: number): string {
    return `${ms.toString(36).padStart(9, '0')}${this.take(Math.ceil((chars * 6) / 8)).toString('base64url').slice(0, chars)}`;
  }

  /** 128 bits, base64url (22 characters): an id or URL token nobody can guess. */
  token(): string {
    return this.take(16).toString('base64url');
  }
}
