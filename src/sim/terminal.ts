/**
 * A simulated handset for test labs. It binds to an SMSC (our simulator or a
 * real one) as a receiver for its MSISDN, takes the WAP pushes delivered to
 * it as deliver_sm, reassembles and decodes them, and for an
 * M-Notification.ind does what a phone's MMS client does over MM1: fetch the
 * Content-Location (with the User-Agent and x-wap-profile of a real model),
 * decode the M-Retrieve.conf, save its parts, send M-NotifyResp.ind
 * (Retrieved) and M-Acknowledge.ind, and optionally a read report
 * (M-Read-Rec.ind). It can also send an M-Send.req built from files.
 *
 * MM1 requests go to `mm1Url` with the MSISDN in the header a WAP gateway
 * would add (x-msisdn by default), which is what src/frontends/mm1 reads.
 */
/// <reference path="../push/smpp-package.d.ts" />
import { EventEmitter } from 'node:events';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import smpp from 'smpp';
import { ProtocolError } from '../../protocol/errors.js';
import { decodeMms, encodeMms } from '../../protocol/mms/codec.js';
import type { MmsPdu, MSendConf, MSendReq } from '../../protocol/mms/model.js';
import { decodeMmsPush } from '../../protocol/mms/push.js';
import { findHeader } from '../../protocol/wsp/headers.js';
import type { MultipartEntry } from '../../protocol/wsp/multipart.js';
import { Reassembler } from '../../protocol/wdp/reassembler.js';
import { WAP_PUSH_PORT } from '../../protocol/wdp/udh.js';
import { shortMessageOctets } from './smsc.js';

/** What a handset model sends when it fetches a message (UAProf: OMA-UAProf; the URLs are the makers' published ones). */
export interface TerminalProfile {
  userAgent: string;
  wapProfile: string;
}

export const TERMINAL_PROFILES: Readonly<Record<string, TerminalProfile>> = {
  android: { userAgent: 'Android-Mms/2.0', wapProfile: 'http://www.google.com/oha/rdf/ua-profile-kila.xml' },
  iphone: { userAgent: 'iPhone OS/17.4 (21E219)', wapProfile: 'http://www.apple.com/mms/uaprof.rdf' },
  'nokia-n95': {
    userAgent: 'NokiaN95/11.0.026; Series60/3.1 Profile/MIDP-2.0 Configuration/CLDC-1.1',
    wapProfile: 'http://nds1.nds.nokia.com/uaprof/NN95-1r100.xml',
  },
  'samsung-e250': {
    userAgent: 'SAMSUNG-SGH-E250/1.0 Profile/MIDP-2.0 Configuration/CLDC-1.1 UP.Browser/6.2.3.3.c.1.101 (GUI) MMP/2.0',
    wapProfile: 'http://wap.samsungmobile.com/uaprof/SGH-E250.xml',
  },
  'sony-ericsson-k800i': {
    userAgent: 'SonyEricssonK800i/R1KG Browser/NetFront/3.3 Profile/MIDP-2.0 Configuration/CLDC-1.1',
    wapProfile: 'http://wap.sonyericsson.com/UAprof/K800iR101.xml',
  },
};

export const DEFAULT_PROFILE = 'android';

export interface TerminalSimulatorOptions {
  smsc: { host: string; port: number };
  systemId?: string;
  password?: string;
  systemType?: string;
  /** E.164, e.g. +15550002222: the bind's address_range and the x-msisdn of MM1 requests. */
  msisdn: string;
  /** The MM1 front end, e.g. http://127.0.0.1:8081/ */
  mm1Url: string;
  /** A key of TERMINAL_PROFILES; default android. */
  profile?: string;
  msisdnHeader?: string;
  /** Send an M-Read-Rec.ind for messages that ask for a read report. */
  readReport?: boolean;
  /** Save each retrieved message's parts under DIR/<message id>/. */
  saveDir?: string;
  log?: (entry: Record<string, unknown>) => void;
}

export interface SavedPart {
  contentType: string;
  name: string;
  size: number;
  file?: string;
}

/** What the handset did with one notification. */
export interface TerminalReceipt {
  time: string;
  transactionId: string;
  contentLocation: string;
  /** HTTP status of the fetch. */
  fetchStatus: number;
  messageId?: string;
  from?: string;
  subject?: string;
  parts: SavedPart[];
  /** MM1 PDUs sent afterwards and the HTTP status each got. */
  reports: Array<{ messageType: string; status: number }>;
  error?: string;
}

