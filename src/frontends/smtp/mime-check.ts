/**
 * A structural check of a received mail before it is parsed. mailparser
 * is forgiving by design: it turns a truncated multipart or a broken
 * header section into whatever it can, silently. The MMS-C must instead
 * refuse such a mail with a 5xx and store nothing (DESIGN.md: "a malformed
 * MIME body → 5xx with a reason and no partial message"), so the parts a
 * subscriber would get are exactly what the sender sent.
 */
import { decode as decodeQp } from 'libqp';

export class MalformedMail extends Error {
  readonly code = 'SMTP_MALFORMED_MIME';
  constructor(reason: string) {
    super(reason);
    this.name = 'MalformedMail';
  }
}

/** Nesting deeper than this is an attack or a loop, not a message (MMS content is one or two levels). */
const MAX_DEPTH = 8;
/** A header section longer than this is refused (RFC 5322 sets no limit; real mail stays far below). */
const MAX_HEADER_OCTETS = 256 * 1024;
const HEADER_NAME = /^[!-9;-~]+$/;
const BASE64_BODY = /^[A-Za-z0-9+/=\s]*$/;

interface Entity {
  headers: Map<string, string>;
  body: string;
}

/** Splits `text` (latin1: one char per octet) into its header fields and body; throws MalformedMail. */
function splitEntity(text: string, where: string): Entity {
  // An entity without header fields: its body starts right after the empty line.
  const bare = /^\r?\n/.exec(text);
  if (bare) return { headers: new Map(), body: text.slice(bare[0].length) };
  let end = text.indexOf('\r\n\r\n');
  let sep = 4;
  const lf = text.indexOf('\n\n');
  if (lf >= 0 && (end < 0 || lf < end)) {
    end = lf;
    sep = 2;
  }
  // No empty line: the entity is all header section and has an empty body.
  const head = end < 0 ? text : text.slice(0, end);
  if (head.length > MAX_HEADER_OCTETS) throw new MalformedMail(`${where}: header section over ${MAX_HEADER_OCTETS} octets`);
  const headers = new Map<string, string>();
  let started = false;
  // The field being continued; undefined for a repeated field (the first one counts).
  let current: string | undefined;
  for (const line of head.split(/\r?\n/)) {
    if (line === '') continue;
    if (line[0] === ' ' || line[0] === '\t') {
      if (!started) throw new MalformedMail(`${where}: header section starts with a continuation line`);
      if (current !== undefined) headers.set(current, `${headers.get(current)} ${line.trim()}`);
      continue;
    }
    const colon = line.indexOf(':');
    const name = colon > 0 ? line.slice(0, colon).trimEnd() : '';
    if (!HEADER_NAME.test(name)) throw new MalformedMail(`${where}: "${line.slice(0, 40)}" is not a header field`);
    started = true;
    const key = name.toLowerCase();
    current = headers.has(key) ? undefined : key;
    if (current !== undefined) headers.set(current, line.slice(colon + 1).trim());
  }
  return { headers, body: end < 0 ? '' : text.slice(end + sep) };
}

function param(value: string, name: string): string | undefined {
  const re = new RegExp(`;\\s*${name}\\s*=\\s*(?:"((?:[^"\\\\]|\\\\.)*)"|([^;\\s]+))`, 'i');
  const m = re.exec(value);
  return m ? (m[1] ?? m[2]) : undefined;
}

