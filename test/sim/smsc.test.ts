/// <reference path="../../src/push/smpp-package.d.ts" />
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import smpp from 'smpp';
import t, { type Test } from 'tap';
import { SmppNotifier, SMPP_STATUS } from '../../src/push/smpp.js';
import { SmscSimulator, shortMessageOctets } from '../../src/sim/smsc.js';
import { spawnCli } from '../helpers/cli.js';
import { pushFor, until } from './pushes.js';

// The SMSC simulator seen from raw SMPP clients (the `smpp` package): binds
// and credentials, routing to receivers, receipts, bad input; and the
// `smsc-sim` command in a child process.


async function client(t: Test, port: number, command: 'bind_transmitter' | 'bind_receiver' | 'bind_transceiver', fields: smpp.PduFields): Promise<{ session: smpp.Session; status: number; delivered: smpp.PDU[] }> {
  const session = smpp.connect({ host: '127.0.0.1', port });
  const delivered: smpp.PDU[] = [];
  session.on('deliver_sm', (pdu) => {
    delivered.push(pdu);
    session.send(pdu.response());
  });
  session.on('error', () => undefined);
  t.teardown(() => session.destroy());
  const status = await new Promise<number>((resolve) => {
    session.on('connect', () => session.send(new smpp.PDU(command, fields), (resp) => resolve(resp.command_status)));
  });
  return { session, status, delivered };
}

function submit(session: smpp.Session, fields: smpp.PduFields): Promise<smpp.PDU> {
  return new Promise((resolve) => session.send(new smpp.PDU('submit_sm', fields), resolve));
}

t.test('binds: credentials checked, ESME_RINVPASWD and ESME_RINVSYSID, fault knob', async (t) => {
  const sim = new SmscSimulator({ accounts: [{ systemId: 'lab', password: 'pw' }] });
  const { port } = await sim.start();
  t.teardown(() => sim.stop());
  t.equal((await client(t, port, 'bind_transmitter', { system_id: 'lab', password: 'nope' })).status, SMPP_STATUS.ESME_RINVPASWD);
  t.equal((await client(t, port, 'bind_transmitter', { system_id: 'who', password: 'pw' })).status, SMPP_STATUS.ESME_RINVSYSID);
  sim.refuseBinds(1);
  t.equal((await client(t, port, 'bind_transceiver', { system_id: 'lab', password: 'pw' })).status, SMPP_STATUS.ESME_RBINDFAIL, 'refused by the fault knob');
  const ok = await client(t, port, 'bind_transceiver', { system_id: 'lab', password: 'pw' });
  t.equal(ok.status, 0);
  t.equal(sim.boundCount('transceiver'), 1);
  const again = await new Promise<number>((resolve) => ok.session.send(new smpp.PDU('bind_transmitter', { system_id: 'lab', password: 'pw' }), (r) => resolve(r.command_status)));
  t.equal(again, SMPP_STATUS.ESME_RALYBND);
  const rx = await client(t, port, 'bind_receiver', { system_id: 'lab', password: 'pw' });
  const refused = await submit(rx.session, { destination_addr: '1555', short_message: Buffer.of(1) });
  t.equal(refused.command_status, SMPP_STATUS.ESME_RINVBNDSTS, 'a receiver may not submit');
});

t.test('deliver_sm to the receiver whose address_range matches; receipts to the submitter', async (t) => {
  const sim = new SmscSimulator();
  const { port } = await sim.start();
  t.teardown(() => sim.stop());
  const alice = await client(t, port, 'bind_receiver', { system_id: 'phones', address_range: '15550002222' });
  const bob = await client(t, port, 'bind_receiver', { system_id: 'phones', address_range: '+15550003333' });
  const receipts = await client(t, port, 'bind_receiver', { system_id: 'mmsc' });
  const tx = await client(t, port, 'bind_transmitter', { system_id: 'mmsc' });
  const push = pushFor('+15550003333', 'route1', 120);
  t.ok(push.pushPdu.length > 128 && push.pushPdu.length <= 256, 'a push of two SMS');
  const ud = [Buffer.from('0b0504' + '0b8423f0' + '0003' + '2a0201', 'hex'), Buffer.from('0b0504' + '0b8423f0' + '0003' + '2a0202', 'hex')];
  const half = 128;
  const parts = [Buffer.concat([ud[0]!, push.pushPdu.subarray(0, half)]), Buffer.concat([ud[1]!, push.pushPdu.subarray(half)])];
  for (const p of parts) {
    const r = await submit(tx.session, { dest_addr_ton: 1, dest_addr_npi: 1, destination_addr: '15550003333', source_addr: 'MMSC', esm_class: 0x40, data_coding: 4, registered_delivery: 1, short_message: p });
    t.equal(r.command_status, 0);
    t.match(r.message_id, /^[0-9a-f]{8}$/);
  }
  await until(() => bob.delivered.length === 2 && receipts.delivered.length === 2, 'deliveries and receipts');
  t.equal(alice.delivered.length, 0, 'not for alice');
  t.same(bob.delivered.map((d) => shortMessageOctets(d.short_message)), parts, 'bob got both SMS unchanged');
  t.same(bob.delivered.map((d) => [d.esm_class, d.data_coding, d.source_addr]), [[0x40, 4, 'MMSC'], [0x40, 4, 'MMSC']]);
  const text = String(shortMessageOctets(receipts.delivered[0]!.short_message));
  t.match(text, /^id:[0-9a-f]{8} sub:001 dlvrd:001 submit date:\d{10} done date:\d{10} stat:DELIVRD err:000 text:$/);
  t.equal(receipts.delivered[0]!.esm_class, 0x04, 'a delivery receipt');
  t.equal(sim.pushes.length, 1);
  t.same(sim.pushes[0]!.datagram, push.pushPdu);
  t.equal(sim.pushes[0]!.messageIds.length, 2);
});

