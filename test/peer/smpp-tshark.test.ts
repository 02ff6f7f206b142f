import { execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import t from 'tap';
import { SmppNotifier } from '../../src/push/smpp.js';
import { SmscSimulator, type SimSubmit } from '../../src/sim/smsc.js';
import { requireTshark, tsharkDecodeSmppUserData, tsharkPath } from '../helpers/tshark.js';
import { pushFor } from '../sim/pushes.js';

// The smpp bearer's traffic as a real peer sees it: tshark captures the
// loopback conversation between SmppNotifier and the SMSC simulator LIVE
// (`tshark -i lo -f 'tcp port N'`, we run as root), then decodes the capture
// with its SMPP dissector (decode-as the simulator's port), its GSM SMS
// reassembly of the concatenated user data (gsm_sms.reassemble, on by
// default, set explicitly) and its WSP/MMSE dissectors. Every submit_sm must
// be well formed and every reassembled push must carry the notification's
// fields. Only if live capture cannot start does the test fall back to
// tshark on a pcap built from the user data the simulator received
// (test/helpers/tshark.ts), and it says so in a comment line.

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
type Fields = Record<string, string[]>;

/** All fields of one frame, nested trees flattened, every value in tree order. */
function flatten(layers: Json, into: Fields = {}): Fields {
  if (layers === null || typeof layers !== 'object' || Array.isArray(layers)) return into;
  for (const [key, value] of Object.entries(layers)) {
    for (const v of Array.isArray(value) ? value : [value]) {
      if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') (into[key] ??= []).push(String(v));
      else flatten(v, into);
    }
  }
  return into;
}

function run(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { env, maxBuffer: 256 << 20, timeout: 60_000, encoding: 'utf8' }, (e, out, err) => (e ? reject(new Error(`${e.message}\n${err}`)) : resolve(out)));
  });
}

