/**
 * tshark as an independent second decoder of our binary PDUs (spec §i).
 *
 * Each tsharkDecode* call writes ONE pcap (./pcap.ts) holding all the PDUs it
 * is given, runs tshark ONCE on it (tshark needs about a second to start) and
 * returns one TsharkPacket per captured frame, in frame order.
 *
 *   tsharkDecodeWspPushes(pushes)   each push PDU (TID first) as the payload of
 *                                   UDP 127.0.0.1:9200 → :2948 (connectionless WSP)
 *   tsharkDecodeMmsPdus(pdus)       each bare MMS PDU behind the push prefix
 *                                   01 06 03 BE AF 84, then as above
 *   tsharkDecodeSmppUserData(msgs, destination)
 *                                   each SMS user data (UDH + WSP octets) as the
 *                                   short_message of a submit_sm on TCP → 2775
 *                                   (esm_class 0x40, data_coding 0x04); one frame
 *                                   per segment, all in one TCP stream, so tshark
 *                                   reassembles concatenated WAP pushes. The
 *                                   reassembled WSP/MMSE fields appear in the frame
 *                                   of the LAST segment of each message (use a
 *                                   different concatenation reference per message).
 *
 * Command line: tshark -n -r FILE -T json --no-duplicate-keys
 *   -d udp.port==2948,wsp   (`wsp` on a UDP port is the connectionless dissector
 *                            with the TID octet; 2948 is also its default port,
 *                            the -d only guards against a user's decode-as settings)
 *   -d tcp.port==2775,smpp  (SMPP has no default port)
 * with WIRESHARK_CONFIG_DIR pointing at an empty temporary directory so a
 * personal Wireshark profile cannot change the result.
 *
 * TsharkPacket.fields maps every tshark field name seen in the frame (all
 * layers, nested subtrees flattened) to ALL its values in tree order, as
 * tshark's JSON prints them (strings; an FT_NONE field is present with the
 * value ''). Protocol layer objects themselves are not fields: use
 * fields['frame.protocols'] (e.g. 'eth:ethertype:ip:udp:wsp:mmse').
 * `malformed` is true when the frame has `_ws.malformed` or any expert info of
 * severity warning or error; `expert` lists every expert info as
 * '<severity>: <message>' (severity: error | warning | note | chat | comment).
 *
 * How the fields appear in tshark 4.0.17's `-T json` — MEASURED on this
 * machine, not guessed. Values are always JSON strings; the JSON carries the
 * raw value, never the label that `-V` shows ("m-notification-ind (0x82)",
 * "Personal (0x80)"):
 *
 *   field                          JSON value (example)
 *   mmse.message_type              hex octet, lower case: '0x82' (m-notification-ind),
 *                                  '0x80' m-send-req, '0x84' m-retrieve-conf. Unknown
 *                                  types (0x94–0x97) still show as '0x94', no error
 *   mmse.transaction_id            'A1b2C3'
 *   mmse.mms_version               'major.minor': 0x90 → '1.0', 0x92 → '1.2', 0x93 → '1.3'
 *   mmse.from                      '+4475550123/TYPE=PLMN'; insert-address (89 01 81) →
 *                                  '<insert address>'
 *   mmse.to / mmse.cc / mmse.bcc   one value per header occurrence, in order
 *   mmse.subject                   the text only, the charset is not shown anywhere.
 *                                  `96 07 EA "Photo"` → 'Photo'. An Encoded-string-value WITH
 *                                  a charset is read as ASCII whatever the charset: each octet
 *                                  ≥ 0x80 becomes U+FFFD ('Café' in utf-8 → 'Caf\uFFFD\uFFFD';
 *                                  use tsharkAsciiView(ours) to compare). A multi-octet
 *                                  charset (ucs-2 `02 03 E8`) is misread. A plain Text-string
 *                                  (no charset) IS decoded as UTF-8 ('Café' → 'Café').
 *                                  Same for mmse.response_text / mmse.retrieve_text
 *   mmse.message_class.id          token as hex octet: Personal '0x80', Advertisement '0x81',
 *                                  Informational '0x82', Auto '0x83'
 *   mmse.message_class.str         a Token-text class instead of .id: 'custom'
 *   mmse.message_size              decimal: '31000'
 *   mmse.expiry.rel                relative: seconds with 9 decimals: '172800.000000000'.
 *                                  A Short-integer delta (`88 02 81 90`) is NOT understood:
 *                                  it shows '0.000000000', without any expert info
 *   mmse.expiry.abs                absolute: 'Sep  9, 2001 01:46:40.000000000 UTC' (day
 *                                  padded with a space; UTC because tshark runs with TZ=UTC)
 *   mmse.delivery_time.rel/.abs, mmse.reply_charging_deadline.rel/.abs   as expiry
 *   mmse.date                      as expiry.abs: 'Nov 14, 2023 22:13:20.000000000 UTC'
 *   mmse.content_location          the URI text
 *   mmse.message_id                the text
 *   mmse.priority, .delivery_report, .read_report, .report_allowed, .sender_visibility,
 *   .status, .response_status, .retrieve_status, .read_status, .reply_charging
 *                                  the token as hex octet: priority High → '0x82',
 *                                  Yes → '0x80', No → '0x81'
 *   (MMS 1.3 headers 0x34–0x3F)    not known: a short-integer value lands in
 *                                  mmse.header.uint as decimal ('129' for 0x81), a text value
 *                                  in mmse.header.string; the header number appears only in
 *                                  the -V label "Unknown field (0xba)"
 *   mmse.ffheader                  an application header (Token-text name + value)
 *   A Text-string behind the 0x7F Quote in an MMS header (transaction id, message id,
 *   from, content location, subject): the 0x7F is dropped and the rest decoded as UTF-8
 *   ('\x7F' 'éX' → 'éX') — the quirk of spec §i does NOT occur in mmse.* fields.
 *
 *   wsp.TID / wsp.pdu_type         '0x07' / '0x06'
 *   wsp.headers_length             decimal '3'
 *   wsp.header.content_type        all Content-Types in tree order: the push's
 *                                  ('application/vnd.wap.mms-message'), then the MMS body's
 *                                  ('application/vnd.wap.multipart.related'), then each part's
 *                                  ('application/smil', 'text/plain')
 *   wsp.header.x_wap_application_id   'x-wap-application:mms.ua'
 *   wsp.parameter.start            '<smil>'; wsp.parameter.upart.type 'application/smil'
 *                                  (type= of multipart.related); wsp.parameter.charset 'UTF-8'
 *                                  (a label); wsp.parameter.type is the parameter NUMBER
 *                                  ('10' start, '9' type, '1' charset), not a type
 *   wsp.multipart                  part numbers '1', '2', …
 *   wsp.header.content_id          part Content-ID `C0 22 "<smil>" 00` → '"<smil>"', i.e.
 *                                  the Quoted-string's leading `"` AND an added trailing `"`
 *   wsp.header.content_location    part Content-Location text. In WSP (part) headers a
 *                                  Text-string behind 0x7F keeps the 0x7F, and octets ≥ 0x80
 *                                  become U+FFFD each ('\x7F' 'éx' → '\x7F\uFFFD\uFFFDx')
 *
 *   smpp.* (submit_sm)             smpp.command_id '0x00000004', smpp.destination_addr text,
 *                                  smpp.data_coding '0x04', smpp.sm_length decimal,
 *                                  smpp.esm.submit.features '0x01' (= UDHI of esm_class 0x40),
 *                                  smpp.message the user data as 'aa:bb:…'
 *   gsm_sms.destination_port / gsm_sms.originator_port   '2948' / '9200'
 *   gsm_sms.udh.mm.msg_id / .msg_parts / .msg_part       concatenation ref/total/part, decimal
 *   gsm_sms_ud.reassembled.length  on the frame that completes reassembly, decimal ('199');
 *                                  gsm_sms_ud.fragment lists the frame numbers of the parts
 *
 * Display quirks: normalise with tsharkText / tsharkAsciiView before comparing.
 */
