import t from 'tap';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { answer, faultAnswer, type Mm7Answer } from '../../protocol/mm7/exchange.js';
import { decodeMm7Http, encodeMm7Http } from '../../protocol/mm7/http.js';
import type { MimeEntity } from '../../protocol/mm7/mime-types.js';
import type { Mm7Envelope } from '../../protocol/mm7/model.js';
import { namespaceOf } from '../../protocol/mm7/releases.js';
import { Mm7Error } from '../../protocol/mm7/xml.js';
import { buildContent, mediaTypeOfFile, parseListen, parseMm7Address } from '../../src/cli/mm7.js';
import { generateSmil, smilElementOf } from '../../src/cli/smil.js';
import { runCli, spawnCli } from '../helpers/cli.js';

const run = runCli;

const GIF = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==', 'base64');
const TEXT = Buffer.from('Grüße from the lab.\r\nSecond line, bare LF next.\nEnd', 'utf8');
// Octets a text transfer encoding could mangle if it were not transparent.
const BLOB = Buffer.from(Array.from({ length: 600 }, (_, i) => (i * 37 + 11) & 0xff));

interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  raw: Buffer;
  envelope: Mm7Envelope;
  content?: MimeEntity;
}

/** A fake MMS-C: decodes each POST, keeps it, answers with `reply` (default: 1000 with MessageID m-1). */
async function fakeMmsc(
  reply: (env: Mm7Envelope) => Mm7Answer | { httpStatus: number; contentType: string; body: string } = (env) => answer(env, 1000, { messageId: 'm-1' }),
): Promise<{ url: string; received: Received[]; stop: () => Promise<void> }> {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const raw = Buffer.concat(chunks);
        try {
          const { envelope, content } = await decodeMm7Http(req.headers['content-type'] ?? '', raw);
          received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, raw, envelope, ...(content ? { content } : {}) });
          const a = reply(envelope);
          if ('contentType' in a) {
            res.writeHead(a.httpStatus, { 'content-type': a.contentType });
            res.end(a.body);
            return;
          }
          const { contentType, body } = await encodeMm7Http(a.envelope);
          res.writeHead(a.httpStatus, { 'content-type': contentType });
          res.end(body);
        } catch (e) {
          res.writeHead(599, { 'content-type': 'text/plain' });
          res.end(`fake MMS-C could not decode: ${(e as Error).message}`);
        }
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/mm7`,
    received,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A port nothing listens on: bound, then closed. */
async function deadPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

const leaves = (e: MimeEntity): MimeEntity[] => (e.parts ? e.parts.flatMap(leaves) : [e]);

t.test('address, listen and media type parsing', async (t) => {
  t.same(parseMm7Address('+4475551234'), { kind: 'Number', value: '+4475551234' });
  t.same(parseMm7Address('447555'), { kind: 'Number', value: '447555' });
  t.same(parseMm7Address('12345'), { kind: 'ShortCode', value: '12345' });
  t.same(parseMm7Address('123'), { kind: 'ShortCode', value: '123' });
  t.same(parseMm7Address('a.b@example.org'), { kind: 'RFC2822Address', value: 'a.b@example.org' });
  t.same(parseMm7Address('short:123456'), { kind: 'ShortCode', value: '123456' });
  t.same(parseMm7Address('number:1234'), { kind: 'Number', value: '1234' });
  for (const bad of ['12', 'abc', '+12', '12 34', 'a@b@c', '']) t.throws(() => parseMm7Address(bad), `${JSON.stringify(bad)} is refused`);
  t.same(parseListen('127.0.0.1:0'), { host: '127.0.0.1', port: 0 });
  t.same(parseListen('[::1]:9000'), { host: '::1', port: 9000 });
  t.same(parseListen('9000'), { host: '127.0.0.1', port: 9000 });
  t.throws(() => parseListen('127.0.0.1:70000'));
  t.throws(() => parseListen('127.0.0.1'));
  t.same(mediaTypeOfFile('a/b/Photo.JPG'), { mediaType: 'image/jpeg', params: {} });
  t.same(mediaTypeOfFile('x.txt'), { mediaType: 'text/plain', params: { charset: 'utf-8' } });
  t.same(mediaTypeOfFile('x.3gp'), { mediaType: 'video/3gpp', params: {} });
  t.same(mediaTypeOfFile('x.bin'), { mediaType: 'application/octet-stream', params: {} });
  t.same(mediaTypeOfFile('Makefile'), { mediaType: 'application/octet-stream', params: {} });
});

t.test('generateSmil: one slide per image, video, text and audio part, by Content-Location', async (t) => {
  const smil = generateSmil([
    { mediaType: 'image/gif', src: 'dot.gif' },
    { mediaType: 'text/plain', src: 'a "quoted" & <odd>.txt' },
    { mediaType: 'text/x-vcard', src: 'me.vcf' },
    { mediaType: 'audio/amr', src: 'hi.amr' },
    { mediaType: 'video/3gpp', src: 'v.3gp', durationMs: 1500 },
  ]);
  if (smil === undefined) throw new Error('no SMIL');
  t.match(smil, /^<smil xmlns="http:\/\/www\.w3\.org\/2001\/SMIL20\/Language">/);
  t.equal(smil.match(/<par[ >]/g)?.length, 4, 'the vCard gets no slide');
  t.match(smil, /<par dur="5000ms">\s*<img src="dot\.gif" region="Image"\/>/);
  t.match(smil, /<text src="a &quot;quoted&quot; &amp; &lt;odd&gt;\.txt" region="Text"\/>/);
  t.match(smil, /<par>\s*<audio src="hi\.amr"\/>/, 'audio plays its own length');
  t.match(smil, /<par dur="1500ms">\s*<video src="v\.3gp" region="Image"\/>/);
  t.match(smil, /<region id="Image"[^>]*height="70%"/);
  t.match(smil, /<region id="Text"[^>]*top="70%"/);
  t.notMatch(smil, /me\.vcf/);
  const order = [...smil.matchAll(/src="([^"]+)"/g)].map((m) => m[1]);
  t.same(order, ['dot.gif', 'a &quot;quoted&quot; &amp; &lt;odd&gt;.txt', 'hi.amr', 'v.3gp'], 'slides keep the parts’ order');
  const textOnly = generateSmil([{ mediaType: 'TEXT/PLAIN', src: 't.txt' }], { slideMs: 2000 });
  t.match(textOnly, /<region id="Text" left="0%" top="0%" width="100%" height="100%"/);
  t.notMatch(textOnly, /id="Image"/);
  t.match(textOnly, /<par dur="2000ms">/);
  t.equal(generateSmil([{ mediaType: 'text/x-vcard', src: 'a.vcf' }]), undefined, 'nothing to show, no SMIL');
  t.equal(generateSmil([]), undefined);
  t.equal(smilElementOf('text/html'), undefined);
  t.equal(smilElementOf('image/png'), 'img');
});

t.test('buildContent: related with a SMIL (given or generated), else mixed', async (t) => {
  const generated = buildContent([
    { name: 'dir/dot.gif', body: GIF },
    { name: 'other/dot.gif', body: GIF },
  ]);
  t.equal(generated?.mediaType, 'multipart/related');
  t.same(generated?.params, { type: 'application/smil', start: '<smil@mmsc-cli>' });
  t.same(generated?.parts?.map((p) => [p.contentId, p.contentLocation]), [
    ['smil@mmsc-cli', 'presentation.smil'],
    ['part1@mmsc-cli', 'dot.gif'],
    ['part2@mmsc-cli', 'dot-2.gif'],
  ], 'a second file of the same name gets its own Content-Location');
  const given = buildContent([
    { name: 'dot.gif', body: GIF },
    { name: 'show.smil', body: Buffer.from('<smil/>') },
  ]);
  t.same(given?.params, { type: 'application/smil', start: '<part2@mmsc-cli>' });
  t.same(given?.parts?.map((p) => p.contentLocation), ['show.smil', 'dot.gif'], 'the given SMIL goes first');
  const mixed = buildContent([{ name: 'me.vcf', body: Buffer.from('BEGIN:VCARD\r\nEND:VCARD\r\n') }]);
  t.equal(mixed?.mediaType, 'multipart/mixed');
  t.equal(mixed?.parts?.length, 1);
  t.equal(buildContent([{ name: 'dot.gif', body: GIF }], { smil: false })?.mediaType, 'multipart/mixed');
  t.equal(buildContent([]), undefined);
});

t.test('submit, REL-6-MM7-1-4: what arrives at the MMS-C, and the answer on stdout', async (t) => {
  const mmsc = await fakeMmsc();
  t.teardown(mmsc.stop);
  const dir = t.testdir({ 'dot.gif': GIF, 'hello.txt': TEXT, 'blob.xyz': BLOB, 'me.vcf': 'BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Lab\r\nEND:VCARD\r\n' });
  const files = ['dot.gif', 'hello.txt', 'blob.xyz', 'me.vcf'].map((f) => join(dir, f));
  const r = await run([
    'mm7', 'submit',
    '--url', mmsc.url,
    '--vasp-id', 'demo', '--vas-id', 'demo',
    '--user', 'demo', '--password', 'demo',
    '--from', '12345',
    '--to', '+15550002222,4475551234', '--to', 'lab@example.org',
    '--cc', '+15550003333',
    '--bcc', '54321',
    '--subject', 'Grüße',
    '--service-code', 'ARCH-1',
    '--delivery-report', '--read-reply',
    '--linked-id', 'mo-7',
    '--priority', 'High',
    '--class', 'Informational',
    '--expiry', 'P2D',
    '--transaction-id', 'tx-rel6',
    ...files,
  ]);
  t.equal(r.code, 0, r.err);
  t.equal(r.err, '');
  t.equal(mmsc.received.length, 1);
  const got = mmsc.received[0]!;
  t.equal(got.method, 'POST');
  t.equal(got.url, '/mm7');
  t.equal(got.headers.soapaction, '""', 'SOAPAction: ""');
  t.equal(got.headers.authorization, `Basic ${Buffer.from('demo:demo').toString('base64')}`);
  t.match(got.headers['content-type'], /^multipart\/related;.*type="text\/xml"/);
  t.ok(got.raw.includes(namespaceOf('REL-6-MM7-1-4')), 'the REL-6-MM7-1-4 namespace is on the wire');
  const env = got.envelope;
  t.equal(env.release, 'REL-6-MM7-1-4');
  t.equal(env.transactionId, 'tx-rel6');
  const m = env.message;
  t.equal(m.type, 'SubmitReq');
  t.equal(m.mm7Version, '6.8.0');
  t.same(m.senderIdentification, { vaspId: 'demo', vasId: 'demo', senderAddress: { kind: 'ShortCode', value: '12345' } });
  t.same(m.recipients, {
    to: [
      { kind: 'Number', value: '+15550002222' },
      { kind: 'Number', value: '4475551234' },
      { kind: 'RFC2822Address', value: 'lab@example.org' },
    ],
    cc: [{ kind: 'Number', value: '+15550003333' }],
    bcc: [{ kind: 'ShortCode', value: '54321' }],
  });
  t.equal(m.subject, 'Grüße');
  t.equal(m.serviceCode, 'ARCH-1');
  t.equal(m.deliveryReport, true);
  t.equal(m.readReply, true);
  t.equal(m.linkedId, 'mo-7');
  t.equal(m.priority, 'High');
  t.equal(m.messageClass, 'Informational');
  t.same(m.expiryDate, { relative: 'P2D' });
  t.ok(m.timeStamp instanceof Date && Math.abs(m.timeStamp.getTime() - Date.now()) < 60_000, 'TimeStamp is now');

  const content = got.content;
  if (!content) throw new Error('no content arrived');
  t.equal(content.mediaType, 'multipart/related');
  t.equal(content.params.type, 'application/smil');
  t.equal(content.params.start, '<smil@mmsc-cli>');
  const parts = leaves(content);
  t.same(
    parts.map((p) => [p.mediaType, p.contentId, p.contentLocation]),
    [
      ['application/smil', 'smil@mmsc-cli', 'presentation.smil'],
      ['image/gif', 'part1@mmsc-cli', 'dot.gif'],
      ['text/plain', 'part2@mmsc-cli', 'hello.txt'],
      ['application/octet-stream', 'part3@mmsc-cli', 'blob.xyz'],
      ['text/x-vcard', 'part4@mmsc-cli', 'me.vcf'],
    ],
  );
  t.equal(parts[2]!.params.charset, 'utf-8');
  t.ok(parts[1]!.body?.equals(GIF), 'the GIF arrives byte-identical');
  t.ok(parts[2]!.body?.equals(TEXT), 'the text arrives byte-identical (CRLF, bare LF, UTF-8)');
  t.ok(parts[3]!.body?.equals(BLOB), 'the binary file arrives byte-identical');
  const smil = parts[0]!.body?.toString('utf8') ?? '';
  for (const loc of ['dot.gif', 'hello.txt']) t.match(smil, `src="${loc}"`, `the SMIL shows ${loc} by its Content-Location`);
  t.notMatch(smil, /blob\.xyz|me\.vcf/, 'parts a SMIL cannot show are attachments only');

  const printed = JSON.parse(r.out) as unknown;
  t.same(printed, {
    release: 'REL-6-MM7-1-4',
    transactionId: 'tx-rel6',
    message: { type: 'SubmitRsp', mm7Version: '6.8.0', status: { code: 1000, text: 'Success' }, messageId: 'm-1' },
  }, 'stdout is the answer envelope as JSON');
});

t.test('submit, REL-5-MM7-1-0: the request and the answer in the Rel-5 namespace', async (t) => {
  const mmsc = await fakeMmsc();
  t.teardown(mmsc.stop);
  const dir = t.testdir({ 'dot.gif': GIF });
  const r = await run(['mm7', 'submit', '--url', mmsc.url, '--version', 'REL-5-MM7-1-0', '--from', '12345', '--to', '+15550002222', '--subject', 'Rel-5', join(dir, 'dot.gif')]);
  t.equal(r.code, 0, r.err);
  const got = mmsc.received[0]!;
  t.equal(got.envelope.release, 'REL-5-MM7-1-0');
  t.equal(got.envelope.message.mm7Version, '5.3.0');
  t.ok(got.raw.includes(namespaceOf('REL-5-MM7-1-0')));
  t.notOk(got.raw.includes('REL-6'), 'nothing of Rel-6 on the wire');
  t.equal(got.headers.authorization, undefined, 'no Basic auth without --user');
  t.same(got.envelope.message.senderIdentification, { senderAddress: { kind: 'ShortCode', value: '12345' } });
  t.match(got.envelope.transactionId, /^mmsc-cli-[0-9a-f]{12}$/, 'a random TransactionID');
  t.ok(leaves(got.content!).find((p) => p.contentLocation === 'dot.gif')?.body?.equals(GIF));
  const printed = JSON.parse(r.out) as Mm7Envelope;
  t.equal(printed.release, 'REL-5-MM7-1-0');
  t.equal(printed.transactionId, got.envelope.transactionId);
  t.equal(printed.message.mm7Version, '5.3.0');
  t.equal(printed.message.status?.code, 1000);

  const v = await run(['mm7', 'submit', '--url', mmsc.url, '--version', 'REL-5-MM7-1-0', '--mm7-version', '5.5.0', '--from', 'a@b.example', '--to', '12345']);
  t.equal(v.code, 0, v.err);
  t.equal(mmsc.received[1]!.envelope.message.mm7Version, '5.5.0');
  t.equal(mmsc.received[1]!.content, undefined, 'no FILEs: a SubmitReq without content');
  t.equal(mmsc.received[1]!.envelope.message.content, undefined);
  t.match(mmsc.received[1]!.headers['content-type'], /^text\/xml/);
});

t.test('submit: statuses other than 1000/1100 exit 1, with the answer on stdout', async (t) => {
  const mmsc = await fakeMmsc((env) => {
    const to = env.message.recipients?.to[0]?.value;
    if (to === '+15550000001') return answer(env, 1100, { messageId: 'm-2' });
    if (to === '+15550000002') return faultAnswer(new Mm7Error('BAD_VALUE', 'Recipients', 'nobody home', 2002, { release: env.release, transactionId: env.transactionId ?? '' }), 'relay');
    return answer(env, 2002);
  });
  t.teardown(mmsc.stop);
  const base = ['mm7', 'submit', '--url', mmsc.url, '--from', '12345', '--transaction-id', 'tx-e'];
  const partial = await run([...base, '--to', '+15550000001']);
  t.equal(partial.code, 0, 'partial success is success');
  const rsp = await run([...base, '--to', '+15550009999']);
  t.equal(rsp.code, 1);
  const printed = JSON.parse(rsp.out) as Mm7Envelope;
  t.equal(printed.message.type, 'SubmitRsp');
  t.equal(printed.message.status?.code, 2002);
  t.equal(rsp.err, 'mmsc: the MMS-C answered SubmitRsp with status 2002 (Address Error)\n');
  const fault = await run([...base, '--to', '+15550000002']);
  t.equal(fault.code, 1);
  const f = JSON.parse(fault.out) as Mm7Envelope;
  t.equal(f.message.type, 'RSErrorRsp');
  t.equal(f.message.status?.code, 2002);
  t.same(f.fault, { code: 'env:Client', string: 'Address Error' });
  t.equal(f.transactionId, 'tx-e');
  t.match(fault.err, /^mmsc: the MMS-C answered RSErrorRsp with status 2002/);
});

t.test('submit: no MM7 answer exits 2 with one line', async (t) => {
  const port = await deadPort();
  const refused = await run(['mm7', 'submit', '--url', `http://127.0.0.1:${port}/mm7`, '--from', '12345', '--to', '+15550002222']);
  t.equal(refused.code, 2);
  t.equal(refused.out, '');
  t.match(refused.err, new RegExp(`^mmsc: http://127\\.0\\.0\\.1:${port}/mm7: connect ECONNREFUSED 127\\.0\\.0\\.1:${port}\\n$`));

  const html = await fakeMmsc(() => ({ httpStatus: 404, contentType: 'text/html', body: '<html><body>Not here\n</body></html>' }));
  t.teardown(html.stop);
  const notMm7 = await run(['mm7', 'submit', '--url', html.url, '--from', '12345', '--to', '+15550002222']);
  t.equal(notMm7.code, 2);
  t.equal(notMm7.out, '');
  t.match(notMm7.err, /^mmsc: HTTP 404 Not Found, not an MM7 answer: [^\n]*\n$/);

  // an MM7 message, but not an answer to this request
  const wrong = await fakeMmsc((env) => ({ httpStatus: 200, envelope: { release: env.release, message: { type: 'DeliverRsp', mm7Version: '6.8.0', status: { code: 1000 } } } }));
  t.teardown(wrong.stop);
  const other = await run(['mm7', 'submit', '--url', wrong.url, '--from', '12345', '--to', '+15550002222']);
  t.equal(other.code, 2);
  t.match(other.err, /^mmsc: HTTP 200 OK: the answer is a DeliverRsp, not a SubmitRsp or a Fault\n$/);
});

