/**
 * The forward from server 1 to the archive node (issue 8, step c): one MM7
 * DeliverReq over the multipart/related binding, in any release. Server 1
 * builds it with encodeArchiveForward(); the receiver (receiver.ts) reads
 * it with readArchiveForward(). Both sides use this one module, so the
 * convention below cannot drift between them.
 *
 * THE CONVENTION
 * - Recipients/To: exactly one address, the subscriber (Number, ShortCode
 *   or RFC2822Address).
 * - Sender: the original sender. TimeStamp: the original date (when the
 *   MMS-C accepted it). Subject: the original subject.
 * - LinkedID: the MMS-C's message id of the original message. Together with
 *   the recipient it is the idempotency key: server 2 stores a given
 *   (LinkedID, recipient) once, and answers a repeat 1000 with the same
 *   archive id.
 * - MMSRelayServerID: the forwarding MMS-C (informational).
 * - ApplicID (REL-6 only): the archive service, `mmsgw-archive` unless both
 *   sides configure another; a different one is refused with 2008.
 * - AuxApplicInfo (REL-6 only): `;`-separated `key=value` pairs, values
 *   percent-encoded (encodeURIComponent):
 *     subscription=<subscription id>   the recipient's archive subscription
 *     extracted=1                      server 1 already applied the plan's
 *                                      extraction (server 2 does not again)
 *   e.g. `subscription=q3Jd0v9e8yR6m0a1Zk4bXw;extracted=1`. Unknown keys are
 *   ignored (room for later ones).
 * - Content: the message's parts, in order, as a multipart/related (the
 *   original top-level type) — or the single part itself.
 *   One optional extra part, Content-Type `application/vnd.mmsgw.archive+json`
 *   (Content-ID `<archive-info@mmsgw>`), carries what does not fit a header:
 *     { "subscription"?: id, "extracted"?: boolean,
 *       "dropped"?: [{contentType, contentId?, reason}],
 *       "trimmed"?: [{contentType, contentId?, seconds, originalSize, size}],
 *       "additional"?: {archiveLink?, notice?, geolocation?: {lat, lon, source?, label?}} }
 *   It is how a REL-5 forward (no ApplicID/AuxApplicInfo elements) names
 *   the subscription, and how server 1 reports what its extraction dropped.
 *   Server 2 removes it before archiving. AuxApplicInfo wins when both name
 *   a subscription. With no subscription named at all, server 2 uses the
 *   recipient's live subscription in DB2 (it owns them), or answers 2003.
 * - Transfer encoding: `binary` for every part that is not 7bit text, by
 *   default (archive.transferEncoding: HTTP is 8-bit clean, and base64 cost
 *   both sides a pass over every octet and a third more of them on the
 *   wire); `base64` for a receiver that wants it. The receiver reads both.
 * - Authentication (per config, either or both): HTTP Basic, or
 *   `X-Archive-Signature: sha256=<hex HMAC-SHA256 of the HTTP body with the
 *   shared secret>`.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { encodeMm7HttpPieces } from '../../protocol/mm7/http.js';
import type { MimeEntity } from '../../protocol/mm7/mime-types.js';
import type { Mm7Address, Mm7Envelope } from '../../protocol/mm7/model.js';
import { isRel6, DEFAULT_MM7_VERSION, type Release } from '../../protocol/mm7/releases.js';
import { parseMimeType } from '../mmsc/convert.js';
import type { StoredPart } from '../mmsc/model.js';
import type { AdditionalData, DroppedPart, TrimmedPart } from '../store/db2.js';

export const DEFAULT_ARCHIVE_SERVICE = 'mmsgw-archive';
export const ARCHIVE_INFO_TYPE = 'application/vnd.mmsgw.archive+json';
export const ARCHIVE_INFO_CID = 'archive-info@mmsgw';
export const SIGNATURE_HEADER = 'x-archive-signature';
const CONTENT_CID = 'archive-content@mmsgw';

/** What server 1 forwards for one recipient of one message. */
export interface ArchiveForward {
  release: Release;
  transactionId: string;
  /** The subscriber, normalised (`+15550001111`, `user@example.org`). */
  recipient: string;
  subscriptionId?: string;
  /** ApplicID; default DEFAULT_ARCHIVE_SERVICE. */
  service?: string;
  originalMessageId: string;
  sender: string;
  date: Date;
  subject?: string;
  /** The original top-level content type (`multipart/related; start=...; type=...`). */
  contentType: string;
  parts: StoredPart[];
  /** Set when server 1 ran the extraction: what it dropped and cut. */
  extracted?: { dropped: DroppedPart[]; trimmed: TrimmedPart[] };
  additional?: AdditionalData;
  relayServerId?: string;
  /** Media and non-ASCII text as `binary` rather than base64 (config archive.transferEncoding). */
  binary?: boolean;
}

/** The archive-info part's JSON. */
export interface ArchiveInfo {
  subscription?: string;
  extracted?: boolean;
  dropped?: DroppedPart[];
  trimmed?: TrimmedPart[];
  additional?: AdditionalData;
}

/** A normalised address as an MM7 address element. */
export function mm7AddressOf(address: string): Mm7Address {
  if (address.includes('@')) return { kind: 'RFC2822Address', value: address };
  if (/^[0-9]{3,8}$/.test(address)) return { kind: 'ShortCode', value: address };
  return { kind: 'Number', value: address };
}

export function formatAuxApplicInfo(fields: Record<string, string | undefined>): string {
  return Object.entries(fields)
    .filter((e): e is [string, string] => e[1] !== undefined)
    .map(([k, v]) => `${k}=${encodeURIComponent(v)}`)
    .join(';');
}