t.test('bad user data is logged, acknowledged like any SMS, and the simulator keeps serving', async (t) => {
  const log: Array<Record<string, unknown>> = [];
  const sim = new SmscSimulator({ log: (e) => log.push(e) });
  const { port } = await sim.start();
  t.teardown(() => sim.stop());
  const bad: string[] = [];
  sim.on('bad-push', (b: { error: string }) => bad.push(b.error));
  const tx = await client(t, port, 'bind_transmitter', { system_id: 'x' });
  const fields = { destination_addr: '15550002222', esm_class: 0x40, data_coding: 4 };
  t.equal((await submit(tx.session, { ...fields, short_message: Buffer.from('0605040b8423f0ffff', 'hex') })).command_status, 0);
  t.equal((await submit(tx.session, { ...fields, short_message: Buffer.from('0605040b8423f0010603beaf84ff', 'hex') })).command_status, 0);
  t.equal((await submit(tx.session, { ...fields, short_message: Buffer.from('0605040b8500000102', 'hex') })).command_status, 0);
  t.equal(bad.length, 3);
  t.match(bad[0]!, /^push: /);
  t.match(bad[2]!, /not the WAP push port 2948/);
  t.ok(log.some((e) => e['event'] === 'smsc-bad-push'));
  // A PDU past the package's length limit breaks only its own connection.
  const raw = smpp.connect({ host: '127.0.0.1', port });
  raw.on('error', () => undefined);
  await new Promise<void>((resolve) => raw.on('connect', () => resolve()));
  raw.socket.write(Buffer.from('00ffffff00000004000000000000000100', 'hex'));
  await new Promise<void>((resolve) => raw.on('close', () => resolve()));
  const notifier = new SmppNotifier({ port });
  t.teardown(() => notifier.close());
  await notifier.notify(pushFor('+15550002222', 'good'));
  t.equal(sim.pushes.length, 1, 'still serving');
});

t.test('SMPP framing split anywhere: PDUs written one octet at a time are answered', async (t) => {
  const sim = new SmscSimulator();
  const { port } = await sim.start();
  t.teardown(() => sim.stop());
  const socket = connect(port, '127.0.0.1');
  t.teardown(() => socket.destroy());
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  const bind = new smpp.PDU('bind_transmitter', { system_id: 'slow', sequence_number: 1 }).toBuffer();
  const ud = Buffer.concat([Buffer.from('0605040b8423f0', 'hex'), pushFor('+15550002222', 'split1').pushPdu]);
  const sm = new smpp.PDU('submit_sm', { destination_addr: '15550002222', esm_class: 0x40, data_coding: 4, short_message: ud, sequence_number: 2 }).toBuffer();
  let answers = Buffer.alloc(0);
  socket.on('data', (c: Buffer) => (answers = Buffer.concat([answers, c])));
  for (const octet of Buffer.concat([bind, sm])) {
    socket.write(Buffer.of(octet));
    await new Promise((r) => setImmediate(r));
  }
  await until(() => sim.pushes.length === 1 && answers.length >= 2 * 16, 'both answers');
  t.equal(answers.readUInt32BE(4), 0x80000002, 'bind_transmitter_resp');
  t.equal(answers.readUInt32BE(8), 0);
  const second = answers.readUInt32BE(0);
  t.equal(answers.readUInt32BE(second + 4), 0x80000004, 'submit_sm_resp');
  t.equal(answers.readUInt32BE(second + 8), 0);
  t.equal(sim.pushes[0]!.pdu.transactionId, 'split1');
});

t.test('mmsc smsc-sim: listens, writes a JSON line per push to --out, stops on SIGTERM', async (t) => {
  const out = join(t.testdir({}), 'pushes.jsonl');
  const sim = await spawnCli(t, ['smsc-sim', '--listen', '127.0.0.1:0', '--out', out, '--system-id', 'mmsc', '--password', 'pw'], /^SMSC simulator listening on 127\.0\.0\.1:(\d+)\n/);
  const port = Number(sim.listening[1]);
  const notifier = new SmppNotifier({ port, systemId: 'mmsc', password: 'pw' });
  const push = pushFor('+15550002222', 'cli1', 200);
  await notifier.notify(push);
  await notifier.close();
  t.equal(await sim.stop(), 0, 'SIGTERM stops it cleanly');
  const lines = readFileSync(out, 'utf8').trim().split('\n');
  t.equal(lines.length, 1);
  const line = JSON.parse(lines[0]!) as { destination: string; source: string; segments: number; notification: Record<string, unknown> };
  t.equal(line.destination, '15550002222');
  t.equal(line.source, 'MMSC');
  t.equal(line.segments, Math.ceil(push.pushPdu.length / 128));
  t.match(line.notification, { 'X-Mms-Message-Type': 'm-notification-ind', 'X-Mms-Transaction-Id': 'cli1', 'X-Mms-Content-Location': push.notification.contentLocation });
  t.match(sim.stdout(), /"event":"smsc-bound"/, 'log lines on stdout');
});
