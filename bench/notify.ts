/**
 * WAP push notifications through the smpp bearer (src/push/smpp.ts) to the
 * SMSC simulator (src/sim/smsc.ts) over loopback SMPP.
 *
 *   node dist/bench/notify.js [--seconds S] [--window W] [--in-flight N] [--rate R]
 *
 * The simulator runs in a CHILD process (this file with --child), so the
 * bearer's figures are not paid for by the simulator's reassembly and MMS
 * decoding on the same event loop; the machine's cores are still shared.
 *
 * 1. Baseline: raw submit_sm round trips with the `smpp` package alone
 *    (one bind, W outstanding, the same pre-built single-SMS user data), for S s.
 * 2. Throughput: SmppNotifier (window W, no rate limit) with N notify() calls
 *    outstanding, single-SMS pushes pre-encoded, for S s: notifications/s
 *    acknowledged by the SMSC, and the ratio to the baseline (1.00 = the
 *    bearer costs nothing over the package's own round trips).
 * 3. Latency at a steady R notifications/s (default 500) for S s: from the
 *    notify() call to the simulator's reassembled, decoded push (p50/p99),
 *    and to notify() resolving. The two processes compare
 *    performance.timeOrigin + performance.now(), both from the system clock
 *    (sub-millisecond agreement on one machine).
 *
 * Targets (issue 5), printed as PASS/FAIL, exit 0: ≥ 2 000 notifications/s;
 * p99 < 100 ms at a steady 500/s.
 */
/// <reference path="../src/push/smpp-package.d.ts" />
import { fork, type ChildProcess } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import smpp from 'smpp';
import { encodeMmsPush } from '../protocol/mms/push.js';
import type { MNotificationInd } from '../protocol/mms/model.js';
import { segment } from '../protocol/wdp/segment.js';
import type { PushRequest } from '../src/push/notifier.js';
import { SmppNotifier } from '../src/push/smpp.js';
import { SmscSimulator, type SimPush } from '../src/sim/smsc.js';
import { fmt, parseArgs, positiveInt, type Flags } from './harness.js';

const TARGET_RATE = 2000;
const TARGET_P99_MS = 100;

interface Opts {
  seconds: number;
  window: number;
  inFlight: number;
  rate: number;
}
const DEFAULTS: Opts = { seconds: 5, window: 64, inFlight: 512, rate: 500 };
const FLAGS: Flags<Opts> = {
  '--seconds': ['seconds', positiveInt],
  '--window': ['window', positiveInt],
  '--in-flight': ['inFlight', positiveInt],
  '--rate': ['rate', positiveInt],
};

/** Messages between the bench and its simulator child. */
type ToChild = { kind: 'arrivals' } | { kind: 'stop' };
type FromChild = { kind: 'listening'; port: number } | { kind: 'arrivals'; count: number; times: Array<[string, number]> };

const epochMs = (): number => performance.timeOrigin + performance.now();

function notification(transactionId: string, to: string): MNotificationInd {
  return {
    messageType: 'm-notification-ind',
    transactionId,
    mmsVersion: '1.2',
    from: { text: '12345/TYPE=PLMN' },
    subject: { text: 'Bench', charset: 106 },
    messageClass: 'Personal',
    messageSize: 31_000,
    expiry: { relative: 172_800 },
    contentLocation: `http://127.0.0.1:8081/m/${transactionId}AAAAAAAAAAAA`,
  };
}

function push(i: number, prefix: string): PushRequest {
  const to = `+1555${String(i % 10_000_000).padStart(7, '0')}`;
  const transactionId = `${prefix}${i}`;
  return { to, messageId: transactionId, pushPdu: encodeMmsPush(notification(transactionId, to), i & 0xff) };
}

// ------------------------------------------------------------------ child

