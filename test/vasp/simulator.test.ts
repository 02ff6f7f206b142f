import t, { type Test } from 'tap';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join, relative, resolve } from 'node:path';
import { decodeMm7Http, encodeMm7Http } from '../../protocol/mm7/http.js';
import type { MimeEntity } from '../../protocol/mm7/mime-types.js';
import type { Mm7Envelope } from '../../protocol/mm7/model.js';
import { parseMm7Soap } from '../../protocol/mm7/soap.js';
import { formatContentType, safeFileName, VaspSimulator, type VaspLogEntry, type VaspSimulatorOptions } from '../../src/vasp/simulator.js';
import { REPO_ROOT } from '../helpers/fixtures.js';

const GIF = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==', 'base64');
const BASIC_DEMO = `Basic ${Buffer.from('demo:demo').toString('base64')}`;
const soapFixture = (name: string): string => readFileSync(join(REPO_ROOT, 'fixtures/mm7/soap', name), 'utf8');

interface Reply {
  status: number;
  headers: Headers;
  envelope?: Mm7Envelope;
  text: string;
}

async function post(url: string, body: Buffer | string, headers: Record<string, string>): Promise<Reply> {
  const res = await fetch(url, { method: 'POST', headers, body });
  const bytes = Buffer.from(await res.arrayBuffer());
  const type = res.headers.get('content-type') ?? '';
  const reply: Reply = { status: res.status, headers: res.headers, text: bytes.toString('utf8') };
  if (/xml|multipart/.test(type)) reply.envelope = (await decodeMm7Http(type, bytes)).envelope;
  return reply;
}

async function startSim(t: Test, options: VaspSimulatorOptions = {}): Promise<{ url: string; log: VaspLogEntry[]; sim: VaspSimulator }> {
  const log: VaspLogEntry[] = [];
  const sim = new VaspSimulator({ now: () => new Date('2025-01-02T03:04:05Z'), log: (e) => log.push(e), ...options });
  const { url, port } = await sim.start();
  t.ok(port > 0, 'listening on a free port');
  t.teardown(() => sim.stop());
  return { url, log, sim };
}

/** The MO message of fixtures/mm7/soap/deliver-rel6-1-4.xml with content: a GIF, a text, and a part whose Content-Location tries to climb out. */
function deliverWithContent(): { envelope: Mm7Envelope; content: MimeEntity } {
  const envelope = parseMm7Soap(soapFixture('deliver-rel6-1-4.xml'));
  const content: MimeEntity = {
    mediaType: 'multipart/related',
    params: { type: 'application/smil', start: '<smil@mo>' },
    headers: [],
    parts: [
      { mediaType: 'application/smil', params: {}, contentId: 'smil@mo', contentLocation: 'mo.smil', headers: [], body: Buffer.from('<smil><body><par><img src="dot.gif"/></par></body></smil>') },
      { mediaType: 'image/gif', params: {}, contentId: 'img@mo', contentLocation: 'dot.gif', headers: [], body: GIF },
      { mediaType: 'text/plain', params: { charset: 'utf-8' }, contentId: 'txt@mo', contentLocation: 'answer.txt', headers: [], body: Buffer.from('B, final answer\r\n') },
      { mediaType: 'application/octet-stream', params: {}, contentLocation: '../../etc/x', headers: [], body: Buffer.from('escape attempt') },
      { mediaType: 'application/octet-stream', params: {}, headers: [], body: Buffer.from('no name') },
      { mediaType: 'image/gif', params: {}, contentLocation: 'sub/dot.gif', headers: [], body: GIF },
    ],
  };
  return { envelope, content };
}

/** Every file under `dir`, relative paths, sorted. */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.push(relative(dir, p));
    }
  };
  walk(dir);
  return out.sort();
}

