/**
 * Golden PDU fixtures: `fixtures/pdu/*.hex`.
 *
 * A fixture file is hex octets with whitespace anywhere; a line whose first
 * non-blank character is `#` is a comment. A comment `# as: mms` (or `push`,
 * `sms`) near the top says which decoder the octets are for; mms when absent.
 *
 * Paths are resolved against the repository root, found by walking up from
 * this file to the first package.json, so the loader works from the .ts
 * sources (tap) and from dist/ (benchmarks) whatever the working directory.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export type FixtureKind = 'mms' | 'push' | 'sms';

export interface HexFixture {
  /** File name without `.hex`. */
  name: string;
  as: FixtureKind;
  bytes: Buffer;
}

const KINDS: readonly FixtureKind[] = ['mms', 'push', 'sms'];
const AS_LINE = /^#\s*as\s*:\s*(\S+)/i;

function findRepoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

/** The repository root (the directory holding package.json). */
export const REPO_ROOT = findRepoRoot();

/** Octets of a fixture's text: comment lines dropped, whitespace ignored. */
export function parseHex(text: string): Buffer {
  let digits = '';
  const lines = text.split(/\r?\n|\r/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    const compact = line.replace(/\s+/g, '');
    const bad = /[^0-9a-fA-F]/.exec(compact);
    if (bad) throw new Error(`line ${i + 1}: '${bad[0]}' is not a hex digit`);
    digits += compact;
  }
  if (digits.length % 2 !== 0) throw new Error(`odd number of hex digits (${digits.length})`);
  return Buffer.from(digits, 'hex');
}

/** The `# as:` kind of a fixture's text, or `fallback` when none is given. */
export function fixtureKind(text: string, fallback: FixtureKind = 'mms'): FixtureKind {
  for (const raw of text.split(/\r?\n|\r/)) {
    const line = raw.trim();
    if (!line.startsWith('#')) continue;
    const m = AS_LINE.exec(line);
    if (!m) continue;
    const kind = m[1]!.toLowerCase();
    if (!(KINDS as readonly string[]).includes(kind)) throw new Error(`'# as: ${m[1]}' is not one of ${KINDS.join(', ')}`);
    return kind as FixtureKind;
  }
  return fallback;
}

/**
 * Every `*.hex` file of `dir` (relative to the repository root unless
 * absolute), sorted by name. A missing directory gives an empty list, so
 * callers work before the fixtures are written. `defaultAs` is the kind of
 * files without an `# as:` line (fixtures/sms holds SMS user data, say).
 */
export function loadHexFixtures(dir = 'fixtures/pdu', defaultAs: FixtureKind = 'mms'): HexFixture[] {
  const abs = isAbsolute(dir) ? dir : resolve(REPO_ROOT, dir);
  if (!existsSync(abs)) return [];
  return readdirSync(abs)
    .filter((f) => f.endsWith('.hex'))
    .sort()
    .map((f) => {
      const text = readFileSync(join(abs, f), 'utf8');
      try {
        return { name: f.slice(0, -'.hex'.length), as: fixtureKind(text, defaultAs), bytes: parseHex(text) };
      } catch (e) {
        throw new Error(`${join(abs, f)}: ${(e as Error).message}`);
      }
    });
}

/** `fixtures/mm7/http/*.http`: MM7 requests as a test lab captures them, HTTP header and body. */
export const HTTP_FIXTURE_DIR = join(REPO_ROOT, 'fixtures/mm7/http');

export interface HttpFixture {
  contentType: string;
  body: Buffer;
  /** The whole file, header included. */
  raw: Buffer;
}

export function httpFixtureNames(): string[] {
  return readdirSync(HTTP_FIXTURE_DIR).filter((n) => n.endsWith('.http'));
}

/** One HTTP fixture: its Content-Type and body (a CRLF or bare-LF header; Content-Length checked when given). */
export function readHttpFixture(name: string): HttpFixture {
  const raw = readFileSync(join(HTTP_FIXTURE_DIR, name));
  const crlf = raw.indexOf('\r\n\r\n');
  const lf = raw.indexOf('\n\n');
  const [end, sep] = crlf >= 0 && (lf < 0 || crlf < lf) ? [crlf, 4] : [lf, 2];
  if (end < 0) throw new Error(`${name}: no end of the HTTP header`);
  const fields = new Map<string, string>();
  for (const line of raw.subarray(0, end).toString('latin1').split(/\r?\n/).slice(1)) {
    const colon = line.indexOf(':');
    fields.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  const body = raw.subarray(end + sep);
  const length = fields.get('content-length');
  if (length !== undefined && Number(length) !== body.length) throw new Error(`${name}: Content-Length ${length}, body ${body.length}`);
  const contentType = fields.get('content-type');
  if (contentType === undefined) throw new Error(`${name}: no Content-Type`);
  return { contentType, body, raw };
}
