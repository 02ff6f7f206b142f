/**
 * A VASP for test labs: the other end of the MMS-C's MM7 deliveries. It
 * accepts POSTs of DeliverReq, DeliveryReportReq and ReadReplyReq, answers
 * each with its Rsp in the request's release and TransactionID, logs one
 * record per request and can save the content's leaf parts to disk.
 *
 * One object, no global state: `start()` listens (port 0 picks a free one),
 * `stop()` closes the listener and every open connection.
 */
import { timingSafeEqual } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { ProtocolError } from '../../protocol/errors.js';
import { answer, faultAnswer, type Mm7Answer } from '../../protocol/mm7/exchange.js';
import { decodeMm7Http, encodeMm7Http, type Mm7Limits } from '../../protocol/mm7/http.js';
import type { MimeEntity } from '../../protocol/mm7/mime-types.js';
import type { Mm7Envelope, Mm7Message, Mm7MessageType } from '../../protocol/mm7/model.js';
import type { Release } from '../../protocol/mm7/releases.js';
import { Mm7Error } from '../../protocol/mm7/xml.js';

export const DEFAULT_MAX_BODY_OCTETS = 10 * 1024 * 1024;

/** What a VASP is sent by the MMS-C (23.140 §8.7: R/S→VASP requests). */
export const VASP_REQUESTS: ReadonlySet<Mm7MessageType> = new Set(['DeliverReq', 'DeliveryReportReq', 'ReadReplyReq']);

export interface VaspSimulatorOptions {
  /** Listen address; default 127.0.0.1. */
  host?: string;
  /** Listen port; default 0 (a free port, read it from start()). */
  port?: number;
  /** Save each content leaf part under out/<transactionId or counter>/<name>. */
  out?: string;
  /** Require HTTP Basic with these credentials (both must be given). */
  user?: string;
  password?: string;
  /** The StatusCode of every answer; default 1000. */
  status?: number;
  /** Largest request body read, in octets (default 10 MiB); past it, 413. */
  maxBodyOctets?: number;
  /** Limits handed to the MM7 decoder. */
  limits?: Partial<Mm7Limits>;
  /** Receives one record per request, in arrival order. */
  log?: (entry: VaspLogEntry) => void;
  /** The clock of the log's `time`; injectable for tests. */
  now?: () => Date;
}

/** A content leaf part as logged. */
export interface VaspPartEntry {
  contentType: string;
  contentId?: string;
  contentLocation?: string;
  size: number;
  /** Where the part was saved (with `out`). */
  file?: string;
}

/** One logged request. `type` is null when the request could not be read as an MM7 message. */
export interface VaspLogEntry {
  time: string;
  method: string;
  path: string;
  /** The HTTP status answered. */
  httpStatus: number;
  type: Mm7MessageType | null;
  release?: Release;
  transactionId?: string;
  message?: Mm7Message;
  parts: VaspPartEntry[];
  /** The MM7 StatusCode answered, when the answer was MM7. */
  status?: number;
  /** Why the request was refused or failed, one line. */
  error?: string;
}

export interface VaspListening {
  host: string;
  port: number;
  url: string;
}

class TooLarge extends Error {}

