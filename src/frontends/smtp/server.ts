import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer, type SMTPServerAddress, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import { ProtocolError } from '../../../protocol/errors.js';
import { parseAddressList, parseMm4Address, toMm4Address } from '../../../protocol/mm4/address.js';
import { isMm4, parseMm4Headers, type HeaderField, type Mm4Message, type Mm4Result } from '../../../protocol/mm4/headers.js';
import type { SmtpConfig, SmtpPeerConfig } from '../../config/mmsc.js';
import { expiryFor } from '../../mmsc/convert.js';
import type { LogFn } from '../../mmsc/log.js';
import type { Metrics } from '../../mmsc/metrics.js';
import type { MmscService } from '../../mmsc/mmsc.js';
import type { MessageEnvelope, NewRecipient, Origin, RecipientState } from '../../mmsc/model.js';
import { isLocal, normaliseNumber, recipientFor, type RoutingConfig } from '../../mmsc/routing.js';
import type { NewJob } from '../../outbox/types.js';
import { mm4ReportJob, type Mm4Transactions } from '../../outbound/mm4.js';
import type { MessageLookup, SetState } from '../../outbound/mm3.js';
import { isLoopback, sameSecret } from '../http-util.js';
import { contentFromMail, contentFromMm4, EmptyMail } from './convert.js';
import { checkMimeStructure, MalformedMail } from './mime-check.js';

/**
 * The SMTP front end (DESIGN.md: "SMTP 127.0.0.1:2525, MM3 and MM4"): mail
 * for a local subscriber becomes an MMS and flows like an MM7 submit;
 * MM4 mail from a configured peer MMS-C is a forward, an answer or a
 * report. No relaying: RCPT TO must name this MMS-C's domain. A 250 after
 * DATA means the message (and the jobs it causes) is durable in DB1.
 */

export interface SmtpFrontendOptions {
  smtp: SmtpConfig;
  routing: RoutingConfig;
  ttl: { default: number; max: number };
  mmsc: MmscService;
  /** DB1 reads and state changes, for MM4 answers and reports about messages we sent. */
  store?: MessageLookup & { setState: SetState };
  /** Where MM4 answers (.RES) are queued, durably before the 250; without it they are logged and dropped. */
  outbox?: { enqueue(jobs: readonly NewJob[]): Promise<unknown> };
  transactions?: Mm4Transactions;
  /**
   * A peer's delivery or read report about a message this MMS-C sent: the
   * recipient's state already moved; this passes it on to the originator
   * (M-Delivery.ind / M-Read-Orig.ind, MM7 report).
   */
  onPeerReport?: (report: { messageId: string; address: string; kind: 'delivery' | 'read'; status: string }) => Promise<void>;
  log?: LogFn;
  metrics?: Metrics;
}

/** An SMTP reply for smtp-server: `code` and an RFC 3463 enhanced status in the text. */
function reply(code: number, text: string): Error & { responseCode: number } {
  return Object.assign(new Error(text), { responseCode: code });
}

type Who = { kind: 'user'; name: string } | { kind: 'peer'; domain: string };

interface SessionState {
  /** The system address (MM4 .RES/reports) was among the recipients. */
  system: boolean;
}

/** `::ffff:127.0.0.1` → `127.0.0.1`. */
const plainIp = (ip: string): string => ip.replace(/^::ffff:(?=\d+\.)/, '');

export class SmtpFrontend {
  private readonly server: SMTPServer;
  private readonly sessions = new WeakMap<SMTPServerSession, SessionState>();
  private readonly inFlight = new Set<Promise<unknown>>();
  port = 0;

