import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { RELEASES, type Release } from '../../protocol/mm7/releases.js';

/** A configuration problem, named by its key; the CLI prints it and exits 2. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

const DURATION = /^(\d+)(ms|s|m|h|d)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `48h`, `7d`, `60s`, `500ms` → milliseconds. */
export function parseDuration(text: string): number {
  const m = DURATION.exec(text.trim());
  if (!m) throw new Error(`"${text}" is not a duration such as 30s, 15m, 48h or 7d`);
  return Number(m[1]) * UNIT_MS[m[2]!]!;
}

const duration = z.string().transform((s, ctx) => {
  try {
    return parseDuration(s);
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: (e as Error).message });
    return z.NEVER;
  }
});

/** `host:port`, port 0 allowed (tests); IPv6 as `[::1]:8080`. */
const listen = z.string().transform((s, ctx) => {
  const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(s.trim());
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) {
    ctx.addIssue({ code: 'custom', message: `"${s}" is not host:port` });
    return z.NEVER;
  }
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
});

const vasp = z.object({
  vaspId: z.string().min(1),
  vasIds: z.array(z.string().min(1)).default([]),
  user: z.string().min(1),
  password: z.string().min(1),
  /** Sender addresses this VASP may use: short codes and numbers. */
  shortCodes: z.array(z.string()).default([]),
  maxMessageOctets: z.number().int().positive().default(1 << 20),
  releases: z.union([z.literal('all'), z.array(z.enum(RELEASES))]).default('all'),
  submitsPerSecond: z.number().positive().default(100),
  /** Demo accounts: accepted only from loopback peers. */
  loopbackOnly: z.boolean().default(false),
});

export const mmscConfigSchema = z.object({
  data: z.string().default('./data'),
  mm7: z
    .object({ listen: listen.default({ host: '127.0.0.1', port: 8080 }), path: z.string().startsWith('/').default('/mm7'), maxBodyOctets: z.number().int().positive().default(10 << 20) })
    .prefault({}),
  mm1: z
    .object({
      listen: listen.default({ host: '127.0.0.1', port: 8081 }),
      publicUrl: z.url().optional(),
      msisdnHeader: z.string().toLowerCase().default('x-msisdn'),
      maxBodyOctets: z.number().int().positive().default(2 << 20),
    })
    .prefault({}),
  ttl: z
    .object({ default: duration.default(48 * 3_600_000), max: duration.default(7 * 86_400_000), sweepEvery: duration.default(60_000) })
    .prefault({}),
  routing: z.object({ numberRanges: z.array(z.string().regex(/^\+?[0-9]*\*?$/)).default(['+1555*']), countryCode: z.string().regex(/^[0-9]{1,3}$/).default('1') }).prefault({}),
  notifier: z.object({ kind: z.literal('spool'), dir: z.string().optional() }).prefault({ kind: 'spool' }),
  vasps: z.array(vasp).default([]),
  /** Health, metrics and the admin API. No token: /healthz and /metrics only, the API answers 403. */
  admin: z
    .object({ listen: listen.default({ host: '127.0.0.1', port: 9090 }), token: z.string().min(1).optional(), loopbackOnly: z.boolean().default(true) })
    .prefault({}),
});

export type MmscConfig = z.infer<typeof mmscConfigSchema>;
export type VaspAccount = z.infer<typeof vasp>;

/** The releases a VASP may use. */
export function vaspReleases(v: VaspAccount): readonly Release[] {
  return v.releases === 'all' ? RELEASES : v.releases;
}

/** Environment overrides, one per listener and for the data directory. */
const ENV: Array<[string, (c: Record<string, Record<string, unknown>>, v: string) => void]> = [
  ['MMSC_DATA', (c, v) => ((c as Record<string, unknown>).data = v)],
  ['MMSC_MM7_LISTEN', (c, v) => ((c.mm7 ??= {}).listen = v)],
  ['MMSC_MM1_LISTEN', (c, v) => ((c.mm1 ??= {}).listen = v)],
  ['MMSC_MM1_PUBLIC_URL', (c, v) => ((c.mm1 ??= {}).publicUrl = v)],
  ['MMSC_ADMIN_LISTEN', (c, v) => ((c.admin ??= {}).listen = v)],
  ['MMSC_ADMIN_TOKEN', (c, v) => ((c.admin ??= {}).token = v)],
];

/**
 * Validates a configuration object (from YAML, plus environment and
 * command-line overrides). Errors name the key: `mm7.listen: "x" is not host:port`.
 */
export function loadMmscConfig(raw: unknown, env: NodeJS.ProcessEnv = {}, overrides: { data?: string } = {}): MmscConfig {
  const base = (raw ?? {}) as Record<string, Record<string, unknown>>;
  if (typeof base !== 'object' || Array.isArray(base)) throw new ConfigError('configuration: expected a mapping at the top level');
  const merged = structuredClone(base);
  for (const [name, apply] of ENV) {
    const value = env[name];
    if (value !== undefined && value !== '') apply(merged, value);
  }
  if (overrides.data !== undefined) (merged as Record<string, unknown>).data = overrides.data;
  const result = mmscConfigSchema.safeParse(merged);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new ConfigError(`${issue.path.join('.') || 'configuration'}: ${issue.message}`);
  }
  return result.data;
}

export function readMmscConfig(file: string, env: NodeJS.ProcessEnv = process.env, overrides: { data?: string } = {}): MmscConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`${file}: ${(e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (e) {
    throw new ConfigError(`${file}: not valid YAML: ${(e as Error).message}`);
  }
  return loadMmscConfig(raw, env, overrides);
}
