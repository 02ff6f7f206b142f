/**
 * `mmsc smsc-sim` and `mmsc terminal-sim`: the SMSC and handset simulators
 * of a test lab (src/sim/). Both run until SIGINT or SIGTERM and write one
 * JSON line per event; `terminal-sim --send FILE...` sends one M-Send.req and
 * exits.
 */
import type { Command } from 'commander';
import { SmscSimulator } from '../sim/smsc.js';
import { DEFAULT_PROFILE, TERMINAL_PROFILES, TerminalSimulator } from '../sim/terminal.js';
import { CliError, write, type CliStreams } from './io.js';
import { parseListen } from './mm7.js';

function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      resolve();
    };
    process.on('SIGINT', done);
    process.on('SIGTERM', done);
  });
}

function jsonLines(io: CliStreams): (entry: Record<string, unknown>) => void {
  return (entry) => io.stdout.write(`${JSON.stringify(entry)}\n`);
}

interface SmscSimOptions {
  listen: { host: string; port: number };
  out?: string;
  systemId?: string;
  password?: string;
}

interface TerminalSimOptions {
  smsc: { host: string; port: number };
  msisdn: string;
  mm1: string;
  profile: string;
  systemId: string;
  password: string;
  save?: string;
  readReport?: boolean;
  send?: string[];
  to?: string[];
  subject?: string;
}

export function registerSim(program: Command, io: CliStreams): void {
  program
    .command('smsc-sim')
    .description('run an SMSC simulator: accepts SMPP binds, acknowledges submit_sm, reassembles and decodes the WAP pushes')
    .option('--listen <host:port>', 'where to listen (port 0 picks a free one)', parseListen, { host: '127.0.0.1', port: 2775 })
    .option('--out <file>', 'append one JSON line per complete push to FILE (destination, source, the notification)')
    .option('--system-id <id>', 'accept binds with this system_id only (default: any)')
    .option('--password <password>', 'the password for --system-id')
    .addHelpText('after', '\nLog lines (JSON) on stdout; stops on SIGINT or SIGTERM. Terminals attach by binding as receiver with their MSISDN as address_range.')
    .action(async (o: SmscSimOptions) => {
      if ((o.systemId === undefined) !== (o.password === undefined)) throw new CliError('--system-id and --password go together');
      const sim = new SmscSimulator({
        host: o.listen.host,
        port: o.listen.port,
        ...(o.out !== undefined ? { out: o.out } : {}),
        ...(o.systemId !== undefined && o.password !== undefined ? { accounts: [{ systemId: o.systemId, password: o.password }] } : {}),
        log: jsonLines(io),
      });
      let address: { host: string; port: number };
      try {
        address = await sim.start();
      } catch (e) {
        throw new CliError(`cannot listen on ${o.listen.host}:${o.listen.port}: ${(e as Error).message}`);
      }
      await write(io.stderr, `SMSC simulator listening on ${address.host}:${address.port}\n`);
      await untilSignal();
      await sim.stop();
      await write(io.stderr, 'stopped\n');
    });

  program
    .command('terminal-sim')
    .description('run a simulated handset: receives its WAP pushes over SMPP, fetches and acknowledges over MM1; or --send files')
    .requiredOption('--msisdn <number>', 'the handset number, e.g. +15550002222')
    .option('--smsc <host:port>', 'the SMSC (simulator) to bind to as receiver', parseListen, { host: '127.0.0.1', port: 2775 })
    .option('--mm1 <url>', 'the MM1 front end', 'http://127.0.0.1:8081/')
    .option('--profile <name>', `handset model: ${Object.keys(TERMINAL_PROFILES).join(', ')}`, DEFAULT_PROFILE)
    .option('--system-id <id>', 'system_id of the receiver bind', 'terminal')
    .option('--password <password>', 'password of the receiver bind', '')
    .option('--save <dir>', 'save the parts of each message under DIR/<message id>/')
    .option('--read-report', 'send a read report when the message asks for one')
    .option('--send <files...>', 'send an M-Send.req with these files (then exit)')
    .option('--to <numbers...>', 'recipients of --send')
    .option('--subject <text>', 'subject of --send')
    .addHelpText('after', '\nLog lines (JSON) on stdout; stops on SIGINT or SIGTERM.')
    .action(async (o: TerminalSimOptions) => {
      if (TERMINAL_PROFILES[o.profile] === undefined) throw new CliError(`--profile ${JSON.stringify(o.profile)} is not one of ${Object.keys(TERMINAL_PROFILES).join(', ')}`);
      try {
        new URL(o.mm1);
      } catch {
        throw new CliError(`--mm1 ${JSON.stringify(o.mm1)} is not an absolute URL`);
      }
      const terminal = new TerminalSimulator({
        smsc: o.smsc,
        msisdn: o.msisdn,
        mm1Url: o.mm1,
        profile: o.profile,
        systemId: o.systemId,
        password: o.password,
        readReport: o.readReport === true,
        ...(o.save !== undefined ? { saveDir: o.save } : {}),
        log: jsonLines(io),
      });
      if (o.send !== undefined) {
        if (o.to === undefined || o.to.length === 0) throw new CliError('--send needs --to');
        let conf;
        try {
          conf = await terminal.send(o.send, o.to, o.subject);
        } catch (e) {
          throw new CliError(`send failed: ${(e as Error).message}`);
        }
        if (conf.responseStatus !== 'Ok') throw new CliError(`the MMS-C refused the message: ${String(conf.responseStatus)}`);
        return;
      }
      try {
        await terminal.start();
      } catch (e) {
        throw new CliError(`cannot bind to ${o.smsc.host}:${o.smsc.port}: ${(e as Error).message}`);
      }
      await write(io.stderr, `terminal ${o.msisdn} bound to ${o.smsc.host}:${o.smsc.port}\n`);
      await untilSignal();
      await terminal.stop();
      await write(io.stderr, 'stopped\n');
    });
}