/** The entities of a multipart body, in order; throws MalformedMail for a broken one. */
function children(entity: Entity, contentType: string, where: string): Entity[] {
  const mediaType = contentType.split(';')[0]!.trim().toLowerCase();
  const boundary = param(contentType, 'boundary');
  if (!boundary) throw new MalformedMail(`${where}: ${mediaType} without a boundary parameter`);
  // Delimiter lines start a line (RFC 2046 §5.1.1); transport padding may follow them.
  const delimiter = new RegExp(`(?:^|\\r?\\n)--${boundary.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(--)?[ \\t]*(?=\\r?\\n|$)`, 'g');
  const marks = [...entity.body.matchAll(delimiter)];
  if (marks.length === 0) throw new MalformedMail(`${where}: boundary "${boundary}" never appears in the body`);
  const close = marks.findIndex((m) => m[1] === '--');
  if (close < 0) throw new MalformedMail(`${where}: the multipart is not closed by "--${boundary}--" (truncated?)`);
  if (close === 0) throw new MalformedMail(`${where}: a multipart without any part`);
  const out: Entity[] = [];
  for (let i = 0; i < close; i++) {
    const from = marks[i]!.index + marks[i]![0].length;
    const raw = entity.body.slice(from, marks[i + 1]!.index).replace(/^[ \t]*\r?\n/, '');
    out.push(splitEntity(raw, `${where}.${i + 1}`));
  }
  return out;
}

/** One leaf of a checked mail: its header fields (names lower case) and its body with the transfer encoding undone. */
export interface MimeLeaf {
  headers: Map<string, string>;
  contentType: string;
  data: Buffer;
}

function walk(entity: Entity, where: string, depth: number, leaves: MimeLeaf[] | undefined): void {
  if (depth > MAX_DEPTH) throw new MalformedMail(`${where}: multiparts nested deeper than ${MAX_DEPTH}`);
  const contentType = entity.headers.get('content-type') ?? 'text/plain; charset=us-ascii';
  const mediaType = contentType.split(';')[0]!.trim().toLowerCase();
  const encoding = (entity.headers.get('content-transfer-encoding') ?? '').trim().toLowerCase();
  if (!mediaType.includes('/')) throw new MalformedMail(`${where}: Content-Type "${contentType.slice(0, 60)}" has no subtype`);
  if (mediaType.startsWith('multipart/')) {
    children(entity, contentType, where).forEach((child, i) => walk(child, `${where}.${i + 1}`, depth + 1, leaves));
    return;
  }
  if (encoding === 'base64' && !BASE64_BODY.test(entity.body)) throw new MalformedMail(`${where}: base64 body with characters outside the base64 alphabet`);
  if (encoding !== '' && !['7bit', '8bit', 'binary', 'base64', 'quoted-printable'].includes(encoding)) {
    throw new MalformedMail(`${where}: unknown Content-Transfer-Encoding "${encoding}"`);
  }
  if (!leaves) return;
  // The CRLF before a delimiter belongs to the delimiter (RFC 2046), already cut; a single-part
  // mail's last CRLF ends its last line, as SMTP needs, and is not content either.
  const body = depth === 0 ? entity.body.replace(/\r?\n$/, '') : entity.body;
  const data = encoding === 'base64' ? Buffer.from(body, 'base64') : encoding === 'quoted-printable' ? decodeQp(body) : Buffer.from(body, 'latin1');
  leaves.push({ headers: entity.headers, contentType, data });
}

/** Throws MalformedMail with a reason a sender can act on; returns quietly for a well-formed mail. */
export function checkMimeStructure(mail: Buffer): void {
  if (mail.length === 0) throw new MalformedMail('empty message');
  const text = mail.toString('latin1');
  const root = splitEntity(text, 'message');
  if (root.headers.size === 0) throw new MalformedMail('message: no header section');
  walk(root, 'message', 0, undefined);
}

/**
 * The leaves of a mail in order, bodies decoded, for content that must
 * arrive as sent (MM4: the MM's parts, byte for byte); throws MalformedMail
 * as checkMimeStructure does.
 */
export function mimeLeaves(mail: Buffer): { contentType: string; leaves: MimeLeaf[] } {
  const root = splitEntity(mail.toString('latin1'), 'message');
  if (root.headers.size === 0) throw new MalformedMail('message: no header section');
  const leaves: MimeLeaf[] = [];
  walk(root, 'message', 0, leaves);
  return { contentType: root.headers.get('content-type') ?? 'text/plain; charset=us-ascii', leaves };
}
