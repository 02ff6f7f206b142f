/**
 * WDP reassembly over SMS (WAP-259 WDP, SMS bearer; concatenation per
 * 3GPP TS 23.040 §9.2.3.24.1 and §9.2.3.24.8).
 *
 * Pure: no clock, no timers. The caller passes the time of each call.
 *
 * Identity of a datagram: (source, application ports, reference width,
 * reference). The total is NOT part of the identity: a segment that matches
 * a pending set but announces a different total is rejected with
 * INCONSISTENT and the pending set is left as it was. Consequence: a
 * sender that reuses a reference with a different total while the old set is
 * still pending loses segments until the old set expires — a reference is
 * only reusable after timeoutMs anyway.
 *
 * Segments are copied on arrival, so the caller may reuse its buffers.
 */
import { ProtocolError } from '../errors.js';
import {
  applicationPorts,
  concatenation,
  decodeUserData,
  IEI_CONCATENATION_16,
  IEI_CONCATENATION_8,
  MAX_SMS_OCTETS,
  type ApplicationPorts,
} from './udh.js';

export interface ReassemblerOptions {
  /** An incomplete set older than this (from its first segment) is dropped. */
  timeoutMs: number;
  /** Bound on incomplete sets held at once; default 1024. */
  maxPending?: number;
  /**
   * Told of every dropped set: expired (by expire() or by push) or evicted
   * because maxPending was exceeded. Called synchronously; what it throws
   * propagates.
   */
  onDrop?: (dropped: DroppedSet, reason: 'timeout' | 'evicted') => void;
}

export interface Reassembled {
  source: string;
  /** Port addressing (the same in every segment of the set), null if absent. */
  ports: ApplicationPorts | null;
  /** Concatenation reference; null for an unsegmented user data. */
  ref: number | null;
  referenceBits: 8 | 16 | null;
  /** The WDP datagram (a fresh Buffer, not shared with any input). */
  datagram: Buffer;
  /** Number of SMS it came in (1 for an unsegmented user data). */
  segments: number;
}

export interface DroppedSet {
  source: string;
  ref: number;
  referenceBits: 8 | 16;
  ports: ApplicationPorts | null;
  /** Distinct segments received. */
  received: number;
  total: number;
  /** nowMs of the first segment. */
  firstMs: number;
}

/** A received segment: a private copy of its user data and where the payload starts. */
interface Part {
  ud: Uint8Array;
  payloadStart: number;
}

interface SetState {
  source: string;
  ports: ApplicationPorts | null;
  ref: number;
  bits: 8 | 16;
  total: number;
  firstMs: number;
  parts: Array<Part | undefined>;
  received: number;
}

/** A completed set kept for timeoutMs after completion to swallow late duplicates. */
interface Completed {
  total: number;
  doneMs: number;
  parts: Array<Part | undefined>;
}

const DEFAULT_MAX_PENDING = 1024;

function sameOctets(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(a, b) === 0;
}

/** Offset of the last concatenation IE's data in an already-validated UD, for error messages. */
function concatOffset(ud: Uint8Array): number {
  const end = 1 + (ud[0] ?? 0);
  let pos = 1;
  let found = 0;
  while (pos + 1 < end) {
    const iei = ud[pos] ?? 0;
    if (iei === IEI_CONCATENATION_8 || iei === IEI_CONCATENATION_16) found = pos + 2;
    pos += 2 + (ud[pos + 1] ?? 0);
  }
  return found;
}

export class Reassembler {
  private readonly timeoutMs: number;
  private readonly maxPending: number;
  private readonly onDrop: ReassemblerOptions['onDrop'];
  /** Incomplete sets in creation order (Map keeps insertion order: oldest first). */
  private readonly pending = new Map<string, SetState>();
  private readonly completed = new Map<string, Completed>();

  /** Throws RangeError for options that are not usable numbers (a programming error, not input). */
  constructor(opts: ReassemblerOptions) {
    if (!Number.isFinite(opts.timeoutMs) || opts.timeoutMs < 0) {
      throw new RangeError(`timeoutMs must be a finite number >= 0, is ${opts.timeoutMs}`);
    }
    const maxPending = opts.maxPending ?? DEFAULT_MAX_PENDING;
    if (!Number.isInteger(maxPending) || maxPending < 1) {
      throw new RangeError(`maxPending must be an integer >= 1, is ${maxPending}`);
    }
    this.timeoutMs = opts.timeoutMs;
    this.maxPending = maxPending;
    this.onDrop = opts.onDrop;
  }

  /** Incomplete sets currently held. */
  get pendingCount(): number {
    return this.pending.size;
  }

