/**
 * Minor GCs paced by the octets of large request bodies.
 *
 * A body read from a socket comes as chunks of up to 64 KiB, each its own
 * ArrayBuffer. Once split (a base64 part decoded as it arrives) they are
 * garbage, but V8 frees an ArrayBuffer only at a GC, and only JS allocation
 * or some 64 MB of external memory starts one: streaming a 10 MB SubmitReq
 * allocates little JS, so all its chunks stayed until the request was done,
 * and the process grew by the body once more than it holds (2.0-2.25x a
 * 10 MB request in RSS, 5 fresh processes; 1.16-1.24x with a scavenge every
 * 2 MiB). A scavenge with little live young data takes well under a
 * millisecond to a few.
 *
 * The GC comes from `globalThis.gc`, there only when Node runs with
 * --expose-gc (bin/mmsc's shebang and the npm scripts pass it); without it
 * the pacer does nothing and the chunks wait for V8's own GC, as before.
 */

/** A synchronous minor GC (a scavenge of the young generation). */
export type MinorGc = () => void;

export class GcPacer {
  #since = 0;

  /** `gc` undefined (Node run without --expose-gc): note() does nothing. */
  constructor(
    readonly everyOctets: number,
    private readonly gc: MinorGc | undefined,
  ) {
    if (!(everyOctets > 0)) throw new RangeError(`everyOctets must be positive, not ${everyOctets}`);
  }

  /** Octets of a large body just handed on; a GC once `everyOctets` were since the last. */
  note(octets: number): void {
    if (!this.gc) return;
    this.#since += octets;
    if (this.#since < this.everyOctets) return;
    this.#since = 0;
    this.gc();
  }
}

/** The minor GC of a process run with --expose-gc; undefined otherwise. */
export function exposedMinorGc(scope: object = globalThis): MinorGc | undefined {
  const gc = (scope as { gc?: unknown }).gc;
  if (typeof gc !== 'function') return undefined;
  return () => (gc as (opts: { type: 'minor' }) => void)({ type: 'minor' });
}

/** A scavenge per 2 MiB of large bodies, process-wide (a GC frees every request's chunks). */
export const LARGE_BODY_GC = new GcPacer(2 << 20, exposedMinorGc());