  constructor(private readonly opts: SmtpFrontendOptions) {
    const c = opts.smtp;
    const tls = c.tls ? { key: readFileSync(c.tls.key), cert: readFileSync(c.tls.cert) } : undefined;
    const credentials = c.auth.users.length > 0 || c.peers.some((p) => p.user && p.password);
    const disabled: string[] = [];
    if (!tls) disabled.push('STARTTLS');
    if (!credentials || (!tls && !c.auth.insecureOnLoopback)) disabled.push('AUTH');
    this.server = new SMTPServer({
      name: c.domain,
      banner: 'MMS-C MM3/MM4',
      size: c.maxMessageOctets,
      rejectOversized: true,
      authMethods: ['PLAIN', 'LOGIN'],
      authOptional: true,
      // AUTH in clear only where insecureOnLoopback allows it; onAuth refuses any other peer.
      allowInsecureAuth: c.auth.insecureOnLoopback,
      disabledCommands: disabled,
      maxClients: c.maxClients,
      socketTimeout: c.socketTimeout,
      closeTimeout: 5000,
      disableReverseLookup: true,
      hideDSN: true,
      hideENHANCEDSTATUSCODES: false,
      logger: false,
      ...(tls ?? {}),
      onAuth: (auth, session, cb) => {
        if (!session.secure && !(c.auth.insecureOnLoopback && isLoopback(session.remoteAddress))) {
          return cb(reply(538, 'Encryption required for requested authentication mechanism'));
        }
        const who = this.authenticate(auth.username ?? '', auth.password ?? '');
        if (!who) {
          this.opts.metrics?.rejected.inc({ interface: 'smtp', reason: 'auth' });
          return cb(reply(535, 'Authentication credentials invalid'));
        }
        cb(null, { user: who });
      },
      onMailFrom: (_address, session, cb) => {
        // A new transaction on the same connection starts with a clean slate.
        this.sessions.delete(session);
        if (c.auth.required && !session.user && !this.peerByIp(session)) return cb(reply(530, 'Authentication required'));
        cb();
      },
      onRcptTo: (address, session, cb) => {
        try {
          this.rcptTo(address, session);
          cb();
        } catch (e) {
          cb(e as Error);
        }
      },
      onData: (stream, session, cb) => {
        const job = this.data(stream, session).then(
          (text) => cb(null, text),
          (e: unknown) => {
            if (typeof (e as { responseCode?: unknown }).responseCode !== 'number') {
              this.opts.log?.({ event: 'smtp-internal-error', error: String(e) });
              e = reply(451, 'Local error in processing, try again later');
            }
            cb(e as Error);
          },
        );
        this.inFlight.add(job);
        void job.finally(() => this.inFlight.delete(job));
      },
    });
    this.server.on('error', (e) => this.opts.log?.({ event: 'smtp-error', error: String(e) }));
  }

  private authenticate(user: string, password: string): Who | undefined {
    const c = this.opts.smtp;
    // Every candidate is compared, so the time taken does not tell which user exists.
    let found: Who | undefined;
    for (const u of c.auth.users) if (sameSecret(u.user, user) && sameSecret(u.password, password)) found ??= { kind: 'user', name: u.user };
    for (const p of c.peers) if (p.user && p.password && sameSecret(p.user, user) && sameSecret(p.password, password)) found ??= { kind: 'peer', domain: p.domain };
    return found;
  }

  private peerByIp(session: SMTPServerSession): SmtpPeerConfig | undefined {
    const ip = plainIp(session.remoteAddress);
    return this.opts.smtp.peers.find((p) => p.allowedIps.includes(ip));
  }

  /** The peer MMS-C this session speaks for: its AUTH identity first, then its source IP. */
  private peerOf(session: SMTPServerSession): SmtpPeerConfig | undefined {
    const who = session.user as Who | undefined;
    if (who?.kind === 'peer') return this.opts.smtp.peers.find((p) => p.domain === who.domain);
    return this.peerByIp(session);
  }

  private state(session: SMTPServerSession): SessionState {
    let s = this.sessions.get(session);
    if (!s) this.sessions.set(session, (s = { system: false }));
    return s;
  }

