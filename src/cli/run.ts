import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ArchiveNode } from '../archive/node.js';
import { SmscSimulator } from '../sim/smsc.js';
import { readArchiveConfig, type ArchiveConfig } from '../config/archive.js';
import { ConfigError, readMmscConfig, type MmscConfig } from '../config/mmsc.js';
import { createLogger } from '../mmsc/log.js';
import { MmscNode } from '../mmsc/node.js';
import { write, type CliStreams } from './io.js';

const DEFAULT_CONFIG = fileURLToPath(new URL('../../../conf/mmsc.yaml', import.meta.url));
const DEFAULT_ARCHIVE_CONFIG = fileURLToPath(new URL('../../../conf/archive.yaml', import.meta.url));

/** Resolves on the first SIGINT or SIGTERM. */
export function untilSignal(): Promise<string> {
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

interface RunOptions {
  config: string;
  archiveConfig?: string;
  data?: string;
  /** commander's --no-smsc-sim */
  smscSim?: boolean;
}

/**
 * The SMSC simulator of `npm start`: for each SMPP bearer of the config that
 * points at a loopback address, one simulator there, with its credentials,
 * writing the pushes it receives to <data>/smsc-pushes.jsonl. A lab with a
 * real SMSC configures its address, and none is started.
 */
function smscSimulatorFor(config: MmscConfig, dataDir: string): Runnable | undefined {
  const bearer = Object.values(config.push?.bearers ?? {}).find((b) => b.kind === 'smpp' && (b.host === '127.0.0.1' || b.host === 'localhost'));
  if (!bearer || bearer.kind !== 'smpp') return undefined;
  const sim = new SmscSimulator({
    host: '127.0.0.1',
    port: bearer.port,
    accounts: [{ systemId: bearer.systemId, password: bearer.password }],
    out: join(dataDir, 'smsc-pushes.jsonl'),
  });
  return {
    start: async () => {
      mkdirSync(dataDir, { recursive: true });
      const { host, port } = await sim.start();
      return [{ what: 'SMSC simulator', url: `smpp://${host}:${port} (pushes in ${join(dataDir, 'smsc-pushes.jsonl')})` }];
    },
    stop: () => sim.stop(),
  };
}

/** Something `mmsc up` starts and stops. */
interface Runnable {
  start(): Promise<Array<{ what: string; url: string }>>;
  stop(): Promise<void>;
}

async function configError(io: CliStreams, e: unknown): Promise<never> {
  if (e instanceof ConfigError) {
    await write(io.stderr, `mmsc: configuration error: ${e.message}\n`);
    throw new CommanderError(2, 'mmsc.config', e.message);
  }
  throw e;
}

/** Starts the nodes in order, prints their listeners, stops them in reverse order on SIGINT/SIGTERM. */
async function runNodes(io: CliStreams, nodes: Array<() => Runnable>): Promise<void> {
  const started: Runnable[] = [];
  for (const make of nodes) {
    const node = make();
    const listeners = await node.start();
    started.push(node);
    for (const l of listeners) await write(io.stdout, `${l.what.padEnd(22)} ${l.url}\n`);
  }
  const sig = await untilSignal();
  await write(io.stdout, `${sig}: stopping (finishing requests in flight)\n`);
  for (const node of started.reverse()) await node.stop();
  await write(io.stdout, 'stopped\n');
}

async function runMmsc(io: CliStreams, opts: RunOptions): Promise<void> {
  let config: MmscConfig;
  try {
    config = readMmscConfig(opts.config, process.env, opts.data !== undefined ? { data: opts.data } : {});
  } catch (e) {
    return configError(io, e);
  }
  const log = createLogger(io.stderr);
  await runNodes(io, [() => new MmscNode({ config, log })]);
}

/**
 * `npm start`: server 2 (the archive node) first, so that server 1's first
 * forwards find it; then server 1, wired to it. Both keep their data under
 * the same --data directory.
 */
async function runUp(io: CliStreams, opts: RunOptions): Promise<void> {
  let config: MmscConfig;
  let archiveConfig: ArchiveConfig;
  try {
    const overrides = opts.data !== undefined ? { data: opts.data } : {};
    config = readMmscConfig(opts.config, process.env, overrides);
    archiveConfig = readArchiveConfig(opts.archiveConfig ?? DEFAULT_ARCHIVE_CONFIG, process.env, overrides);
  } catch (e) {
    return configError(io, e);
  }
  const log = createLogger(io.stderr);
  let archive: ArchiveNode | undefined;
  const smsc = opts.smscSim === false ? undefined : smscSimulatorFor(config, opts.data ?? config.data);
  await runNodes(io, [
    ...(smsc ? [() => smsc] : []),
    () => (archive = new ArchiveNode({ config: archiveConfig, log })),
    () => {
      // A port chosen by the system (0) is known only now.
      if (config.archive.mode !== 'off' && archive && archiveConfig.listen.port === 0) config.archive.url = `http://${archiveConfig.listen.host}:${archive.port}`;
      return new MmscNode({ config, log });
    },
  ]);
}

export function registerRun(program: Command, io: CliStreams): void {
  program
    .command('mmsc')
    .description('run server 1, the MMS-C, alone (listeners from the config; stop with Ctrl-C)')
    .option('-c, --config <file>', 'configuration file', DEFAULT_CONFIG)
    .option('--data <dir>', 'keep the SQLite store and the spool in DIR (overrides the config)')
    .action((opts: RunOptions) => runMmsc(io, opts));
  program
    .command('up')
    .alias('start')
    .description('run server 1 and the archive node, wired together, with the defaults of conf/ on loopback (what `npm start` does)')
    .option('-c, --config <file>', "server 1's configuration file", DEFAULT_CONFIG)
    .option('--archive-config <file>', "the archive node's configuration file", DEFAULT_ARCHIVE_CONFIG)
    .option('--data <dir>', 'keep both nodes\' SQLite stores and the spool in DIR (overrides the configs)')
    .option('--no-smsc-sim', 'do not start the SMSC simulator for the loopback SMPP bearer')
    .action((opts: RunOptions) => runUp(io, opts));
}
