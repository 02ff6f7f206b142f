/**
 * MMS PDU codec throughput (mqtt-packet's benchmarks/parse.js and
 * generate.js, one direction at a time).
 *
 *   node dist/bench/pdu.js [--rounds N] [--round-ms MS]
 *
 * Each benchmark is warmed up, then timed in rounds of ~1 s (made of 50 ms
 * slices of all benchmarks in turn, see bench/harness.ts); each reports its
 * median round. Ratios come from the slices taken side by side.
 *
 * Machines differ, so the headline is also given as a ratio to a baseline
 * measured in the same run: a JSON round trip of the same notification model.
 *
 * Exit status: 1 when the 300 KB : 3 KB decode time ratio reaches 2.00 —
 * decoding must hand out views of the body, not copies. The 300 000 round
 * trips/s target is printed only: it depends on the machine.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { decodeMms, encodeMms, type MmsPdu, type MNotificationInd, type MRetrieveConf } from '../protocol/mms/index.js';
import { bench, fmt, footer, header, measure, parseArgs, rate, ROUND_DEFAULTS, ROUND_FLAGS, spread, timeRatio } from './harness.js';

const TARGET_ROUND_TRIPS = 300_000;
const RATIO_LIMIT = 2;

/** Spec h.1: the M-Notification.ind of the worked example. */
function notification(): MNotificationInd {
  return {
    messageType: 'm-notification-ind',
    transactionId: 'A1b2C3',
    mmsVersion: '1.2',
    from: { text: '+4475550123/TYPE=PLMN' },
    subject: { text: 'Photo', charset: 106 },
    messageClass: 'Personal',
    messageSize: 31000,
    expiry: { relative: 172800 },
    contentLocation: 'http://mmsc.example.net/r/7Kq2',
  };
}

/**
 * An M-Retrieve.conf with the h.1 notification's sender, subject and class,
 * and a multipart.related body: SMIL, text, one image of `imageSize` random octets.
 */