import { execFile } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { pcapFile, tcpPacket, udpPacket } from './pcap.js';

/** Ports used for the frames (spec c.6, d.4). */
export const WSP_SERVER_PORT = 9200;
export const WSP_PUSH_PORT = 2948;
export const SMPP_PORT = 2775;
const SMPP_CLIENT_PORT = 40_000;
const TSHARK_TIMEOUT_MS = 30_000;

/** The minimal connectionless push prefix used by tsharkDecodeMmsPdus: TID 01, Push, HeadersLen 3, BE, AF 84. */
export const PUSH_PREFIX: readonly number[] = [0x01, 0x06, 0x03, 0xbe, 0xaf, 0x84];

export interface TsharkPacket {
  /** tshark's frame number, 1-based. */
  frame: number;
  /** Field name → all values of that field in the frame, in tree order. */
  fields: Record<string, string[]>;
  /** `_ws.malformed` present or an expert info of severity error/warning. */
  malformed: boolean;
  /** Every expert info, as '<severity>: <message>'. */
  expert: string[];
}

/** A frame of tsharkDecodeSmppUserData: which message (index into its argument) and segment it carries. */
export interface TsharkSmppPacket extends TsharkPacket {
  message: number;
  segment: number;
}

let cachedPath: string | null | undefined;

