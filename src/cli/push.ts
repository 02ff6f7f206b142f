/** `mmsc push encode`: an M-Notification.ind as the WSP push a terminal receives, or its SMS. */
import { randomInt } from 'node:crypto';
import { InvalidArgumentError, type Command } from 'commander';
import { encodeMmsPush, formatMmsAddress, parseMmsAddress, type MNotificationInd } from '../../protocol/mms/index.js';
import { MIB } from '../../protocol/wsp/index.js';
import { segment } from '../../protocol/wdp/index.js';
import { CliError, explain, hexLine, write, type CliStreams } from './io.js';

interface PushEncodeOptions {
  to: string;
  url: string;
  size: number;
  from?: string;
  subject?: string;
  expiry: number;
  class: string;
  tid?: number;
  transactionId?: string;
  version: string;
  segments?: boolean;
  ref?: number;
}

export const DEFAULT_EXPIRY = 172800;

function integer(max: number): (value: string) => number {
  return (value) => {
    const n = /^[0-9]+$/.test(value) ? Number(value) : NaN;
    if (!Number.isSafeInteger(n) || n > max) throw new InvalidArgumentError(`expected an integer in 0..${max}`);
    return n;
  };
}

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

export function randomTransactionId(length = 8): string {
  let id = '';
  for (let i = 0; i < length; i++) id += ALNUM[randomInt(ALNUM.length)];
  return id;
}

/** A bare number is a PLMN address; anything else must already be an MMS address (typed or e-mail). */
export function normalizeAddress(text: string): string {
  const typed = /^\+?[0-9*#]+$/.test(text) ? `${text}/TYPE=PLMN` : text;
  return formatMmsAddress(parseMmsAddress(typed));
}

/** The notification of the options; `from` must be normalized already. */
export function buildNotification(o: PushEncodeOptions): MNotificationInd {
  try {
    new URL(o.url);
  } catch {
    throw new CliError(`--url ${JSON.stringify(o.url)} is not an absolute URL`);
  }
  if (!/^[!#$%&'*+\-.0-9A-Z^_`a-z|~]+$/.test(o.class)) throw new CliError(`--class ${JSON.stringify(o.class)} is not a token`);
  if (!/^[0-9]+\.[0-9]+$/.test(o.version)) throw new CliError(`--version ${JSON.stringify(o.version)} is not MAJOR.MINOR`);
  const pdu: MNotificationInd = {
    messageType: 'm-notification-ind',
    transactionId: o.transactionId ?? randomTransactionId(),
    mmsVersion: o.version,
    messageClass: o.class,
    messageSize: o.size,
    expiry: { relative: o.expiry },
    contentLocation: o.url,
  };
  if (o.from !== undefined) pdu.from = { text: o.from };
  if (o.subject !== undefined) pdu.subject = { text: o.subject, charset: MIB.utf8 };
  return pdu;
}

export function registerPush(program: Command, io: CliStreams): void {
  const push = program.command('push').description('build WAP push notifications');
  push
    .command('encode')
    .description('build an M-Notification.ind, print its WSP push as one hex line (or its SMS segments)')
    .requiredOption('--to <address>', 'recipient of the push: a number (gets /TYPE=PLMN) or an MMS address; echoed on stderr as "# to ADDRESS"')
    .requiredOption('--url <url>', 'X-Mms-Content-Location: where the terminal fetches the message')
    .requiredOption('--size <octets>', 'X-Mms-Message-Size', integer(0xffffffff))
    .option('--from <address>', 'From: a number (gets /TYPE=PLMN), a typed address or an e-mail address')
    .option('--subject <text>', 'Subject, sent as a UTF-8 Encoded-string')
    .option('--expiry <seconds>', 'X-Mms-Expiry, relative', integer(0xffffffff), DEFAULT_EXPIRY)
    .option('--class <class>', 'X-Mms-Message-Class: Personal, Advertisement, Informational, Auto or a token', 'Personal')
    .option('--tid <n>', 'WSP transaction id of the push, 0-255 (default: random)', integer(0xff))
    .option('--transaction-id <id>', 'X-Mms-Transaction-Id (default: 8 random letters and digits)')
    .option('--version <version>', 'X-Mms-MMS-Version', '1.2')
    .option('--segments', 'print the SMS user data of each segment (UDH ports 2948 <- 9200), one hex line each')
    .option('--ref <n>', 'concatenation reference for --segments, 0-255 (default: random)', integer(0xff))
    .addHelpText(
      'after',
      '\nExample:\n  mmsc push encode --to +4475551234 --from +4475550000 --url http://mmsc.example.net/m/abc --size 12345 --segments',
    )
    .action(async (opts: PushEncodeOptions) => {
      const to = await explain('--to', () => normalizeAddress(opts.to));
      const from = opts.from === undefined ? undefined : await explain('--from', () => normalizeAddress(opts.from!));
      const pdu = buildNotification({ ...opts, from });
      const datagram = await explain('cannot encode', () => encodeMmsPush(pdu, opts.tid ?? randomInt(256)));
      const lines = opts.segments ? await explain('cannot segment', () => segment(datagram, opts.ref ?? randomInt(256))) : [datagram];
      await write(io.stderr, `# to ${to}\n`);
      await write(io.stdout, lines.map((l) => `${hexLine(l)}\n`).join(''));
    });
}