async function child(): Promise<void> {
  const sim = new SmscSimulator({ retainPushes: false });
  let count = 0;
  let times: Array<[string, number]> = [];
  sim.on('push', (p: SimPush) => {
    count++;
    const tid = String(p.pdu.transactionId);
    if (tid.startsWith('L')) times.push([tid, epochMs()]);
  });
  const { port } = await sim.start();
  process.send?.({ kind: 'listening', port } satisfies FromChild);
  process.on('message', (m: ToChild) => {
    if (m.kind === 'arrivals') {
      process.send?.({ kind: 'arrivals', count, times } satisfies FromChild);
      times = [];
    } else {
      void sim.stop().then(() => process.exit(0));
    }
  });
}

// ------------------------------------------------------------------ parent

function ask(proc: ChildProcess): Promise<Extract<FromChild, { kind: 'arrivals' }>> {
  return new Promise((resolve) => {
    const on = (m: FromChild): void => {
      if (m.kind !== 'arrivals') return;
      proc.off('message', on);
      resolve(m);
    };
    proc.on('message', on);
    proc.send({ kind: 'arrivals' } satisfies ToChild);
  });
}

async function rawBaseline(port: number, seconds: number, window: number): Promise<number> {
  const session = smpp.connect({ host: '127.0.0.1', port });
  session.on('error', (e) => {
    throw e;
  });
  await new Promise<void>((resolve, reject) =>
    session.on('connect', () =>
      session.send(new smpp.PDU('bind_transmitter', { system_id: 'raw', password: '', interface_version: 0x34 }), (r) =>
        r.command_status === 0 ? resolve() : reject(new Error(`bind refused ${r.command_status}`)),
      ),
    ),
  );
  const userData = segment(push(1, 'R').pushPdu, 0)[0]!;
  let done = 0;
  let outstanding = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  await new Promise<void>((resolve, reject) => {
    const sendOne = (): void => {
      outstanding++;
      const pdu = new smpp.PDU('submit_sm', {
        source_addr_ton: 5,
        source_addr: 'MMSC',
        dest_addr_ton: 1,
        dest_addr_npi: 1,
        destination_addr: '15550000001',
        esm_class: 0x40,
        data_coding: 0x04,
        short_message: userData,
      });
      session.send(pdu, (r) => {
        outstanding--;
        if (r.command_status !== 0) return reject(new Error(`submit refused ${r.command_status}`));
        done++;
        if (performance.now() < end) sendOne();
        else if (outstanding === 0) resolve();
      });
    };
    for (let i = 0; i < window; i++) sendOne();
  });
  const rate = (done * 1000) / (performance.now() - start);
  session.close();
  return rate;
}