const MEDIA_TYPES: Record<string, string> = {
  '.txt': 'text/plain',
  '.smil': 'application/smil',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.png': 'image/png',
  '.gif': 'image/gif',
  '.amr': 'audio/amr',
  '.mp3': 'audio/mpeg',
  '.3gp': 'video/3gpp',
  '.mp4': 'video/mp4',
  '.vcf': 'text/x-vcard',
};

function mediaTypeOf(ct: MultipartEntry['contentType']): string {
  return typeof ct.mediaType === 'number' ? `0x${ct.mediaType.toString(16)}` : ct.mediaType;
}

/** A file name that stays inside its directory. */
function safeName(text: string, fallback: string): string {
  const name = basename(text).replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '');
  return name === '' ? fallback : name.slice(0, 100);
}

export class TerminalSimulator extends EventEmitter {
  private session: smpp.Session | undefined;
  private readonly reassembler = new Reassembler({ timeoutMs: 120_000 });
  private readonly profile: TerminalProfile;
  private readonly pending = new Set<Promise<void>>();
  readonly received: TerminalReceipt[] = [];
  /** Every MMS PDU pushed to this handset, in arrival order. */
  readonly pushed: MmsPdu[] = [];

  constructor(private readonly opts: TerminalSimulatorOptions) {
    super();
    const name = opts.profile ?? DEFAULT_PROFILE;
    const profile = TERMINAL_PROFILES[name];
    if (profile === undefined) throw new RangeError(`unknown terminal profile ${JSON.stringify(name)} (known: ${Object.keys(TERMINAL_PROFILES).join(', ')})`);
    this.profile = profile;
  }

  private get msisdnHeader(): string {
    return this.opts.msisdnHeader ?? 'x-msisdn';
  }

  /** Connects and binds as receiver for the MSISDN; rejects when the bind is refused. */
  async start(): Promise<void> {
    const session = smpp.connect(this.opts.smsc);
    this.session = session;
    session.on('deliver_sm', (pdu) => {
      session.send(pdu.response());
      this.onDeliver(pdu);
    });
    session.on('enquire_link', (pdu) => session.send(pdu.response()));
    session.on('unbind', (pdu) => {
      session.send(pdu.response());
      session.close();
    });
    await new Promise<void>((resolve, reject) => {
      session.on('error', (e) => {
        this.opts.log?.({ time: new Date().toISOString(), event: 'smpp-error', error: e.message });
        reject(e);
      });
      session.on('close', () => reject(new Error('the SMSC closed the connection')));
      session.on('connect', () => {
        session.send(
          new smpp.PDU('bind_receiver', {
            system_id: this.opts.systemId ?? 'terminal',
            password: this.opts.password ?? '',
            system_type: this.opts.systemType ?? '',
            interface_version: 0x34,
            addr_ton: 1,
            addr_npi: 1,
            address_range: this.opts.msisdn.replace(/^\+/, ''),
          }),
          (resp) => {
            if (resp.command_status === 0) resolve();
            else reject(new Error(`bind_receiver refused with command_status 0x${resp.command_status.toString(16)}`));
          },
        );
      });
    });
    this.log({ event: 'bound', msisdn: this.opts.msisdn, smsc: `${this.opts.smsc.host}:${this.opts.smsc.port}` });
    // A handset that loses its SMSC says so; it does not rebind (restart the simulator).
    session.on('close', () => {
      if (this.session === session) this.log({ event: 'smsc-connection-closed', msisdn: this.opts.msisdn });
    });
  }

  /** Unbinds and waits for the handling of pushes already received. */
  async stop(): Promise<void> {
    const session = this.session;
    this.session = undefined;
    if (session !== undefined && !session.socket.destroyed) {
      await new Promise<void>((resolve) => {
        session.socket.once('close', () => resolve());
        if (!session.send(new smpp.PDU('unbind'), () => session.close())) session.destroy();
        setTimeout(() => session.destroy(), 1000).unref();
      });
    }
    await Promise.all(this.pending);
  }