  /** RCPT TO: only this MMS-C's domain (no relay), only local subscribers or the MM4 system address. */
  private rcptTo(address: SMTPServerAddress, session: SMTPServerSession): void {
    const c = this.opts.smtp;
    if (session.envelope.rcptTo.length >= c.maxRecipients) throw reply(452, `Too many recipients (at most ${c.maxRecipients} per message)`);
    let parsed;
    try {
      parsed = parseMm4Address(address.address, c.plainNumbers);
    } catch {
      throw reply(553, `<${address.address}> is not a valid address`);
    }
    if (parsed.domain !== c.domain) {
      this.opts.metrics?.rejected.inc({ interface: 'smtp', reason: 'relay' });
      throw reply(550, `Relaying denied: ${parsed.domain} is not served here`);
    }
    if (parsed.kind === 'email') {
      if (parsed.address.slice(0, parsed.address.lastIndexOf('@')).toLowerCase() === c.systemUser.toLowerCase()) {
        this.state(session).system = true;
        return;
      }
      throw reply(550, `No such user here: <${address.address}>`);
    }
    const number = normaliseNumber(parsed.number, this.opts.routing.countryCode);
    if (!isLocal(number, this.opts.routing)) throw reply(550, `No such subscriber here: <${address.address}>`);
  }

