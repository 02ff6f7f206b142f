import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { answer } from '../../protocol/mm7/exchange.js';
import { decodeMm7Http, encodeMm7Http } from '../../protocol/mm7/http.js';
import type { MimeEntity } from '../../protocol/mm7/mime-types.js';
import { loadMmscConfig } from '../../src/config/mmsc.js';
import { MmscNode } from '../../src/mmsc/node.js';
import { loopbackMmscConfig, submitEnvelope } from '../helpers/mm7.js';
import { until } from '../helpers/wait.js';

// Server 1's HTTP client for forwards (archiving.ts): keep-alive sockets to
// server 2, and a forward that gets no answer within archive.timeout is
// given up and retried, never left hanging.

const SUBSCRIBER = '+15550001111';
const AUTH = `Basic ${Buffer.from('demo:demo').toString('base64')}`;
const content: MimeEntity = { mediaType: 'text/plain', params: { charset: 'utf-8' }, contentId: 'c', headers: [], body: Buffer.from('archive me') };

/** A stand-in for server 2: answers lookups; holds forwards unanswered until `answering`. */
class FakeServer2 {
  answering = false;
  readonly forwards: string[] = [];
  connections = 0;
  readonly #held: ServerResponse[] = [];
  readonly server: Server = createServer((req, res) => void this.#handle(req, res));

  constructor() {
    this.server.on('connection', () => this.connections++);
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    if (req.url?.startsWith('/api/lookup')) {
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ subscriptionId: 'sub-1', plan: 'full' }));
      return;
    }
    const env = (await decodeMm7Http(req.headers['content-type'] ?? '', Buffer.concat(chunks))).envelope;
    this.forwards.push(env.message.linkedId ?? '');
    if (!this.answering) {
      this.#held.push(res);
      return;
    }
    const a = answer(env, 1000);
    a.envelope.message.status!.details = `archive-id=arch-${this.forwards.length}`;
    const { contentType, body } = await encodeMm7Http(a.envelope);
    res.writeHead(200, { 'Content-Type': contentType }).end(body);
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return (this.server.address() as AddressInfo).port;
  }

  close(): Promise<void> {
    for (const res of this.#held) res.destroy();
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

t.test('a forward without an answer times out and is retried; answered forwards share one keep-alive socket', async (t) => {
  const server2 = new FakeServer2();
  const port = await server2.listen();
  t.teardown(() => server2.close());
  const dir = mkdtempSync(join(tmpdir(), 'mmsc-archiving-http-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const node = new MmscNode({
    notifier: { notify: async () => {} },
    backoff: { baseMs: 20, maxMs: 50 },
    config: loadMmscConfig(
      loopbackMmscConfig(dir, { ttl: { default: '60s' }, archive: { mode: 'unsynchronized', url: `http://127.0.0.1:${port}`, timeout: '300ms', lookupCache: '60s' } }),
    ),
  });
  await node.start();
  t.teardown(() => node.stop());
  const mm7 = node.listeners.find((l) => l.what.startsWith('MM7'))!.url;
  const submit = async (tx: string): Promise<string> => {
    const { contentType, body } = await encodeMm7Http(submitEnvelope(tx, [SUBSCRIBER]), content);
    const res = await fetch(mm7, { method: 'POST', headers: { 'Content-Type': contentType, Authorization: AUTH }, body });
    const a = (await decodeMm7Http(res.headers.get('content-type')!, Buffer.from(await res.arrayBuffer()))).envelope.message;
    if (a.status?.code !== 1000 || !a.messageId) throw new Error(`submit refused: ${JSON.stringify(a.status)}`);
    return a.messageId;
  };

  const first = await submit('http-1');
  const forwardJob = () => node.outbox.forMessage(first).find((j) => j.kind === 'archive-forward');
  await until('a forward timed out', () => (forwardJob()?.attempts ?? 0) > 0);
  t.match(forwardJob()?.lastError, /archive node unreachable: no answer within 300 ms/, 'the unanswered forward is given up after archive.timeout');
  t.equal(node.archive!.linkFor(first, SUBSCRIBER)?.state, 'pending', 'and the link stays pending: the job is retried');

  server2.answering = true;
  await until('archived once server 2 answers', () => node.archive!.linkFor(first, SUBSCRIBER)?.state === 'archived');
  t.match(node.archive!.linkFor(first, SUBSCRIBER)?.archiveId, /^arch-\d+$/, "server 2's archive id recorded");
  t.ok(server2.forwards.filter((id) => id === first).length >= 2, 'the forward was sent again after the timeout');

  // Sequential forwards reuse the socket the last answer came on.
  const before = server2.connections;
  for (const tx of ['http-2', 'http-3', 'http-4']) {
    const id = await submit(tx);
    await until(`${tx} archived`, () => node.archive!.linkFor(id, SUBSCRIBER)?.state === 'archived');
  }
  t.equal(server2.connections - before, 0, 'three more forwards, no new connection: keep-alive');
});
