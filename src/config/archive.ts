/**
 * Configuration of the archive node (server 2): conf/archive.yaml, plus
 * environment overrides (ARCHIVE_LISTEN, ARCHIVE_DATA, ARCHIVE_PUBLIC_URL,
 * ARCHIVE_API_TOKEN, ARCHIVE_SERVER1_URL). Errors name the key, as in mmsc.ts.
 */
import { z } from 'zod';
import { duration, listen, parseConfig, readYamlFile, type EnvOverride } from './mmsc.js';

const extractionRules = z.strictObject({
  types: z.array(z.string().regex(/^(\*|\*\/\*|[a-z0-9.+-]+\/(\*|[a-z0-9.+-]+))$/i, 'a media type or pattern such as image/*')).optional(),
  maxImages: z.number().int().min(0).optional(),
  text: z.boolean().optional(),
  audioSeconds: z.number().positive().max(3600).optional(),
});

const plan = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/),
  /** Absent or {}: the message is archived whole. */
  extraction: extractionRules.default({}),
  /** A decimal amount per confirmation, kept as text in the CDR so billing never rounds. */
  pricePerConfirmation: z.string().regex(/^\d{1,9}(\.\d{1,6})?$/).default('0'),
  currency: z.string().regex(/^[A-Z]{3}$/).default('EUR'),
  /** What ending the subscription does to what is archived. */
  onDelete: z.enum(['keep', 'delete']).default('keep'),
});

export const archiveConfigSchema = z
  .object({
    data: z.string().default('./data'),
    listen: listen.default({ host: '127.0.0.1', port: 8090 }),
    /** The base of the album and confirmation links; default http://<listen>. */
    publicUrl: z.url().optional(),
    /** National numbers in forwards are read with this country code. */
    countryCode: z.string().regex(/^[0-9]{1,3}$/).default('1'),
    mm7: z
      .object({
        path: z.string().startsWith('/').default('/mm7'),
        maxBodyOctets: z.number().int().positive().default(10 << 20),
        /** ApplicID a REL-6 forward must carry (when it carries one). */
        service: z.string().min(1).default('mmsgw-archive'),
        basic: z.object({ user: z.string().min(1), password: z.string().min(1) }).optional(),
        /** Shared secret of the X-Archive-Signature HMAC. */
        hmacSecret: z.string().min(16).optional(),
        /** Demo credentials: accepted from loopback peers only. */
        loopbackOnly: z.boolean().default(false),
        /** Run the plan's extraction here when the forward says server 1 did not. */
        extractOnArrival: z.boolean().default(true),
      })
      .prefault({})
      .refine((m) => m.basic !== undefined || m.hmacSecret !== undefined, { message: 'configure mm7.basic or mm7.hmacSecret: the receiver never runs open' }),
    api: z.object({ token: z.string().min(1).optional(), loopbackOnly: z.boolean().default(true) }).prefault({}),
    tokens: z
      .object({ secret: z.string().min(16), albumTtl: duration.default(365 * 86_400_000), confirmTtl: duration.default(365 * 86_400_000) }),
    plans: z.array(plan).min(1).prefault([{ name: 'full' }]),
    defaultPlan: z.string().optional(),
    signup: z.object({ enabled: z.boolean().default(true) }).prefault({}),
    sync: z
      .object({
        /** Server 1: where its subscriber feed is, and where our push hints go. */
        server1: z.object({ url: z.url(), token: z.string().min(1).optional() }).optional(),
        pullEvery: duration.default(30_000),
        pageSize: z.number().int().min(1).max(5000).default(500),
        timeout: duration.default(5_000),
      })
      .prefault({}),
    /** Subscriptions created at start when their address has none (the demo subscriber). */
    demo: z.object({ subscriptions: z.array(z.object({ address: z.string().min(1), plan: z.string().min(1) })).default([]) }).prefault({}),
  })
  .superRefine((c, ctx) => {
    const names = new Set(c.plans.map((p) => p.name));
    if (names.size !== c.plans.length) ctx.addIssue({ code: 'custom', path: ['plans'], message: 'plan names must be unique' });
    if (c.defaultPlan !== undefined && !names.has(c.defaultPlan)) ctx.addIssue({ code: 'custom', path: ['defaultPlan'], message: `no plan named ${c.defaultPlan}` });
    c.demo.subscriptions.forEach((s, i) => {
      if (!names.has(s.plan)) ctx.addIssue({ code: 'custom', path: ['demo', 'subscriptions', i, 'plan'], message: `no plan named ${s.plan}` });
    });
  });

export type ArchiveConfig = z.infer<typeof archiveConfigSchema>;
export type ArchivePlan = z.infer<typeof plan>;

const ENV: EnvOverride[] = [
  ['ARCHIVE_DATA', (c, v) => ((c as Record<string, unknown>).data = v)],
  ['ARCHIVE_LISTEN', (c, v) => ((c as Record<string, unknown>).listen = v)],
  ['ARCHIVE_PUBLIC_URL', (c, v) => ((c as Record<string, unknown>).publicUrl = v)],
  ['ARCHIVE_API_TOKEN', (c, v) => ((c.api ??= {}).token = v)],
  ['ARCHIVE_SERVER1_URL', (c, v) => ((c.sync ??= {}).server1 = { ...((c.sync.server1 as object | undefined) ?? {}), url: v })],
];

export function loadArchiveConfig(raw: unknown, env: NodeJS.ProcessEnv = {}, overrides: { data?: string } = {}): ArchiveConfig {
  return parseConfig(archiveConfigSchema, raw, ENV, env, overrides);
}

export function readArchiveConfig(file: string, env: NodeJS.ProcessEnv = process.env, overrides: { data?: string } = {}): ArchiveConfig {
  return loadArchiveConfig(readYamlFile(file), env, overrides);
}
