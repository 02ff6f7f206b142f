import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { RELEASES, type Release } from '../../protocol/mm7/releases.js';
import { httpBearerConfigSchema } from '../push/http.js';
import { papBearerConfigSchema } from '../push/pap.js';
import { bearerSelectionSchema } from '../push/select.js';
import { smppBearerConfigSchema } from '../push/smpp.js';
import { transcoderConfigSchema } from '../transcode/setup.js';

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

/** `48h`, `30s`... as milliseconds, in a zod schema (shared by the archive node's config). */
export const duration = z.string().transform((s, ctx) => {
  try {
    return parseDuration(s);
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: (e as Error).message });
    return z.NEVER;
  }
});

/** `host:port`, port 0 allowed (tests); IPv6 as `[::1]:8080`. */
export const listen = z.string().transform((s, ctx) => {
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
  /** Where the MMS-C POSTs DeliverReq, DeliveryReportReq and ReadReplyReq to this VASP (with user/password). */
  deliveryUrl: z.url().optional(),
});

const smtpPeer = z.object({
  domain: z.string().min(1).toLowerCase(),
  /** The peer's MM4 SMTP listener, host:port. */
  host: listen,
  /** Source IPs the peer sends from; an MM4 mail from elsewhere needs the peer's SMTP AUTH. */
  allowedIps: z.array(z.string()).default([]),
  /** Credentials the peer uses with us (SMTP AUTH). */
  user: z.string().min(1).optional(),
  password: z.string().min(1).optional(),
  /** Credentials we use with the peer, when it asks for AUTH. */
  outboundUser: z.string().min(1).optional(),
  outboundPassword: z.string().min(1).optional(),
});

const smtpSchema = z.object({
  /** Off unless configured (conf/mmsc.yaml turns it on): a node in a test must not take port 2525 by surprise. */
  enabled: z.boolean().default(false),
  listen: listen.default({ host: '127.0.0.1', port: 2525 }),
  /** This MMS-C's mail domain: `+15550002222/TYPE=PLMN@<domain>` reaches a local subscriber. */
  domain: z.string().min(1).toLowerCase().default('mms.local'),
  /** Also take `15550002222@<domain>` (digits only) as a number. */
  plainNumbers: z.boolean().default(true),
  /** Local part of the MM4 system address (X-Mms-Originator-System, where .RES and reports come back). */
  systemUser: z.string().min(1).default('system-user'),
  /** Announced with SIZE and enforced (552). */
  maxMessageOctets: z.number().int().positive().default(4 << 20),
  maxRecipients: z.number().int().positive().default(50),
  maxClients: z.number().int().positive().default(200),
  socketTimeout: duration.default(60_000),
  /** text/html of a mail: reduced to text, or kept as a part beside it. */
  html: z.enum(['text', 'part']).default('text'),
  auth: z
    .object({
      users: z.array(z.object({ user: z.string().min(1), password: z.string().min(1) })).default([]),
      /** MM3 senders must authenticate (MM4 peers always need their IP or AUTH). */
      required: z.boolean().default(false),
      /** AUTH without TLS, for loopback test labs only (never from another host). */
      insecureOnLoopback: z.boolean().default(false),
    })
    .prefault({}),
  /** PEM files for STARTTLS; without them STARTTLS is not offered. */
  tls: z.object({ key: z.string().min(1), cert: z.string().min(1) }).optional(),
  outbound: z
    .object({
      /** host:port of the smarthost that takes MM3 mail. */
      smarthost: listen.optional(),
      /** Envelope sender and From of MM3 mail (default: mmsc@<domain>). */
      from: z.string().optional(),
      /** Adapt MM3 mail to this terminal profile (conf/terminals) before sending; absent: the content as stored. */
      adaptProfile: z.string().min(1).optional(),
      timeout: duration.default(30_000),
    })
    .prefault({}),
  peers: z.array(smtpPeer).default([]),
});

