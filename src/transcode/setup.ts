/**
 * One call from configuration to a working transcoder for an MMS-C node:
 * profiles from conf/terminals, sharp limits, the memory cache in front of
 * the DB1 cache, and the subscriber profile lookup in DB1.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { MemoryAdaptationCache, SqliteAdaptationCache, TieredAdaptationCache, type CacheStore } from './cache.js';
import { DEFAULT_IMAGE_TIMEOUT_MS, DEFAULT_LIMIT_INPUT_PIXELS, SharpImageBackend } from './image.js';
import { DEFAULT_PROFILE_NAME, loadProfileRegistry } from './registry.js';
import { TerminalTranscoder } from './transcoder.js';

/** The `transcoder:` section a node's configuration may carry (every key has a default). */
export const transcoderConfigSchema = z
  .object({
    /** Directory of the terminal profiles; default: conf/terminals of the package. */
    profiles: z.string().optional(),
    defaultProfile: z.string().default(DEFAULT_PROFILE_NAME),
    /** allowAdaptations="false" and the message does not fit: deliver it unadapted, or refuse the retrieval. */
    notAllowed: z.enum(['deliver', 'refuse']).default('deliver'),
    memoryCacheBytes: z.number().int().positive().default(64 * 2 ** 20),
    storeCacheBytes: z.number().int().positive().default(256 * 2 ** 20),
    limitInputPixels: z.number().int().positive().default(DEFAULT_LIMIT_INPUT_PIXELS),
    imageTimeoutMs: z.number().int().positive().default(DEFAULT_IMAGE_TIMEOUT_MS),
  })
  .prefault({});

export type TranscoderConfig = z.output<typeof transcoderConfigSchema>;

/** conf/terminals of the package, found upwards from this file (it runs from src/ under tests and from dist/ when built). */
export function defaultProfileDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, 'conf', 'terminals');
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  return resolve('conf', 'terminals');
}

/** What the node's transcoder needs of DB1 (Db1 has all of it). */
export interface TranscoderStore extends CacheStore {
  getSubscriber(address: string): { profile: string | null } | undefined;
}

export function createTranscoder(config: Partial<TranscoderConfig>, db: TranscoderStore, log?: (event: Record<string, unknown>) => void): TerminalTranscoder {
  const c = transcoderConfigSchema.parse(config);
  return new TerminalTranscoder({
    profiles: loadProfileRegistry(c.profiles ?? defaultProfileDir(), c.defaultProfile),
    images: new SharpImageBackend({ limitInputPixels: c.limitInputPixels, timeoutMs: c.imageTimeoutMs }),
    cache: new TieredAdaptationCache(new MemoryAdaptationCache(c.memoryCacheBytes), new SqliteAdaptationCache(db, { maxBytes: c.storeCacheBytes })),
    subscriberProfile: (address) => db.getSubscriber(address)?.profile ?? undefined,
    notAllowed: c.notAllowed,
    ...(log ? { log } : {}),
  });
}