  private log(entry: Record<string, unknown>): void {
    this.opts.log?.({ time: new Date().toISOString(), ...entry });
  }

  private onDeliver(pdu: smpp.PDU): void {
    const source = pdu.source_addr ?? '';
    let done;
    try {
      done = this.reassembler.push(shortMessageOctets(pdu.short_message), source, Date.now());
    } catch (e) {
      if (!(e instanceof ProtocolError)) throw e;
      this.log({ event: 'bad-sms', source, error: `${e.message} [${e.code}]` });
      return;
    }
    if (done === null) return;
    if (done.ports?.destinationPort !== WAP_PUSH_PORT) {
      this.log({ event: 'not-a-push', source, port: done.ports?.destinationPort ?? null });
      return;
    }
    let mms: MmsPdu;
    try {
      mms = decodeMmsPush(done.datagram).mms;
    } catch (e) {
      if (!(e instanceof ProtocolError)) throw e;
      this.log({ event: 'bad-push', source, error: `${e.message} [${e.code}]` });
      return;
    }
    this.pushed.push(mms);
    this.log({ event: 'push', source, segments: done.segments, messageType: mms.messageType, transactionId: mms.transactionId, messageId: mms.messageId });
    this.emit('push', mms);
    if (mms.messageType !== 'm-notification-ind' || mms.contentLocation === undefined) return;
    const job = this.retrieve(mms).finally(() => this.pending.delete(job));
    this.pending.add(job);
  }

