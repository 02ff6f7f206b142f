import { createTransport } from 'nodemailer';
import type { Attachment } from 'nodemailer/lib/mailer';
import { toMm4Address } from '../../protocol/mm4/address.js';
import { formatMailDate } from '../../protocol/mm4/headers.js';
import { parseMimeType } from '../mmsc/convert.js';
import type { RecipientState, StoredMessage, StoredPart } from '../mmsc/model.js';
import type { ForwardPayload } from '../mmsc/routing.js';
import type { JobHandler, JobOutcome, OutboxJob } from '../outbox/types.js';

/**
 * MM3 out (DESIGN.md step 3): a message for an e-mail recipient leaves as
 * an ordinary mail through the configured smarthost. The outbox calls the
 * handler; it reads the message from DB1 at send time and says what the
 * SMTP server answered: 2xx done, 4xx or no answer retry, 5xx failed.
 */

/** Where mail goes: the smarthost, or a peer MMS-C's MM4 listener. */
export interface SmtpTarget {
  host: string;
  port: number;
  auth?: { user: string; pass: string };
  /** Accept a self-signed certificate on STARTTLS (test labs). */
  allowSelfSigned?: boolean;
}

/** What the handlers read: the message and its parts, as DB1 has them. */
export interface MessageLookup {
  getMessage(messageId: string): StoredMessage | undefined;
  getParts(messageId: string): StoredPart[];
}

/** Records what the next hop said about a recipient (a permanent refusal ends it). */
export type SetState = (messageId: string, address: string, state: RecipientState, detail?: string) => Promise<boolean>;

export interface SendOptions {
  target: SmtpTarget;
  /** SMTP envelope. */
  from: string;
  to: string[];
  timeoutMs: number;
  /** EHLO name. */
  name: string;
}

/** An SMTP client error as nodemailer reports it. */
interface SmtpClientError {
  message?: string;
  code?: string;
  responseCode?: number;
  response?: string;
}

/**
 * The outbox's reading of an SMTP failure (RFC 5321 §4.2.1): a 5yz reply
 * is permanent, a 4yz reply or a failure to talk at all (refused,
 * timeout, TLS) is worth another try.
 */
export function classifySmtpError(e: unknown): JobOutcome {
  const err = (typeof e === 'object' && e !== null ? e : { message: String(e) }) as SmtpClientError;
  const text = (err.response ?? err.message ?? String(e)).slice(0, 300);
  const code = err.responseCode;
  if (typeof code === 'number' && code >= 500 && code < 600) return { status: 'failed', error: `SMTP ${code}: ${text}` };
  if (typeof code === 'number') return { status: 'retry', error: `SMTP ${code}: ${text}` };
  return { status: 'retry', error: `${err.code ?? 'ERROR'}: ${text}` };
}

function transportFor(o: SendOptions): ReturnType<typeof createTransport> {
  return createTransport({
    host: o.target.host,
    port: o.target.port,
    secure: false,
    name: o.name,
    connectionTimeout: o.timeoutMs,
    greetingTimeout: o.timeoutMs,
    socketTimeout: o.timeoutMs,
    ...(o.target.auth ? { auth: o.target.auth } : {}),
    ...(o.target.allowSelfSigned ? { tls: { rejectUnauthorized: false } } : {}),
  });
}

/** Sends one composed mail (raw RFC 5322 octets) and classifies the answer. */
export async function sendRaw(o: SendOptions, raw: Buffer): Promise<JobOutcome> {
  const transport = transportFor(o);
  try {
    const info = await transport.sendMail({ envelope: { from: o.from, to: o.to }, raw });
    return { status: 'done', detail: String(info.response ?? '').slice(0, 200) };
  } catch (e) {
    return classifySmtpError(e);
  } finally {
    transport.close();
  }
}

export function payloadOf(job: OutboxJob): ForwardPayload | undefined {
  const p = job.payload as Partial<ForwardPayload> | null;
  if (!p || typeof p.messageId !== 'string' || typeof p.address !== 'string') return undefined;
  return { messageId: p.messageId, address: p.address, ...(typeof p.peerDomain === 'string' ? { peerDomain: p.peerDomain } : {}) };
}

