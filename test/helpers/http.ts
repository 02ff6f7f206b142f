import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Test } from 'tap';

/** What a test server does with a request whose body it has read whole. */
export type BodyHandler = (req: IncomingMessage, body: Buffer, res: ServerResponse) => void;

/**
 * An HTTP server on 127.0.0.1, port 0, that reads each body whole and hands
 * it to `handle` (for answers no simulator gives); closed, with its
 * connections, at the end of the test. Resolves with `http://127.0.0.1:PORT`.
 */
export async function bodyServer(t: Test, handle: BodyHandler): Promise<string> {
  const s = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handle(req, Buffer.concat(chunks), res));
  });
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  t.teardown(async () => {
    const closed = new Promise<void>((resolve) => s.close(() => resolve()));
    s.closeAllConnections();
    await closed;
  });
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
}