  /**
   * Take one SMS user data (TP-UDHI set). Returns the datagram when this
   * completes one (at once for an unsegmented user data), else null.
   * Stale sets are expired first. Throws ProtocolError for undecodable user
   * data, for user data longer than 140 octets (TP-UD's limit, and what
   * bounds memory), and INCONSISTENT for a segment that contradicts its set.
   * An exact duplicate (identical user data octets) is ignored, also when it
   * arrives within timeoutMs after its set completed.
   */
  push(ud: Uint8Array, source: string, nowMs: number): Reassembled | null {
    if (!Number.isFinite(nowMs)) throw new RangeError(`nowMs must be finite, is ${nowMs}`);
    this.expire(nowMs);
    if (ud.length > MAX_SMS_OCTETS) {
      throw new ProtocolError('BAD_LENGTH', 'TP-UD', `${ud.length} octets exceed the ${MAX_SMS_OCTETS} of one SMS`, MAX_SMS_OCTETS);
    }
    const { header, payload } = decodeUserData(ud);
    const ports = applicationPorts(header);
    const concat = concatenation(header);
    if (concat === null) {
      return { source, ports, ref: null, referenceBits: null, datagram: Buffer.from(payload), segments: 1 };
    }
    const key = JSON.stringify([
      source,
      concat.bits,
      concat.reference,
      ports === null ? null : [ports.bits, ports.destinationPort, ports.originatorPort],
    ]);
    const index = concat.sequence - 1;
    const part: Part = { ud: Buffer.from(ud), payloadStart: ud.length - payload.length };

    const done = this.completed.get(key);
    if (done !== undefined) {
      const prior = done.parts[index];
      if (done.total === concat.total && prior !== undefined && sameOctets(prior.ud, ud)) return null;
      // Anything else under a completed key is a new datagram reusing the reference.
      this.completed.delete(key);
    }

    let set = this.pending.get(key);
    if (set !== undefined) {
      if (set.total !== concat.total) {
        throw new ProtocolError(
          'INCONSISTENT',
          'concatenation',
          `total ${concat.total} differs from ${set.total} of the pending set with reference ${concat.reference}`,
          concatOffset(ud) + (concat.bits === 8 ? 1 : 2),
        );
      }
      const prior = set.parts[index];
      if (prior !== undefined) {
        if (sameOctets(prior.ud, ud)) return null;
        throw new ProtocolError(
          'INCONSISTENT',
          'concatenation',
          `segment ${concat.sequence}/${concat.total} of reference ${concat.reference} arrived twice with different octets`,
          concatOffset(ud),
        );
      }
      set.parts[index] = part;
      set.received++;
    } else {
      set = {
        source,
        ports,
        ref: concat.reference,
        bits: concat.bits,
        total: concat.total,
        firstMs: nowMs,
        parts: new Array<Part | undefined>(concat.total).fill(undefined),
        received: 1,
      };
      set.parts[index] = part;
      if (set.received < set.total) {
        this.pending.set(key, set);
        if (this.pending.size > this.maxPending) this.evictOldest();
        return null;
      }
    }
    if (set.received < set.total) return null;

    this.pending.delete(key);
    this.remember(key, { total: set.total, doneMs: nowMs, parts: set.parts });
    const chunks: Uint8Array[] = [];
    for (const p of set.parts) if (p !== undefined) chunks.push(p.ud.subarray(p.payloadStart));
    return {
      source,
      ports,
      ref: set.ref,
      referenceBits: set.bits,
      datagram: Buffer.concat(chunks),
      segments: set.total,
    };
  }

  /**
   * Drop incomplete sets whose first segment is more than timeoutMs before
   * nowMs (age > timeoutMs; a segment at exactly timeoutMs still joins) and
   * return them, oldest first.
   */
  expire(nowMs: number): DroppedSet[] {
    const dropped: DroppedSet[] = [];
    for (const [key, set] of this.pending) {
      if (nowMs - set.firstMs > this.timeoutMs) {
        this.pending.delete(key);
        const d = describe(set);
        dropped.push(d);
        this.onDrop?.(d, 'timeout');
      }
    }
    for (const [key, done] of this.completed) {
      if (nowMs - done.doneMs > this.timeoutMs) this.completed.delete(key);
    }
    return dropped;
  }

  private evictOldest(): void {
    for (const [key, set] of this.pending) {
      this.pending.delete(key);
      this.onDrop?.(describe(set), 'evicted');
      return;
    }
  }

  private remember(key: string, done: Completed): void {
    this.completed.delete(key);
    this.completed.set(key, done);
    // Same bound as pending sets, so duplicates cannot grow memory either.
    if (this.completed.size > this.maxPending) {
      for (const k of this.completed.keys()) {
        this.completed.delete(k);
        break;
      }
    }
  }
}

function describe(set: SetState): DroppedSet {
  return {
    source: set.source,
    ref: set.ref,
    referenceBits: set.bits,
    ports: set.ports,
    received: set.received,
    total: set.total,
    firstMs: set.firstMs,
  };
}
