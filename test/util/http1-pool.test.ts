import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import t, { type Test } from 'tap';
import { AnswerReader, Http1Error, Http1Pool } from '../../src/util/http1-pool.js';

async function httpServer(t: Test, handler: (req: IncomingMessage, res: ServerResponse, body: Buffer) => void): Promise<{ server: Server; url: URL; connections: () => number }> {
  let connections = 0;
  const server = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handler(req, res, Buffer.concat(chunks)));
  });
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())).then(() => undefined));
  t.teardown(() => server.closeAllConnections());
  const { port } = server.address() as { port: number };
  return { server, url: new URL(`http://127.0.0.1:${port}/`), connections: () => connections };
}

/** A TCP server that answers each request (read up to its blank line and Content-Length) with `answer(n)`, n from 0. */
async function rawServer(t: Test, answer: (n: number, socket: Socket) => void): Promise<URL> {
  let n = 0;
  const sockets = new Set<Socket>();
  const server: NetServer = createNetServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    let buf = Buffer.alloc(0);
    socket.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const length = Number(/content-length: (\d+)/i.exec(buf.toString('latin1', 0, end))?.[1] ?? 0);
        if (buf.length < end + 4 + length) return;
        buf = buf.subarray(end + 4 + length);
        answer(n++, socket);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return new URL(`http://127.0.0.1:${(server.address() as { port: number }).port}/`);
}

const post = (pieces: Buffer[], headers: Record<string, string> = {}, timeoutMs = 5000) => ({ method: 'POST', path: '/mm7', headers: { 'Content-Type': 'text/plain', ...headers }, pieces, timeoutMs });

t.test('a POST in pieces arrives whole; answers come back; one kept-alive socket serves them in turn', async (t) => {
  const seen: Array<{ host?: string; length?: string; body: string; type?: string }> = [];
  const { url, connections } = await httpServer(t, (req, res, body) => {
    seen.push({ host: req.headers.host, length: req.headers['content-length'], body: body.toString(), type: req.headers['content-type'] });
    res.writeHead(200, { 'Content-Type': 'text/xml', 'X-Archive-Id': 'a1', 'Set-Cookie': ['x=1', 'y=2'] }).end(`got ${body.length}`);
  });
  const pool = new Http1Pool(url, { maxSockets: 4 });
  t.teardown(() => pool.close());
  for (let i = 0; i < 5; i++) {
    const a = await pool.request(post([Buffer.from('one,'), Buffer.alloc(0), Buffer.from(`two-${i}`)]));
    t.equal(a.status, 200);
    t.equal(a.body.toString(), `got ${8 + String(i).length}`);
    t.equal(a.headers['x-archive-id'], 'a1', 'names in lower case');
    t.equal(a.headers['set-cookie'], 'x=1, y=2', 'repeated fields joined');
  }
  t.same(seen[4], { host: url.host, length: '9', body: 'one,two-4', type: 'text/plain' });
  t.equal(connections(), 1, 'five requests, one connection');
  t.equal(pool.sockets, 1);
});

t.test('maxSockets bounds the connections; requests beyond it wait their turn', async (t) => {
  const { url, connections } = await httpServer(t, (_req, res, body) => {
    setTimeout(() => res.end(body), 20);
  });
  const pool = new Http1Pool(url, { maxSockets: 2 });
  t.teardown(() => pool.close());
  const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => pool.request(post([Buffer.from(`r${i}`)]))));
  t.same(
    answers.map((a) => a.body.toString()),
    Array.from({ length: 10 }, (_, i) => `r${i}`),
  );
  t.equal(connections(), 2);
});

t.test('chunked answers, a closing connection', async (t) => {
  const { url, connections } = await httpServer(t, (req, res) => {
    if (req.url === '/close') return void res.writeHead(200, { Connection: 'close', 'Content-Length': '2' }).end('ok');
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.write('first ');
    setTimeout(() => res.end('second'), 5);
  });
  const pool = new Http1Pool(url, { maxSockets: 4 });
  t.teardown(() => pool.close());
  const chunked = await pool.request(post([Buffer.from('x')]));
  t.equal(chunked.headers['transfer-encoding'], 'chunked');
  t.equal(chunked.body.toString(), 'first second');
  const closing = await pool.request({ ...post([Buffer.from('x')]), path: '/close' });
  t.equal(closing.body.toString(), 'ok');
  t.equal(pool.sockets, 0, 'Connection: close: the socket is not kept');
  t.equal((await pool.request(post([Buffer.from('x')]))).body.toString(), 'first second', 'the next request opens another');
  t.equal(connections(), 2);
});

