/**
 * Caches of adaptation results, keyed by (content hash of the parts,
 * profile id, transcoder version): a bounded in-memory LRU in front of a
 * DB1 table (migration 5), so the second retrieval of the same content for
 * the same profile does no image work, even after a restart.
 */
import { createHash } from 'node:crypto';
import type { Database } from 'better-sqlite3';
import type { StoredPart } from '../mmsc/model.js';

/** What one part became: kept as it was, adapted, or replaced by a notice. */
export interface PartAction {
  /** Index of the original part. */
  index: number;
  action: 'kept' | 'adapted' | 'replaced' | 'dropped';
  /** Why, for people: `image/png 4000x3000 → image/jpeg 640x480 q70`. */
  detail: string;
  /** A stable code for a part that could not be adapted (ImageAdaptationError codes, MEDIA_NOT_ACCEPTED, …). */
  code?: string;
}

export interface Adaptation {
  parts: StoredPart[];
  actions: PartAction[];
  /** Octets the parts add to an M-Retrieve.conf (data and part headers): the same whatever the message's own headers. */
  partsCost?: number;
  /**
   * The message goes to the terminal as it was stored: `parts` is empty
   * (the caller holds the originals, so the cache keeps no copy of them)
   * and `partsCost` is the originals' cost.
   */
  asIs?: boolean;
  /** Set when every original part suits the terminal as it is: the originals' cost, to tell whether a given head still lets them fit. */
  asIsCost?: number;
}

export interface AdaptationCache {
  get(key: string): Adaptation | undefined;
  /** Resolves once stored (for the SQLite cache: durable). */
  set(key: string, value: Adaptation): Promise<void>;
}

/** Bump when adaptation output changes for the same input and profile: old cache entries then no longer match. */
export const TRANSCODER_VERSION = 2;

/** SHA-256 over the parts' headers and octets, each field length-prefixed so no two lists hash alike. */
export function contentHash(parts: readonly StoredPart[]): string {
  const h = createHash('sha256');
  const len = Buffer.alloc(4);
  const field = (b: Buffer | string): void => {
    const buf = typeof b === 'string' ? Buffer.from(b, 'utf8') : b;
    len.writeUInt32BE(buf.length);
    h.update(len);
    h.update(buf);
  };
  for (const p of parts) {
    field(p.contentType);
    field(p.contentId === undefined ? '\0' : `<${p.contentId}>`);
    field(p.contentLocation === undefined ? '\0' : `@${p.contentLocation}`);
    field(p.data);
  }
  return h.digest('hex');
}

export function cacheKey(hash: string, profileId: string, extra = ''): string {
  return `${hash}:${profileId}:v${TRANSCODER_VERSION}${extra ? `:${extra}` : ''}`;
}

/** Octets an adaptation holds in memory (its data; headers are small). */
export function adaptationSize(a: Adaptation): number {
  return a.parts.reduce((n, p) => n + p.data.length + p.contentType.length + 64, 0);
}

/** Least-recently-used entries go first once the data held exceeds `maxBytes`. */
export class MemoryAdaptationCache implements AdaptationCache {
  readonly #entries = new Map<string, { value: Adaptation; size: number }>();
  #bytes = 0;

  constructor(readonly maxBytes: number) {}

  get bytes(): number {
    return this.#bytes;
  }

  get size(): number {
    return this.#entries.size;
  }

  get(key: string): Adaptation | undefined {
    const e = this.#entries.get(key);
    if (!e) return undefined;
    // Map keeps insertion order: re-inserting makes it the most recent.
    this.#entries.delete(key);
    this.#entries.set(key, e);
    return e.value;
  }

