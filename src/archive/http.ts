/**
 * What the archive node's HTTP handlers share: errors as JSON, HTML with
 * the headers every page of ours carries, query and body reading.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { BodyTooLarge, readBody, send } from '../frontends/http-util.js';
import { normaliseNumber } from '../mmsc/routing.js';

/** Answered as `{"error": message, ...extra}` with `status`. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

const ADDRESS = /^(\+?[0-9]{3,20}|[^\s@/]{1,64}@[^\s@/]{1,255})$/;

export function json(res: ServerResponse, status: number, body: unknown): void {
  send(res, status, JSON.stringify(body), { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' });
}

/** A page of ours: no script at all, images and media from this origin only, never framed. */
export function html(res: ServerResponse, status: number, text: string): void {
  send(res, status, text, {
    'Content-Type': 'text/html; charset=utf-8',
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    'Content-Security-Policy': "default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
  });
}

/** `+` kept as `+` (E.164), not read as a space. */
export function queryOf(search: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const pair of search.replace(/^\?/, '').split('&')) {
    if (!pair) continue;
    const eq = pair.indexOf('=');
    try {
      out.set(decodeURIComponent(eq < 0 ? pair : pair.slice(0, eq)), decodeURIComponent(eq < 0 ? '' : pair.slice(eq + 1)));
    } catch {
      throw new HttpError(400, 'a query parameter cannot be decoded');
    }
  }
  return out;
}

export function intParam(q: Map<string, string>, name: string, fallback: number, min: number, max: number): number {
  const text = q.get(name);
  if (text === undefined) return fallback;
  if (!/^[0-9]{1,15}$/.test(text) || Number(text) < min || Number(text) > max) throw new HttpError(400, `${name} must be an integer from ${min} to ${max}`);
  return Number(text);
}

export function allowMethods(req: IncomingMessage, ...allowed: string[]): void {
  if (!allowed.includes(req.method ?? '')) throw new HttpError(405, `${allowed.join(' or ')} only`, { allow: allowed.join(', ') });
}

/** A small body (forms, JSON), or 413. */
export async function smallBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  try {
    return await readBody(req, limit);
  } catch (e) {
    if (e instanceof BodyTooLarge) throw new HttpError(413, 'body too large');
    throw e;
  }
}

export async function readJson(req: IncomingMessage): Promise<unknown> {
  const body = await smallBody(req, 64 * 1024);
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw new HttpError(400, 'the body is not JSON');
  }
}

/** A subscriber address as stored: E.164 numbers, short codes, e-mail with a lower-case domain. */
export function normaliseAddress(text: string, countryCode: string): string | undefined {
  const t = text.trim();
  if (!ADDRESS.test(t.replace(/[\s\-().]/g, ''))) return undefined;
  if (t.includes('@')) {
    const at = t.lastIndexOf('@');
    return `${t.slice(0, at)}@${t.slice(at + 1).toLowerCase()}`;
  }
  return normaliseNumber(t, countryCode);
}