t.test('an idle socket that the server closes leaves the pool; the next request opens another', async (t) => {
  const url = await rawServer(t, (_n, socket) => {
    socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    // The server's keep-alive timeout, shortened.
    setTimeout(() => socket.end(), 30);
  });
  const pool = new Http1Pool(url, { maxSockets: 1 });
  t.teardown(() => pool.close());
  t.equal((await pool.request(post([Buffer.from('1')]))).body.toString(), 'ok');
  t.equal(pool.sockets, 1, 'kept');
  await new Promise((r) => setTimeout(r, 150));
  t.equal(pool.sockets, 0, 'gone once the server closed it');
  t.equal((await pool.request(post([Buffer.from('2')]))).body.toString(), 'ok');
});

t.test('framing the hard way: octet by octet, 100 Continue, close-delimited, trailers', async (t) => {
  const answers = [
    'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello',
    'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok',
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n0\r\nX-Trailer: 1\r\n\r\n',
    'HTTP/1.0 200 OK\r\n\r\nuntil the end',
  ];
  const url = await rawServer(t, (n, socket) => {
    const bytes = Buffer.from(answers[n]!, 'latin1');
    if (n === 0) {
      // One octet per write, each on its own tick.
      let i = 0;
      const next = (): void => {
        if (i < bytes.length) socket.write(bytes.subarray(i, ++i), () => setImmediate(next));
      };
      next();
    } else if (n === 3) socket.end(bytes);
    else socket.write(bytes);
  });
  const pool = new Http1Pool(url, { maxSockets: 1 });
  t.teardown(() => pool.close());
  const a = await pool.request(post([Buffer.from('a')]));
  t.same([a.status, a.body.toString()], [200, 'hello']);
  const b = await pool.request(post([Buffer.from('b')]));
  t.same([b.status, b.body.toString()], [201, 'ok'], 'the interim answer is skipped');
  const c = await pool.request(post([Buffer.from('c')]));
  t.same([c.status, c.body.toString()], [200, 'abc'], 'chunk extension and trailer skipped');
  const d = await pool.request(post([Buffer.from('d')]));
  t.same([d.status, d.body.toString()], [200, 'until the end'], 'no framing: the body runs to the close');
});

t.test('errors: not HTTP, no answer in time, a kept socket closed under a request, too long', async (t) => {
  const url = await rawServer(t, (n, socket) => {
    if (n === 0) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    else if (n === 1) socket.destroy(); // the reused socket dies before any answer
    else if (n === 2) socket.write('SMTP ready\r\n\r\n');
    else if (n === 3) return; // never answers
    else socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n');
  });
  const pool = new Http1Pool(url, { maxSockets: 1, maxBodyOctets: 10 });
  t.teardown(() => pool.close());
  t.equal((await pool.request(post([Buffer.from('1')]))).body.toString(), 'ok');
  const reused = await pool.request(post([Buffer.from('2')])).catch((e: unknown) => e);
  t.ok(reused instanceof Http1Error && reused.reusedSocket, 'a kept socket that failed before any answer: reusedSocket, to send once more');
  const bad = await pool.request(post([Buffer.from('3')])).catch((e: unknown) => e);
  t.match(bad, { message: /not an HTTP\/1\.x status line/, reusedSocket: false });
  const slow = await pool.request(post([Buffer.from('4')], {}, 100)).catch((e: unknown) => e);
  t.match(slow, { message: /no answer within 100 ms/ });
  t.equal(pool.sockets, 0, 'a failed exchange closes its socket');
  const big = await pool.request(post([Buffer.from('5')])).catch((e: unknown) => e);
  t.match(big, { message: /more than 10/ });
  await t.rejects(pool.request(post([Buffer.from('x')], { 'Bad\r\nName': 'v' })), Http1Error, 'a header that would split the head is refused');
  t.throws(() => new Http1Pool(new URL('https://127.0.0.1/'), { maxSockets: 1 }), TypeError, 'plain HTTP only');
});

t.test('AnswerReader: the same answer however the octets are cut', (t) => {
  const wire = Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/xml\r\n\r\n4\r\nabcd\r\nA\r\n0123456789\r\n0\r\n\r\n', 'latin1');
  let wrong = 0;
  for (let cut = 1; cut < wire.length; cut++) {
    for (let cut2 = cut; cut2 < wire.length; cut2 += 7) {
      const reader = new AnswerReader(1 << 20);
      const out = reader.push(wire.subarray(0, cut)) ?? reader.push(wire.subarray(cut, cut2)) ?? reader.push(wire.subarray(cut2));
      if (out?.answer.body.toString() !== 'abcd0123456789' || out.answer.headers['content-type'] !== 'text/xml' || !out.keepAlive) wrong++;
    }
  }
  t.equal(wrong, 0, 'every split in two or three');
  t.throws(() => new AnswerReader(100).push(Buffer.from('HTTP/1.1 200 OK\r\n folded: no\r\n\r\n')), Http1Error, 'obs-fold refused');
  t.throws(() => new AnswerReader(100).push(Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n')), Http1Error, 'codings other than chunked refused');
  t.end();
});
