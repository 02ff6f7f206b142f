import type { IncomingMessage, ServerResponse } from 'node:http';
import { Frontend } from '../frontend.js';
import { ProtocolError } from '../../../protocol/errors.js';
import { decodeMms, encodeMms } from '../../../protocol/mms/codec.js';
import type { MmsPdu, MRetrieveConf, MSendConf } from '../../../protocol/mms/model.js';
import { expiryFor, partsFromMms } from '../../mmsc/convert.js';
import type { RequestContext } from '../../mmsc/log.js';
import type { Metrics } from '../../mmsc/metrics.js';
import type { MmscService, TerminalHints } from '../../mmsc/mmsc.js';
import type { NewRecipient, RecipientKind } from '../../mmsc/model.js';
import { fromMmsAddress, normaliseNumber, recipientFor, type RoutingConfig } from '../../mmsc/routing.js';
import { BodyTooLarge, readBody, send } from '../http-util.js';

export const MMS_MEDIA_TYPE = 'application/vnd.wap.mms-message';

export interface Mm1FrontendOptions {
  host: string;
  port: number;
  maxBodyOctets: number;
  /** Header (lower case) in which the WAP gateway puts the subscriber's MSISDN. */
  msisdnHeader: string;
  routing: RoutingConfig;
  ttl: { default: number; max: number };
  mmsc: MmscService;
  log?: (event: Record<string, unknown>) => void;
  metrics?: Metrics;
}

const TOKEN_PATH = /^\/m\/([A-Za-z0-9_-]{16,64})$/;

function mmsResponse(res: ServerResponse, pdu: MmsPdu, head = false): void {
  const body = encodeMms(pdu);
  res.writeHead(200, { 'Content-Type': MMS_MEDIA_TYPE, 'Content-Length': String(body.length) });
  res.end(head ? undefined : body);
}

/** Best effort: the transaction id of a PDU that did not decode, for the M-Send.conf that refuses it. */
function transactionIdOf(bytes: Buffer): string {
  if (bytes[2] !== 0x98) return '';
  const end = bytes.indexOf(0, 3);
  return end < 0 ? '' : bytes.toString('utf8', 3, Math.min(end, 3 + 64)).replace(/^\x7f/, '');
}

/**
 * The MM1 front end, as behind a WAP gateway: POSTed PDUs (M-Send.req,
 * M-NotifyResp.ind, M-Acknowledge.ind, M-Read-Rec.ind) and retrieval GETs
 * of `/m/<token>`.
 */
export class Mm1Frontend extends Frontend {

  constructor(private readonly opts: Mm1FrontendOptions) {
    super(opts, 'mm1');
  }

  private reject(reason: string): void {
    this.opts.metrics?.rejected.inc({ interface: 'mm1', reason });
  }