function retrieveConf(imageSize: number): MRetrieveConf {
  const { from, subject, messageClass } = notification();
  const smil =
    '<smil><head><layout><root-layout width="320" height="480"/><region id="Image" top="0" height="80%"/>' +
    '<region id="Text" top="80%" height="20%"/></layout></head><body><par dur="5000ms">' +
    '<img src="photo.jpg" region="Image"/><text src="text.txt" region="Text"/></par></body></smil>';
  return {
    messageType: 'm-retrieve-conf',
    transactionId: 'R9x',
    mmsVersion: '1.2',
    messageId: 'm-20240501-000123',
    date: new Date(1_700_000_000_000),
    from,
    to: [{ text: '+4475550999/TYPE=PLMN' }],
    subject,
    messageClass,
    priority: 'Normal',
    contentType: {
      mediaType: 'application/vnd.wap.multipart.related',
      params: [{ name: 'start', value: '<smil>' }, { name: 'type', value: 'application/smil' }],
    },
    body: [
      {
        contentType: { mediaType: 'application/smil', params: [] },
        headers: [{ name: 'Content-ID', value: '<smil>' }, { name: 'Content-Location', value: 's.smil' }],
        data: Buffer.from(smil, 'utf8'),
      },
      {
        contentType: { mediaType: 'text/plain', params: [{ name: 'charset', value: 'utf-8' }] },
        headers: [{ name: 'Content-ID', value: '<text>' }, { name: 'Content-Location', value: 'text.txt' }],
        data: Buffer.from('Greetings from the seaside — wish you were here!', 'utf8'),
      },
      {
        contentType: { mediaType: 'image/jpeg', params: [{ name: 'name', value: 'photo.jpg' }] },
        headers: [{ name: 'Content-ID', value: '<photo>' }, { name: 'Content-Location', value: 'photo.jpg' }],
        data: randomBytes(imageSize),
      },
    ],
  };
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2), ROUND_DEFAULTS, ROUND_FLAGS, '--rounds N --round-ms MS');
  const started = performance.now();

  const notif = notification();
  const notifBytes = encodeMms(notif);
  const big = retrieveConf(300 * 1024);
  const small = retrieveConf(3 * 1024);
  const bigBytes = encodeMms(big);
  const smallBytes = encodeMms(small);

  // Check what is measured before measuring it.
  const back = decodeMms(notifBytes);
  if (back.transactionId !== 'A1b2C3' || back.messageSize !== 31000 || back.contentLocation !== notif.contentLocation) {
    throw new Error('the notification does not survive a round trip');
  }
  for (const [pdu, bytes] of [[big, bigBytes], [small, smallBytes]] as const) {
    const parts = decodeMms(bytes).body;
    const image = Array.isArray(parts) ? parts[2]?.data : undefined;
    const want = (pdu.body as Exclude<MmsPdu['body'], Uint8Array | undefined>)[2]!.data;
    if (!image || !Buffer.from(image).equals(want)) throw new Error('the image part does not survive a round trip');
  }

  const json = (): number => {
    const buf = Buffer.from(JSON.stringify(notif));
    const obj = JSON.parse(buf.toString('utf8')) as MNotificationInd;
    return buf.length + obj.messageSize;
  };
  const benches = {
    roundTrip: bench('M-Notification.ind encode+decode', () => decodeMms(encodeMms(notif)).messageSize ?? 0),
    json: bench('baseline JSON.stringify+Buffer.from+JSON.parse', json),
    encode: bench('M-Notification.ind encode', () => encodeMms(notif).length),
    decode: bench('M-Notification.ind decode', () => decodeMms(notifBytes).messageSize ?? 0),
    bigDecode: bench(`M-Retrieve.conf ${fmt(bigBytes.length)} octets (300 KB image) decode`, () => (decodeMms(bigBytes).body as unknown[]).length),
    bigEncode: bench(`M-Retrieve.conf ${fmt(bigBytes.length)} octets (300 KB image) encode`, () => encodeMms(big).length),
    smallDecode: bench(`M-Retrieve.conf ${fmt(smallBytes.length)} octets (3 KB image) decode`, () => (decodeMms(smallBytes).body as unknown[]).length),
    smallEncode: bench(`M-Retrieve.conf ${fmt(smallBytes.length)} octets (3 KB image) encode`, () => encodeMms(small).length),
  };
  const all = Object.values(benches);

  console.log(header(opts));
  await measure([all], opts);

  console.log('');
  for (const b of all) console.log(`${b.name.padEnd(58)} ${fmt(rate(b)).padStart(12)} ops/s  (${spread(b)})`);

  const rt = rate(benches.roundTrip);
  const ratio = timeRatio(benches.bigDecode, benches.smallDecode);
  const vsJson = timeRatio(benches.json, benches.roundTrip);
  console.log('');
  console.log(`M-Notification.ind (${notifBytes.length} octets) round trips: ${fmt(rt)}/s = ${vsJson.toFixed(2)}x the JSON baseline of ${fmt(rate(benches.json))}/s (ratio: median of side-by-side slices)`);
  console.log(`  encode ${fmt(rate(benches.encode))}/s, decode ${fmt(rate(benches.decode))}/s`);
  console.log(`M-Retrieve.conf 300 KB: decode ${fmt(rate(benches.bigDecode))}/s, encode ${fmt(rate(benches.bigEncode))}/s (${((rate(benches.bigEncode) * bigBytes.length) / 2 ** 30).toFixed(2)} GiB/s)`);
  console.log(`M-Retrieve.conf 3 KB:   decode ${fmt(rate(benches.smallDecode))}/s, encode ${fmt(rate(benches.smallEncode))}/s`);
  const ratioOk = ratio < RATIO_LIMIT;
  console.log(`ratio 300KB:3KB decode = ${ratio.toFixed(2)} (limit ${RATIO_LIMIT.toFixed(2)}) ${ratioOk ? 'PASS' : 'FAIL'}`);
  console.log(`target ${TARGET_ROUND_TRIPS}/s: ${rt >= TARGET_ROUND_TRIPS ? 'PASS' : 'FAIL'}`);
  console.log(footer(started));
  if (!ratioOk) process.exitCode = 1;
}

await main();
