/**
 * An SMSC simulator for test labs: an SMPP 3.4 server (the `smpp` package)
 * that accepts binds, acknowledges submit_sm, reassembles the WAP pushes
 * from the UDH (protocol/wdp), decodes them (protocol/wsp, protocol/mms) and
 * writes one JSON line per complete push. Each submitted SMS is also handed
 * as deliver_sm to a bound receiver whose address matches the destination
 * (how the terminal simulator attaches), and a delivery receipt goes back
 * when registered_delivery asks for one.
 *
 * Fault knobs (refuseBinds, failSubmits, dropAfterSubmits, holdAnswers,
 * ignoreEnquireLinks, dropAll) make the failures an ESME must survive.
 *
 * It is truthful in the way the exactly-once argument of src/push/smpp.ts
 * needs: a submit is processed (reassembled, counted, delivered) exactly
 * when it is acknowledged with status 0, and a dropped connection is closed
 * with end(), which sends every answer already written before the FIN.
 */
/// <reference path="../push/smpp-package.d.ts" />
import { EventEmitter } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import smpp from 'smpp';
import { ProtocolError } from '../../protocol/errors.js';
import { decodeMmsPush } from '../../protocol/mms/push.js';
import { pduToJson, type Json } from '../../protocol/mms/json.js';
import type { MmsPdu } from '../../protocol/mms/model.js';
import { Reassembler } from '../../protocol/wdp/reassembler.js';
import { concatenation, decodeUserData, WAP_PUSH_PORT } from '../../protocol/wdp/udh.js';
import { ESM_CLASS_UDHI, SMPP_STATUS, describeStatus } from '../push/smpp.js';

export interface SmscAccount {
  systemId: string;
  password: string;
}

export interface SmscSimulatorOptions {
  host?: string;
  /** 0 (the default) picks a free port. */
  port?: number;
  /** Accepted credentials; absent or empty: any system_id and password bind. */
  accounts?: SmscAccount[];
  /** Append one JSON line per complete push to this file. */
  out?: string;
  /** Incomplete concatenated sets are dropped after this long; default 60 s. */
  reassemblyTimeoutMs?: number;
  log?: (entry: Record<string, unknown>) => void;
  /** Keep every complete push in `pushes` (default true; a long benchmark turns it off and listens to 'push'). */
  retainPushes?: boolean;
}

export type BindMode = 'transmitter' | 'receiver' | 'transceiver';

export interface SmppAddress {
  address: string;
  ton: number;
  npi: number;
}

/** One submit_sm as the simulator saw it. */
export interface SimSubmit {
  systemId: string;
  sequence: number;
  source: SmppAddress;
  destination: SmppAddress;
  esmClass: number;
  dataCoding: number;
  registeredDelivery: number;
  /** The short_message octets (UDH included). */
  userData: Buffer;
  /** command_status answered. */
  status: number;
  /** Given when status is 0. */
  messageId?: string;
}

/** A reassembled, decoded WAP push. */
export interface SimPush {
  time: string;
  destination: string;
  source: string;
  segments: number;
  /** Concatenation reference, null for a single SMS. */
  ref: number | null;
  /** The message_id of each segment's submit_sm_resp, in segment order of arrival. */
  messageIds: string[];
  /** The WSP push PDU (TID first). */
  datagram: Buffer;
  /** The MMS PDU the push carries (an M-Notification.ind, or an M-Delivery.ind ...). */
  pdu: MmsPdu;
}

interface Connection {
  session: smpp.Session;
  mode: BindMode | undefined;
  systemId: string;
  /** Destinations this receiver gets (address_range of its bind, plus registerAddress). */
  addresses: Set<string>;
  dropped: boolean;
}

/** Digits of an address, so `+4475551234`, `4475551234` and TON/NPI variations compare equal. */
function addressKey(address: string): string {
  const digits = address.replace(/[^0-9]/g, '');
  return digits === '' ? address : digits;
}

/** The short_message octets as sent: the package splits off a UDH when esm_class has UDHI. */
export function shortMessageOctets(sm: smpp.ShortMessage | undefined): Buffer {
  if (sm === undefined) return Buffer.alloc(0);
  if (Buffer.isBuffer(sm)) return sm;
  if (typeof sm === 'string') return Buffer.from(sm, 'latin1');
  const message = typeof sm.message === 'string' ? Buffer.from(sm.message, 'latin1') : sm.message;
  if (sm.udh === undefined) return message;
  const header = Buffer.concat(sm.udh);
  return Buffer.concat([Buffer.of(header.length), header, message]);
}

