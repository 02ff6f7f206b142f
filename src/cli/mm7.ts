/**
 * `mmsc mm7 submit|cancel|replace|vasp`: the VASP side of an MM7 test lab.
 *
 * submit, cancel and replace send one request to an MMS-C's MM7 URL and
 * print its answer (the envelope) as JSON. Exit codes: 0 for status 1000 or
 * 1100, 1 for any other MM7 status (and for bad options or files), 2 when no
 * MM7 answer came (connection refused, timeout, an answer that is not MM7),
 * with one `mmsc: …` line on stderr.
 *
 * vasp runs src/vasp/simulator.ts until SIGINT or SIGTERM.
 */
import { randomBytes } from 'node:crypto';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { basename, extname } from 'node:path';
import { CommanderError, InvalidArgumentError, Option, type Command } from 'commander';
import { ProtocolError } from '../../protocol/errors.js';
import { FAULT_MESSAGES } from '../../protocol/mm7/schema.js';
import { RESPONSE_OF } from '../../protocol/mm7/exchange.js';
import { decodeMm7Http, encodeMm7Http } from '../../protocol/mm7/http.js';
import type { MimeEntity } from '../../protocol/mm7/mime-types.js';
import type { Mm7Address, Mm7Envelope, Mm7Message, SenderIdentification, TimeSpec } from '../../protocol/mm7/model.js';
import { DEFAULT_MM7_VERSION, DEFAULT_RELEASE, RELEASES, type Release } from '../../protocol/mm7/releases.js';
import { isSuccess, statusText } from '../../protocol/mm7/status.js';
import { DEFAULT_MAX_BODY_OCTETS, VaspSimulator, type VaspLogEntry } from '../vasp/simulator.js';
import { CliError, describeProtocolError, readInput, write, type CliStreams } from './io.js';
import { generateSmil } from './smil.js';

// ------------------------------------------------------------ option values

/**
 * An MM7 address from the command line (§a.6): `+` and digits, or 6+
 * digits, is a Number; 3–5 digits a ShortCode; anything with `@` an
 * RFC2822Address. `number:`, `short:` or `email:` in front forces the kind.
 */
export function parseMm7Address(text: string): Mm7Address {
  const value = text.trim();
  const forced = /^(number|short|shortcode|email):(.+)$/i.exec(value);
  if (forced) {
    const kind = forced[1]!.toLowerCase();
    return { kind: kind === 'number' ? 'Number' : kind === 'email' ? 'RFC2822Address' : 'ShortCode', value: forced[2]!.trim() };
  }
  if (/^\+[0-9]{3,20}$/.test(value) || /^[0-9]{6,20}$/.test(value)) return { kind: 'Number', value };
  if (/^[0-9]{3,5}$/.test(value)) return { kind: 'ShortCode', value };
  if (/^[^@\s<>]+@[^@\s<>]+$/.test(value)) return { kind: 'RFC2822Address', value };
  throw new InvalidArgumentError(
    `"${text}" is not an address: use +digits or 6+ digits (a number), 3-5 digits (a short code) or an e-mail address; number:, short: or email: in front forces the kind`,
  );
}

/** Commander parser for a repeatable, comma-separated address list. */
function addressList(value: string, previous: Mm7Address[] | undefined): Mm7Address[] {
  const list = value.split(',').filter((a) => a.trim() !== '');
  if (list.length === 0) throw new InvalidArgumentError('no address given');
  return [...(previous ?? []), ...list.map(parseMm7Address)];
}

function address(value: string): Mm7Address {
  return parseMm7Address(value);
}

const DURATION = /^-?P(?=\d|T\d)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$/;

/** An xs:duration (`P2D`, `PT1H`) or an absolute date-time (`2025-01-31T12:00:00Z`). */
export function parseTimeSpec(value: string): TimeSpec {
  const v = value.trim();
  if (/^-?P/.test(v)) {
    if (!DURATION.test(v)) throw new InvalidArgumentError(`"${value}" is not an xs:duration (e.g. P2D, PT1H30M)`);
    return { relative: v };
  }
  const ms = /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)$/.test(v) ? Date.parse(v) : NaN;
  if (Number.isNaN(ms)) throw new InvalidArgumentError(`"${value}" is neither an xs:duration (P2D) nor a date-time with a zone (2025-01-31T12:00:00Z)`);
  return { absolute: new Date(ms) };
}

