/**
 * `mmsc archive`: server 2, the archive node, alone (listeners printed one
 * a line, graceful stop on SIGINT/SIGTERM, as `mmsc up`), and
 * `mmsc archive cdr --since DATE`: the billing events of DB2 as CSV.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { ArchiveNode } from '../archive/node.js';
import { readArchiveConfig, type ArchiveConfig } from '../config/archive.js';
import { ConfigError } from '../config/mmsc.js';
import { createLogger } from '../mmsc/log.js';
import { Db2, type Cdr } from '../store/db2.js';
import { CliError, write, type CliStreams } from './io.js';
import { untilSignal } from './run.js';

const DEFAULT_CONFIG = fileURLToPath(new URL('../../../conf/archive.yaml', import.meta.url));

async function loadConfig(io: CliStreams, opts: { config: string; data?: string }): Promise<ArchiveConfig> {
  try {
    return readArchiveConfig(opts.config, process.env, opts.data !== undefined ? { data: opts.data } : {});
  } catch (e) {
    if (e instanceof ConfigError) {
      await write(io.stderr, `mmsc: configuration error: ${e.message}\n`);
      throw new CommanderError(2, 'archive.config', e.message);
    }
    throw e;
  }
}

async function runArchive(io: CliStreams, opts: { config: string; data?: string }): Promise<void> {
  const config = await loadConfig(io, opts);
  const node = new ArchiveNode({ config, log: createLogger(io.stderr) });
  const listeners = await node.start();
  for (const l of listeners) await write(io.stdout, `${l.what.padEnd(24)} ${l.url}\n`);
  const sig = await untilSignal();
  await write(io.stdout, `${sig}: stopping (finishing requests in flight)\n`);
  await node.stop();
  await write(io.stdout, 'stopped\n');
}

/** RFC 4180: quoted when it holds a comma, a quote or a line break. */
function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

export function cdrCsv(rows: readonly Cdr[]): string {
  const lines = ['id,time,subscription,message,event,amount,currency'];
  for (const r of rows) lines.push([String(r.id), r.at.toISOString(), r.subscriptionId, r.archiveId, r.event, r.amount, r.currency].map(csvField).join(','));
  return `${lines.join('\r\n')}\r\n`;
}

/** `2026-01-31` (midnight UTC) or a full ISO 8601 time. */
function parseSince(text: string): Date {
  const iso = /^\d{4}-\d\d-\d\d$/.test(text) ? `${text}T00:00:00Z` : text;
  const d = new Date(iso);
  if (!/^\d{4}-\d\d-\d\d/.test(text) || Number.isNaN(d.getTime())) throw new CliError(`--since: "${text}" is not a date such as 2026-01-31 or 2026-01-31T12:00:00Z`);
  return d;
}

async function exportCdrs(io: CliStreams, opts: { config: string; data?: string; since: string }): Promise<void> {
  const since = parseSince(opts.since);
  const config = await loadConfig(io, opts);
  const file = join(config.data, 'archive.sqlite');
  if (!existsSync(file)) throw new CliError(`no archive database at ${file}`);
  const db = new Db2(file);
  try {
    await write(io.stdout, cdrCsv(db.cdrsSince(since)));
  } finally {
    db.close();
  }
}

export function registerArchive(program: Command, io: CliStreams): void {
  const archive = program
    .command('archive')
    .description('run server 2, the archive node, alone (listeners from conf/archive.yaml; stop with Ctrl-C)')
    .option('-c, --config <file>', 'configuration file', DEFAULT_CONFIG)
    .option('--data <dir>', 'keep DB2 in DIR (overrides the config); for `cdr`, where DB2 is')
    .action((opts: { config: string; data?: string }) => runArchive(io, opts));
  archive
    .command('cdr')
    .description('print the billing events (CDRs) since DATE as CSV')
    .requiredOption('--since <date>', 'first day (2026-01-31, UTC) or time (ISO 8601)')
    // --config and --data are the parent's (commander gives them to `archive` wherever they stand).
    .action((_opts: unknown, cmd: Command) => exportCdrs(io, cmd.optsWithGlobals<{ config: string; data?: string; since: string }>()));
}