async function throughput(notifier: SmppNotifier, seconds: number, inFlight: number): Promise<number> {
  const pool = Array.from({ length: 1000 }, (_, i) => push(i, 'T'));
  let done = 0;
  let next = 0;
  let active = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  await new Promise<void>((resolve, reject) => {
    const one = (): void => {
      active++;
      notifier.notify(pool[next++ % pool.length]!).then(() => {
        active--;
        done++;
        if (performance.now() < end) one();
        else if (active === 0) resolve();
      }, reject);
    };
    for (let i = 0; i < inFlight; i++) one();
  });
  return (done * 1000) / (performance.now() - start);
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function steady(notifier: SmppNotifier, proc: ChildProcess, seconds: number, rate: number): Promise<{ sent: number; arrived: number; toPush: number[]; toAck: number[] }> {
  const total = Math.round(seconds * rate);
  const pushes = Array.from({ length: total }, (_, i) => push(i, 'L'));
  const sentAt = new Map<string, number>();
  const toAck: number[] = [];
  const pending: Array<Promise<void>> = [];
  const start = performance.now();
  let i = 0;
  // Paced by the clock, not by timer ticks: each tick sends what is due by now.
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const due = Math.min(total, Math.floor(((performance.now() - start) * rate) / 1000) + 1);
      for (; i < due; i++) {
        const p = pushes[i]!;
        const t0 = performance.now();
        sentAt.set(p.messageId, epochMs());
        pending.push(notifier.notify(p).then(() => void toAck.push(performance.now() - t0)));
      }
      if (i >= total) resolve();
      else setTimeout(tick, 2);
    };
    tick();
  });
  await Promise.all(pending);
  // Wait for the child to have decoded them all (its arrivals come over IPC).
  const toPush: number[] = [];
  let arrived = 0;
  for (let tries = 0; tries < 100 && toPush.length < total; tries++) {
    const got = await ask(proc);
    arrived = got.count;
    for (const [tid, at] of got.times) {
      const sent = sentAt.get(tid);
      if (sent !== undefined) toPush.push(at - sent);
    }
    if (toPush.length < total) await new Promise((r) => setTimeout(r, 50));
  }
  return { sent: total, arrived, toPush: toPush.sort((a, b) => a - b), toAck: toAck.sort((a, b) => a - b) };
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2), DEFAULTS, FLAGS, 'node dist/bench/notify.js [--seconds S] [--window W] [--in-flight N] [--rate R]');
  const proc = fork(fileURLToPath(import.meta.url), ['--child'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const port = await new Promise<number>((resolve) => {
    proc.once('message', (m: FromChild) => {
      if (m.kind === 'listening') resolve(m.port);
    });
  });
  const load = loadavg().map((l) => l.toFixed(2)).join(' ');
  console.log(`node ${process.version}, ${availableParallelism()} cores, load average ${load}; SMSC simulator in a child process on 127.0.0.1:${port}`);
  console.log(`${opts.seconds} s per phase, window ${opts.window}, ${opts.inFlight} notify() outstanding, steady rate ${opts.rate}/s`);

  const baseline = await rawBaseline(port, opts.seconds, opts.window);
  console.log(`baseline: raw submit_sm round trips (smpp package alone, window ${opts.window})   ${fmt(baseline)}/s`);

  const fast = new SmppNotifier({ port, systemId: 'bench', window: opts.window, submitsPerSecond: 1e9 });
  await fast.whenBound();
  const rate = await throughput(fast, opts.seconds, opts.inFlight);
  await fast.close();
  console.log(`SmppNotifier: single-SMS notifications acknowledged            ${fmt(rate)}/s  (${(rate / baseline).toFixed(2)}x the baseline)`);
  await ask(proc); // drain the child's counters

  const paced = new SmppNotifier({ port, systemId: 'bench', window: opts.window, submitsPerSecond: opts.rate * 2 });
  await paced.whenBound();
  const s = await steady(paced, proc, opts.seconds, opts.rate);
  await paced.close();
  const ms = (v: number): string => `${v.toFixed(2)} ms`;
  console.log(
    `steady ${opts.rate}/s for ${opts.seconds} s: ${s.sent} sent, ${s.toPush.length} reassembled and decoded by the simulator; ` +
      `notify() → push p50 ${ms(percentile(s.toPush, 50))} p99 ${ms(percentile(s.toPush, 99))} max ${ms(s.toPush.at(-1) ?? NaN)}; ` +
      `notify() resolved p50 ${ms(percentile(s.toAck, 50))} p99 ${ms(percentile(s.toAck, 99))}`,
  );
  const p99 = percentile(s.toPush, 99);
  console.log(`target ≥ ${fmt(TARGET_RATE)} notifications/s: ${rate >= TARGET_RATE ? 'PASS' : 'FAIL'} (${fmt(rate)}/s)`);
  console.log(`target p99 < ${TARGET_P99_MS} ms at ${opts.rate}/s: ${p99 < TARGET_P99_MS && s.toPush.length === s.sent ? 'PASS' : 'FAIL'} (${ms(p99)})`);
  proc.send({ kind: 'stop' } satisfies ToChild);
}

if (process.argv.includes('--child')) await child();
else await main();