const archiveLinkSchema = z.object({
  /** off: no forwarding; synchronized: subscriptions from DB1's copy; unsynchronized: asked of server 2 per recipient. */
  mode: z.enum(['off', 'synchronized', 'unsynchronized']).default('off'),
  url: z.url().default('http://127.0.0.1:8090').transform((u) => u.replace(/\/$/, '')),
  path: z.string().startsWith('/').default('/mm7'),
  /** How server 1 proves itself to the receiver: HTTP Basic, or an HMAC-SHA256 of the body. */
  auth: z
    .discriminatedUnion('kind', [
      z.object({ kind: z.literal('basic'), user: z.string().min(1), password: z.string().min(1) }),
      z.object({ kind: z.literal('hmac'), secret: z.string().min(16) }),
    ])
    .default({ kind: 'basic', user: 'demo', password: 'demo' }),
  /** Server 2's API token (lookup in unsynchronized mode, its subscription feed). */
  apiToken: z.string().min(1).default('demo'),
  release: z.enum(RELEASES).default('REL-6-MM7-1-4'),
  /** How the forwarded parts travel: as they are (binary, HTTP is 8-bit clean), or base64 for a receiver that needs it. */
  transferEncoding: z.enum(['binary', 'base64']).default('binary'),
  service: z.string().min(1).default('mmsgw-archive'),
  timeout: duration.default(5000),
  lookupCache: duration.default(60_000),
  /** How often DB1 pulls server 2's subscription feed (synchronized mode); a hint pulls at once. */
  pullEvery: duration.default(30_000),
  /** What an archive subscriber's M-Retrieve.conf (and the archived copy) gets added. */
  enrichment: z
    .object({
      enabled: z.boolean().default(true),
      notice: z.boolean().default(true),
      link: z.boolean().default(true),
      geolocation: z.boolean().default(true),
      /** Locations server 1 knows for senders: normalised address → place. */
      senderLocations: z.record(z.string(), z.object({ lat: z.number().min(-90).max(90), lon: z.number().min(-180).max(180), label: z.string().max(256).optional() })).default({}),
      /** A lookup service: `{address}` is replaced; it answers JSON {lat, lon, label?}. */
      senderLocationUrl: z.url().optional(),
    })
    .prefault({}),
  /** Where the plans' extraction runs: here before forwarding (less traffic), or on server 2. */
  extraction: z
    .object({
      where: z.enum(['server1', 'server2']).default('server2'),
      /**
       * Plan name → rules, used when where = server1. Server 1 also reads server 2's plans
       * (GET /api/plans, at start and every pullEvery): rules given here win over those.
       */
      plans: z
        .record(
          z.string(),
          z.strictObject({ types: z.array(z.string()).optional(), maxImages: z.number().int().min(0).optional(), text: z.boolean().optional(), audioSeconds: z.number().positive().max(3600).optional() }),
        )
        .default({}),
    })
    .prefault({}),
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
    .object({
      default: duration.default(48 * 3_600_000),
      max: duration.default(7 * 86_400_000),
      sweepEvery: duration.default(60_000),
      /** How long a destroyed message is remembered (retrievals answer "expired", VASP retries are recognised). */
      keepTombstones: duration.default(7 * 86_400_000),
    })
    .prefault({}),
  routing: z
    .object({
      numberRanges: z.array(z.string().regex(/^\+?[0-9]*\*?$/)).default(['+1555*']),
      countryCode: z.string().regex(/^[0-9]{1,3}$/).default('1'),
      /** E-mail recipients leave by SMTP (MM3, outbox job 'mm3'); off: they are unroutable. */
      mm3: z.boolean().default(false),
      /** Peer MMS-Cs: numbers in their ranges leave by MM4 to their domain (transport in smtp.peers). */
      peers: z.array(z.object({ domain: z.string().min(1).toLowerCase(), numberRanges: z.array(z.string().regex(/^\+?[0-9]*\*?$/)).min(1) })).default([]),
    })
    .prefault({}),
  /** SMTP interworking: MM3 (e-mail) and MM4 (peer MMS-Cs), in and out. */
  smtp: smtpSchema.prefault({}),
  notifier: z.object({ kind: z.literal('spool'), dir: z.string().optional() }).prefault({ kind: 'spool' }),
  /**
   * The WAP push bearers, by name, and which one serves which numbers. Absent:
   * every push goes to the spool of `notifier` (the test-lab default).
   */
  push: z
    .object({
      bearers: z.record(
        z.string().regex(/^[A-Za-z0-9_-]{1,32}$/),
        z.discriminatedUnion('kind', [
          smppBearerConfigSchema.extend({ kind: z.literal('smpp') }),
          papBearerConfigSchema.extend({ kind: z.literal('pap') }),
          httpBearerConfigSchema.extend({ kind: z.literal('http') }),
          z.object({ kind: z.literal('spool'), dir: z.string().optional() }),
        ]),
      ),
      select: bearerSelectionSchema,
    })
    .optional(),
  vasps: z.array(vasp).default([]),
  /** Health, metrics and the admin API. No token: /healthz and /metrics only, the API answers 403. */
  admin: z
    .object({ listen: listen.default({ host: '127.0.0.1', port: 9090 }), token: z.string().min(1).optional(), loopbackOnly: z.boolean().default(true) })
    .prefault({}),
  /** Content adaptation on retrieval: terminal profiles, caches, limits (src/transcode/setup.ts). */
  transcoder: transcoderConfigSchema.prefault({}),
  /** The link to the archive node (server 2): subscribers' messages are forwarded there before the TTL destroys them. */
  archive: archiveLinkSchema.prefault({}),
});