/** Absolute path of tshark ($TSHARK if set, else the first on $PATH), or null when absent. */
export function tsharkPath(): string | null {
  if (cachedPath !== undefined) return cachedPath;
  const candidates: string[] = [];
  const env = process.env['TSHARK'];
  if (env) candidates.push(env);
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (dir) candidates.push(join(dir, 'tshark'));
  }
  cachedPath = null;
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      if (!statSync(c).isFile()) continue;
      cachedPath = c;
      break;
    } catch {
      // not there, try the next
    }
  }
  return cachedPath;
}

/** The bits of a tap Test that requireTshark uses (both the root `t` and subtests fit). */
export interface TapAssertLike {
  fail(message: string): unknown;
  pass(message: string, extra: { skip: string }): unknown;
}

/**
 * True when tshark is available. When it is not: with MMSGW_REQUIRE_TSHARK=1
 * (CI sets it) the test FAILS with an explanation; otherwise a skipped
 * assertion is recorded ("# SKIP tshark not installed") and false returned —
 * the caller then returns early.
 */
export function requireTshark(t: TapAssertLike): boolean {
  if (tsharkPath() !== null) return true;
  if (process.env['MMSGW_REQUIRE_TSHARK'] === '1') {
    t.fail(
      'tshark is required (MMSGW_REQUIRE_TSHARK=1) but was not found on PATH or in $TSHARK; ' +
        'install it (Debian: apt-get install tshark) or unset MMSGW_REQUIRE_TSHARK',
    );
  } else {
    t.pass('decode with tshark', { skip: 'tshark not installed (set MMSGW_REQUIRE_TSHARK=1 to make this a failure)' });
  }
  return false;
}

/**
 * Undo tshark 4.0's display quirks on a string field value (spec §i) so it can
 * be compared with the value our codec decodes:
 *  - in WSP (part) headers a Text-string whose first octet is ≥ 0x80 is sent
 *    behind a 0x7F Quote octet and tshark keeps that 0x7F: it is dropped here
 *    (mmse.* fields already drop it);
 *  - a Quoted-string (a part's Content-ID `C0 22 "<a>" 00`) is shown as
 *    `"<a>"`, with its leading `"` and an added trailing one: both are dropped.
 * Anything else is returned unchanged. It does NOT undo U+FFFD replacement of
 * non-ASCII octets: for those compare with tsharkAsciiView(ours).
 */