/** `a=1;b=x%3By` → {a: '1', b: 'x;y'}; pairs without `=` and undecodable values are skipped. */
export function parseAuxApplicInfo(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const pair of text.split(';')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) continue;
    try {
      out.set(pair.slice(0, eq).trim().toLowerCase(), decodeURIComponent(pair.slice(eq + 1).trim()));
    } catch {
      // a value that is not percent-encoded text: ignored like an unknown key
    }
  }
  return out;
}

function leaf(p: StoredPart): MimeEntity {
  const { mediaType, params } = parseMimeType(p.contentType);
  const e: MimeEntity = { mediaType, params, headers: [], body: p.data };
  if (p.contentId !== undefined) e.contentId = p.contentId;
  if (p.contentLocation !== undefined) e.contentLocation = p.contentLocation;
  return e;
}

/** The DeliverReq and its content entity, before encoding. */
export function archiveForwardEnvelope(f: ArchiveForward): { envelope: Mm7Envelope; content: MimeEntity } {
  const rel6 = isRel6(f.release);
  const info: ArchiveInfo = {};
  if (!rel6 && f.subscriptionId !== undefined) info.subscription = f.subscriptionId;
  if (!rel6 && f.extracted) info.extracted = true;
  if (f.extracted && f.extracted.dropped.length > 0) info.dropped = f.extracted.dropped;
  if (f.extracted && f.extracted.trimmed.length > 0) info.trimmed = f.extracted.trimmed;
  if (f.additional && Object.keys(f.additional).length > 0) info.additional = f.additional;

  const leaves = f.parts.map(leaf);
  if (Object.keys(info).length > 0) {
    leaves.push({ mediaType: ARCHIVE_INFO_TYPE, params: {}, contentId: ARCHIVE_INFO_CID, headers: [], body: Buffer.from(JSON.stringify(info), 'utf8') });
  }
  const top = parseMimeType(f.contentType);
  let content: MimeEntity;
  if (leaves.length === 1 && !top.mediaType.startsWith('multipart/')) {
    content = { ...leaves[0]!, contentId: leaves[0]!.contentId ?? CONTENT_CID };
  } else {
    const params: Record<string, string> = {};
    for (const k of ['start', 'type']) if (top.params[k] !== undefined) params[k] = top.params[k]!;
    content = { mediaType: top.mediaType.startsWith('multipart/') ? top.mediaType : 'multipart/mixed', params, contentId: CONTENT_CID, headers: [], parts: leaves };
  }

  const envelope: Mm7Envelope = {
    release: f.release,
    transactionId: f.transactionId,
    message: {
      type: 'DeliverReq',
      mm7Version: DEFAULT_MM7_VERSION[f.release],
      linkedId: f.originalMessageId,
      sender: mm7AddressOf(f.sender),
      recipients: { to: [mm7AddressOf(f.recipient)], cc: [], bcc: [] },
      timeStamp: f.date,
      content: { href: `cid:${content.contentId}` },
    },
  };
  const m = envelope.message;
  if (f.relayServerId !== undefined) m.mmsRelayServerId = f.relayServerId;
  if (f.subject !== undefined) m.subject = f.subject;
  if (rel6) {
    m.applicId = f.service ?? DEFAULT_ARCHIVE_SERVICE;
    const aux = formatAuxApplicInfo({ subscription: f.subscriptionId, extracted: f.extracted ? '1' : undefined });
    if (aux !== '') m.auxApplicInfo = aux;
  }
  return { envelope, content };
}

export type ForwardAuth = { kind: 'basic'; user: string; password: string } | { kind: 'hmac'; secret: string };

/** The HTTP request of a forward: body, Content-Type and the authentication header. */
export async function encodeArchiveForward(f: ArchiveForward, auth?: ForwardAuth): Promise<{ contentType: string; body: Buffer; headers: Record<string, string> }> {
  const { contentType, pieces, length, headers } = await encodeArchiveForwardPieces(f, auth);
  return { contentType, body: Buffer.concat(pieces, length), headers };
}

/**
 * encodeArchiveForward with the body as pieces to write in order: the
 * parts' data (read from DB1) go out as they are, not copied into one
 * buffer per forward.
 */
export async function encodeArchiveForwardPieces(
  f: ArchiveForward,
  auth?: ForwardAuth,
): Promise<{ contentType: string; pieces: Buffer[]; length: number; headers: Record<string, string> }> {
  const { envelope, content } = archiveForwardEnvelope(f);
  const { contentType, pieces, length } = await encodeMm7HttpPieces(envelope, content, { binary: f.binary === true });
  const headers: Record<string, string> = { 'Content-Type': contentType };
  if (auth?.kind === 'basic') headers.Authorization = `Basic ${Buffer.from(`${auth.user}:${auth.password}`).toString('base64')}`;
  if (auth?.kind === 'hmac') headers['X-Archive-Signature'] = signBody(auth.secret, pieces);
  return { contentType, pieces, length, headers };
}

/** `sha256=<hex>` of the body, whole or in pieces. */
export function signBody(secret: string, body: Buffer | readonly Buffer[]): string {
  const hmac = createHmac('sha256', secret);
  for (const piece of Buffer.isBuffer(body) ? [body] : body) hmac.update(piece);
  return `sha256=${hmac.digest('hex')}`;
}

/** Constant-time check of a signature header against the body. */
export function verifySignature(secret: string, body: Buffer, header: string | undefined): boolean {
  if (header === undefined) return false;
  const m = /^sha256=([0-9a-f]{64})$/i.exec(header.trim());
  if (!m) return false;
  const expected = createHmac('sha256', secret).update(body).digest();
  return timingSafeEqual(expected, Buffer.from(m[1]!, 'hex'));
}