t.test('safe file names stay inside their directory', async (t) => {
  t.equal(safeFileName('../../etc/x'), 'x');
  t.equal(safeFileName('..\\..\\boot.ini'), 'boot.ini');
  t.equal(safeFileName('/etc/passwd'), 'passwd');
  t.equal(safeFileName('..'), undefined);
  t.equal(safeFileName('.'), undefined);
  t.equal(safeFileName('../'), undefined);
  t.equal(safeFileName('.hidden'), '_hidden');
  t.equal(safeFileName('a b:c*?.gif'), 'a_b_c__.gif');
  t.equal(safeFileName('Grüße.txt'), 'Grüße.txt');
  t.equal(safeFileName('nul\0byte'), 'nul_byte');
  t.equal(safeFileName(''), undefined);
  t.equal(safeFileName(undefined), undefined);
  const long = safeFileName(`${'x'.repeat(300)}.jpeg`);
  t.equal(long?.length, 120);
  t.match(long, /\.jpeg$/);
  t.equal(formatContentType({ mediaType: 'text/plain', params: { charset: 'utf-8' } }), 'text/plain; charset=utf-8');
  t.equal(formatContentType({ mediaType: 'multipart/related', params: { start: '<a@b>', type: 'application/smil' } }), 'multipart/related; start="<a@b>"; type="application/smil"');
});

t.test('the simulator answers DeliverReq, DeliveryReportReq and ReadReplyReq, saves content, logs each request', async (t) => {
  const out = t.testdir({});
  const { url, log } = await startSim(t, { out, user: 'demo', password: 'demo' });
  const auth = { authorization: BASIC_DEMO };

  // DeliverReq with content
  const { envelope, content } = deliverWithContent();
  const mo = await encodeMm7Http(envelope, content);
  const r1 = await post(url, mo.body, { ...auth, 'content-type': mo.contentType, soapaction: '""' });
  t.equal(r1.status, 200);
  t.same(r1.envelope, {
    release: 'REL-6-MM7-1-4',
    transactionId: 'mmsc-dlv-0042',
    message: { type: 'DeliverRsp', mm7Version: '6.8.0', status: { code: 1000, text: 'Success' } },
  });
  const dir = join(out, 'mmsc-dlv-0042');
  t.same(filesUnder(out), ['answer.txt', 'dot-2.gif', 'dot.gif', 'mo.smil', 'part-5', 'x'].map((f) => join('mmsc-dlv-0042', f)), 'every leaf saved, nothing outside DIR/<TransactionID>');
  t.ok(readFileSync(join(dir, 'dot.gif')).equals(GIF), 'the GIF is saved byte-identical');
  t.ok(readFileSync(join(dir, 'dot-2.gif')).equals(GIF), 'a second dot.gif gets its own name');
  t.equal(readFileSync(join(dir, 'answer.txt'), 'utf8'), 'B, final answer\r\n');
  t.equal(readFileSync(join(dir, 'x'), 'utf8'), 'escape attempt', '../../etc/x is saved inside DIR');
  t.equal(readFileSync(join(dir, 'part-5'), 'utf8'), 'no name');
  t.notOk(existsSync(resolve(dir, '../../etc/x')), 'nothing climbed out');

  // DeliveryReportReq, SOAP only, REL-5-MM7-1-2 with a vendor element
  const r2 = await post(url, soapFixture('delivery-report-rel5-1-2.xml'), { ...auth, 'content-type': 'text/xml; charset="utf-8"' });
  t.equal(r2.status, 200);
  t.same(r2.envelope, { release: 'REL-5-MM7-1-2', transactionId: 'dr-9', message: { type: 'DeliveryReportRsp', mm7Version: '5.3.0', status: { code: 1000, text: 'Success' } } });

  // ReadReplyReq, SOAP only, prefixed, REL-5-MM7-1-3
  const r3 = await post(url, soapFixture('read-reply-rel5-1-3.xml'), { ...auth, 'content-type': 'text/xml' });
  t.equal(r3.status, 200);
  t.same(r3.envelope, { release: 'REL-5-MM7-1-3', transactionId: 'rr-3', message: { type: 'ReadReplyRsp', mm7Version: '5.6.0', status: { code: 1000, text: 'Success' } } });

  // garbage
  const r4 = await post(url, 'this is not SOAP <<<', { ...auth, 'content-type': 'text/xml' });
  t.equal(r4.status, 500);
  t.equal(r4.envelope?.message.type, 'VASPErrorRsp');
  t.equal(r4.envelope?.message.status?.code, 2007);
  t.equal(r4.envelope?.fault?.code, 'env:Client');
  const r5 = await post(url, Buffer.from([0, 1, 2, 3]), { ...auth, 'content-type': 'image/png' });
  t.equal(r5.status, 500);
  t.equal(r5.envelope?.message.status?.code, 2007, 'a body that is not MM7 at all is a Fault too');

  t.same(filesUnder(out).length, 6, 'SOAP-only requests save nothing');

  t.equal(log.length, 5, 'one log record per request');
  const [deliver, report, read, garbage] = log;
  t.same(Object.keys(deliver!).slice(0, 4), ['time', 'type', 'release', 'transactionId']);
  t.match(deliver, {
    time: '2025-01-02T03:04:05.000Z',
    type: 'DeliverReq',
    release: 'REL-6-MM7-1-4',
    transactionId: 'mmsc-dlv-0042',
    status: 1000,
    httpStatus: 200,
    method: 'POST',
    path: '/',
    message: { type: 'DeliverReq', subject: 'Answer: B', sender: { kind: 'Number', value: '+15550002222' } },
  });
  t.same(deliver!.parts, [
    { contentType: 'application/smil', contentId: 'smil@mo', contentLocation: 'mo.smil', size: 57, file: join(dir, 'mo.smil') },
    { contentType: 'image/gif', contentId: 'img@mo', contentLocation: 'dot.gif', size: 43, file: join(dir, 'dot.gif') },
    { contentType: 'text/plain; charset=utf-8', contentId: 'txt@mo', contentLocation: 'answer.txt', size: 17, file: join(dir, 'answer.txt') },
    { contentType: 'application/octet-stream', contentLocation: '../../etc/x', size: 14, file: join(dir, 'x') },
    { contentType: 'application/octet-stream', size: 7, file: join(dir, 'part-5') },
    { contentType: 'image/gif', contentLocation: 'sub/dot.gif', size: 43, file: join(dir, 'dot-2.gif') },
  ]);
  t.match(report, { type: 'DeliveryReportReq', release: 'REL-5-MM7-1-2', transactionId: 'dr-9', status: 1000, parts: [], message: { mmStatus: 'Retrieved' } });
  t.match(read, { type: 'ReadReplyReq', release: 'REL-5-MM7-1-3', transactionId: 'rr-3', status: 1000, parts: [], message: { mmStatus: 'Read' } });
  t.match(garbage, { type: null, httpStatus: 500, status: 2007, parts: [], error: /not well-formed|SOAP/ });
  t.notOk('message' in garbage!);
  // Each record is one JSON line, dates as ISO strings.
  const line = JSON.stringify(report);
  t.notMatch(line, /\n/);
  t.match(JSON.parse(line), { message: { date: '2024-05-01T10:05:00.000Z' } });

  // A retried TransactionID gets a fresh directory.
  const again = await post(url, mo.body, { ...auth, 'content-type': mo.contentType });
  t.equal(again.status, 200);
  t.ok(readFileSync(join(out, 'mmsc-dlv-0042-2', 'dot.gif')).equals(GIF));
});

