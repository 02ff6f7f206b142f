/**
 * The `mmsc` command line. `bin/mmsc` calls main(process.argv); tests call
 * it in-process with their own streams. Exit codes: 0 ok, 1 bad input (one
 * `mmsc: …` line on stderr) or a usage error, 2 a bug (with its stack).
 */
import type { Readable, Writable } from 'node:stream';
import { Command, CommanderError } from 'commander';
import { ProtocolError } from '../../protocol/errors.js';
import { CliError, describeProtocolError, write, type CliStreams } from './io.js';
import { registerPdu } from './pdu.js';
import { registerPush } from './push.js';
import { registerMm7 } from './mm7.js';
import { registerRun } from './run.js';
import { registerSim } from './sim.js';
import { registerArchive } from './archive.js';
import { registerTranscode } from './transcode.js';

export interface MainOptions {
  stdin?: Readable;
  stdout?: Writable;
  stderr?: Writable;
}

export function buildProgram(io: CliStreams): Command {
  const program = new Command('mmsc')
    .description('An MMS-C (MM7, MM1, WAP push) and the tools a test lab uses around it: PDU codecs, a VASP client and simulator')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      outputError: (s, writeErr) => writeErr(`mmsc: ${s}`),
    });
  // Subcommands made by .command() inherit exitOverride and the output streams.
  registerPdu(program, io);
  registerPush(program, io);
  registerMm7(program, io);
  registerRun(program, io);
  registerSim(program, io);
  registerArchive(program, io);
  registerTranscode(program, io);
  return program;
}

export async function main(argv: string[], opts: MainOptions = {}): Promise<number> {
  const io: CliStreams = {
    stdin: opts.stdin ?? process.stdin,
    stdout: opts.stdout ?? process.stdout,
    stderr: opts.stderr ?? process.stderr,
  };
  try {
    await buildProgram(io).parseAsync(argv);
    return 0;
  } catch (e) {
    // Commander has already printed its message (or the help).
    if (e instanceof CommanderError) return e.exitCode;
    if (e instanceof CliError) {
      await write(io.stderr, `mmsc: ${e.message.replace(/\s*[\r\n]+\s*/g, ' ')}\n`);
      return 1;
    }
    if (e instanceof ProtocolError) {
      await write(io.stderr, `mmsc: ${describeProtocolError(e)}\n`);
      return 1;
    }
    await write(io.stderr, `mmsc: internal error (a bug, please report it):\n${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return 2;
  }
}
