/**
 * The known terminal profiles and the matching order on retrieval (issue
 * 7): the x-wap-profile UAProf URL, then User-Agent patterns, then the
 * subscriber's profile in DB1 (a profile name or a UAProf URL), then the
 * default profile.
 */
import { readdirSync } from 'node:fs';
import { extname, join } from 'node:path';
import { loadProfileDir, profileFromClass, ProfileError, type TerminalProfile } from './profile.js';
import { loadUaprofFile } from './uaprof.js';

export type MatchedBy = 'x-wap-profile' | 'user-agent' | 'subscriber' | 'default';

export interface ProfileMatch {
  profile: TerminalProfile;
  by: MatchedBy;
}

export interface MatchHints {
  /** The x-wap-profile (or Profile) header as received. */
  profileUrl?: string;
  userAgent?: string;
  /** The subscriber's DB1 profile: a profile name or a UAProf URL. */
  subscriberProfile?: string;
}

/** `"http://a/b.xml", "1-abc…"` → `http://a/b.xml`: the first URL of the header, unquoted (profile diffs are not used). */
export function firstProfileUrl(header: string): string | undefined {
  for (const item of header.split(',')) {
    const url = item.trim().replace(/^"|"$/g, '').trim();
    if (/^https?:\/\//i.test(url)) return url;
  }
  return undefined;
}

/** URLs are compared without their fragment and with scheme and host in lower case. */
function normalizeUrl(url: string): string {
  const noFragment = url.trim().replace(/#.*$/, '');
  return noFragment.replace(/^([a-z]+:\/\/[^/]+)/i, (m) => m.toLowerCase());
}

export const DEFAULT_PROFILE_NAME = 'default';

export class ProfileRegistry {
  readonly #byName = new Map<string, TerminalProfile>();
  readonly #byUrl = new Map<string, TerminalProfile>();
  readonly #patterns: Array<{ re: RegExp; profile: TerminalProfile }> = [];
  readonly defaultProfile: TerminalProfile;

  /**
   * `profiles` in matching order for User-Agent patterns. Without a profile
   * named `defaultName`, the default is the Image Rich content class.
   */
  constructor(profiles: readonly TerminalProfile[], defaultName = DEFAULT_PROFILE_NAME) {
    for (const p of profiles) this.add(p);
    this.defaultProfile = this.#byName.get(defaultName) ?? profileFromClass(defaultName, 'image-rich');
    if (!this.#byName.has(defaultName)) this.#byName.set(defaultName, this.defaultProfile);
  }

  add(profile: TerminalProfile): void {
    if (this.#byName.has(profile.name)) throw new ProfileError(`two profiles are named ${JSON.stringify(profile.name)}`);
    this.#byName.set(profile.name, profile);
    for (const url of profile.uaprofUrls) this.#byUrl.set(normalizeUrl(url), profile);
    for (const p of profile.userAgentPatterns) this.#patterns.push({ re: new RegExp(p, 'i'), profile });
  }

  get names(): string[] {
    return [...this.#byName.keys()];
  }

  byName(name: string): TerminalProfile | undefined {
    return this.#byName.get(name);
  }

  byUaprofUrl(url: string): TerminalProfile | undefined {
    return this.#byUrl.get(normalizeUrl(url));
  }

  /** The profile named, or the profile of the UAProf URL given. */
  lookup(nameOrUrl: string): TerminalProfile | undefined {
    return this.#byName.get(nameOrUrl) ?? (/^https?:\/\//i.test(nameOrUrl) ? this.byUaprofUrl(nameOrUrl) : undefined);
  }

  match(hints: MatchHints): ProfileMatch {
    const url = hints.profileUrl === undefined ? undefined : firstProfileUrl(hints.profileUrl);
    const byUrl = url === undefined ? undefined : this.byUaprofUrl(url);
    if (byUrl) return { profile: byUrl, by: 'x-wap-profile' };
    if (hints.userAgent) {
      for (const { re, profile } of this.#patterns) if (re.test(hints.userAgent)) return { profile, by: 'user-agent' };
    }
    const subscriber = hints.subscriberProfile === undefined ? undefined : this.lookup(hints.subscriberProfile);
    if (subscriber) return { profile: subscriber, by: 'subscriber' };
    return { profile: this.defaultProfile, by: 'default' };
  }
}

/**
 * conf/terminals/: the `*.yaml`/`*.json` profiles, then the UAProf
 * documents (`*.rdf`, `*.xml`) of the directory and of its `uaprof/`
 * subdirectory, each known by its own URL.
 */
export function loadProfileRegistry(dir: string, defaultName = DEFAULT_PROFILE_NAME): ProfileRegistry {
  const profiles = loadProfileDir(dir);
  for (const sub of [dir, join(dir, 'uaprof')]) {
    let files: string[];
    try {
      files = readdirSync(sub).filter((f) => ['.rdf', '.xml'].includes(extname(f).toLowerCase()));
    } catch {
      continue;
    }
    for (const f of files.sort()) profiles.push(loadUaprofFile(join(sub, f)));
  }
  return new ProfileRegistry(profiles, defaultName);
}