t.test('SMPP on loopback, captured and decoded by tshark: submit_sm well formed, pushes equal the notifications', async (t) => {
  if (!requireTshark(t)) return;
  const tshark = tsharkPath()!;
  const dir = t.testdir({});
  const env = { ...process.env, WIRESHARK_CONFIG_DIR: join(dir, 'config'), TZ: 'UTC', LC_ALL: 'C.UTF-8' };
  const sim = new SmscSimulator();
  const { port } = await sim.start();
  t.teardown(() => sim.stop());
  const submits: SimSubmit[] = [];
  sim.on('submit', (s: SimSubmit) => submits.push(s));

  const file = join(dir, 'smpp.pcapng');
  const capture = spawn(tshark, ['-n', '-i', 'lo', '-f', `tcp port ${port}`, '-w', file], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  t.teardown(() => {
    if (capture.exitCode === null) capture.kill('SIGKILL');
  });
  let captureErr = '';
  const live = await new Promise<boolean>((resolve) => {
    capture.stderr.on('data', (c: Buffer) => {
      captureErr += c.toString();
      if (/Capturing on|Capture started/.test(captureErr)) resolve(true);
    });
    capture.once('exit', () => resolve(false));
    capture.once('error', () => resolve(false));
  });
  // The filter is compiled and the socket open once tshark says so; a short pause covers its first read.
  if (live) await new Promise((r) => setTimeout(r, 500));

  const pushes = [
    { push: pushFor('+15550002222', 'tsA1', 5), referenceBits: 8 as const },
    { push: pushFor('+15550003333', 'tsB2', 250), referenceBits: 8 as const },
    { push: pushFor('+15550004444', 'tsC3', 420), referenceBits: 16 as const },
  ];
  for (const bits of [8, 16] as const) {
    const notifier = new SmppNotifier({ port, systemId: 'mmsc', source: { address: '12345', ton: 3, npi: 0 }, registeredDelivery: true, referenceBits: bits, window: 4 });
    await Promise.all(pushes.filter((p) => p.referenceBits === bits).map((p) => notifier.notify(p.push)));
    await notifier.close();
  }
  t.equal(sim.pushes.length, 3, 'the simulator reassembled all three');

  let frames: Fields[];
  if (live) {
    const exited = new Promise<void>((resolve) => capture.once('exit', () => resolve()));
    await new Promise((r) => setTimeout(r, 300));
    capture.kill('SIGINT');
    await exited;
    const out = await run(tshark, ['-n', '-r', file, '-T', 'json', '--no-duplicate-keys', '-d', `tcp.port==${port},smpp`, '-o', 'gsm_sms.reassemble:TRUE', '-o', 'tcp.desegment_tcp_streams:TRUE'], env);
    frames = (JSON.parse(out) as Json[]).map((p) => flatten((p as { _source: { layers: Json } })._source.layers));
  } else {
    t.comment(`live capture impossible (${captureErr.trim().split('\n').pop() ?? 'no output'}): FALLBACK to a pcap written from the user data the simulator received`);
    const perMessage = pushes.map((p) => submits.filter((s) => s.destination.address === p.push.to.slice(1)).map((s) => s.userData));
    frames = (await tsharkDecodeSmppUserData(perMessage, '15550000000')).map((p) => p.fields);
  }

  const all = (name: string): string[] => frames.flatMap((f) => f[name] ?? []);
  // TCP analysis notes (window, ACK of an uncaptured segment) describe the capture on a loaded
  // machine, not our octets; every expert info of SMPP, GSM SMS, WSP or MMSE counts.
  const tcpOnly = (f: Fields): boolean => (f['_ws.expert.message'] ?? []).every((m) => /\bTCP\b|segment|window|\bACK/i.test(m)) && (f['tcp.analysis.flags'] ?? []).length > 0;
  const malformed = frames.filter(
    (f) => f['_ws.malformed'] !== undefined || ((f['_ws.expert.severity'] ?? []).some((s) => s === '8388608' || s === '6291456') && !tcpOnly(f)),
  );
  t.same(malformed.map((f) => `frame ${f['frame.number']?.[0]}: ${(f['_ws.expert.message'] ?? []).join('; ')} ${(f['frame.protocols'] ?? []).join()}`), [], 'no malformed frame, no expert warning or error');

  const commands = all('smpp.command_id');
  const submitCount = commands.filter((c) => c === '0x00000004').length;
  t.equal(submitCount, submits.length, `every submit_sm captured (${submits.length})`);
  if (live) {
    t.equal(commands.filter((c) => c === '0x80000004').length, submits.length, 'and every submit_sm_resp');
    t.ok(commands.includes('0x00000002'), 'bind_transmitter seen');
    t.ok(all('smpp.system_id').includes('mmsc'));
    t.same([...new Set(all('smpp.source_addr'))], ['12345'], 'source address as configured');
    t.same([...new Set(all('smpp.source_addr_ton'))], ['0x03'], 'source TON 3 (network specific: a short code)');
    t.same([...new Set(all('smpp.dest_addr_ton'))], ['0x01'], 'destination TON 1 (international)');
    t.same([...new Set(all('smpp.dest_addr_npi'))], ['0x01'], 'destination NPI 1 (E.164)');
    t.same([...new Set(all('smpp.destination_addr'))].sort(), ['15550002222', '15550003333', '15550004444']);
    t.same([...new Set(all('smpp.regdel.receipt'))], ['0x01'], 'registered_delivery: SMSC receipt requested');
  }
  t.same([...new Set(all('smpp.data_coding'))], ['0x04'], 'data_coding 8-bit in every submit_sm');
  t.same([...new Set(all('smpp.esm.submit.features'))], ['0x01'], 'esm_class UDHI in every submit_sm');
  t.same([...new Set(all('gsm_sms.destination_port'))], ['2948']);
  t.same([...new Set(all('gsm_sms.originator_port'))], ['9200']);

  // The reassembled pushes, decoded by WSP and MMSE.
  t.same(all('mmse.transaction_id').sort(), ['tsA1', 'tsB2', 'tsC3'], 'three M-Notification.ind, each once');
  t.ok(all('gsm_sms_ud.reassembled.length').length >= 2, 'tshark reassembled the concatenated ones');
  for (const { push } of pushes) {
    const f = frames.find((fr) => fr['mmse.transaction_id']?.includes(push.notification.transactionId));
    if (f === undefined) {
      t.fail(`no decoded push for ${push.notification.transactionId}`);
      continue;
    }
    const n = push.notification;
    const i = f['mmse.transaction_id']!.indexOf(n.transactionId);
    t.equal(f['mmse.message_type']?.[i], '0x82', 'm-notification-ind');
    t.equal(f['mmse.mms_version']?.[i], '1.2');
    t.equal(f['mmse.from']?.[i], (n.from as { text: string }).text);
    t.equal(f['mmse.subject']?.[i], n.subject?.text);
    t.equal(f['mmse.message_class.id']?.[i], '0x80', 'Personal');
    t.equal(f['mmse.message_size']?.[i], String(n.messageSize));
    t.equal(f['mmse.expiry.rel']?.[i], '172800.000000000');
    t.equal(f['mmse.content_location']?.[i], n.contentLocation);
    t.ok(f['wsp.header.x_wap_application_id']?.includes('x-wap-application:mms.ua'));
    t.ok(f['wsp.header.content_type']?.includes('application/vnd.wap.mms-message'));
  }
});