t.test('submit: bad options are usage errors (exit 1) and send nothing', async (t) => {
  const mmsc = await fakeMmsc();
  t.teardown(mmsc.stop);
  const cases: [string[], RegExp][] = [
    [['--to', 'nobody'], /^mmsc: error: option '--to <addresses>' argument 'nobody' is invalid/],
    [['--to', '+15550002222', '--priority', 'Urgent'], /argument 'Urgent' is invalid. Allowed choices are Normal, High, Low/],
    [['--to', '+15550002222', '--expiry', 'tomorrow'], /is neither an xs:duration/],
    [['--to', '+15550002222', '--version', 'REL-7'], /Allowed choices are REL-5-MM7-1-0/],
    [['--to', '+15550002222', '--password', 'x'], /^mmsc: --password needs --user\n$/],
    [['--to', '+15550002222', '/no/such/file.gif'], /^mmsc: cannot read \/no\/such\/file\.gif/],
    [[], /required option '--to <addresses>' not specified/],
  ];
  for (const [args, err] of cases) {
    const r = await run(['mm7', 'submit', '--url', mmsc.url, '--from', '12345', ...args]);
    t.equal(r.code, 1, args.join(' '));
    t.match(r.err, err);
  }
  const noUrl = await run(['mm7', 'submit', '--url', 'ftp://x/mm7', '--from', '12345', '--to', '+15550002222']);
  t.equal(noUrl.code, 1);
  t.match(noUrl.err, /only http: and https:/);
  t.equal(mmsc.received.length, 0);
});