  set(key: string, value: Adaptation): Promise<void> {
    const size = adaptationSize(value);
    const old = this.#entries.get(key);
    if (old) {
      this.#entries.delete(key);
      this.#bytes -= old.size;
    }
    if (size > this.maxBytes) return Promise.resolve(); // would evict everything and still not fit
    this.#entries.set(key, { value, size });
    this.#bytes += size;
    for (const [k, e] of this.#entries) {
      if (this.#bytes <= this.maxBytes) break;
      this.#entries.delete(k);
      this.#bytes -= e.size;
    }
    return Promise.resolve();
  }
}

// ------------------------------------------------------------ serialisation

interface Header {
  parts: Array<{ contentType: string; contentId?: string; contentLocation?: string; length: number }>;
  actions: PartAction[];
  partsCost?: number;
  asIs?: boolean;
  asIsCost?: number;
}

/** uint32 header length, the JSON header, then every part's octets in order. */
export function serializeAdaptation(a: Adaptation): Buffer {
  const header: Header = {
    parts: a.parts.map((p) => ({
      contentType: p.contentType,
      ...(p.contentId !== undefined ? { contentId: p.contentId } : {}),
      ...(p.contentLocation !== undefined ? { contentLocation: p.contentLocation } : {}),
      length: p.data.length,
    })),
    actions: a.actions,
    ...(a.partsCost !== undefined ? { partsCost: a.partsCost } : {}),
    ...(a.asIs ? { asIs: true } : {}),
    ...(a.asIsCost !== undefined ? { asIsCost: a.asIsCost } : {}),
  };
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32BE(json.length);
  return Buffer.concat([len, json, ...a.parts.map((p) => p.data)]);
}

/** The inverse of serializeAdaptation; undefined for a row that is not one (it is then treated as a miss). */
export function deserializeAdaptation(buf: Buffer): Adaptation | undefined {
  try {
    if (buf.length < 4) return undefined;
    const n = buf.readUInt32BE(0);
    if (4 + n > buf.length) return undefined;
    const header = JSON.parse(buf.toString('utf8', 4, 4 + n)) as Header;
    let at = 4 + n;
    const parts: StoredPart[] = [];
    for (const h of header.parts) {
      if (!Number.isInteger(h.length) || h.length < 0 || at + h.length > buf.length) return undefined;
      const part: StoredPart = { contentType: h.contentType, data: buf.subarray(at, at + h.length) };
      if (h.contentId !== undefined) part.contentId = h.contentId;
      if (h.contentLocation !== undefined) part.contentLocation = h.contentLocation;
      parts.push(part);
      at += h.length;
    }
    if (at !== buf.length) return undefined;
    const out: Adaptation = { parts, actions: header.actions };
    if (typeof header.partsCost === 'number') out.partsCost = header.partsCost;
    if (header.asIs === true) out.asIs = true;
    if (typeof header.asIsCost === 'number') out.asIsCost = header.asIsCost;
    return out;
  } catch {
    return undefined;
  }
}

// ------------------------------------------------------------- SQLite (DB1)

/** What the SQLite cache needs of DB1: its handle for reads and its group-commit writer. */
export interface CacheStore {
  readonly sqlite: Database;
  write<T>(work: () => T): Promise<T>;
}

export interface SqliteCacheOptions {
  /** Rows beyond this many octets of content are deleted, oldest first (default 256 MiB). */
  maxBytes?: number;
  now?: () => number;
}

/**
 * The DB1 table `transcode_cache` (migration 5). Reads are prepared on the
 * handle; writes go through the group commit, so a cache fill never adds an
 * fsync of its own to a retrieval.
 */
export class SqliteAdaptationCache implements AdaptationCache {
  readonly #store: CacheStore;
  readonly #maxBytes: number;
  readonly #now: () => number;
  readonly #select;
  readonly #insert;
  readonly #oldest;
  readonly #delete;
  #bytes: number;

  constructor(store: CacheStore, opts: SqliteCacheOptions = {}) {
    this.#store = store;
    this.#maxBytes = opts.maxBytes ?? 256 * 2 ** 20;
    this.#now = opts.now ?? Date.now;
    const db = store.sqlite;
    this.#select = db.prepare<[string], { content: Buffer }>('SELECT content FROM transcode_cache WHERE key = ?');
    this.#insert = db.prepare<[string, string, Buffer, number, number]>(
      `INSERT INTO transcode_cache (key, profile_id, content, size, created_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (key) DO UPDATE SET content = excluded.content, size = excluded.size, created_at = excluded.created_at`,
    );
    this.#oldest = db.prepare<[number], { key: string; size: number }>('SELECT key, size FROM transcode_cache ORDER BY created_at LIMIT ?');
    this.#delete = db.prepare<[string]>('DELETE FROM transcode_cache WHERE key = ?');
    this.#bytes = (db.prepare('SELECT coalesce(sum(size), 0) AS n FROM transcode_cache').get() as { n: number }).n;
  }

  get bytes(): number {
    return this.#bytes;
  }

  get(key: string): Adaptation | undefined {
    const row = this.#select.get(key);
    return row ? deserializeAdaptation(row.content) : undefined;
  }

  set(key: string, value: Adaptation): Promise<void> {
    const content = serializeAdaptation(value);
    const profile = key.split(':')[1] ?? '';
    return this.#store.write(() => {
      const old = this.#select.get(key);
      this.#insert.run(key, profile, content, content.length, this.#now());
      this.#bytes += content.length - (old ? old.content.length : 0);
      while (this.#bytes > this.#maxBytes) {
        const victims = this.#oldest.all(32).filter((v) => v.key !== key);
        if (victims.length === 0) break;
        for (const v of victims) {
          this.#delete.run(v.key);
          this.#bytes -= v.size;
          if (this.#bytes <= this.#maxBytes) break;
        }
      }
    });
  }
}

/** Memory first, then the store; a store hit is copied into memory. */
export class TieredAdaptationCache implements AdaptationCache {
  constructor(
    readonly memory: AdaptationCache,
    readonly store: AdaptationCache,
  ) {}

  get(key: string): Adaptation | undefined {
    const hit = this.memory.get(key);
    if (hit) return hit;
    const stored = this.store.get(key);
    if (stored) void this.memory.set(key, stored);
    return stored;
  }

  async set(key: string, value: Adaptation): Promise<void> {
    await Promise.all([this.memory.set(key, value), this.store.set(key, value)]);
  }
}
