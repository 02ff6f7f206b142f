import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { decodeMm7Http, encodeMm7Http } from '../../protocol/mm7/http.js';
import { REPO_ROOT } from '../helpers/fixtures.js';
import { submitEnvelope } from '../helpers/mm7.js';

// What a new user sees after `npm start`: `mmsc up` starts the SMSC
// simulator for the loopback SMPP bearer of the config, and the first MM7
// submit arrives there as a decoded WAP push (here on free ports, not the
// defaults, so the test never collides with a running gateway).

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise((r) => server.close(r));
  return port;
}

t.test('mmsc up with an smpp bearer: the SMSC simulator gets the push of the first submit', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mmsc-up-smpp-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const smscPort = await freePort();
  const config = join(dir, 'mmsc.yaml');
  writeFileSync(
    config,
    [
      'mm7: { listen: 127.0.0.1:0 }',
      'mm1: { listen: 127.0.0.1:0 }',
      'admin: { listen: 127.0.0.1:0, token: t0k }',
      'smtp: { enabled: false }',
      'archive: { mode: off }',
      'vasps: [{ vaspId: demo, vasIds: [demo], user: demo, password: demo, shortCodes: ["12345"], loopbackOnly: true }]',
      'push:',
      '  bearers:',
      `    smsc: { kind: smpp, host: 127.0.0.1, port: ${smscPort}, systemId: mmsc, password: demo }`,
      '  select: { rules: [{ ranges: ["+1555*"], bearer: smsc }] }',
      '',
    ].join('\n'),
  );
  const archiveConfig = join(dir, 'archive.yaml');
  writeFileSync(archiveConfig, ['listen: 127.0.0.1:0', 'mm7: { basic: { user: demo, password: demo }, loopbackOnly: true }', 'tokens: { secret: a-secret-for-the-up-test }', ''].join('\n'));
  const data = join(dir, 'data');
  const child = spawn(process.execPath, [join(REPO_ROOT, 'bin/mmsc'), 'up', '--config', config, '--archive-config', archiveConfig, '--data', data], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  for (let i = 0; i < 1500 && !/admin/.test(out); i++) await new Promise((r) => setTimeout(r, 20));
  t.match(out, new RegExp(`^SMSC simulator\\s+smpp://127\\.0\\.0\\.1:${smscPort}`, 'm'), 'the simulator is listed first');
  const mm7 = /^MM7 \(VASPs\)\s+(\S+)$/m.exec(out)?.[1];
  t.ok(mm7, `an MM7 listener (stderr: ${err.slice(0, 500)})`);

  const { contentType, body } = await encodeMm7Http(submitEnvelope('up-smpp-1', ['+15550002222'], { subject: 'first light' }), {
    mediaType: 'text/plain',
    params: {},
    contentId: 'content-1',
    headers: [],
    body: Buffer.from('hello, handset'),
  });
  const res = await fetch(mm7!, { method: 'POST', headers: { 'Content-Type': contentType, Authorization: `Basic ${Buffer.from('demo:demo').toString('base64')}` }, body });
  const answer = (await decodeMm7Http(res.headers.get('content-type')!, Buffer.from(await res.arrayBuffer()))).envelope.message;
  t.equal(answer.status?.code, 1000);

  const file = join(data, 'smsc-pushes.jsonl');
  for (let i = 0; i < 1500 && !(existsSync(file) && readFileSync(file, 'utf8').includes('\n')); i++) await new Promise((r) => setTimeout(r, 20));
  const lines = existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n') : [];
  t.equal(lines.length, 1, 'one push reached the SMSC simulator');
  const push = JSON.parse(lines[0] ?? '{}') as Record<string, unknown>;
  const text = JSON.stringify(push);
  t.match(text, /15550002222/, 'for the recipient');
  t.match(text, /m-notification-ind/, 'carrying an M-Notification.ind');
  t.match(text, /first light/, 'with the subject');
  const notification = push.notification as Record<string, unknown> | undefined;
  const location = String(notification?.['X-Mms-Content-Location']);
  const mm1 = /^MM1 \(terminals\)\s+(\S+?)\/?$/m.exec(out)?.[1];
  t.ok(mm1 && location.startsWith(`${mm1}/m/`), 'its Content-Location is on the MM1 listener');
  const retrieved = await fetch(location);
  t.equal(retrieved.status, 200, 'and the terminal can fetch it there');
  t.equal(retrieved.headers.get('content-type'), 'application/vnd.wap.mms-message');
  await retrieved.arrayBuffer();

  child.kill('SIGTERM');
  t.equal(await exited, 0);
  t.match(out, /^stopped$/m);
});
