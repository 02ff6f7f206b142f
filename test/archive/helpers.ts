/**
 * Helpers of the archive tests: a node on 127.0.0.1:0 with its DB2 in a
 * temporary directory, forwards built with protocol/mm7 (through
 * src/archive/forward.ts, the code server 1 uses), and hand-made media.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { decodeMm7Http } from '../../protocol/mm7/http.js';
import type { Mm7Envelope } from '../../protocol/mm7/model.js';
import type { Release } from '../../protocol/mm7/releases.js';
import { encodeArchiveForward, type ArchiveForward, type ForwardAuth } from '../../src/archive/forward.js';
import { ArchiveNode } from '../../src/archive/node.js';
import { loadArchiveConfig, type ArchiveConfig } from '../../src/config/archive.js';
import type { Clock, StoredPart } from '../../src/mmsc/model.js';

export const API_TOKEN = 't0k3n';
export const BASIC: ForwardAuth = { kind: 'basic', user: 'server1', password: 's3cret' };
export const HMAC_SECRET = 'an-hmac-secret-of-server-one';
export const HMAC: ForwardAuth = { kind: 'hmac', secret: HMAC_SECRET };

interface Tap {
  teardown(fn: () => unknown): void;
}

/** A valid configuration; `raw` entries replace the defaults at the top level. */
export function testConfig(dir: string, raw: Record<string, unknown> = {}): ArchiveConfig {
  return loadArchiveConfig(testRawConfig(dir, raw));
}

/** The raw (YAML-shaped) form of testConfig, e.g. to write a config file for the CLI. */
export function testRawConfig(dir: string, raw: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    data: dir,
    listen: '127.0.0.1:0',
    mm7: { basic: { user: 'server1', password: 's3cret' }, hmacSecret: HMAC_SECRET },
    api: { token: API_TOKEN },
    tokens: { secret: 'a-test-secret-for-album-links', albumTtl: '1d', confirmTtl: '1d' },
    plans: [
      { name: 'full', pricePerConfirmation: '0.00' },
      { name: 'photos', extraction: { types: ['image/*'], maxImages: 2, text: true }, pricePerConfirmation: '0.05', currency: 'EUR', onDelete: 'delete' },
      { name: 'voice', extraction: { types: ['audio/*'], audioSeconds: 1 }, pricePerConfirmation: '0.10' },
    ],
    defaultPlan: 'full',
    ...raw,
  };
}

export function tempDir(t: Tap, prefix = 'archive-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A started node, stopped at teardown; `base` is its http://127.0.0.1:port. */
export async function startNode(t: Tap, opts: { raw?: Record<string, unknown>; clock?: Clock; dir?: string } = {}): Promise<{ node: ArchiveNode; base: string; dir: string }> {
  const dir = opts.dir ?? tempDir(t);
  const node = new ArchiveNode({ config: testConfig(dir, opts.raw), ...(opts.clock ? { clock: opts.clock } : {}) });
  await node.start();
  t.teardown(() => node.stop());
  return { node, base: `http://127.0.0.1:${node.port}`, dir };
}

export async function subscribe(base: string, address: string, plan?: string): Promise<{ id: string; albumUrl: string; confirmUrl: string }> {
  const res = await fetch(`${base}/api/subscriptions`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${API_TOKEN}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(plan !== undefined ? { address, plan } : { address }),
  });
  if (res.status !== 201) throw new Error(`subscribe: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as { id: string; albumUrl: string; confirmUrl: string };
}

export function api(base: string, path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${base}${path}`, { ...init, headers: { Authorization: `Bearer ${API_TOKEN}`, ...(init.headers as Record<string, string> | undefined) } });
}

export const TEXT_PART: StoredPart = { contentType: 'text/plain; charset=utf-8', contentId: 'text1', data: Buffer.from('Hello from the beach ☀', 'utf8') };

/** A forward of one message with sensible defaults. */
export function forwardOf(over: Partial<ArchiveForward> & { subscriptionId?: string }): ArchiveForward {
  return {
    release: 'REL-6-MM7-1-4',
    transactionId: `tx-${over.originalMessageId ?? 'm1'}`,
    recipient: '+15550001111',
    originalMessageId: 'm1',
    sender: '+15550009999',
    date: new Date('2026-11-20T10:00:00Z'),
    subject: 'Holiday',
    contentType: 'multipart/related; type="text/plain"',
    parts: [TEXT_PART],
    ...over,
  };
}

export interface Mm7Reply {
  status: number;
  text: string;
  headers: Headers;
  envelope?: Mm7Envelope;
}

/** POSTs a forward (built by encodeArchiveForward) and decodes the MM7 answer. */
export async function sendForward(base: string, f: ArchiveForward, auth: ForwardAuth | undefined = BASIC): Promise<Mm7Reply> {
  const { body, headers } = await encodeArchiveForward(f, auth);
  return postMm7(base, body, headers);
}

export async function postMm7(base: string, body: Buffer | string, headers: Record<string, string>): Promise<Mm7Reply> {
  const res = await fetch(`${base}/mm7`, { method: 'POST', headers, body });
  const bytes = Buffer.from(await res.arrayBuffer());
  const out: Mm7Reply = { status: res.status, text: bytes.toString('utf8'), headers: res.headers };
  const type = res.headers.get('content-type') ?? '';
  if (/xml/.test(type)) out.envelope = (await decodeMm7Http(type, [bytes])).envelope;
  return out;
}

export function basicHeader(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

/** A small real image (sharp draws it): `w`×`h`, one colour. */
export async function image(format: 'png' | 'jpeg', w = 64, h = 48, rgb: [number, number, number] = [200, 80, 20]): Promise<Buffer> {
  const img = sharp({ create: { width: w, height: h, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } });
  return format === 'png' ? img.png().toBuffer() : img.jpeg().toBuffer();
}

export const RELEASES_UNDER_TEST: readonly Release[] = ['REL-5-MM7-1-0', 'REL-5-MM7-1-2', 'REL-5-MM7-1-5', 'REL-6-MM7-1-0', 'REL-6-MM7-1-4'];