t.test('HTTP-level refusals: 401, 405, 413', async (t) => {
  const { url, log } = await startSim(t, { user: 'demo', password: 'demo', maxBodyOctets: 4096 });
  const report = soapFixture('delivery-report-rel5-1-2.xml');
  const xml = { 'content-type': 'text/xml' };
  for (const authorization of [undefined, `Basic ${Buffer.from('demo:wrong').toString('base64')}`, `Basic ${Buffer.from('demo:demox').toString('base64')}`, 'Bearer demo', 'Basic !!!']) {
    const r = await post(url, report, { ...xml, ...(authorization ? { authorization } : {}) });
    t.equal(r.status, 401, `401 for ${authorization ?? 'no credentials'}`);
    t.match(r.headers.get('www-authenticate'), /^Basic realm=/);
  }
  const ok = await post(url, report, { ...xml, authorization: BASIC_DEMO });
  t.equal(ok.status, 200);

  const get = await fetch(url, { headers: { authorization: BASIC_DEMO } });
  t.equal(get.status, 405);
  t.equal(get.headers.get('allow'), 'POST');
  await get.arrayBuffer();

  const big = await post(url, Buffer.alloc(5000, 0x41), { ...xml, authorization: BASIC_DEMO });
  t.equal(big.status, 413, 'a declared Content-Length past the limit');

  // Chunked, no Content-Length: the limit is enforced while reading.
  const chunked = await new Promise<number>((resolvePost, reject) => {
    const req = request(url, { method: 'POST', headers: { ...xml, authorization: BASIC_DEMO, 'transfer-encoding': 'chunked' } }, (res) => {
      res.resume();
      resolvePost(res.statusCode ?? 0);
    });
    req.on('error', reject);
    for (let i = 0; i < 5; i++) req.write(Buffer.alloc(1000, 0x42));
    req.end();
  });
  t.equal(chunked, 413, 'a chunked body past the limit');

  t.same(log.map((e) => e.httpStatus), [401, 401, 401, 401, 401, 200, 405, 413, 413]);
  t.match(log[0], { type: null, httpStatus: 401, error: /credentials/ });
});

