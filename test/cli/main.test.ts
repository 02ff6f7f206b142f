import t from 'tap';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../helpers/fixtures.js';
import { runCli } from '../helpers/cli.js';

const run = runCli;

t.test('--help on every level', async (t) => {
  const levels: [string[], RegExp][] = [
    [['--help'], /^Usage: mmsc \[options\] \[command\][\s\S]*pdu[\s\S]*push[\s\S]*start/],
    [['pdu', '--help'], /^Usage: mmsc pdu \[options\] \[command\][\s\S]*decode[\s\S]*encode[\s\S]*annotate/],
    [['pdu', 'decode', '--help'], /^Usage: mmsc pdu decode \[options\] \[file\][\s\S]*--hex[\s\S]*--as <kind>/],
    [['pdu', 'encode', '--help'], /^Usage: mmsc pdu encode \[options\] \[file\]/],
    [['pdu', 'annotate', '--help'], /^Usage: mmsc pdu annotate \[options\] \[file\]/],
    [['push', '--help'], /^Usage: mmsc push \[options\] \[command\][\s\S]*encode/],
    [['push', 'encode', '--help'], /^Usage: mmsc push encode \[options\][\s\S]*--to <address>[\s\S]*--segments/],
    [['up', '--help'], /^Usage: mmsc up\|start \[options\][\s\S]*--config[\s\S]*--data/],
    [['help', 'pdu'], /^Usage: mmsc pdu /],
  ];
  for (const [args, usage] of levels) {
    const r = await run(args);
    t.equal(r.code, 0, `mmsc ${args.join(' ')} exits 0`);
    t.match(r.out, usage, `mmsc ${args.join(' ')} prints its usage`);
    t.equal(r.err, '');
  }
});

t.test('usage errors exit 1 with the help or a message on stderr', async (t) => {
  const bare = await run([]);
  t.equal(bare.code, 1);
  t.match(bare.err, /^Usage: mmsc /);
  const unknown = await run(['pdu', 'decrypt']);
  t.equal(unknown.code, 1);
  t.match(unknown.err, /^mmsc: error: unknown command 'decrypt'/);
  const option = await run(['pdu', 'decode', '--bogus']);
  t.equal(option.code, 1);
  t.match(option.err, /^mmsc: error: unknown option '--bogus'/);
});

t.test('mmsc/up refuse a bad configuration with the key and exit 2', async (t) => {
  const missing = await run(['mmsc', '--config', join(REPO_ROOT, 'conf/no-such-file.yaml')]);
  t.equal(missing.code, 2);
  t.match(missing.err, /^mmsc: configuration error: .*no-such-file\.yaml/);
  const dir = mkdtempSync(join(tmpdir(), 'mmsc-conf-'));
  const file = join(dir, 'bad.yaml');
  writeFileSync(file, 'mm7:\n  listen: nowhere\n');
  const bad = await run(['up', '--config', file]);
  t.equal(bad.code, 2);
  t.match(bad.err, /mm7\.listen: "nowhere" is not host:port/);
  rmSync(dir, { recursive: true });
});

t.test('bin/mmsc works end to end (needs dist/, which `npm test` builds)', async (t) => {
  const built = existsSync(join(REPO_ROOT, 'dist/src/cli/main.js'));
  t.ok(built, 'dist/src/cli/main.js exists (run `npx tsc -p tsconfig.json`)');
  if (!built) return;
  const bin = join(REPO_ROOT, 'bin/mmsc');
  const exec = (args: string[]): Promise<{ code: number; out: string; err: string }> =>
    new Promise((resolve) => {
      execFile(bin, args, { cwd: REPO_ROOT }, (e, out, err) => resolve({ code: e ? Number(e.code) : 0, out, err }));
    });

  const ok = await exec(['pdu', 'decode', '--hex', 'fixtures/pdu/m-notification-ind.hex']);
  t.equal(ok.code, 0, ok.err);
  t.equal(ok.out, readFileSync(join(REPO_ROOT, 'fixtures/pdu/m-notification-ind.json'), 'utf8'));

  const bad = await exec(['pdu', 'decode', '--hex', '--as', 'mms', '/dev/null']);
  t.equal(bad.code, 1, 'the exit code reaches the shell');
  t.match(bad.err, /^mmsc: malformed PDU: [^\n]+\(at octet 0\) \[TRUNCATED\]\n$/);
});
