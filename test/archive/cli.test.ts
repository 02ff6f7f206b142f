import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { loadArchiveConfig, readArchiveConfig } from '../../src/config/archive.js';
import { startNode, tempDir, testRawConfig } from './helpers.js';

const CLI = fileURLToPath(new URL('./child-cli.ts', import.meta.url));
const REPO = fileURLToPath(new URL('../../', import.meta.url));

t.test('mmsc archive --config runs server 2 alone, prints its listeners, stops on SIGTERM', async (t) => {
  const dir = tempDir(t);
  const config = join(dir, 'archive.yaml');
  writeFileSync(config, JSON.stringify(testRawConfig(join(dir, 'data'), { demo: { subscriptions: [{ address: '+15550001111', plan: 'full' }] } })));
  const child = spawn(process.execPath, [...process.execArgv, CLI, 'archive', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  // Waits for the listener lines (the child compiles the TypeScript sources first: slow on a loaded machine).
  for (let i = 0; i < 3000 && !/album\+API/.test(out) && child.exitCode === null; i++) await new Promise((r) => setTimeout(r, 20));
  t.match(out, /^archive MM7 \(forwards\)\s+http:\/\/127\.0\.0\.1:\d+\/mm7$/m);
  const base = /archive album\+API\s+(http:\/\/127\.0\.0\.1:\d+)\//.exec(out)?.[1];
  t.ok(base, `an album/API listener line ${err}`);
  t.equal((await fetch(`${base}/healthz`)).status, 200);
  const lookup = await fetch(`${base}/api/lookup?address=+15550001111`, { headers: { Authorization: 'Bearer t0k3n' } });
  t.equal(lookup.status, 200, 'the demo subscriber exists');
  child.kill('SIGTERM');
  t.equal(await exited, 0);
  t.match(out, /SIGTERM: stopping/);
  t.match(out, /^stopped$/m);
  t.ok(existsSync(join(dir, 'data', 'archive.sqlite')), 'DB2 in the data directory');
});

t.test('configuration: the shipped file loads; errors name the key', async (t) => {
  const shipped = readArchiveConfig(join(REPO, 'conf/archive.yaml'), {});
  t.equal(shipped.listen.port, 8090, 'DESIGN.md default: 127.0.0.1:8090');
  t.equal(shipped.listen.host, '127.0.0.1');
  t.same(shipped.demo.subscriptions, [{ address: '+15550001111', plan: 'full' }]);
  t.equal(shipped.api.token, 'demo');
  const env = loadArchiveConfig(testRawConfig('/tmp/x'), { ARCHIVE_LISTEN: '127.0.0.1:9999' });
  t.equal(env.listen.port, 9999, 'ARCHIVE_LISTEN overrides');
  t.throws(() => loadArchiveConfig({ ...testRawConfig('/tmp/x'), mm7: {} }), /mm7: configure mm7.basic or mm7.hmacSecret/);
  t.throws(() => loadArchiveConfig({ ...testRawConfig('/tmp/x'), defaultPlan: 'gold' }), /defaultPlan: no plan named gold/);
  t.throws(() => loadArchiveConfig({ ...testRawConfig('/tmp/x'), tokens: { secret: 'short' } }), /tokens\.secret/);
});

t.test('the sign-up form', async (t) => {
  const { node, base } = await startNode(t);
  const form = await fetch(`${base}/signup`);
  t.equal(form.status, 200);
  t.match(await form.text(), /<form method="post" action="\/signup">/);
  const post = (body: string): Promise<Response> => fetch(`${base}/signup`, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body });
  const ok = await post('address=%2B15550006666&plan=photos');
  t.equal(ok.status, 201);
  const page = await ok.text();
  const sub = node.db.liveSubscriptionFor('+15550006666');
  t.equal(sub?.plan, 'photos');
  t.match(page, /Your album: <a href="http:\/\/127\.0\.0\.1:\d+\/album\//);
  const again = await post('address=%2B15550006666&plan=full');
  t.equal(again.status, 409);
  const text = await again.text();
  t.match(text, /already has an archive subscription/);
  t.notOk(text.includes(sub!.id) || text.includes('/album/'), 'nothing of the existing subscription is shown');
  t.equal((await post('address=hello&plan=full')).status, 400);
});
