import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { REPO_ROOT } from '../helpers/fixtures.js';

// `mmsc up` as a user runs it: the real executable, one line per listener,
// a graceful stop on SIGTERM with the data left in --data.

t.test('mmsc up prints its listeners, serves, and stops cleanly on SIGTERM', async (t) => {
  t.ok(existsSync(join(REPO_ROOT, 'dist/src/cli/main.js')), 'dist/ is built (npm test runs tsc first)');
  const dir = mkdtempSync(join(tmpdir(), 'mmsc-up-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const config = join(dir, 'mmsc.yaml');
  writeFileSync(
    config,
    ['mm7: { listen: 127.0.0.1:0 }', 'mm1: { listen: 127.0.0.1:0 }', 'admin: { listen: 127.0.0.1:0, token: t0k }', 'vasps: []', ''].join('\n'),
  );
  const archiveConfig = join(dir, 'archive.yaml');
  writeFileSync(
    archiveConfig,
    ['listen: 127.0.0.1:0', 'mm7: { basic: { user: demo, password: demo }, loopbackOnly: true }', 'api: { token: t0k }', 'tokens: { secret: a-secret-for-the-up-test }', ''].join('\n'),
  );
  const child = spawn(process.execPath, [join(REPO_ROOT, 'bin/mmsc'), 'up', '--config', config, '--archive-config', archiveConfig, '--data', join(dir, 'data')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.resume();
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  // Startup loads sharp and opens two SQLite files: give a loaded machine time.
  for (let i = 0; i < 1500 && !/admin/.test(out); i++) await new Promise((r) => setTimeout(r, 20));
  t.match(out, /^MM7 \(VASPs\)\s+http:\/\/127\.0\.0\.1:\d+\/mm7$/m);
  t.match(out, /^MM1 \(terminals\)\s+http:\/\/127\.0\.0\.1:\d+\/$/m);
  const admin = /admin\S*\s+(http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1];
  t.ok(admin, 'an admin listener line');
  const health = await fetch(`${admin}/healthz`);
  t.equal(health.status, 200);
  child.kill('SIGTERM');
  t.equal(await exited, 0, 'exit status 0');
  t.match(out, /SIGTERM: stopping/);
  t.match(out, /^stopped$/m);
  t.ok(existsSync(join(dir, 'data', 'mmsc.sqlite')), 'the store is in --data');
  t.ok(existsSync(join(dir, 'data', 'archive.sqlite')), "and the archive node's DB2 beside it");
  t.match(out, /^archive MM7 \(forwards\)\s+http:\/\/127\.0\.0\.1:\d+\/mm7$/m, 'the archive node runs too');
});
