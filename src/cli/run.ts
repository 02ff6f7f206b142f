import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { ConfigError, readMmscConfig } from '../config/mmsc.js';
import { createLogger } from '../mmsc/log.js';
import { MmscNode } from '../mmsc/node.js';
import { write, type CliStreams } from './io.js';

const DEFAULT_CONFIG = fileURLToPath(new URL('../../../conf/mmsc.yaml', import.meta.url));

/** Resolves on the first SIGINT or SIGTERM. */
function untilSignal(): Promise<string> {
  return new Promise((resolve) => {
    const on = (sig: string): void => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(sig);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}

async function runMmsc(io: CliStreams, opts: { config: string; data?: string }): Promise<void> {
  let node: MmscNode;
  try {
    const config = readMmscConfig(opts.config, process.env, opts.data !== undefined ? { data: opts.data } : {});
    node = new MmscNode({ config, log: createLogger(io.stderr) });
  } catch (e) {
    if (e instanceof ConfigError) {
      await write(io.stderr, `mmsc: configuration error: ${e.message}\n`);
      throw new CommanderError(2, 'mmsc.config', e.message);
    }
    throw e;
  }
  const listeners = await node.start();
  for (const l of listeners) await write(io.stdout, `${l.what.padEnd(18)} ${l.url}\n`);
  const sig = await untilSignal();
  await write(io.stdout, `${sig}: stopping (finishing requests in flight)\n`);
  await node.stop();
  await write(io.stdout, 'stopped\n');
}

export function registerRun(program: Command, io: CliStreams): void {
  const withOptions = (cmd: Command): Command =>
    cmd
      .option('-c, --config <file>', 'configuration file', DEFAULT_CONFIG)
      .option('--data <dir>', 'keep the SQLite store and the spool in DIR (overrides the config)')
      .action((opts: { config: string; data?: string }) => runMmsc(io, opts));
  withOptions(program.command('mmsc').description('run server 1, the MMS-C, alone (listeners from the config; stop with Ctrl-C)'));
  withOptions(program.command('up').alias('start').description('run everything that exists with the defaults of conf/ on loopback (what `npm start` does)'));
}