export function tsharkText(value: string): string {
  if (value.startsWith('\u007f')) return value.slice(1);
  if (value.startsWith('"')) return value.length > 1 && value.endsWith('"') ? value.slice(1, -1) : value.slice(1);
  return value;
}

/**
 * What tshark shows for `text` where it reads octets as ASCII (an MMS
 * Encoded-string-value with a charset, any WSP header text): the UTF-8
 * encoding of `text` with every octet ≥ 0x80 replaced by U+FFFD. Compare
 * `tsharkText(fields['mmse.subject'][0])` with `tsharkAsciiView(ourSubject)`.
 */
export function tsharkAsciiView(text: string): string {
  let out = '';
  for (const octet of Buffer.from(text, 'utf8')) out += octet < 0x80 ? String.fromCharCode(octet) : '\ufffd';
  return out;
}

/** Decode connectionless WSP push PDUs (TID first), one UDP 9200 → 2948 frame each. */
export async function tsharkDecodeWspPushes(pushPdus: Uint8Array[]): Promise<TsharkPacket[]> {
  const frames = pushPdus.map((p) => udpPacket(p, WSP_SERVER_PORT, WSP_PUSH_PORT));
  return runTshark(frames);
}

/** Decode bare MMS PDUs, each wrapped behind PUSH_PREFIX into a UDP 9200 → 2948 frame. */
export async function tsharkDecodeMmsPdus(pdus: Uint8Array[]): Promise<TsharkPacket[]> {
  return tsharkDecodeWspPushes(pdus.map((p) => Buffer.concat([Buffer.from(PUSH_PREFIX), p])));
}

/**
 * Decode SMS user data (UDH + payload, ≤ 254 octets each) sent in submit_sm
 * PDUs over one TCP stream to port 2775. `segmentsPerMessage[m][s]` is segment
 * s of message m; frames are in that order, one per segment, and the result
 * has one entry per frame with its `message`/`segment` indexes.
 */
export async function tsharkDecodeSmppUserData(
  segmentsPerMessage: Uint8Array[][],
  destination: string,
): Promise<TsharkSmppPacket[]> {
  const frames: Buffer[] = [];
  const origin: { message: number; segment: number }[] = [];
  let seq = 1;
  segmentsPerMessage.forEach((segments, message) => {
    segments.forEach((userData, segment) => {
      const pdu = submitSm(userData, destination, frames.length + 1);
      frames.push(tcpPacket(pdu, SMPP_CLIENT_PORT, SMPP_PORT, seq));
      origin.push({ message, segment });
      seq = (seq + pdu.length) % 2 ** 32;
    });
  });
  const packets = await runTshark(frames);
  return packets.map((p, i) => {
    const o = origin[i];
    if (!o) throw new Error(`tshark returned more frames than written`);
    return { ...p, ...o };
  });
}

/** SMPP 3.4 submit_sm as in spec h.1: source MMSC (TON 5), destination TON 1/NPI 1, esm_class 0x40, data_coding 0x04. */
function submitSm(userData: Uint8Array, destination: string, sequence: number): Buffer {
  if (userData.length > 254) throw new RangeError(`short_message of ${userData.length} octets exceeds 254`);
  const cstr = (s: string): Buffer => Buffer.concat([Buffer.from(s, 'latin1'), Buffer.of(0)]);
  const body = Buffer.concat([
    cstr(''), // service_type
    Buffer.of(0x05, 0x00),
    cstr('MMSC'), // source_addr_ton, npi, source_addr
    Buffer.of(0x01, 0x01),
    cstr(destination), // dest_addr_ton, npi, destination_addr
    Buffer.of(0x40, 0x00, 0x00), // esm_class UDHI, protocol_id, priority_flag
    cstr(''),
    cstr(''), // schedule_delivery_time, validity_period
    Buffer.of(0x00, 0x00, 0x04, 0x00, userData.length), // registered_delivery, replace_if_present, data_coding, sm_default_msg_id, sm_length
    Buffer.from(userData),
  ]);
  const header = Buffer.alloc(16);
  header.writeUInt32BE(16 + body.length, 0);
  header.writeUInt32BE(0x00000004, 4); // submit_sm
  header.writeUInt32BE(0, 8);
  header.writeUInt32BE(sequence, 12);
  return Buffer.concat([header, body]);
}

