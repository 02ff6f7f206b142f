import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { decodeMm7Http } from '../../protocol/mm7/http.js';
import { REPO_ROOT } from '../helpers/fixtures.js';
import { startNode, subscribe, tempDir } from './helpers.js';

// The forwards of fixtures/archive (the convention of src/archive/forward.ts
// on the wire, CRLF kept), sent by curl as a test lab would.

const run = promisify(execFile);

function request(name: string): { contentType: string; body: Buffer } {
  const raw = readFileSync(join(REPO_ROOT, 'fixtures/archive', name));
  const end = raw.indexOf('\r\n\r\n');
  const head = raw.subarray(0, end).toString('latin1');
  return { contentType: /^Content-Type: (.*)$/im.exec(head)![1]!, body: raw.subarray(end + 4) };
}

async function curl(url: string, contentType: string, file: string): Promise<{ status: number; body: string; headers: string }> {
  const { stdout } = await run('curl', ['-s', '-i', '-X', 'POST', '-u', 'server1:s3cret', '-H', `Content-Type: ${contentType}`, '--data-binary', `@${file}`, url]);
  const end = stdout.indexOf('\r\n\r\n');
  return { status: Number(/^HTTP\/1\.1 (\d+)/.exec(stdout)![1]), headers: stdout.slice(0, end), body: stdout.slice(end + 4) };
}

for (const [name, release] of [
  ['forward-rel6-1-4.http', 'REL-6-MM7-1-4'],
  ['forward-rel5-1-0.http', 'REL-5-MM7-1-0'],
] as const) {
  t.test(`${name} sent by curl is archived, once`, async (t) => {
    const { node, base } = await startNode(t);
    const sub = await subscribe(base, '+15550001111');
    const { contentType, body } = request(name);
    const file = join(tempDir(t), 'body');
    writeFileSync(file, Buffer.from(body.toString('latin1').replace('SUBSCRIPTION_ID_GOES_HERE', sub.id), 'latin1'));
    const first = await curl(`${base}/mm7`, contentType, file);
    t.equal(first.status, 200);
    const answer = await decodeMm7Http('text/xml', [Buffer.from(first.body)]);
    t.equal(answer.envelope.release, release);
    t.equal(answer.envelope.message.status?.code, 1000);
    const archiveId = /X-Archive-Id: (\S+)/i.exec(first.headers)![1]!;
    const m = node.db.getMessage(archiveId)!;
    t.match(m, { originalId: `mmsc-fixture-${release}`, subscriptionId: sub.id, sender: '+15550009999', subject: 'Fixture forward', additional: { notice: 'This message is archived', geolocation: { lat: 48.8584, lon: 2.2945 } } });
    t.same(
      m.parts.map((p) => p.contentType),
      ['application/smil', 'image/png', 'text/plain; charset=utf-8'],
    );
    t.equal(node.db.getPart(archiveId, 2)?.data.toString(), 'Hi there');
    const second = await curl(`${base}/mm7`, contentType, file);
    t.match(second.headers, new RegExp(`X-Archive-Id: ${archiveId}`, 'i'), 'a re-send gets the same archive id');
    t.equal(node.db.countMessages(), 1);
  });
}
