/**
 * Terminal profiles: what a terminal can show and fetch. A profile comes
 * from conf/terminals/ (YAML or JSON), from a UAProf document (uaprof.ts),
 * or from the content class alone.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

/** OMA MMS conformance content classes (spec g.1), with their limits; 1 KB = 1024 octets. */
export const CONTENT_CLASSES = {
  text: { code: 0x80, maxMessageSize: 30 * 1024, maxImage: undefined, media: ['text/plain', 'application/smil'] },
  'image-basic': {
    code: 0x81,
    maxMessageSize: 30 * 1024,
    maxImage: { width: 160, height: 120 },
    media: ['text/plain', 'application/smil', 'image/jpeg', 'image/gif', 'image/vnd.wap.wbmp'],
  },
  'image-rich': {
    code: 0x82,
    maxMessageSize: 100 * 1024,
    maxImage: { width: 640, height: 480 },
    media: ['text/plain', 'application/smil', 'image/jpeg', 'image/gif', 'image/vnd.wap.wbmp', 'image/png', 'audio/amr', 'text/x-vcard', 'text/x-vcalendar'],
  },
  'video-basic': {
    code: 0x83,
    maxMessageSize: 100 * 1024,
    maxImage: { width: 640, height: 480 },
    media: ['text/plain', 'application/smil', 'image/jpeg', 'image/gif', 'image/vnd.wap.wbmp', 'image/png', 'audio/amr', 'text/x-vcard', 'text/x-vcalendar', 'video/3gpp'],
  },
  'video-rich': {
    code: 0x84,
    maxMessageSize: 300 * 1024,
    maxImage: { width: 640, height: 480 },
    media: ['text/plain', 'application/smil', 'image/jpeg', 'image/gif', 'image/vnd.wap.wbmp', 'image/png', 'audio/amr', 'text/x-vcard', 'text/x-vcalendar', 'video/3gpp', 'video/mp4'],
  },
  megapixel: {
    code: 0x85,
    maxMessageSize: 600 * 1024,
    maxImage: { width: 1600, height: 1200 },
    media: ['text/plain', 'application/smil', 'image/jpeg', 'image/gif', 'image/vnd.wap.wbmp', 'image/png', 'audio/amr', 'text/x-vcard', 'text/x-vcalendar'],
  },
} as const satisfies Record<string, { code: number; maxMessageSize: number; maxImage: Dimensions | undefined; media: readonly string[] }>;

export type ContentClass = keyof typeof CONTENT_CLASSES;

export interface Dimensions {
  width: number;
  height: number;
}

export interface TerminalProfile {
  /** Unique among the profiles; what DB1's subscriber profile and the CLI's --profile name. */
  name: string;
  description?: string;
  contentClass: ContentClass;
  /** Largest M-Retrieve.conf the terminal takes, octets (UAProf MmsMaxMessageSize). */
  maxMessageSize: number;
  /** Largest image, pixels (UAProf MmsMaxImageResolution); undefined: no images at all. */
  maxImage: Dimensions | undefined;
  screen?: Dimensions;
  /** Accepted media types, lower case, without parameters; `image/*` and `*\/*` are wildcards (UAProf MmsCcppAccept). */
  accept: string[];
  /** Accepted charsets, lower case, preferred first (UAProf MmsCcppAcceptCharSet). */
  charsets: string[];
  /** UAProf URLs (x-wap-profile) that mean this profile. */
  uaprofUrls: string[];
  /** User-Agent regular expressions, tried in profile order. */
  userAgentPatterns: string[];
}

const dimensions = z.string().transform((s, ctx) => {
  const d = parseDimensions(s);
  if (!d) {
    ctx.addIssue({ code: 'custom', message: `"${s}" is not WIDTHxHEIGHT` });
    return z.NEVER;
  }
  return d;
});

const size = z.union([z.number().int().positive(), z.string()]).transform((v, ctx) => {
  if (typeof v === 'number') return v;
  const m = /^\s*(\d+)\s*(KB|K|MB|M|B)?\s*$/i.exec(v);
  if (!m) {
    ctx.addIssue({ code: 'custom', message: `"${v}" is not a size such as 30KB or 307200` });
    return z.NEVER;
  }
  const unit = (m[2] ?? 'B').toUpperCase();
  return Number(m[1]) * (unit.startsWith('M') ? 1024 * 1024 : unit.startsWith('K') ? 1024 : 1);
});

const profileFileSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9._-]+$/, 'a name of letters, digits, dot, dash and underscore'),
    description: z.string().optional(),
    contentClass: z.enum(Object.keys(CONTENT_CLASSES) as [ContentClass, ...ContentClass[]]),
    maxMessageSize: size.optional(),
    maxImageResolution: dimensions.optional(),
    screenSize: dimensions.optional(),
    accept: z.array(z.string().min(1)).optional(),
    charsets: z.array(z.string().min(1)).optional(),
    match: z
      .object({
        uaprof: z.array(z.string().url()).default([]),
        userAgent: z.array(z.string().min(1)).default([]),
      })
      .prefault({}),
  })
  .strict();