  protected async handle(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (req.method === 'GET' || req.method === 'HEAD') {
      ctx.operation = 'retrieve';
      return this.retrieve(req, res, path, ctx);
    }
    if (req.method !== 'POST') return send(res, 405, '', { Allow: 'GET, HEAD, POST' });
    let body: Buffer;
    try {
      body = await readBody(req, this.opts.maxBodyOctets);
    } catch (e) {
      if (e instanceof BodyTooLarge) {
        this.reject('too-large');
        return send(res, 413, '', { Connection: 'close' });
      }
      throw e;
    }
    let pdu: MmsPdu;
    try {
      pdu = decodeMms(body);
    } catch (e) {
      if (!(e instanceof ProtocolError)) throw e;
      this.logFor(ctx)?.({ event: 'mm1-malformed', error: e.message });
      this.reject('malformed');
      if (body[0] === 0x8c && body[1] === 0x80) return mmsResponse(res, this.sendConf(transactionIdOf(body), 'Error-permanent-message-format-corrupt', e.message));
      return send(res, 400, `malformed MMS PDU: ${e.message}`);
    }
    ctx.operation = pdu.messageType;
    switch (pdu.messageType) {
      case 'm-send-req': {
        const conf = await this.sendReq(req, pdu, ctx);
        if (conf.responseStatus !== 'Ok' && conf.responseStatus !== 'Error-transient-partial-success') this.reject(String(conf.responseStatus));
        return mmsResponse(res, conf);
      }
      case 'm-notifyresp-ind':
      case 'm-acknowledge-ind': {
        const kind = pdu.messageType === 'm-notifyresp-ind' ? 'notify-resp' : 'acknowledge';
        const known = await this.opts.mmsc.terminalReport(pdu.transactionId ?? '', kind, pdu.status, ctx.requestId);
        this.logFor(ctx)?.({ event: `mm1-${kind}`, transactionId: pdu.transactionId, known });
        return send(res, 204);
      }
      case 'm-read-rec-ind': {
        // The reader is the terminal that sends it: its MSISDN from the WAP gateway's header.
        const reader = this.msisdnOf(req);
        const status = pdu.readStatus === 'Read' ? 'Read' : 'Deleted-without-being-read';
        const known = reader !== undefined && pdu.messageId !== undefined && (await this.opts.mmsc.readReport(pdu.messageId, reader, status, ctx.requestId));
        this.logFor(ctx)?.({ event: 'mm1-read-rec', messageId: pdu.messageId, readStatus: pdu.readStatus, reader, known });
        return send(res, 204);
      }
      default:
        return send(res, 400, `${pdu.messageType} is not sent by a terminal to the MMS-C`);
    }
  }

  /** The subscriber behind a request, from the WAP gateway's header, normalised; undefined without one. */
  private msisdnOf(req: IncomingMessage): string | undefined {
    const header = req.headers[this.opts.msisdnHeader];
    const text = Array.isArray(header) ? header[0] : header;
    return text ? normaliseNumber(text, this.opts.routing.countryCode) : undefined;
  }

  private sendConf(transactionId: string, status: string, text?: string, messageId?: string): MSendConf {
    const conf: MSendConf = { messageType: 'm-send-conf', transactionId, mmsVersion: '1.2', responseStatus: status };
    if (text !== undefined) conf.responseText = { text: text.slice(0, 200) };
    if (messageId !== undefined) conf.messageId = messageId;
    return conf;
  }

  private async sendReq(req: IncomingMessage, pdu: MmsPdu, ctx: RequestContext): Promise<MSendConf> {
    const tid = pdu.transactionId ?? '';
    const header = req.headers[this.opts.msisdnHeader];
    const msisdnText = Array.isArray(header) ? header[0] : header;
    if (!msisdnText) return this.sendConf(tid, 'Error-permanent-sending-address-unresolved', 'no subscriber identity from the gateway');
    const msisdn = normaliseNumber(msisdnText, this.opts.routing.countryCode);
    if (pdu.from !== undefined && pdu.from !== 'insert-address') {
      let claimed: string;
      try {
        claimed = fromMmsAddress(pdu.from.text, this.opts.routing);
      } catch {
        return this.sendConf(tid, 'Error-permanent-sending-address-unresolved', 'From cannot be read');
      }
      if (claimed !== msisdn) return this.sendConf(tid, 'Error-permanent-sending-address-unresolved', 'From does not match the subscriber');
    }
    const recipients: NewRecipient[] = [];
    const lists: Record<RecipientKind, string[]> = { to: [], cc: [], bcc: [] };
    for (const kind of ['to', 'cc', 'bcc'] as const) {
      for (const a of pdu[kind] ?? []) {
        let address: string;
        try {
          address = fromMmsAddress(a.text, this.opts.routing);
        } catch {
          recipients.push({ address: a.text, kind, state: 'unroutable', reason: 'not an MMS address' });
          continue;
        }
        lists[kind].push(address);
        // Local subscribers are notified; MM3/MM4 recipients are 'forwarded' (their outbox jobs: outboundJobs).
        recipients.push(recipientFor(address, kind, this.opts.routing));
      }
    }
    const accepted = recipients.filter((r) => r.state !== 'unroutable').length;
    if (accepted === 0) return this.sendConf(tid, 'Error-permanent-sending-address-unresolved', recipients[0]?.reason ?? 'no recipient');
    const now = this.opts.mmsc.clock.now();
    const expiry = pdu.expiry && 'relative' in pdu.expiry ? { relative: `PT${pdu.expiry.relative}S` } : pdu.expiry;
    const { contentType, parts } = partsFromMms(pdu.contentType!, pdu.body);
    const envelope = {
      from: msisdn,
      ...lists,
      date: now,
      expiresAt: expiryFor(expiry, now, this.opts.ttl),
      deliveryReport: pdu.deliveryReport ?? false,
      readReport: pdu.readReport ?? false,
      contentType,
      allowAdaptations: pdu.adaptationAllowed ?? true,
      origin: { interface: 'mm1' as const, msisdn, transactionId: tid },
      ...(pdu.subject !== undefined ? { subject: pdu.subject.text } : {}),
      ...(typeof pdu.messageClass === 'string' ? { messageClass: pdu.messageClass } : {}),
      ...(typeof pdu.priority === 'string' ? { priority: pdu.priority } : {}),
    };
    const { messageId, duplicate } = await this.opts.mmsc.accept({ envelope, parts, recipients }, { source: `mm1:${msisdn}`, transactionId: tid }, ctx.requestId);
    if (!duplicate) this.opts.metrics?.accepted.inc({ interface: 'mm1' });
    this.logFor(ctx)?.({ event: 'mm1-accepted', messageId, from: msisdn, accepted });
    return accepted < recipients.length
      ? this.sendConf(tid, 'Error-transient-partial-success', `${recipients.length - accepted} recipient(s) not routable`, messageId)
      : this.sendConf(tid, 'Ok', undefined, messageId);
  }