  private async readMail(stream: SMTPServerDataStream): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let size = 0;
    const limit = this.opts.smtp.maxMessageOctets;
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      size += chunk.length;
      // Past the limit the rest is drained, not kept: smtp-server answers 552.
      if (size <= limit) chunks.push(chunk);
    }
    if (stream.sizeExceeded || size > limit) throw reply(552, `Message exceeds fixed maximum message size ${limit}`);
    return Buffer.concat(chunks, size);
  }

  /** DATA: the whole mail, checked, parsed, turned into a message or a report, durable before 250. */
  private async data(stream: SMTPServerDataStream, session: SMTPServerSession): Promise<string> {
    const raw = await this.readMail(stream);
    try {
      checkMimeStructure(raw);
    } catch (e) {
      if (!(e instanceof MalformedMail)) throw e;
      this.opts.metrics?.rejected.inc({ interface: 'smtp', reason: 'malformed' });
      this.opts.log?.({ event: 'smtp-malformed', reason: e.message });
      throw reply(554, `Malformed MIME: ${e.message}`);
    }
    let mail: ParsedMail;
    try {
      mail = await simpleParser(raw, { keepCidLinks: true, skipTextToHtml: true, skipTextLinks: true });
    } catch (e) {
      this.opts.metrics?.rejected.inc({ interface: 'smtp', reason: 'malformed' });
      throw reply(554, `Malformed MIME: ${(e as Error).message}`);
    }
    const headers: HeaderField[] = mail.headerLines.map((h) => [h.key, unfold(h.line)]);
    if (isMm4(headers)) return this.mm4(raw, mail, headers, session);
    if (this.state(session).system && session.envelope.rcptTo.length === 1) throw reply(550, 'The MM4 system address takes MM4 messages only');
    return this.mm3(mail, session);
  }

  private recipients(session: SMTPServerSession, mail: ParsedMail): { recipients: NewRecipient[]; lists: { to: string[]; cc: string[]; bcc: string[] } } {
    const c = this.opts.smtp;
    const inHeader = (field: 'to' | 'cc'): Set<string> => {
      const value = mail.headers.get(field);
      const text = value && typeof value === 'object' && 'text' in value ? String(value.text) : '';
      const out = new Set<string>();
      for (const a of headerAddresses(mail, field, text)) {
        try {
          const p = parseMm4Address(a, c.plainNumbers);
          out.add(p.kind === 'number' ? normaliseNumber(p.number, this.opts.routing.countryCode) : p.address);
        } catch {
          // A display-only address that is no addr-spec: it names nobody we deliver to.
        }
      }
      return out;
    };
    const to = inHeader('to');
    const cc = inHeader('cc');
    const recipients: NewRecipient[] = [];
    const lists = { to: [...to], cc: [...cc], bcc: [] as string[] };
    for (const r of session.envelope.rcptTo) {
      let p;
      try {
        p = parseMm4Address(r.address, c.plainNumbers);
      } catch {
        continue;
      }
      if (p.kind !== 'number') continue;
      const address = normaliseNumber(p.number, this.opts.routing.countryCode);
      const kind = to.has(address) ? 'to' : cc.has(address) ? 'cc' : 'bcc';
      if (kind === 'bcc') lists.bcc.push(address);
      recipients.push(recipientFor(address, kind, this.opts.routing));
    }
    return { recipients, lists };
  }

  private content(mail: ParsedMail): ReturnType<typeof contentFromMail> {
    try {
      return contentFromMail(mail, this.opts.smtp.html);
    } catch (e) {
      if (e instanceof EmptyMail) throw reply(554, `Message content not accepted: ${e.message}`);
      throw e;
    }
  }

  private async mm3(mail: ParsedMail, session: SMTPServerSession): Promise<string> {
    const mailFrom = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
    const { recipients, lists } = this.recipients(session, mail);
    if (recipients.length === 0) throw reply(554, 'No valid recipients');
    const { contentType, parts } = this.content(mail);
    const sender = senderAddress(mail, mailFrom, this.opts);
    const now = this.opts.mmsc.clock.now();
    const origin: Origin = { interface: 'mm3', mailFrom, ...(mail.messageId ? { messageId: mail.messageId } : {}) };
    const envelope: MessageEnvelope = {
      from: sender,
      ...lists,
      date: now,
      expiresAt: expiryFor(undefined, now, this.opts.ttl),
      deliveryReport: false,
      readReport: false,
      contentType,
      allowAdaptations: true,
      origin,
      ...(mail.subject ? { subject: mail.subject } : {}),
      ...priorityOf(mail),
    };
    // The same mail (Message-ID) to the same recipients, sent again after a lost 250, is stored once.
    const key = mail.messageId ? { source: `mm3:${mailFrom}`, transactionId: `${mail.messageId} ${session.envelope.rcptTo.map((r) => r.address).sort().join(',')}` } : undefined;
    const message = { envelope, parts, recipients };
    // Its notifications and MM3/MM4 forwards are planned inside the accept (routing.outboundJobs).
    const { messageId, duplicate } = await this.opts.mmsc.accept(message, key);
    if (!duplicate) this.opts.metrics?.accepted.inc({ interface: 'smtp' });
    this.opts.log?.({ event: 'smtp-accepted', messageId, from: sender, recipients: recipients.length, mm: 'MM3' });
    return `Message accepted as ${messageId}`;
  }

  private async enqueue(jobs: NewJob[]): Promise<void> {
    if (jobs.length === 0) return;
    if (!this.opts.outbox) {
      this.opts.log?.({ event: 'smtp-no-outbox', jobs: jobs.map((j) => `${j.kind}:${j.key}`) });
      return;
    }
    await this.opts.outbox.enqueue(jobs);
  }

  private async mm4(raw: Buffer, mail: ParsedMail, headers: HeaderField[], session: SMTPServerSession): Promise<string> {
    const peer = this.peerOf(session);
    if (!peer) {
      this.opts.metrics?.rejected.inc({ interface: 'smtp', reason: 'mm4-unknown-peer' });
      throw reply(550, 'MM4 is accepted from configured peer MMS-Cs only');
    }
    // mailparser decodes the Subject's encoded-words; the MM4 parser takes it from there.
    const decoded: HeaderField[] = headers.map(([n, v]) => (n.toLowerCase() === 'subject' ? [n, mail.subject ?? v] : [n, v]));
    let m: Mm4Message;
    try {
      m = parseMm4Headers(decoded);
    } catch (e) {
      if (!(e instanceof ProtocolError)) throw e;
      this.opts.metrics?.rejected.inc({ interface: 'smtp', reason: 'mm4-malformed' });
      throw reply(554, `MM4 headers not accepted: ${e.message}`);
    }
    switch (m.type) {
      case 'MM4_forward.REQ':
        return this.mm4Forward(raw, mail, m, session, peer);
      case 'MM4_forward.RES':
        return this.mm4ForwardRes(m, peer);
      case 'MM4_delivery_report.REQ':
      case 'MM4_read_reply_report.REQ':
        return this.mm4Report(m, peer);
      default:
        this.opts.log?.({ event: 'mm4-result', type: m.type, peer: peer.domain, transactionId: m.transactionId, status: m.requestStatus });
        return `${m.type} received`;
    }
  }

  private async mm4Forward(raw: Buffer, mail: ParsedMail, m: Extract<Mm4Message, { type: 'MM4_forward.REQ' }>, session: SMTPServerSession, peer: SmtpPeerConfig): Promise<string> {
    const { recipients, lists } = this.recipients(session, mail);
    if (recipients.length === 0) throw reply(554, 'No valid recipients');
    let content;
    try {
      content = contentFromMm4(raw);
    } catch (e) {
      if (e instanceof EmptyMail) throw reply(554, `Message content not accepted: ${e.message}`);
      throw e;
    }
    const { contentType, parts } = content;
    const now = this.opts.mmsc.clock.now();
    let from: string;
    try {
      const p = parseMm4Address(m.from, this.opts.smtp.plainNumbers);
      from = p.kind === 'number' ? normaliseNumber(p.number, this.opts.routing.countryCode) : p.address;
    } catch {
      throw reply(554, `MM4 headers not accepted: From <${m.from}> cannot be read`);
    }
    const envelope: MessageEnvelope = {
      from,
      ...lists,
      date: now,
      expiresAt: expiryFor(m.expiry ? { absolute: m.expiry } : undefined, now, this.opts.ttl),
      deliveryReport: m.deliveryReport,
      readReport: m.readReply,
      contentType,
      allowAdaptations: true,
      origin: { interface: 'mm4', peerDomain: peer.domain, transactionId: m.transactionId, originatorMessageId: m.messageId, ackRequested: m.ackRequest },
      ...(m.subject !== undefined ? { subject: m.subject } : {}),
      ...(m.messageClass ? { messageClass: m.messageClass } : {}),
      ...(m.priority ? { priority: m.priority } : {}),
    };
    const message = { envelope, parts, recipients };
    const { messageId, duplicate } = await this.opts.mmsc.accept(message, { source: `mm4:${peer.domain}`, transactionId: m.transactionId });
    const jobs: NewJob[] = [];
    if (m.ackRequest && m.originatorSystem) {
      jobs.push(
        mm4ReportJob(
          { peerDomain: peer.domain, to: m.originatorSystem, report: { type: 'MM4_forward.RES', transactionId: m.transactionId, messageId: m.messageId, to: [m.originatorSystem], requestStatus: 'Ok' } },
          messageId,
        ),
      );
    }
    await this.enqueue(jobs);
    if (!duplicate) this.opts.metrics?.accepted.inc({ interface: 'smtp' });
    this.opts.log?.({ event: 'smtp-accepted', messageId, from, recipients: recipients.length, mm: 'MM4', peer: peer.domain, transactionId: m.transactionId });
    return `MM4_forward.REQ accepted as ${messageId}`;
  }

  private async mm4ForwardRes(m: Mm4Result, peer: SmtpPeerConfig): Promise<string> {
    const t = this.opts.transactions?.find(m.transactionId);
    if (!t || t.peerDomain !== peer.domain) {
      this.opts.log?.({ event: 'mm4-res-unmatched', peer: peer.domain, transactionId: m.transactionId });
      // Answered 250 all the same: the peer did its part, and a 5xx would only make it retry.
      return 'MM4_forward.RES for an unknown transaction, ignored';
    }
    await this.opts.transactions!.setResult(m.transactionId, m.requestStatus);
    if (m.requestStatus !== 'Ok') {
      await this.opts.store?.setState(t.messageId, t.address, 'rejected', `MM4_forward.RES ${m.requestStatus}${m.statusText ? `: ${m.statusText}` : ''}`);
      await this.opts.onPeerReport?.({ messageId: t.messageId, address: t.address, kind: 'delivery', status: 'Rejected' });
    }
    this.opts.log?.({ event: 'mm4-forward-res', messageId: t.messageId, address: t.address, status: m.requestStatus });
    return 'MM4_forward.RES received';
  }

  private async mm4Report(m: Extract<Mm4Message, { type: 'MM4_delivery_report.REQ' | 'MM4_read_reply_report.REQ' }>, peer: SmtpPeerConfig): Promise<string> {
    let address: string;
    try {
      const p = parseMm4Address(m.from, this.opts.smtp.plainNumbers);
      address = p.kind === 'number' ? normaliseNumber(p.number, this.opts.routing.countryCode) : p.address;
    } catch {
      throw reply(554, `MM4 headers not accepted: From <${m.from}> cannot be read`);
    }
    const message = this.opts.store?.getMessage(m.messageId);
    const known = message?.recipients.some((r) => r.address === address) ?? false;
    const status = m.type === 'MM4_delivery_report.REQ' ? m.mmStatus : m.readStatus;
    if (known && m.type === 'MM4_delivery_report.REQ') {
      const state = DELIVERY_STATE[m.mmStatus];
      if (state) await this.opts.store!.setState(m.messageId, address, state, `MM4_delivery_report.REQ ${m.mmStatus} from ${peer.domain}`);
    }
    if (known) await this.opts.onPeerReport?.({ messageId: m.messageId, address, kind: m.type === 'MM4_delivery_report.REQ' ? 'delivery' : 'read', status });
    const to = m.originatorSystem;
    if (m.ackRequest && to) {
      const type = m.type === 'MM4_delivery_report.REQ' ? 'MM4_delivery_report.RES' : 'MM4_read_reply_report.RES';
      await this.enqueue([
        mm4ReportJob({ peerDomain: peer.domain, to, report: { type, transactionId: m.transactionId, messageId: m.messageId, to: [to], requestStatus: known ? 'Ok' : 'Error-message-not-found' } }),
      ]);
    }
    this.opts.log?.({ event: 'mm4-report', type: m.type, messageId: m.messageId, address, status, known });
    return `${m.type} received`;
  }

  async start(): Promise<number> {
    const { host, port } = this.opts.smtp.listen;
    await new Promise<void>((resolve, reject) => {
      this.server.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.server.off('error', reject);
        resolve();
      });
    });
    this.port = (this.server.server.address() as AddressInfo).port;
    return this.port;
  }

  /** Stops accepting connections; mails whose DATA is being stored finish first. */
  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await Promise.allSettled([...this.inFlight]);
  }
}

