import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import t, { type Test } from 'tap';
import { BodyTooLarge, readBody } from '../../src/frontends/http-util.js';

/** A server whose handler reads the body with readBody(limit) and answers what happened. */
async function server(t: Test, limit: number, seen: Array<Buffer | Error>): Promise<number> {
  const s = createServer((req: IncomingMessage, res: ServerResponse) => {
    readBody(req, limit).then(
      (body) => {
        seen.push(body);
        res.end(`read ${body.length}`);
      },
      (e: Error) => {
        seen.push(e);
        if (e instanceof BodyTooLarge) res.writeHead(413, { Connection: 'close' }).end('too large');
      },
    );
  });
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    s.closeAllConnections();
    return new Promise<void>((resolve) => s.close(() => resolve()));
  });
  return (s.address() as { port: number }).port;
}

function send(port: number, chunks: string[], headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: 'POST', headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    for (const c of chunks) req.write(c);
    req.end();
  });
}

t.test('readBody: a chunked body whole; over the limit by Content-Length or while arriving, 413 still answered', async (t) => {
  const seen: Array<Buffer | Error> = [];
  const port = await server(t, 10, seen);
  t.same(await send(port, ['abc', 'def', 'gh']), { status: 200, body: 'read 8' });
  t.equal(seen[0]?.toString(), 'abcdefgh', 'the chunks in order');
  t.same(await send(port, ['0123456789abc'], { 'Content-Length': '13' }), { status: 413, body: 'too large' }, 'declared too long: refused before reading');
  t.match(seen[1], { name: 'BodyTooLarge', message: /13 octets exceed 10/ });
  t.same(await send(port, ['0123456', '789ab', 'cdef']), { status: 413, body: 'too large' }, 'chunked past the limit');
  t.match(seen[2], { name: 'BodyTooLarge', message: /more than 10 octets/ });
});

t.test('readBody: a request aborted half-way rejects', async (t) => {
  const seen: Array<Buffer | Error> = [];
  const port = await server(t, 1000, seen);
  await new Promise<void>((resolve) => {
    const req = request({ host: '127.0.0.1', port, method: 'POST', headers: { 'Content-Length': '100' } });
    req.on('error', () => resolve());
    req.write('only ten..', () => setTimeout(() => req.destroy(), 20));
  });
  for (let i = 0; i < 50 && seen.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  t.match(seen[0], { message: /aborted/ }, 'the promise settles with an error, not never');
});