function integerIn(min: number, max: number): (value: string) => number {
  return (value) => {
    const n = /^[0-9]+$/.test(value) ? Number(value) : NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) throw new InvalidArgumentError(`expected an integer in ${min}..${max}`);
    return n;
  };
}

/** `HOST:PORT`, `[V6]:PORT` or a bare `PORT` (on 127.0.0.1). */
export function parseListen(value: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value) ?? /^()()(\d{1,5})$/.exec(value);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new InvalidArgumentError('expected HOST:PORT, e.g. 127.0.0.1:9000 (port 0 picks a free one)');
  return { host: m[1] || m[2] || '127.0.0.1', port };
}

// ----------------------------------------------------------------- content

/** Content types by file extension; anything else is application/octet-stream. */
export const MEDIA_TYPES: Readonly<Record<string, { mediaType: string; params?: Record<string, string> }>> = {
  jpg: { mediaType: 'image/jpeg' },
  jpeg: { mediaType: 'image/jpeg' },
  gif: { mediaType: 'image/gif' },
  png: { mediaType: 'image/png' },
  txt: { mediaType: 'text/plain', params: { charset: 'utf-8' } },
  smil: { mediaType: 'application/smil' },
  amr: { mediaType: 'audio/amr' },
  '3gp': { mediaType: 'video/3gpp' },
  mp4: { mediaType: 'video/mp4' },
  wav: { mediaType: 'audio/wav' },
  vcf: { mediaType: 'text/x-vcard' },
  html: { mediaType: 'text/html' },
};

export function mediaTypeOfFile(name: string): { mediaType: string; params: Record<string, string> } {
  const known = MEDIA_TYPES[extname(name).slice(1).toLowerCase()];
  return known ? { mediaType: known.mediaType, params: { ...known.params } } : { mediaType: 'application/octet-stream', params: {} };
}

export const CONTENT_ID_DOMAIN = 'mmsc-cli';
export const SMIL_CONTENT_ID = `smil@${CONTENT_ID_DOMAIN}`;
export const SMIL_LOCATION = 'presentation.smil';

/** `name`, or `stem-2.ext`, … when an earlier file had the same name. */
function uniqueName(name: string, used: Set<string>): string {
  const ext = extname(name);
  const stem = name.slice(0, name.length - ext.length);
  let candidate = name;
  for (let n = 2; used.has(candidate); n++) candidate = `${stem}-${n}${ext}`;
  used.add(candidate);
  return candidate;
}

/**
 * The message content of FILEs: multipart/related when one of them is a
 * SMIL or one is generated (the SMIL first, named by `start`), else
 * multipart/mixed. Parts are `<partN@mmsc-cli>` with Content-Location = the
 * file's name; undefined when there are no files.
 */
export function buildContent(files: Array<{ name: string; body: Buffer }>, options: { smil?: boolean } = {}): MimeEntity | undefined {
  if (files.length === 0) return undefined;
  const used = new Set<string>();
  const parts: MimeEntity[] = files.map((f, i) => {
    const { mediaType, params } = mediaTypeOfFile(f.name);
    return { mediaType, params, contentId: `part${i + 1}@${CONTENT_ID_DOMAIN}`, contentLocation: uniqueName(basename(f.name), used), headers: [], body: f.body };
  });
  const given = parts.findIndex((p) => p.mediaType === 'application/smil');
  if (given >= 0) {
    const [smil] = parts.splice(given, 1);
    return { mediaType: 'multipart/related', params: { type: 'application/smil', start: `<${smil!.contentId!}>` }, headers: [], parts: [smil!, ...parts] };
  }
  const text = options.smil === false ? undefined : generateSmil(parts.map((p) => ({ mediaType: p.mediaType, src: p.contentLocation! })));
  if (text === undefined) return { mediaType: 'multipart/mixed', params: {}, headers: [], parts };
  const smil: MimeEntity = {
    mediaType: 'application/smil',
    params: { charset: 'utf-8' },
    contentId: SMIL_CONTENT_ID,
    contentLocation: uniqueName(SMIL_LOCATION, used),
    headers: [],
    body: Buffer.from(text, 'utf8'),
  };
  return { mediaType: 'multipart/related', params: { type: 'application/smil', start: `<${SMIL_CONTENT_ID}>` }, headers: [], parts: [smil, ...parts] };
}