export interface Mm3HandlerOptions {
  lookup: MessageLookup;
  smarthost: SmtpTarget;
  /** This MMS-C's mail domain: numbers are written `+1555…/TYPE=PLMN@<domain>`. */
  domain: string;
  /** Envelope sender (bounces): e.g. `mmsc@mms.local`. */
  bounceAddress: string;
  timeoutMs: number;
  /** A permanent refusal makes the recipient `rejected` (the report to the originator follows from that state). */
  setState?: SetState;
  /** Adapts the content before it is mailed (smtp.outbound.adaptProfile); the stored original is not touched. */
  adapt?: (message: StoredMessage, parts: StoredPart[]) => Promise<StoredPart[]>;
}

const escapeHtml = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * The message as a mail a person can read: the text parts as the text
 * body, an HTML body with the pictures inline (by Content-ID), every
 * other part attached; the SMIL stays behind (no mail client plays it).
 */
export function mm3Mail(message: StoredMessage, parts: readonly StoredPart[], recipient: string, domain: string): Parameters<ReturnType<typeof createTransport>['sendMail']>[0] {
  const texts: string[] = [];
  const attachments: Attachment[] = [];
  const html: string[] = [];
  let n = 0;
  for (const p of parts) {
    const { mediaType, params } = parseMimeType(p.contentType);
    if (mediaType === 'application/smil') continue;
    n++;
    if (mediaType === 'text/plain') {
      const charset = (params.charset ?? 'utf-8').toLowerCase();
      const text = charset === 'utf-8' || charset === 'us-ascii' ? p.data.toString('utf8') : p.data.toString('latin1');
      texts.push(text);
      html.push(`<p>${escapeHtml(text).replace(/\n/g, '<br>')}</p>`);
      continue;
    }
    const filename = p.contentLocation ?? params.name ?? `part${n}`;
    if (mediaType.startsWith('image/')) {
      const cid = `${p.contentId ?? `part${n}`}@${domain}`;
      attachments.push({ filename, content: p.data, contentType: mediaType, cid, contentDisposition: 'inline' });
      html.push(`<p><img src="cid:${escapeHtml(cid)}" alt="${escapeHtml(filename)}"></p>`);
    } else {
      attachments.push({ filename, content: p.data, contentType: p.contentType });
    }
  }
  const from = toMm4Address(message.envelope.from, domain);
  return {
    from,
    to: recipient,
    ...(message.envelope.subject !== undefined ? { subject: message.envelope.subject } : {}),
    date: message.envelope.date,
    messageId: `<${message.messageId}@${domain}>`,
    text: texts.join('\n\n'),
    html: `<!doctype html><html><body>${html.join('')}</body></html>`,
    attachments,
    // Prepared: nodemailer would otherwise turn the quoted id into an encoded-word.
    headers: { 'X-Mms-Message-ID': { prepared: true, value: `"${message.messageId}"` }, 'X-Mms-Sent-Date': formatMailDate(message.envelope.date) },
  };
}

export function mm3Handler(o: Mm3HandlerOptions): JobHandler {
  return async (job) => {
    const payload = payloadOf(job);
    if (!payload) return { status: 'failed', error: 'job payload lacks messageId/address' };
    const message = o.lookup.getMessage(payload.messageId);
    if (!message || message.destroyed) return { status: 'failed', error: 'message no longer stored' };
    const stored = o.lookup.getParts(payload.messageId);
    const mail = mm3Mail(message, o.adapt ? await o.adapt(message, stored) : stored, payload.address, o.domain);
    const transport = transportFor({ target: o.smarthost, from: o.bounceAddress, to: [payload.address], timeoutMs: o.timeoutMs, name: o.domain });
    let outcome: JobOutcome;
    try {
      const info = await transport.sendMail({ ...mail, envelope: { from: o.bounceAddress, to: [payload.address] } });
      outcome = { status: 'done', detail: String(info.response ?? '').slice(0, 200) };
    } catch (e) {
      outcome = classifySmtpError(e);
    } finally {
      transport.close();
    }
    if (outcome.status === 'failed') await o.setState?.(payload.messageId, payload.address, 'rejected', `MM3: ${outcome.error}`);
    return outcome;
  };
}
