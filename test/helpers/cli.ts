import { Readable, Writable } from 'node:stream';
import { main } from '../../src/cli/main.js';

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
