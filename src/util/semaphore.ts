/**
 * A weighted counting semaphore: holders take `weight` units of `size`;
 * the others wait in order (first come, first served: a heavy waiter is
 * not overtaken by light ones). A weight above `size` is taken as `size`,
 * so it runs alone rather than never.
 */
export class Semaphore {
  #free: number;
  readonly #size: number;
  readonly #waiting: Array<{ weight: number; go: () => void }> = [];

  constructor(size: number) {
    if (!(size > 0)) throw new RangeError(`a semaphore needs a positive size, not ${size}`);
    this.#size = size;
    this.#free = size;
  }

  async run<T>(fn: () => Promise<T>, weight = 1): Promise<T> {
    const w = Math.min(Math.max(0, weight), this.#size);
    if (this.#waiting.length === 0 && this.#free >= w) this.#free -= w;
    else await new Promise<void>((go) => this.#waiting.push({ weight: w, go }));
    try {
      return await fn();
    } finally {
      this.#free += w;
      this.#wake();
    }
  }

  #wake(): void {
    while (this.#waiting.length > 0 && this.#free >= this.#waiting[0]!.weight) {
      const next = this.#waiting.shift()!;
      this.#free -= next.weight;
      next.go();
    }
  }
}
