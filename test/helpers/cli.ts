import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import type { Test } from 'tap';
import { main } from '../../src/cli/main.js';
import { REPO_ROOT } from './fixtures.js';

export interface CliResult {
  code: number;
  stdout: Buffer;
  out: string;
  err: string;
}

/** Runs `mmsc ARGS` in-process with in-memory streams; `input` is stdin. */
export async function runCli(args: string[], input: string | Uint8Array = ''): Promise<CliResult> {
  const sink = (): Writable & { octets: Buffer[] } => {
    const octets: Buffer[] = [];
    return Object.assign(new Writable({ write: (c: Buffer, _e, done) => (octets.push(Buffer.from(c)), done()) }), { octets });
  };
  const stdout = sink();
  const stderr = sink();
  const code = await main(['node', 'mmsc', ...args], { stdin: Readable.from([Buffer.from(input)]), stdout, stderr });
  const bytes = Buffer.concat(stdout.octets);
  return { code, stdout: bytes, out: bytes.toString('utf8'), err: Buffer.concat(stderr.octets).toString('utf8') };
}

/** `mmsc ARGS` in a child process (real signals), started by spawnCli. */
export interface CliChild {
  /** What matched the `listening` pattern on stderr. */
  listening: RegExpExecArray;
  stdout(): string;
  stderr(): string;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
}

/**
 * Runs `mmsc ARGS` in a child process on the .ts sources, with tap's own
 * TypeScript loader, and resolves once its stderr matches `listening`
 * (rejects if it exits first). Killed at the end of the test if still running.
 */
export async function spawnCli(t: Test, args: string[], listening: RegExp): Promise<CliChild> {
  const loader = process.execArgv.filter((a) => /typescript/.test(a));
  const script = `import { main } from ${JSON.stringify(pathToFileURL(join(REPO_ROOT, 'src/cli/main.ts')).href)}; process.exitCode = await main(['node', 'mmsc', ...process.argv.slice(1)]);`;
  const child = spawn(process.execPath, [...loader, '--input-type=module', '--eval', script, ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  const match = await new Promise<RegExpExecArray>((resolve, reject) => {
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
      const m = listening.exec(stderr);
      if (m) resolve(m);
    });
    child.once('exit', (code) => reject(new Error(`exited ${code}: ${stderr}`)));
  });
  return {
    listening: match,
    stdout: () => stdout,
    stderr: () => stderr,
    stop: () => {
      const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      child.kill('SIGTERM');
      return exit;
    },
  };
}