export type ProfileFile = z.input<typeof profileFileSchema>;

/** A profile file that will not do: names the file and the key. */
export class ProfileError extends Error {
  override readonly name = 'ProfileError';
  readonly code = 'TRANSCODE_BAD_PROFILE';
}

/** `640x480` (also `640X480`, `640*480`) → dimensions. */
export function parseDimensions(text: string): Dimensions | undefined {
  const m = /^\s*(\d{1,5})\s*[xX*]\s*(\d{1,5})\s*$/.exec(text);
  if (!m) return undefined;
  const width = Number(m[1]);
  const height = Number(m[2]);
  return width > 0 && height > 0 ? { width, height } : undefined;
}

/** The profile a content class alone describes, with overrides. */
export function profileFromClass(name: string, contentClass: ContentClass, over: Partial<TerminalProfile> = {}): TerminalProfile {
  const c = CONTENT_CLASSES[contentClass];
  return {
    name,
    contentClass,
    maxMessageSize: c.maxMessageSize,
    maxImage: c.maxImage,
    accept: [...c.media],
    charsets: ['utf-8', 'us-ascii'],
    uaprofUrls: [],
    userAgentPatterns: [],
    ...over,
  };
}

/** Validates one profile document (already parsed from YAML/JSON); `source` names it in errors. */
export function parseProfile(doc: unknown, source: string): TerminalProfile {
  const r = profileFileSchema.safeParse(doc);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new ProfileError(`${source}: ${issue.path.join('.') || '(top)'}: ${issue.message}`);
  }
  const f = r.data;
  for (const p of f.match.userAgent) {
    try {
      new RegExp(p);
    } catch (e) {
      throw new ProfileError(`${source}: match.userAgent: ${(e as Error).message}`);
    }
  }
  const profile = profileFromClass(f.name, f.contentClass, {
    uaprofUrls: f.match.uaprof,
    userAgentPatterns: f.match.userAgent,
  });
  if (f.description !== undefined) profile.description = f.description;
  if (f.maxMessageSize !== undefined) profile.maxMessageSize = f.maxMessageSize;
  if (f.maxImageResolution !== undefined) profile.maxImage = f.maxImageResolution;
  if (f.screenSize !== undefined) profile.screen = f.screenSize;
  if (f.accept !== undefined) profile.accept = f.accept.map((a) => a.trim().toLowerCase());
  if (f.charsets !== undefined) profile.charsets = f.charsets.map((c) => c.trim().toLowerCase());
  return profile;
}

/** Every `*.yaml`, `*.yml` and `*.json` profile of a directory, sorted by file name (the User-Agent matching order). */
export function loadProfileDir(dir: string): TerminalProfile[] {
  const files = readdirSync(dir)
    .filter((f) => ['.yaml', '.yml', '.json'].includes(extname(f).toLowerCase()))
    .sort();
  return files.map((f) => loadProfileFile(join(dir, f)));
}

export function loadProfileFile(path: string): TerminalProfile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ProfileError(`${path}: ${(e as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = extname(path).toLowerCase() === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    throw new ProfileError(`${path}: ${(e as Error).message}`);
  }
  return parseProfile(doc, path);
}

/** Does the profile accept this media type (lower case, no parameters)? Honours `type/*` and `*\/*`. */
export function accepts(profile: TerminalProfile, mediaType: string): boolean {
  const t = mediaType.toLowerCase();
  const major = t.slice(0, t.indexOf('/') + 1);
  return profile.accept.some((a) => a === t || a === '*/*' || (a.endsWith('/*') && a.slice(0, -1) === major));
}

/**
 * What identifies a profile's adaptation result in the caches: its name
 * and a digest of every field adaptation reads, so editing a profile file
 * never serves results made for its old limits.
 */
export function profileId(profile: TerminalProfile): string {
  let id = profileIds.get(profile);
  if (id === undefined) profileIds.set(profile, (id = computeProfileId(profile)));
  return id;
}

/** Profiles are not edited in place once loaded: the id is computed once per profile object. */
const profileIds = new WeakMap<TerminalProfile, string>();

function computeProfileId(profile: TerminalProfile): string {
  const { name, maxMessageSize, maxImage, accept, charsets } = profile;
  const digest = createHash('sha256').update(JSON.stringify({ maxMessageSize, maxImage, accept, charsets })).digest('hex').slice(0, 16);
  return `${encodeURIComponent(name)}@${digest}`;
}