/** What a peer's delivery report moves our recipient to; Indeterminate/Forwarded leave it where it is. */
const DELIVERY_STATE: Partial<Record<string, RecipientState>> = {
  Retrieved: 'retrieved',
  Rejected: 'rejected',
  Unrecognised: 'rejected',
  Expired: 'expired',
  Deferred: 'deferred',
};

function unfold(line: string): string {
  const colon = line.indexOf(':');
  return line
    .slice(colon + 1)
    .replace(/\r?\n[ \t]+/g, ' ')
    .trim();
}

function headerAddresses(mail: ParsedMail, field: 'to' | 'cc', fallback: string): string[] {
  const v = mail[field];
  const list = Array.isArray(v) ? v : v ? [v] : [];
  const out = list.flatMap((o) => o.value.flatMap((a) => (a.address ? [a.address] : (a.group ?? []).map((g) => g.address ?? ''))));
  return out.length ? out.filter(Boolean) : parseAddressList(fallback).map((a) => a.addrSpec);
}

/** The originator as the MMS-C writes addresses: a number when the mail says `/TYPE=PLMN`, else the From (or envelope) e-mail. */
function senderAddress(mail: ParsedMail, mailFrom: string, o: SmtpFrontendOptions): string {
  const from = mail.from?.value[0]?.address || mailFrom;
  if (!from) return `anonymous@${o.smtp.domain}`;
  try {
    const p = parseMm4Address(from, false);
    return p.kind === 'number' ? normaliseNumber(p.number, o.routing.countryCode) : p.address;
  } catch {
    return toMm4Address(from, o.smtp.domain);
  }
}

/** X-Priority 1–2 / Importance: high → High; 4–5 / low → Low. */
function priorityOf(mail: ParsedMail): { priority?: string } {
  // mailparser folds X-Priority, X-MSMail-Priority and Importance into one 'priority' header.
  const p = mail.headers.get('priority');
  if (p === 'high') return { priority: 'High' };
  if (p === 'low') return { priority: 'Low' };
  return {};
}