  private async retrieve(req: IncomingMessage, res: ServerResponse, path: string, ctx: RequestContext): Promise<void> {
    const m = TOKEN_PATH.exec(path);
    // Unknown, malformed and foreign tokens look the same: a bare 404.
    if (!m) return send(res, 404);
    const token = m[1]!;
    const profile = req.headers['x-wap-profile'] ?? req.headers['profile'];
    const terminal: TerminalHints = { requestId: ctx.requestId };
    if (req.headers['user-agent'] !== undefined) terminal.userAgent = req.headers['user-agent'];
    if (typeof profile === 'string') terminal.profileUrl = profile.replace(/^"|"$/g, '');
    const r = await this.opts.mmsc.retrieve(token, terminal);
    if (r.kind === 'not-found') return send(res, 404);
    if (r.kind === 'expired') {
      return mmsResponse(
        res,
        {
          messageType: 'm-retrieve-conf',
          mmsVersion: '1.2',
          date: this.opts.mmsc.clock.now(),
          retrieveStatus: 'Error-permanent-message-not-found',
          retrieveText: { text: 'This message has expired' },
          contentType: { mediaType: 'text/plain', params: [{ name: 'charset', value: 'utf-8' }] },
          body: Buffer.from('This message has expired.'),
        },
        req.method === 'HEAD',
      );
    }
    if (r.kind === 'refused') {
      this.logFor(ctx)?.({ event: 'mm1-retrieve-refused', messageId: r.message.messageId, status: r.retrieveStatus, reason: r.text });
      return mmsResponse(
        res,
        {
          messageType: 'm-retrieve-conf',
          transactionId: token,
          mmsVersion: '1.2',
          date: this.opts.mmsc.clock.now(),
          retrieveStatus: r.retrieveStatus,
          retrieveText: { text: 'This message cannot be shown on this terminal' },
          contentType: { mediaType: 'text/plain', params: [{ name: 'charset', value: 'utf-8' }] },
          body: Buffer.from('This message cannot be shown on this terminal.'),
        } as MRetrieveConf,
        req.method === 'HEAD',
      );
    }
    mmsResponse(res, r.pdu, req.method === 'HEAD');
    if (req.method === 'GET') {
      await this.opts.mmsc.retrieved(token, ctx.requestId);
      this.opts.metrics?.retrieved.inc();
    }
  }
}