t.test('cancel and replace', async (t) => {
  const mmsc = await fakeMmsc();
  t.teardown(mmsc.stop);
  const auth = ['--url', mmsc.url, '--vasp-id', 'demo', '--vas-id', 'demo', '--user', 'demo', '--password', 'demo'];

  const c = await run(['mm7', 'cancel', ...auth, '--message-id', 'm-1', '--transaction-id', 'tx-c', '--version', 'REL-6-MM7-1-0']);
  t.equal(c.code, 0, c.err);
  const cancel = mmsc.received[0]!;
  t.equal(cancel.headers.soapaction, '""');
  t.equal(cancel.headers.authorization, `Basic ${Buffer.from('demo:demo').toString('base64')}`);
  t.match(cancel.headers['content-type'], /^text\/xml/);
  t.equal(cancel.envelope.release, 'REL-6-MM7-1-0');
  t.same(cancel.envelope.message, { type: 'CancelReq', mm7Version: '6.3.0', senderIdentification: { vaspId: 'demo', vasId: 'demo' }, messageId: 'm-1' });
  t.same(JSON.parse(c.out), { release: 'REL-6-MM7-1-0', transactionId: 'tx-c', message: { type: 'CancelRsp', mm7Version: '6.3.0', status: { code: 1000, text: 'Success' } } });

  const dir = t.testdir({ 'new.png': GIF, 'note.txt': 'replaced' });
  const r = await run(['mm7', 'replace', ...auth, '--message-id', 'm-1', '--service-code', 'SC-2', '--transaction-id', 'tx-r', join(dir, 'new.png'), join(dir, 'note.txt')]);
  t.equal(r.code, 0, r.err);
  const replace = mmsc.received[1]!;
  t.equal(replace.envelope.message.type, 'ReplaceReq');
  t.equal(replace.envelope.message.messageId, 'm-1');
  t.equal(replace.envelope.message.serviceCode, 'SC-2');
  t.equal(replace.envelope.transactionId, 'tx-r');
  const parts = leaves(replace.content!);
  t.same(parts.map((p) => p.contentLocation), ['presentation.smil', 'new.png', 'note.txt']);
  t.ok(parts[1]!.body?.equals(GIF));
  t.equal(parts[2]!.body?.toString(), 'replaced');
  t.equal((JSON.parse(r.out) as Mm7Envelope).message.type, 'ReplaceRsp');

  const bare = await run(['mm7', 'replace', ...auth, '--message-id', 'm-1']);
  t.equal(bare.code, 0, bare.err);
  t.equal(mmsc.received[2]!.content, undefined, 'a ReplaceReq without new content is SOAP alone');
  t.equal(mmsc.received[2]!.envelope.message.content, undefined);

  const missing = await run(['mm7', 'cancel', '--url', mmsc.url]);
  t.equal(missing.code, 1);
  t.match(missing.err, /required option '--message-id <id>' not specified/);
});