async function readFiles(files: string[], io: CliStreams): Promise<Array<{ name: string; body: Buffer }>> {
  const out: Array<{ name: string; body: Buffer }> = [];
  for (const file of files) {
    if (file === '-') throw new CliError('content must come from files (their names become Content-Locations), not stdin');
    out.push({ name: file, body: await readInput(file, io.stdin) });
  }
  return out;
}

// -------------------------------------------------------------------- HTTP

/** No MM7 answer: the request did not get through, or what came back was not MM7. Exit 2. */
export class TransportError extends Error {
  override readonly name = 'TransportError';
}

export interface PostOptions {
  user?: string;
  password?: string;
  timeoutMs: number;
  maxAnswerOctets?: number;
}

export interface HttpAnswer {
  status: number;
  statusMessage: string;
  contentType: string;
  body: Buffer;
}

/** POSTs an MM7 body with `SOAPAction: ""` and, with a user, HTTP Basic. */
export function postMm7(url: URL, payload: { contentType: string; body: Buffer }, o: PostOptions): Promise<HttpAnswer> {
  const headers: Record<string, string> = {
    'content-type': payload.contentType,
    'content-length': String(payload.body.length),
    soapaction: '""',
    'user-agent': 'mmsc-cli (mm7)',
  };
  if (o.user !== undefined) headers.authorization = `Basic ${Buffer.from(`${o.user}:${o.password ?? ''}`, 'utf8').toString('base64')}`;
  const target = new URL(url.href);
  target.username = '';
  target.password = '';
  const limit = o.maxAnswerOctets ?? DEFAULT_MAX_BODY_OCTETS;
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(target, { method: 'POST', headers }, (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > limit) {
          res.destroy();
          reject(new TransportError(`the answer is larger than ${limit} octets`));
          return;
        }
        chunks.push(chunk);
      });
      res.once('error', (e) => reject(new TransportError(`reading the answer: ${e.message}`)));
      res.once('end', () =>
        resolve({ status: res.statusCode ?? 0, statusMessage: res.statusMessage ?? '', contentType: res.headers['content-type'] ?? '', body: Buffer.concat(chunks) }),
      );
    });
    req.setTimeout(o.timeoutMs, () => req.destroy(new Error(`no answer within ${o.timeoutMs / 1000} s`)));
    req.once('error', (e: NodeJS.ErrnoException) => reject(new TransportError(e.message || e.code || 'connection failed')));
    req.end(payload.body);
  });
}

// ---------------------------------------------------------------- commands

interface ClientOptions {
  url: string;
  version: Release;
  mm7Version?: string;
  vaspId?: string;
  vasId?: string;
  from?: Mm7Address;
  user?: string;
  password?: string;
  transactionId?: string;
  timeout: number;
  smil: boolean;
}

interface SubmitOptions extends ClientOptions {
  to: Mm7Address[];
  cc?: Mm7Address[];
  bcc?: Mm7Address[];
  subject?: string;
  serviceCode?: string;
  deliveryReport?: boolean;
  readReply?: boolean;
  linkedId?: string;
  priority?: string;
  class?: string;
  expiry?: TimeSpec;
}

interface CancelOptions extends ClientOptions {
  messageId: string;
  serviceCode?: string;
}

