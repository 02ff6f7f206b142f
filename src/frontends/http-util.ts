import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import { FAST_PATH_OCTETS } from '../../protocol/mm7/binding.js';
import { LARGE_BODY_GC, type GcPacer } from '../util/gc-pacer.js';

/** The body would exceed its limit: answer 413 without reading the rest. */
export class BodyTooLarge extends Error {
  override readonly name = 'BodyTooLarge';
}

/** The error for a Content-Length beyond `limit`, refused before anything is read. */
function declaredTooLong(req: IncomingMessage, limit: number): BodyTooLarge | undefined {
  const declared = Number(req.headers['content-length']);
  return Number.isFinite(declared) && declared > limit ? new BodyTooLarge(`${declared} octets exceed ${limit}`) : undefined;
}

/**
 * Reads a request body up to `limit` octets. Content-Length beyond the
 * limit fails at once; a chunked body fails as soon as it passes it, so
 * memory stays bounded by the limit.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = declaredTooLong(req, limit);
  if (declared) return Promise.reject(declared);
  // Events, not an async iterator: one promise per body instead of one per chunk
  // (a few per cent of the archive node's CPU per forward).
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        done();
        req.resume(); // what is still arriving is dropped; the caller answers 413
        reject(new BodyTooLarge(`more than ${limit} octets`));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      done();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    const onError = (e: Error): void => {
      done();
      reject(e);
    };
    const onClose = (): void => {
      if (req.complete) return;
      done();
      reject(new Error('the request was aborted'));
    };
    const done = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

/**
 * A request body as it arrives, for a parser that reads it chunk by chunk
 * instead of holding it whole; BodyTooLarge as readBody (on the first read
 * for a Content-Length beyond the limit). A chunk past the first
 * FAST_PATH_OCTETS, where the MM7 binding starts splitting as the body
 * arrives, is reported to `pacer` once the parser asks for the next one,
 * done with it (see gc-pacer.ts).
 */
export async function* bodyChunks(req: IncomingMessage, limit: number, pacer: GcPacer = LARGE_BODY_GC): AsyncGenerator<Buffer, void, undefined> {
  const declared = declaredTooLong(req, limit);
  if (declared) throw declared;
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new BodyTooLarge(`more than ${limit} octets`);
    yield chunk;
    if (size > FAST_PATH_OCTETS) pacer.note(chunk.length);
  }
}

/** The Content-Length of a request, when it has a usable one. */
export function declaredLength(req: IncomingMessage): number | undefined {
  const declared = Number(req.headers['content-length']);
  return Number.isSafeInteger(declared) && declared >= 0 ? declared : undefined;
}

/** HTTP Basic credentials, or undefined when absent or unreadable. */
export function basicCredentials(req: IncomingMessage): { user: string; password: string } | undefined {
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(req.headers.authorization ?? '');
  if (!m) return undefined;
  const text = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  return colon < 0 ? undefined : { user: text.slice(0, colon), password: text.slice(colon + 1) };
}

/** Constant-time string comparison for secrets. */
export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function isLoopback(address: string | undefined): boolean {
  return address !== undefined && (address.startsWith('127.') || address === '::1' || address.startsWith('::ffff:127.'));
}

export function send(res: ServerResponse, status: number, body: string | Buffer = '', headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Length': String(Buffer.byteLength(body)), ...headers });
  res.end(body);
}

/** Listens and resolves with the bound port (0 picks a free one). */
export async function listen(server: Server, host: string, port: number): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  return typeof address === 'object' && address ? address.port : port;
}

/** Stops accepting, lets in-flight requests finish, closes idle keep-alive sockets. */
export async function close(server: Server): Promise<void> {
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}