export type MmscConfig = z.infer<typeof mmscConfigSchema> & {
  /** Derived from the VASP accounts at load time (loadMmscConfig). */
  routing: { vaspShortCodes?: Readonly<Record<string, string>> };
};
export type VaspAccount = z.infer<typeof vasp>;
export type SmtpConfig = z.infer<typeof smtpSchema>;
export type ArchiveLinkConfig = z.infer<typeof archiveLinkSchema>;
export type PushConfig = NonNullable<MmscConfig['push']>;
export type SmtpPeerConfig = z.infer<typeof smtpPeer>;

/** The releases a VASP may use. */
export function vaspReleases(v: VaspAccount): readonly Release[] {
  return v.releases === 'all' ? RELEASES : v.releases;
}

/** Environment overrides, one per listener and for the data directory. */
const ENV: EnvOverride[] = [
  ['MMSC_DATA', (c, v) => ((c as Record<string, unknown>).data = v)],
  ['MMSC_MM7_LISTEN', (c, v) => ((c.mm7 ??= {}).listen = v)],
  ['MMSC_MM1_LISTEN', (c, v) => ((c.mm1 ??= {}).listen = v)],
  ['MMSC_MM1_PUBLIC_URL', (c, v) => ((c.mm1 ??= {}).publicUrl = v)],
  ['MMSC_ADMIN_LISTEN', (c, v) => ((c.admin ??= {}).listen = v)],
  ['MMSC_ADMIN_TOKEN', (c, v) => ((c.admin ??= {}).token = v)],
  ['MMSC_SMTP_LISTEN', (c, v) => ((c.smtp ??= {}).listen = v)],
  ['MMSC_ARCHIVE_URL', (c, v) => ((c.archive ??= {}).url = v)],
];

/**
 * Validates a configuration object (from YAML, plus environment and
 * command-line overrides). Errors name the key: `mm7.listen: "x" is not host:port`.
 */
/** An environment variable and where it goes in the raw configuration. */
export type EnvOverride = [string, (c: Record<string, Record<string, unknown>>, v: string) => void];

/**
 * Both nodes' loading rule: the raw value (from YAML), then the environment
 * overrides, then `--data`, validated by `schema`; the first problem is a
 * ConfigError naming its key.
 */
export function parseConfig<S extends z.ZodType>(schema: S, raw: unknown, envTable: readonly EnvOverride[], env: NodeJS.ProcessEnv, overrides: { data?: string }): z.output<S> {
  const base = (raw ?? {}) as Record<string, Record<string, unknown>>;
  if (typeof base !== 'object' || Array.isArray(base)) throw new ConfigError('configuration: expected a mapping at the top level');
  const merged = structuredClone(base);
  for (const [name, apply] of envTable) {
    const value = env[name];
    if (value !== undefined && value !== '') apply(merged, value);
  }
  if (overrides.data !== undefined) (merged as Record<string, unknown>).data = overrides.data;
  const result = schema.safeParse(merged);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new ConfigError(`${issue.path.join('.') || 'configuration'}: ${issue.message}`);
  }
  return result.data;
}

export function loadMmscConfig(raw: unknown, env: NodeJS.ProcessEnv = {}, overrides: { data?: string } = {}): MmscConfig {
  const data = parseConfig(mmscConfigSchema, raw, ENV, env, overrides);
  // Routing learns the VASPs' short codes from their accounts: one list to keep, not two.
  const shortCodes: Record<string, string> = {};
  for (const v of data.vasps) for (const code of v.shortCodes) if (/^[0-9]{3,8}$/.test(code)) shortCodes[code] ??= v.vaspId;
  return { ...data, routing: { ...data.routing, vaspShortCodes: shortCodes } };
}

/** A YAML configuration file as a plain value; unreadable or invalid YAML is a ConfigError naming the file. */
export function readYamlFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`${file}: ${(e as Error).message}`);
  }
  try {
    return parseYaml(text);
  } catch (e) {
    throw new ConfigError(`${file}: not valid YAML: ${(e as Error).message}`);
  }
}

export function readMmscConfig(file: string, env: NodeJS.ProcessEnv = process.env, overrides: { data?: string } = {}): MmscConfig {
  return loadMmscConfig(readYamlFile(file), env, overrides);
}
