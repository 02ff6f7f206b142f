/**
 * Input and output of the `mmsc` commands: injectable streams, reading a
 * file or stdin, hex text in and out, and the one-line error a user sees.
 */
import { readFile } from 'node:fs/promises';
import type { Readable, Writable } from 'node:stream';
import { ProtocolError } from '../../protocol/errors.js';

export interface CliStreams {
  stdin: Readable;
  stdout: Writable;
  stderr: Writable;
}

/**
 * A problem with what the user gave us (a missing file, bad hex, bad JSON, a
 * malformed PDU): printed as one `mmsc: …` line, exit code 1.
 */
export class CliError extends Error {
  override readonly name = 'CliError';
}

/** `field: detail (at octet N) [CODE]`, on one line whatever the detail holds. */
export function describeProtocolError(e: ProtocolError): string {
  return `${e.message} [${e.code}]`.replace(/\s*[\r\n]+\s*/g, ' ');
}

/** Runs `fn`, turning a ProtocolError into a CliError that starts with `what`. */
export async function explain<T>(what: string, fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof ProtocolError) throw new CliError(`${what}: ${describeProtocolError(e)}`);
    throw e;
  }
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

/** The octets of FILE, or of stdin when FILE is `-` or absent. */
export async function readInput(file: string | undefined, stdin: Readable): Promise<Buffer> {
  if (file === undefined || file === '-') return readAll(stdin);
  try {
    return await readFile(file);
  } catch (e) {
    throw new CliError(`cannot read ${file}: ${(e as Error).message}`);
  }
}

/**
 * Octets from hex text: whitespace anywhere, `#` starts a comment that runs
 * to the end of the line (the format of fixtures/pdu/*.hex).
 */
export function parseHexText(text: string): Buffer {
  let digits = '';
  const lines = text.split(/\r?\n|\r/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const hash = line.indexOf('#');
    const compact = (hash < 0 ? line : line.slice(0, hash)).replace(/\s+/g, '');
    const bad = /[^0-9a-fA-F]/.exec(compact);
    if (bad) throw new CliError(`hex input, line ${i + 1}: ${JSON.stringify(bad[0])} is not a hex digit`);
    digits += compact;
  }
  if (digits.length % 2 !== 0) throw new CliError(`hex input has an odd number of hex digits (${digits.length})`);
  return Buffer.from(digits, 'hex');
}

/** Reads a PDU: raw octets, or hex text with `hex`. */
export async function readPdu(file: string | undefined, hex: boolean | undefined, stdin: Readable): Promise<Buffer> {
  const raw = await readInput(file, stdin);
  return hex ? parseHexText(raw.toString('utf8')) : raw;
}

/** Upper-case hex octets, space-separated, `perLine` to a line, newline-terminated. */
export function hexLines(bytes: Uint8Array, perLine = 16): string {
  const octets = Buffer.from(bytes).toString('hex').toUpperCase().match(/../g) ?? [];
  const lines: string[] = [];
  for (let i = 0; i < octets.length; i += perLine) lines.push(octets.slice(i, i + perLine).join(' '));
  return lines.map((l) => `${l}\n`).join('');
}

/** Upper-case hex on one line, no separators. */
export function hexLine(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex').toUpperCase();
}

/** Writes and waits until the stream has taken the data. */
export function write(stream: Writable, data: string | Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.write(data, (err) => (err ? reject(err) : resolve()));
  });
}