/** The options every client command shares: where, who, which release. */
function clientOptions(cmd: Command, fromRequired: boolean): Command {
  cmd
    .requiredOption('--url <url>', 'the MMS-C MM7 URL (the demo MMS-C: http://127.0.0.1:8080/mm7)')
    .addOption(new Option('--version <release>', 'MM7 schema release (namespace)').choices(RELEASES).default(DEFAULT_RELEASE))
    .option('--mm7-version <version>', 'MM7Version (default: the release\'s usual one, 6.8.0 for REL-6-MM7-1-4, 5.3.0 for REL-5-MM7-1-0)')
    .option('--vasp-id <id>', 'SenderIdentification/VASPID (the demo account: demo)')
    .option('--vas-id <id>', 'SenderIdentification/VASID (the demo account: demo)');
  if (fromRequired) cmd.requiredOption('--from <address>', 'SenderAddress: +number, short code or e-mail address', address);
  else cmd.option('--from <address>', 'SenderAddress: +number, short code or e-mail address', address);
  return cmd
    .option('--user <user>', 'HTTP Basic user (the demo account: demo)')
    .option('--password <password>', 'HTTP Basic password (with --user)')
    .option('--transaction-id <id>', 'TransactionID of the SOAP header (default: random)')
    .option('--timeout <seconds>', 'how long to wait for the answer', integerIn(1, 3600), 30);
}

function identification(o: ClientOptions): SenderIdentification {
  const s: SenderIdentification = {};
  if (o.vaspId !== undefined) s.vaspId = o.vaspId;
  if (o.vasId !== undefined) s.vasId = o.vasId;
  if (o.from !== undefined) s.senderAddress = o.from;
  return s;
}

function checkUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new CliError(`--url ${JSON.stringify(text)} is not an absolute URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new CliError(`--url ${JSON.stringify(text)}: only http: and https: are supported`);
  return url;
}

function credentials(o: ClientOptions, url: URL): { user?: string; password?: string } {
  if (o.password !== undefined && o.user === undefined) throw new CliError('--password needs --user');
  if (o.user !== undefined) return { user: o.user, password: o.password ?? '' };
  if (url.username !== '') return { user: decodeURIComponent(url.username), password: decodeURIComponent(url.password) };
  return {};
}

function transactionIdOf(o: ClientOptions): string {
  return o.transactionId ?? `mmsc-cli-${randomBytes(6).toString('hex')}`;
}

const exitTransport = async (io: CliStreams, message: string): Promise<never> => {
  await write(io.stderr, `mmsc: ${message.replace(/\s*[\r\n]+\s*/g, ' ')}\n`);
  // main() returns a CommanderError's exit code without printing anything more.
  throw new CommanderError(2, 'mmsc.mm7.transport', message);
};

/**
 * Sends one request and prints the answer. Only the request's own Rsp or an
 * RSErrorRsp / VASPErrorRsp Fault count as MM7 answers.
 */
async function exchange(io: CliStreams, o: ClientOptions, message: Mm7Message, content: MimeEntity | undefined): Promise<void> {
  const url = checkUrl(o.url);
  const auth = credentials(o, url);
  const envelope: Mm7Envelope = { release: o.version, transactionId: transactionIdOf(o), message };
  if (content) message.content = { href: `cid:mms-content@${CONTENT_ID_DOMAIN}` };
  let payload: { contentType: string; body: Buffer };
  try {
    payload = await encodeMm7Http(envelope, content);
  } catch (e) {
    if (e instanceof ProtocolError) throw new CliError(`cannot build the ${message.type}: ${describeProtocolError(e)}`);
    throw e;
  }
  let http: HttpAnswer;
  try {
    http = await postMm7(url, payload, { ...auth, timeoutMs: o.timeout * 1000 });
  } catch (e) {
    if (e instanceof TransportError) return exitTransport(io, `${url.origin}${url.pathname}: ${e.message}`);
    throw e;
  }
  const httpLine = `HTTP ${http.status}${http.statusMessage ? ` ${http.statusMessage}` : ''}`;
  let answer: Mm7Envelope;
  try {
    answer = (await decodeMm7Http(http.contentType, http.body)).envelope;
  } catch (e) {
    if (e instanceof ProtocolError) return exitTransport(io, `${httpLine}, not an MM7 answer: ${describeProtocolError(e)}`);
    throw e;
  }
  const expected = RESPONSE_OF[message.type];
  const type = answer.message.type;
  if (type !== expected && !FAULT_MESSAGES.has(type)) return exitTransport(io, `${httpLine}: the answer is a ${type}, not a ${expected ?? '?'} or a Fault`);
  const code = answer.message.status?.code;
  if (code === undefined) return exitTransport(io, `${httpLine}: the ${type} carries no Status`);
  // Key order for people: release and TransactionID first, the Fault (if any) before the message.
  const printed = { release: answer.release, transactionId: answer.transactionId, ...(answer.fault ? { fault: answer.fault } : {}), message: answer.message };
  await write(io.stdout, `${JSON.stringify(printed, null, 2)}\n`);
  if (answer.transactionId !== envelope.transactionId) {
    await write(io.stderr, `mmsc: warning: the answer's TransactionID ${JSON.stringify(answer.transactionId ?? null)} is not the request's ${JSON.stringify(envelope.transactionId)}\n`);
  }
  if (!isSuccess(code)) throw new CliError(`the MMS-C answered ${type} with status ${code} (${answer.message.status?.text ?? statusText(code)})`);
}

function base(o: ClientOptions): Pick<Mm7Message, 'mm7Version' | 'senderIdentification' | 'timeStamp'> {
  return { mm7Version: o.mm7Version ?? DEFAULT_MM7_VERSION[o.version], senderIdentification: identification(o), timeStamp: new Date() };
}

export function registerMm7(program: Command, io: CliStreams): void {
  const mm7 = program.command('mm7').description('MM7 as a VASP: submit, cancel and replace messages at an MMS-C; run a VASP simulator');

  const submit = mm7
    .command('submit')
    .description('send a SubmitReq with FILEs as content and print the answer as JSON (exit 0 for 1000/1100, 1 other status, 2 no MM7 answer)')
    .argument('[files...]', 'content parts: jpg gif png txt smil amr 3gp mp4 wav vcf html (others go as application/octet-stream)');
  clientOptions(submit, true)
    .requiredOption('--to <addresses>', 'To: comma-separated, repeatable', addressList)
    .option('--cc <addresses>', 'Cc: comma-separated, repeatable', addressList)
    .option('--bcc <addresses>', 'Bcc: comma-separated, repeatable', addressList)
    .option('--subject <text>', 'Subject')
    .option('--service-code <code>', 'ServiceCode (charging)')
    .option('--delivery-report', 'DeliveryReport: ask for a DeliveryReportReq')
    .option('--read-reply', 'ReadReply: ask for a ReadReplyReq')
    .option('--linked-id <id>', 'LinkedID: the MessageID of the MO message this answers')
    .addOption(new Option('--priority <priority>', 'Priority').choices(['Normal', 'High', 'Low']))
    .addOption(new Option('--class <class>', 'MessageClass').choices(['Personal', 'Informational', 'Advertisement', 'Auto']))
    .option('--expiry <time>', 'ExpiryDate: an xs:duration (P2D) or a date-time', parseTimeSpec)
    .option('--no-smil', 'do not generate a SMIL presentation (the content is then multipart/mixed)')
    .addHelpText(
      'after',
      '\nAddresses: +digits or 6+ digits = Number, 3-5 digits = ShortCode, x@y = RFC2822Address\n' +
        '(number:, short: or email: in front forces the kind).\n\n' +
        'Example (the demo MMS-C and VASP account):\n' +
        '  mmsc mm7 submit --url http://127.0.0.1:8080/mm7 --vasp-id demo --vas-id demo --user demo --password demo \\\n' +
        '    --from 12345 --to +15550002222 --subject Hello photo.jpg hello.txt',
    )
    .action(async (files: string[], o: SubmitOptions) => {
      const content = buildContent(await readFiles(files, io), { smil: o.smil });
      const message: Mm7Message = { type: 'SubmitReq', ...base(o), recipients: { to: o.to, cc: o.cc ?? [], bcc: o.bcc ?? [] } };
      if (o.serviceCode !== undefined) message.serviceCode = o.serviceCode;
      if (o.linkedId !== undefined) message.linkedId = o.linkedId;
      if (o.class !== undefined) message.messageClass = o.class;
      if (o.expiry !== undefined) message.expiryDate = o.expiry;
      if (o.deliveryReport) message.deliveryReport = true;
      if (o.readReply) message.readReply = true;
      if (o.priority !== undefined) message.priority = o.priority;
      if (o.subject !== undefined) message.subject = o.subject;
      await exchange(io, o, message, content);
    });

  const cancel = mm7.command('cancel').description('send a CancelReq for a submitted message and print the answer as JSON');
  clientOptions(cancel, false)
    .requiredOption('--message-id <id>', 'MessageID from the SubmitRsp')
    .action(async (o: CancelOptions) => {
      const { timeStamp: _unused, ...rest } = base(o);
      await exchange(io, o, { type: 'CancelReq', ...rest, messageId: o.messageId }, undefined);
    });

  const replace = mm7
    .command('replace')
    .description('send a ReplaceReq (with FILEs as new content, if any) and print the answer as JSON')
    .argument('[files...]', 'the new content parts, as for submit');
  clientOptions(replace, false)
    .requiredOption('--message-id <id>', 'MessageID from the SubmitRsp')
    .option('--service-code <code>', 'ServiceCode (charging)')
    .option('--no-smil', 'do not generate a SMIL presentation')
    .action(async (files: string[], o: CancelOptions) => {
      const content = buildContent(await readFiles(files, io), { smil: o.smil });
      const message: Mm7Message = { type: 'ReplaceReq', ...base(o), messageId: o.messageId };
      if (o.serviceCode !== undefined) message.serviceCode = o.serviceCode;
      await exchange(io, o, message, content);
    });

  mm7
    .command('vasp')
    .description('run a VASP simulator: answers DeliverReq, DeliveryReportReq and ReadReplyReq, logs one JSON line per request')
    .requiredOption('--listen <host:port>', 'where to listen, e.g. 127.0.0.1:9000 (port 0 picks a free one)', parseListen)
    .option('--out <dir>', 'save each content part under DIR/<TransactionID>/<Content-Location>')
    .option('--user <user>', 'require HTTP Basic with this user (401 otherwise)')
    .option('--password <password>', 'the password for --user')
    .option('--status <code>', 'StatusCode of every answer', integerIn(1000, 9999), 1000)
    .option('--max-body <octets>', 'largest request body accepted (413 past it)', integerIn(1, 2 ** 31), DEFAULT_MAX_BODY_OCTETS)
    .addHelpText('after', '\nStops on SIGINT or SIGTERM. Log lines: {"time","type","release","transactionId","status","message","parts",...}')
    .action(async (o: { listen: { host: string; port: number }; out?: string; user?: string; password?: string; status: number; maxBody: number }) => {
      if ((o.user === undefined) !== (o.password === undefined)) throw new CliError('--user and --password go together');
      const sim = new VaspSimulator({
        host: o.listen.host,
        port: o.listen.port,
        ...(o.out !== undefined ? { out: o.out } : {}),
        ...(o.user !== undefined && o.password !== undefined ? { user: o.user, password: o.password } : {}),
        status: o.status,
        maxBodyOctets: o.maxBody,
        log: (entry: VaspLogEntry) => io.stdout.write(`${JSON.stringify(entry)}\n`),
      });
      let listening: { url: string };
      try {
        listening = await sim.start();
      } catch (e) {
        throw new CliError(`cannot listen on ${o.listen.host}:${o.listen.port}: ${(e as Error).message}`);
      }
      await write(io.stderr, `listening on ${listening.url}\n`);
      await new Promise<void>((resolve) => {
        const done = (): void => {
          process.off('SIGINT', done);
          process.off('SIGTERM', done);
          resolve();
        };
        process.on('SIGINT', done);
        process.on('SIGTERM', done);
      });
      await sim.stop();
      await write(io.stderr, 'stopped\n');
    });
}