  private async postMm1(pdu: MmsPdu): Promise<Response> {
    return fetch(this.opts.mm1Url, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/vnd.wap.mms-message',
        'User-Agent': this.profile.userAgent,
        'x-wap-profile': `"${this.profile.wapProfile}"`,
        [this.msisdnHeader]: this.opts.msisdn,
      },
      body: encodeMms(pdu),
    });
  }

  /** The MM1 dialogue for one notification (OMA-MMS-CTR §8: immediate retrieval). */
  private async retrieve(n: MmsPdu): Promise<void> {
    const location = n.contentLocation ?? '';
    const receipt: TerminalReceipt = { time: new Date().toISOString(), transactionId: n.transactionId ?? '', contentLocation: location, fetchStatus: 0, parts: [], reports: [] };
    const report = async (pdu: MmsPdu): Promise<void> => {
      const res = await this.postMm1(pdu);
      await res.arrayBuffer();
      receipt.reports.push({ messageType: pdu.messageType, status: res.status });
    };
    try {
      const res = await fetch(location, {
        headers: {
          'User-Agent': this.profile.userAgent,
          'x-wap-profile': `"${this.profile.wapProfile}"`,
          Accept: 'application/vnd.wap.mms-message, */*',
          [this.msisdnHeader]: this.opts.msisdn,
        },
      });
      receipt.fetchStatus = res.status;
      const body = Buffer.from(await res.arrayBuffer());
      if (res.status !== 200) throw new Error(`GET ${location} answered HTTP ${res.status}`);
      const conf = decodeMms(body);
      if (conf.messageType !== 'm-retrieve-conf') throw new Error(`GET ${location} returned ${conf.messageType}, not m-retrieve-conf`);
      if (conf.retrieveStatus !== undefined && conf.retrieveStatus !== 'Ok') throw new Error(`retrieve status ${String(conf.retrieveStatus)}`);
      if (conf.messageId !== undefined) receipt.messageId = conf.messageId;
      if (conf.from !== undefined && conf.from !== 'insert-address') receipt.from = conf.from.text;
      if (conf.subject !== undefined) receipt.subject = conf.subject.text;
      receipt.parts = await this.saveParts(conf, receipt.messageId ?? receipt.transactionId);
      await report({ messageType: 'm-notifyresp-ind', transactionId: receipt.transactionId, mmsVersion: '1.2', status: 'Retrieved', reportAllowed: true });
      await report({ messageType: 'm-acknowledge-ind', transactionId: conf.transactionId ?? receipt.transactionId, mmsVersion: '1.2', reportAllowed: true });
      if (this.opts.readReport && conf.readReport && conf.messageId !== undefined && conf.from !== undefined && conf.from !== 'insert-address') {
        await report({
          messageType: 'm-read-rec-ind',
          mmsVersion: '1.2',
          messageId: conf.messageId,
          to: [conf.from],
          from: { text: `${this.opts.msisdn}/TYPE=PLMN` },
          date: new Date(Math.floor(Date.now() / 1000) * 1000),
          readStatus: 'Read',
        });
      }
    } catch (e) {
      receipt.error = e instanceof Error ? e.message : String(e);
      // Tell the MMS-C the message is still to be fetched, as a phone does after a failed retrieval.
      await report({ messageType: 'm-notifyresp-ind', transactionId: receipt.transactionId, mmsVersion: '1.2', status: 'Deferred' }).catch(() => undefined);
    }
    this.received.push(receipt);
    this.log({ event: receipt.error === undefined ? 'retrieved' : 'retrieve-failed', ...receipt });
    this.emit('retrieved', receipt);
  }

  private async saveParts(conf: MmsPdu, id: string): Promise<SavedPart[]> {
    const body = conf.body;
    const entries: MultipartEntry[] = Array.isArray(body)
      ? body
      : body === undefined
        ? []
        : [{ contentType: conf.contentType ?? { mediaType: 'application/octet-stream', params: [] }, headers: [], data: body }];
    const dir = this.opts.saveDir === undefined ? undefined : join(this.opts.saveDir, safeName(id, 'message'));
    if (dir !== undefined) await mkdir(dir, { recursive: true });
    const parts: SavedPart[] = [];
    for (const [i, p] of entries.entries()) {
      const location = findHeader(p.headers, 'Content-Location');
      const name = safeName(typeof location === 'string' ? location : '', `part${i + 1}`);
      const part: SavedPart = { contentType: mediaTypeOf(p.contentType), name, size: p.data.length };
      if (dir !== undefined) {
        const file = join(dir, `${String(i + 1).padStart(2, '0')}-${name}`);
        await writeFile(file, p.data);
        part.file = file;
      }
      parts.push(part);
    }
    return parts;
  }

  /**
   * An M-Send.req of the files (media type by extension; with a .smil file a
   * multipart/related presentation, else multipart/mixed) POSTed to MM1.
   */
  async send(files: string[], to: string[], subject?: string): Promise<MSendConf> {
    if (files.length === 0) throw new RangeError('nothing to send: no files');
    const parts: MultipartEntry[] = [];
    for (const file of files) {
      const name = safeName(file, 'part');
      const mediaType = MEDIA_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream';
      const params = mediaType.startsWith('text/') ? [{ name: 'charset', value: 'utf-8' }] : [];
      const headers = [{ name: 'Content-Location', value: name }, ...(mediaType === 'application/smil' ? [{ name: 'Content-ID', value: '<smil>' }] : [])];
      parts.push({ contentType: { mediaType, params }, headers, data: await readFile(file) });
    }
    const smilIndex = parts.findIndex((p) => p.contentType.mediaType === 'application/smil');
    if (smilIndex > 0) parts.unshift(...parts.splice(smilIndex, 1));
    const req: MSendReq = {
      messageType: 'm-send-req',
      transactionId: `T${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`,
      mmsVersion: '1.2',
      from: 'insert-address',
      to: to.map((a) => ({ text: /^\+?[0-9]+$/.test(a) ? `${a}/TYPE=PLMN` : a })),
      contentType:
        smilIndex >= 0
          ? { mediaType: 'application/vnd.wap.multipart.related', params: [{ name: 'start', value: '<smil>' }, { name: 'type', value: 'application/smil' }] }
          : { mediaType: 'application/vnd.wap.multipart.mixed', params: [] },
      body: parts,
    };
    if (subject !== undefined) req.subject = { text: subject, charset: 106 };
    const res = await this.postMm1(req);
    const bytes = Buffer.from(await res.arrayBuffer());
    if (res.status !== 200) throw new Error(`MM1 answered HTTP ${res.status}: ${bytes.toString('utf8').slice(0, 200)}`);
    const conf = decodeMms(bytes);
    if (conf.messageType !== 'm-send-conf') throw new Error(`MM1 answered ${conf.messageType}, not m-send-conf`);
    const sendConf = conf as MSendConf;
    this.log({ event: 'sent', transactionId: req.transactionId, to, files: files.map((f) => basename(f)), responseStatus: sendConf.responseStatus, messageId: sendConf.messageId });
    return sendConf;
  }
}