/** `YYMMDDhhmm` of a delivery receipt (SMPP 3.4 Appendix B), UTC. */
function receiptDate(d: Date): string {
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${two(d.getUTCFullYear() % 100)}${two(d.getUTCMonth() + 1)}${two(d.getUTCDate())}${two(d.getUTCHours())}${two(d.getUTCMinutes())}`;
}

const MESSAGE_STATE_DELIVERED = 2;

export class SmscSimulator extends EventEmitter {
  private server: smpp.Server | undefined;
  private readonly connections = new Set<Connection>();
  private readonly reassembler: Reassembler;
  /** message ids of the segments of each pending set, by the reassembly key. */
  private readonly pendingIds = new Map<string, string[]>();
  private out: WriteStream | undefined;
  private nextMessageId = 1;
  private refuseBindCount = 0;
  private refuseBindUntil = 0;
  private refuseBindStatus: number = SMPP_STATUS.ESME_RBINDFAIL;
  private failSubmitCount = 0;
  private failSubmitStatus: number = SMPP_STATUS.ESME_RTHROTTLED;
  private failSubmitAfter = 0;
  private dropAfter: number | undefined;
  private held: Array<{ conn: Connection; pdu: smpp.PDU }> | undefined;
  private ignoreEnquire = false;
  readonly pushes: SimPush[] = [];
  readonly stats = { binds: 0, bindsRefused: 0, submits: 0, acknowledged: 0, failed: 0, drops: 0, enquireLinks: 0, delivered: 0, receipts: 0, badPushes: 0 };
  /** Largest number of submits received and not yet answered at once (to see an ESME's window). */
  maxUnanswered = 0;

  constructor(private readonly opts: SmscSimulatorOptions = {}) {
    super();
    this.reassembler = new Reassembler({
      timeoutMs: opts.reassemblyTimeoutMs ?? 60_000,
      onDrop: (set, reason) => {
        this.pendingIds.delete(`${set.source}\u0000${set.ref}`);
        this.opts.log?.({ event: 'smsc-incomplete-push', reason, source: set.source, ref: set.ref, received: set.received, total: set.total });
      },
    });
  }

  async start(): Promise<{ host: string; port: number }> {
    const host = this.opts.host ?? '127.0.0.1';
    if (this.opts.out !== undefined) this.out = createWriteStream(this.opts.out, { flags: 'a' });
    const server = smpp.createServer((session) => this.accept(session));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port ?? 0, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (e) => this.opts.log?.({ event: 'smsc-error', error: e.message }));
    const address = server.address();
    return { host, port: typeof address === 'object' && address !== null ? address.port : 0 };
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const c of this.connections) c.session.destroy();
    this.connections.clear();
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()));
    const out = this.out;
    this.out = undefined;
    if (out !== undefined) await new Promise<void>((resolve) => out.end(() => resolve()));
  }

  // ------------------------------------------------------------ fault knobs

  /** Refuse the next `count` binds with `status` (default ESME_RBINDFAIL) and close those connections. */
  refuseBinds(count: number, status: number = SMPP_STATUS.ESME_RBINDFAIL): void {
    this.refuseBindCount = count;
    this.refuseBindStatus = status;
  }

  /** Refuse every bind for the next `ms` milliseconds. */
  refuseBindsFor(ms: number, status: number = SMPP_STATUS.ESME_RBINDFAIL): void {
    this.refuseBindUntil = Date.now() + ms;
    this.refuseBindStatus = status;
  }

  /**
   * After acknowledging `after` more submits, answer the next `count` with
   * `status` (default ESME_RTHROTTLED) without processing them.
   */
  failSubmits(count: number, status: number = SMPP_STATUS.ESME_RTHROTTLED, after = 0): void {
    this.failSubmitCount = count;
    this.failSubmitStatus = status;
    this.failSubmitAfter = after;
  }

  /**
   * Acknowledge the next `count` submits, then close the connection that
   * brings the one after, unanswered and unprocessed, with whatever else it
   * has in flight (a drop mid-window). Once.
   */
  dropAfterSubmits(count: number): void {
    this.dropAfter = count;
  }

  /** Keep submits unanswered (and unprocessed) until releaseAnswers(). */
  holdAnswers(): void {
    this.held ??= [];
  }

  /** Process and answer the held submits, in order. */
  releaseAnswers(): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (const { conn, pdu } of held) if (!conn.dropped) this.submit(conn, pdu);
  }

  /** Held submits right now. */
  get heldCount(): number {
    return this.held?.length ?? 0;
  }

  /** Stop (true) or resume answering enquire_link. */
  ignoreEnquireLinks(on: boolean): void {
    this.ignoreEnquire = on;
  }

  /** Close every connection now, as an SMSC restart would. */
  dropAll(): void {
    for (const c of this.connections) this.drop(c);
  }

  /** Route deliver_sm for `address` to receivers bound with `systemId` (besides their address_range). */
  registerAddress(systemId: string, address: string): void {
    for (const c of this.connections) if (c.systemId === systemId) c.addresses.add(addressKey(address));
    (this.registrations.get(systemId) ?? this.registrations.set(systemId, new Set()).get(systemId)!).add(addressKey(address));
  }

  private readonly registrations = new Map<string, Set<string>>();

  /** Bound connections right now, by mode. */
  boundCount(mode?: BindMode): number {
    let n = 0;
    for (const c of this.connections) if (c.mode !== undefined && !c.dropped && (mode === undefined || c.mode === mode)) n++;
    return n;
  }

  // ------------------------------------------------------------ sessions

  private accept(session: smpp.Session): void {
    const conn: Connection = { session, mode: undefined, systemId: '', addresses: new Set(), dropped: false };
    this.connections.add(conn);
    session.on('error', (e) => {
      // A framing error leaves the package's reader stuck: close the connection, keep serving others.
      this.opts.log?.({ event: 'smsc-connection-error', error: e.message });
      session.destroy();
    });
    session.on('close', () => this.connections.delete(conn));
    session.on('pdu', (pdu) => {
      if (conn.dropped) return;
      switch (pdu.command) {
        case 'bind_transmitter':
          return this.bind(conn, 'transmitter', pdu);
        case 'bind_receiver':
          return this.bind(conn, 'receiver', pdu);
        case 'bind_transceiver':
          return this.bind(conn, 'transceiver', pdu);
        case 'submit_sm':
          return this.onSubmit(conn, pdu);
        case 'enquire_link':
          this.stats.enquireLinks++;
          if (!this.ignoreEnquire) session.send(pdu.response());
          return;
        case 'unbind':
          session.send(pdu.response());
          conn.mode = undefined;
          session.close();
          return;
        case 'unknown':
          session.send(pdu.response());
          return;
        default:
          // Answers from receivers (deliver_sm_resp, ...) need nothing; other requests are not offered.
          if (!pdu.isResponse()) session.send(pdu.response({ command_status: SMPP_STATUS.ESME_RINVCMDID }));
      }
    });
  }

  private bind(conn: Connection, mode: BindMode, pdu: smpp.PDU): void {
    const systemId = pdu.system_id ?? '';
    const refuse = (status: number, why: string): void => {
      this.stats.bindsRefused++;
      this.opts.log?.({ event: 'smsc-bind-refused', systemId, mode, status: describeStatus(status), why });
      this.emit('bind', { systemId, mode, status });
      conn.session.send(pdu.response({ command_status: status }));
      conn.dropped = true;
      conn.session.close();
    };
    if (conn.mode !== undefined) {
      conn.session.send(pdu.response({ command_status: SMPP_STATUS.ESME_RALYBND }));
      return;
    }
    if (this.refuseBindCount > 0) {
      this.refuseBindCount--;
      return refuse(this.refuseBindStatus, 'fault: refuseBinds');
    }
    if (Date.now() < this.refuseBindUntil) return refuse(this.refuseBindStatus, 'fault: refuseBindsFor');
    const accounts = this.opts.accounts ?? [];
    if (accounts.length > 0) {
      const account = accounts.find((a) => a.systemId === systemId);
      if (account === undefined) return refuse(SMPP_STATUS.ESME_RINVSYSID, 'unknown system_id');
      if (account.password !== (pdu.password ?? '')) return refuse(SMPP_STATUS.ESME_RINVPASWD, 'wrong password');
    }
    conn.mode = mode;
    conn.systemId = systemId;
    const range = pdu.address_range ?? '';
    if (range !== '' && mode !== 'transmitter') conn.addresses.add(addressKey(range));
    for (const a of this.registrations.get(systemId) ?? []) conn.addresses.add(a);
    this.stats.binds++;
    this.opts.log?.({ event: 'smsc-bound', systemId, mode, addressRange: range });
    conn.session.send(pdu.response({ system_id: 'mmsc-smsc-sim' }));
    this.emit('bind', { systemId, mode, status: 0 });
  }

  private drop(conn: Connection): void {
    if (conn.dropped) return;
    conn.dropped = true;
    conn.mode = undefined;
    this.stats.drops++;
    this.opts.log?.({ event: 'smsc-drop', systemId: conn.systemId });
    // end(), not destroy(): answers already written still reach the ESME, ahead of the FIN.
    conn.session.socket.end();
    setTimeout(() => conn.session.destroy(), 1000).unref();
  }

  private onSubmit(conn: Connection, pdu: smpp.PDU): void {
    if (conn.mode !== 'transmitter' && conn.mode !== 'transceiver') {
      conn.session.send(pdu.response({ command_status: SMPP_STATUS.ESME_RINVBNDSTS }));
      return;
    }
    if (this.dropAfter !== undefined) {
      if (this.dropAfter === 0) {
        this.dropAfter = undefined;
        this.drop(conn);
        return;
      }
      this.dropAfter--;
    }
    if (this.held !== undefined) {
      this.held.push({ conn, pdu });
      this.maxUnanswered = Math.max(this.maxUnanswered, this.held.length);
      return;
    }
    this.maxUnanswered = Math.max(this.maxUnanswered, 1);
    this.submit(conn, pdu);
  }

  /** Answers one submit_sm and, when it is accepted, processes it. */
  private submit(conn: Connection, pdu: smpp.PDU): void {
    this.stats.submits++;
    const userData = shortMessageOctets(pdu.short_message);
    const seen: SimSubmit = {
      systemId: conn.systemId,
      sequence: pdu.sequence_number,
      source: { address: pdu.source_addr ?? '', ton: pdu.source_addr_ton ?? 0, npi: pdu.source_addr_npi ?? 0 },
      destination: { address: pdu.destination_addr ?? '', ton: pdu.dest_addr_ton ?? 0, npi: pdu.dest_addr_npi ?? 0 },
      esmClass: pdu.esm_class ?? 0,
      dataCoding: pdu.data_coding ?? 0,
      registeredDelivery: pdu.registered_delivery ?? 0,
      userData,
      status: 0,
    };
    let status: number = SMPP_STATUS.ESME_ROK;
    if (this.failSubmitCount > 0 && this.failSubmitAfter > 0) {
      this.failSubmitAfter--;
    } else if (this.failSubmitCount > 0) {
      this.failSubmitCount--;
      status = this.failSubmitStatus;
    } else if (seen.destination.address === '') {
      status = SMPP_STATUS.ESME_RINVDSTADR;
    }
    seen.status = status;
    if (status !== SMPP_STATUS.ESME_ROK) {
      this.stats.failed++;
      conn.session.send(pdu.response({ command_status: status }));
      this.emit('submit', seen);
      return;
    }
    const messageId = (this.nextMessageId++).toString(16).padStart(8, '0');
    seen.messageId = messageId;
    this.stats.acknowledged++;
    conn.session.send(pdu.response({ message_id: messageId }));
    this.emit('submit', seen);
    this.reassemble(seen, messageId);
    this.deliver(seen);
    if ((seen.registeredDelivery & 0x03) === 0x01) this.sendReceipt(conn, seen, messageId);
  }

  private reassemble(s: SimSubmit, messageId: string): void {
    if ((s.esmClass & ESM_CLASS_UDHI) === 0) {
      this.opts.log?.({ event: 'smsc-not-a-push', destination: s.destination.address, why: 'esm_class without UDHI' });
      return;
    }
    // Handsets reassemble per sender; our handsets are the destinations, so both make the key.
    const key = `${s.destination.address}\u0000${s.source.address}`;
    let done;
    let idsKey: string;
    try {
      idsKey = `${key}\u0000${concatenation(decodeUserData(s.userData).header)?.reference ?? ''}`;
      done = this.reassembler.push(s.userData, key, Date.now());
    } catch (e) {
      if (!(e instanceof ProtocolError)) throw e;
      this.badPush(s, `user data: ${e.message} [${e.code}]`);
      return;
    }
    const ids = this.pendingIds.get(idsKey) ?? [];
    ids.push(messageId);
    if (done === null) {
      this.pendingIds.set(idsKey, ids);
      return;
    }
    this.pendingIds.delete(idsKey);
    if (done.ports?.destinationPort !== WAP_PUSH_PORT) {
      this.badPush(s, `datagram for port ${String(done.ports?.destinationPort ?? 'none')}, not the WAP push port ${WAP_PUSH_PORT}`);
      return;
    }
    let pdu: MmsPdu;
    try {
      pdu = decodeMmsPush(done.datagram).mms;
    } catch (e) {
      if (!(e instanceof ProtocolError)) throw e;
      this.badPush(s, `push: ${e.message} [${e.code}]`);
      return;
    }
    const push: SimPush = {
      time: new Date().toISOString(),
      destination: s.destination.address,
      source: s.source.address,
      segments: done.segments,
      ref: done.ref,
      messageIds: ids.slice(-done.segments),
      datagram: done.datagram,
      pdu,
    };
    if (this.opts.retainPushes !== false) this.pushes.push(push);
    const line: Record<string, Json> = {
      time: push.time,
      destination: push.destination,
      source: push.source,
      segments: push.segments,
      messageIds: push.messageIds,
      [pdu.messageType === 'm-notification-ind' ? 'notification' : 'pdu']: pduToJson(pdu),
    };
    this.out?.write(`${JSON.stringify(line)}\n`);
    this.opts.log?.({ event: 'smsc-push', destination: push.destination, segments: push.segments, messageType: pdu.messageType });
    this.emit('push', push);
  }

  private badPush(s: SimSubmit, error: string): void {
    this.stats.badPushes++;
    this.opts.log?.({ event: 'smsc-bad-push', destination: s.destination.address, error });
    this.emit('bad-push', { destination: s.destination.address, error });
  }

  /** deliver_sm to the receiver of the destination, if one is attached. */
  private deliver(s: SimSubmit): void {
    const key = addressKey(s.destination.address);
    for (const c of this.connections) {
      if (c.dropped || (c.mode !== 'receiver' && c.mode !== 'transceiver') || !c.addresses.has(key)) continue;
      const sent = c.session.send(
        new smpp.PDU('deliver_sm', {
          source_addr_ton: s.source.ton,
          source_addr_npi: s.source.npi,
          source_addr: s.source.address,
          dest_addr_ton: s.destination.ton,
          dest_addr_npi: s.destination.npi,
          destination_addr: s.destination.address,
          esm_class: s.esmClass & ESM_CLASS_UDHI,
          data_coding: s.dataCoding,
          short_message: s.userData,
        }),
      );
      if (sent) {
        this.stats.delivered++;
        return;
      }
    }
  }

  /** An SMSC delivery receipt (SMPP 3.4 Appendix B) to the submitter's transceiver or one of its receivers. */
  private sendReceipt(from: Connection, s: SimSubmit, messageId: string): void {
    const target =
      from.mode === 'transceiver'
        ? from
        : [...this.connections].find((c) => !c.dropped && c.systemId === from.systemId && (c.mode === 'receiver' || c.mode === 'transceiver'));
    if (target === undefined) return;
    const date = receiptDate(new Date());
    // Without an attached terminal the simulator plays the handset: the SMS counts as delivered.
    const stat = 'DELIVRD';
    const text = `id:${messageId} sub:001 dlvrd:001 submit date:${date} done date:${date} stat:${stat} err:000 text:`;
    target.session.send(
      new smpp.PDU('deliver_sm', {
        source_addr_ton: s.destination.ton,
        source_addr_npi: s.destination.npi,
        source_addr: s.destination.address,
        dest_addr_ton: s.source.ton,
        dest_addr_npi: s.source.npi,
        destination_addr: s.source.address,
        esm_class: 0x04,
        data_coding: 0,
        short_message: Buffer.from(text, 'latin1'),
        receipted_message_id: messageId,
        message_state: MESSAGE_STATE_DELIVERED,
      }),
    );
    this.stats.receipts++;
  }
}