const SEVERITY: Record<string, string> = {
  '8388608': 'error', // PI_ERROR 0x00800000
  '6291456': 'warning', // PI_WARN 0x00600000
  '4194304': 'note', // PI_NOTE 0x00400000
  '2097152': 'chat', // PI_CHAT 0x00200000
  '1048576': 'comment', // PI_COMMENT 0x00100000
};

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

function isObject(v: Json | undefined): v is { [key: string]: Json } {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Write the frames to a temporary pcap, run tshark once, parse its JSON. */
async function runTshark(frames: Buffer[]): Promise<TsharkPacket[]> {
  const tshark = tsharkPath();
  if (tshark === null) throw new Error('tshark not found (check requireTshark(t) first)');
  if (frames.length === 0) return [];
  const dir = await mkdtemp(join(tmpdir(), 'mmsgw-tshark-'));
  try {
    const file = join(dir, 'pdus.pcap');
    await writeFile(file, pcapFile(frames));
    const configDir = join(dir, 'config');
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(
        tshark,
        [
          '-n',
          '-r', file,
          '-T', 'json',
          '--no-duplicate-keys',
          '-d', `udp.port==${WSP_PUSH_PORT},wsp`,
          '-d', `tcp.port==${SMPP_PORT},smpp`,
        ],
        {
          timeout: TSHARK_TIMEOUT_MS,
          killSignal: 'SIGKILL',
          maxBuffer: 512 * 1024 * 1024,
          encoding: 'utf8',
          env: { ...process.env, WIRESHARK_CONFIG_DIR: configDir, TZ: 'UTC', LC_ALL: 'C.UTF-8' },
        },
        (error, out, err) => {
          if (error) reject(new Error(`tshark failed: ${error.message}\n${err}`));
          else resolve(out);
        },
      );
    });
    const parsed = JSON.parse(stdout) as Json;
    if (!Array.isArray(parsed)) throw new Error('tshark -T json did not print an array');
    const packets = parsed.map(toPacket);
    if (packets.length !== frames.length) {
      throw new Error(`tshark decoded ${packets.length} frames, ${frames.length} were written`);
    }
    return packets;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function toPacket(entry: Json): TsharkPacket {
  const source = isObject(entry) ? entry['_source'] : undefined;
  const layers = isObject(source) ? source['layers'] : undefined;
  if (!isObject(layers)) throw new Error('unexpected tshark JSON: no _source.layers');
  const fields: Record<string, string[]> = {};
  const expert: string[] = [];
  let malformed = false;

  const add = (name: string, value: string): void => {
    (fields[name] ??= []).push(value);
  };
  const addExpert = (info: { [key: string]: Json }): void => {
    const message = info['_ws.expert.message'];
    const severityCode = info['_ws.expert.severity'];
    const severity = typeof severityCode === 'string' ? (SEVERITY[severityCode] ?? severityCode) : 'unknown';
    if (severity === 'error' || severity === 'warning') malformed = true;
    expert.push(`${severity}: ${typeof message === 'string' ? message : ''}`);
  };
  const walk = (node: { [key: string]: Json }): void => {
    for (const [key, value] of Object.entries(node)) {
      for (const v of Array.isArray(value) ? value : [value]) {
        if (typeof v === 'string') add(key, v);
        else if (typeof v === 'number' || typeof v === 'boolean') add(key, String(v));
        else if (isObject(v)) {
          if (key === '_ws.expert') addExpert(v);
          if (key === '_ws.malformed') malformed = true;
          walk(v);
        }
      }
    }
  };
  walk(layers);
  if (fields['_ws.malformed'] !== undefined) malformed = true;
  const frame = Number(fields['frame.number']?.[0]);
  return { frame, fields, malformed, expert };
}