/** The media type with its parameters, as a Content-Type value. */
export function formatContentType(entity: Pick<MimeEntity, 'mediaType' | 'params'>): string {
  let text = entity.mediaType;
  for (const [name, value] of Object.entries(entity.params)) {
    text += `; ${name}=${/^[!#$%&'*+\-.0-9A-Z^_`a-z|~]+$/.test(value) ? value : `"${value.replace(/(["\\])/g, '\\$1')}"`}`;
  }
  return text;
}

/** The leaves of a MIME entity, depth first, in order. */
export function leafParts(entity: MimeEntity): MimeEntity[] {
  if (!entity.parts) return [entity];
  return entity.parts.flatMap(leafParts);
}

/**
 * A file name that stays inside its directory whatever the sender wrote:
 * the last path segment only, unusual characters replaced by `_`, no
 * leading dot (so neither `.`, `..` nor hidden files), at most 120
 * characters; undefined when nothing usable is left.
 */
export function safeFileName(name: string | undefined): string | undefined {
  if (name === undefined) return undefined;
  const last = name.split(/[\\/]/).filter((s) => s !== '').pop() ?? '';
  let safe = last
    .normalize('NFC')
    .replace(/[^\p{L}\p{N}._+@=,-]/gu, '_')
    .replace(/^\.+/, (dots) => '_'.repeat(dots.length));
  if (safe.length > 120) {
    const dot = safe.lastIndexOf('.');
    const ext = dot > 0 && safe.length - dot <= 10 ? safe.slice(dot) : '';
    safe = safe.slice(0, 120 - ext.length) + ext;
  }
  return /[^_]/.test(safe) ? safe : undefined;
}

/** `name`, or `name-2.ext`, `name-3.ext`… whichever is not yet in `used`. */
function unique(name: string, used: Set<string>): string {
  let candidate = name;
  const dot = name.lastIndexOf('.');
  const [stem, ext] = dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, ''];
  for (let n = 2; used.has(candidate.toLowerCase()); n++) candidate = `${stem}-${n}${ext}`;
  used.add(candidate.toLowerCase());
  return candidate;
}

function credentialsMatch(header: string | undefined, user: string, password: string): boolean {
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
  if (!m) return false;
  const given = Buffer.from(m[1]!, 'base64');
  const expected = Buffer.from(`${user}:${password}`, 'utf8');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

function oneLine(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, ' ');
}

export class VaspSimulator {
  private server: Server | undefined;
  private counter = 0;
  private readonly maxBody: number;

  constructor(private readonly options: VaspSimulatorOptions = {}) {
    if ((options.user === undefined) !== (options.password === undefined)) throw new Error('VaspSimulator: user and password go together');
    this.maxBody = options.maxBodyOctets ?? DEFAULT_MAX_BODY_OCTETS;
  }

  /** Listens; resolves with the bound address (the real port when 0 was asked). */
  async start(): Promise<VaspListening> {
    if (this.server) throw new Error('VaspSimulator: already started');
    const host = this.options.host ?? '127.0.0.1';
    const server = createServer((req, res) => {
      this.handle(req, res).catch((e: unknown) => {
        // handle() answers every failure itself; this is a last resort that keeps the process up.
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
        res.end(`internal error: ${oneLine(e instanceof Error ? e.message : String(e))}\n`);
      });
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port ?? 0, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const { port } = server.address() as AddressInfo;
    const urlHost = host.includes(':') ? `[${host}]` : host;
    return { host, port, url: `http://${urlHost}:${port}/` };
  }

  /** Stops listening and closes every connection, idle or not. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }

  /** Logs the entry with its keys in one fixed order (the log is read by people too). */
  private emit(e: VaspLogEntry): void {
    if (!this.options.log) return;
    const entry: VaspLogEntry = {
      time: e.time,
      type: e.type,
      ...(e.release !== undefined ? { release: e.release } : {}),
      ...(e.transactionId !== undefined ? { transactionId: e.transactionId } : {}),
      ...(e.status !== undefined ? { status: e.status } : {}),
      httpStatus: e.httpStatus,
      method: e.method,
      path: e.path,
      ...(e.error !== undefined ? { error: e.error } : {}),
      ...(e.message !== undefined ? { message: e.message } : {}),
      parts: e.parts,
    };
    this.options.log(entry);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const base = { time: (this.options.now?.() ?? new Date()).toISOString(), method: req.method ?? '', path: req.url ?? '' };
    const refuse = (httpStatus: number, error: string, headers: Record<string, string> = {}): void => {
      res.writeHead(httpStatus, { 'content-type': 'text/plain; charset=utf-8', ...headers });
      res.end(`${error}\n`);
      this.emit({ ...base, httpStatus, type: null, parts: [], error });
    };

    if (req.method !== 'POST') return refuse(405, `method ${req.method ?? '?'} not allowed: MM7 requests are POSTs`, { allow: 'POST' });
    const { user, password } = this.options;
    if (user !== undefined && password !== undefined && !credentialsMatch(req.headers.authorization, user, password)) {
      return refuse(401, 'wrong or missing HTTP Basic credentials', { 'www-authenticate': 'Basic realm="vasp"' });
    }
    let body: Buffer;
    try {
      body = await this.readBody(req);
    } catch (e) {
      if (e instanceof TooLarge) return refuse(413, `request body larger than ${this.maxBody} octets`, { connection: 'close' });
      throw e;
    }

    let envelope: Mm7Envelope;
    let content: MimeEntity | undefined;
    try {
      ({ envelope, content } = await decodeMm7Http(req.headers['content-type'] ?? '', body, { maxBodyOctets: this.maxBody, ...this.options.limits }));
    } catch (e) {
      const error = e instanceof ProtocolError ? e : new Mm7Error('BAD_VALUE', 'request', oneLine(e instanceof Error ? e.message : String(e)), 2007);
      const fault = faultAnswer(error, 'vasp');
      await this.send(res, fault);
      this.emit({ ...base, ...this.answerFields(fault), type: null, parts: [], error: oneLine(error.message) });
      return;
    }

    const type = envelope.message.type;
    const leaves = content ? leafParts(content) : [];
    const parts: VaspPartEntry[] = leaves.map((p) => {
      return {
        contentType: formatContentType(p),
        ...(p.contentId !== undefined ? { contentId: p.contentId } : {}),
        ...(p.contentLocation !== undefined ? { contentLocation: p.contentLocation } : {}),
        size: p.body?.length ?? 0,
      };
    });
    let reply: Mm7Answer;
    let error: string | undefined;
    if (!VASP_REQUESTS.has(type)) {
      // An MM7 message a VASP is never sent (a SubmitReq, a response): its Rsp when it has one, else a Fault.
      const why = `${type} is not a request an MMS-C sends to a VASP`;
      error = why;
      try {
        reply = answer(envelope, 4003);
      } catch {
        const context = { release: envelope.release, ...(envelope.transactionId !== undefined ? { transactionId: envelope.transactionId } : {}) };
        reply = faultAnswer(new Mm7Error('UNSUPPORTED', type, why, 4003, context), 'vasp', envelope.release);
      }
    } else {
      let code = this.options.status ?? 1000;
      if (this.options.out !== undefined && leaves.length > 0) {
        try {
          await this.save(this.options.out, envelope.transactionId, leaves, parts);
        } catch (e) {
          error = `cannot save the content: ${oneLine(e instanceof Error ? e.message : String(e))}`;
          code = 3000;
        }
      }
      reply = answer(envelope, code);
    }
    await this.send(res, reply);
    const entry: VaspLogEntry = { ...base, ...this.answerFields(reply), type, release: envelope.release, message: envelope.message, parts };
    if (envelope.transactionId !== undefined) entry.transactionId = envelope.transactionId;
    if (error !== undefined) entry.error = error;
    this.emit(entry);
  }

  private answerFields(a: Mm7Answer): Pick<VaspLogEntry, 'httpStatus' | 'release' | 'transactionId' | 'status'> {
    const fields: Pick<VaspLogEntry, 'httpStatus' | 'release' | 'transactionId' | 'status'> = { httpStatus: a.httpStatus, release: a.envelope.release };
    if (a.envelope.transactionId !== undefined) fields.transactionId = a.envelope.transactionId;
    if (a.envelope.message.status) fields.status = a.envelope.message.status.code;
    return fields;
  }

  private async send(res: ServerResponse, a: Mm7Answer): Promise<void> {
    const { contentType, body } = await encodeMm7Http(a.envelope);
    res.writeHead(a.httpStatus, { 'content-type': contentType, 'content-length': String(body.length) });
    res.end(body);
  }

  /** The body, refused (TooLarge) as soon as it passes the limit: by Content-Length before reading, or while reading. */
  private readBody(req: IncomingMessage): Promise<Buffer> {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > this.maxBody) return Promise.reject(new TooLarge());
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const onData = (chunk: Buffer): void => {
        size += chunk.length;
        if (size > this.maxBody) {
          req.off('data', onData);
          chunks.length = 0;
          // The rest is discarded, not kept: Node drains the request once the 413 is sent.
          reject(new TooLarge());
          return;
        }
        chunks.push(chunk);
      };
      req.on('data', onData);
      req.once('end', () => resolve(Buffer.concat(chunks, size)));
      req.once('error', reject);
      // A client that gives up mid-body: nothing to answer, but the promise must not hang.
      req.once('close', () => {
        if (!req.complete) reject(new Error('the client closed the connection before the end of the body'));
      });
    });
  }

  /** Writes each leaf under out/<transactionId or counter>/, filling in `file` of its log entry. */
  private async save(out: string, transactionId: string | undefined, leaves: MimeEntity[], parts: VaspPartEntry[]): Promise<void> {
    const n = ++this.counter;
    await mkdir(out, { recursive: true });
    const wanted = safeFileName(transactionId) ?? String(n);
    let dir = '';
    for (let k = 1; ; k++) {
      const name = k === 1 ? wanted : `${wanted}-${k}`;
      try {
        dir = join(out, name);
        await mkdir(dir);
        break;
      } catch (e) {
        // A retried TransactionID (or a counter left from an earlier run) gets a fresh directory.
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || k >= 1000) throw e;
      }
    }
    const used = new Set<string>();
    for (let i = 0; i < leaves.length; i++) {
      const leaf = leaves[i]!;
      const file = join(dir, unique(safeFileName(leaf.contentLocation) ?? `part-${i + 1}`, used));
      await writeFile(file, leaf.body ?? Buffer.alloc(0), { flag: 'wx' });
      parts[i]!.file = file;
    }
  }
}