t.test('mm7 vasp: listens, logs a JSON line per request, stops on SIGTERM', async (t) => {
  // A child process, so that the signal is real.
  const out = t.testdir({});
  const vasp = await spawnCli(t, ['mm7', 'vasp', '--listen', '127.0.0.1:0', '--out', out, '--status', '1000'], /^listening on (http:\/\/127\.0\.0\.1:\d+\/)\n/);
  const url = vasp.listening[1]!;
  const env: Mm7Envelope = {
    release: 'REL-5-MM7-1-3',
    transactionId: 'dr-cli',
    message: {
      type: 'DeliveryReportReq',
      mm7Version: '5.6.0',
      messageId: 'm-1',
      recipient: { kind: 'Number', value: '+15550002222' },
      sender: { kind: 'ShortCode', value: '12345' },
      date: new Date('2024-05-01T10:05:00Z'),
      mmStatus: 'Retrieved',
    },
  };
  const { contentType, body } = await encodeMm7Http(env);
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': contentType }, body });
  t.equal(res.status, 200);
  const back = await decodeMm7Http(res.headers.get('content-type') ?? '', Buffer.from(await res.arrayBuffer()));
  t.equal(back.envelope.message.type, 'DeliveryReportRsp');
  t.equal(back.envelope.transactionId, 'dr-cli');
  t.equal(back.envelope.release, 'REL-5-MM7-1-3');
  t.equal(await vasp.stop(), 0, 'SIGTERM stops it cleanly');
  t.equal(vasp.stderr(), `listening on ${url}\nstopped\n`);
  const lines = vasp.stdout().trim().split('\n');
  t.equal(lines.length, 1);
  const line = JSON.parse(lines[0]!) as Record<string, unknown>;
  t.same(Object.keys(line).slice(0, 4), ['time', 'type', 'release', 'transactionId']);
  t.match(line, { type: 'DeliveryReportReq', release: 'REL-5-MM7-1-3', transactionId: 'dr-cli', status: 1000, message: { messageId: 'm-1', date: '2024-05-01T10:05:00.000Z', mmStatus: 'Retrieved' }, parts: [] });
});