t.test('--status, requests a VASP is never sent, no --out', async (t) => {
  const { url, log } = await startSim(t, { status: 4005 });
  const { envelope, content } = deliverWithContent();
  const mo = await encodeMm7Http(envelope, content);
  const r = await post(url, mo.body, { 'content-type': mo.contentType });
  t.equal(r.status, 200);
  t.equal(r.envelope?.message.type, 'DeliverRsp');
  t.equal(r.envelope?.message.status?.code, 4005);
  t.equal(r.envelope?.message.status?.text, 'Service error');
  t.notOk(log[0]!.parts.some((p) => 'file' in p), 'nothing saved without --out');
  t.equal(log[0]!.parts.length, 6);

  const submitReq = await encodeMm7Http({
    release: 'REL-5-MM7-1-0',
    transactionId: 'wrong-way',
    message: { type: 'SubmitReq', mm7Version: '5.3.0', senderIdentification: { vaspId: 'demo' }, recipients: { to: [{ kind: 'Number', value: '+15550002222' }], cc: [], bcc: [] } },
  });
  const submit = await post(url, submitReq.body, { 'content-type': submitReq.contentType });
  t.equal(submit.status, 200);
  t.equal(submit.envelope?.message.type, 'SubmitRsp');
  t.equal(submit.envelope?.message.status?.code, 4003, 'a SubmitReq sent to a VASP is an unsupported operation');
  t.equal(submit.envelope?.release, 'REL-5-MM7-1-0');

  const rsp = await post(url, soapFixture('submit-rsp-error-rel6-1-4.xml'), { 'content-type': 'text/xml' });
  t.equal(rsp.status, 500, 'a response sent as a request is a Fault');
  t.equal(rsp.envelope?.message.type, 'VASPErrorRsp');
  t.equal(rsp.envelope?.message.status?.code, 4003);
  t.match(log[2], { type: 'SubmitRsp', status: 4003, httpStatus: 500, error: /not a request/ });
});

t.test('a saved part that cannot be written is answered 3000', async (t) => {
  // --out is a file, so no directory can be made under it.
  const dir = t.testdir({ blocker: 'a file' });
  const { url, log } = await startSim(t, { out: join(dir, 'blocker') });
  const { envelope, content } = deliverWithContent();
  const mo = await encodeMm7Http(envelope, content);
  const r = await post(url, mo.body, { 'content-type': mo.contentType });
  t.equal(r.envelope?.message.status?.code, 3000);
  t.match(log[0], { status: 3000, error: /cannot save the content/ });
});

t.test('stop() closes the port and open connections', async (t) => {
  const sim = new VaspSimulator();
  const { url } = await sim.start();
  await t.rejects(sim.start(), /already started/);
  const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'text/xml' }, body: soapFixture('read-reply-rel5-1-3.xml') });
  t.equal(r.status, 200, 'keep-alive connection left open');
  await r.arrayBuffer();
  await sim.stop();
  await t.rejects(fetch(url, { method: 'POST', body: 'x' }), 'refused after stop');
  await sim.stop();
  t.pass('stop() twice is harmless');
  t.throws(() => new VaspSimulator({ user: 'demo' }), /user and password go together/);
});
