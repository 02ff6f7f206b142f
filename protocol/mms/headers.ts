import { ProtocolError } from '../errors.js';
import type { WspReader } from '../wsp/reader.js';
import { CodeTable } from '../wsp/tables.js';
import { readContentType, readDate, readEncodedString, writeContentType, writeDate, writeEncodedString, type EncodedString } from '../wsp/values.js';
import type { WspWriter } from '../wsp/writer.js';
import type { MmsHeaders, MmFlag, PreviouslySentBy, PreviouslySentDate, TimeValue } from './model.js';
import {
  CANCEL_STATUS,
  CONTENT_CLASS,
  MESSAGE_CLASS,
  MESSAGE_TYPE,
  MM_FLAGS_ACTION,
  MM_STATE,
  PRIORITY,
  READ_STATUS,
  RECOMMENDED_RETRIEVAL_MODE,
  REPLY_CHARGING,
  RESPONSE_STATUS,
  RETRIEVE_STATUS,
  SENDER_VISIBILITY,
  STATUS,
  STORE_STATUS,
} from './tables.js';

/** How a header's value is encoded (ENC §7.2, spec digest §b.3). */
export type HeaderKind =
  | 'message-type'
  | 'text'
  | 'encoded-string'
  | 'from'
  | 'date'
  | 'time-value'
  | 'long-integer'
  | 'integer'
  | 'version'
  | 'yes-no'
  | 'token'
  | 'class'
  | 'content-type'
  | 'previously-sent-by'
  | 'previously-sent-date'
  | 'mm-flags'
  | 'short-integer'
  | 'opaque';

export interface HeaderDef {
  /** Assigned number; on the wire it is `code | 0x80`. */
  code: number;
  /** The ENC name, used in errors and in the CLI's JSON. */
  name: string;
  /** The model field; absent for opaque headers, which land in `otherHeaders`. */
  key?: keyof MmsHeaders;
  kind: HeaderKind;
  table?: CodeTable;
  /** Repeated once per value on the wire; an array in the model. */
  repeatable?: boolean;
}

/** ENC §7.4 Table 12, assigned numbers 0x01–0x3F. */
export const HEADERS: readonly HeaderDef[] = [
  { code: 0x01, name: 'Bcc', key: 'bcc', kind: 'encoded-string', repeatable: true },
  { code: 0x02, name: 'Cc', key: 'cc', kind: 'encoded-string', repeatable: true },
  { code: 0x03, name: 'X-Mms-Content-Location', key: 'contentLocation', kind: 'text' },
  { code: 0x04, name: 'Content-Type', key: 'contentType', kind: 'content-type' },
  { code: 0x05, name: 'Date', key: 'date', kind: 'date' },
  { code: 0x06, name: 'X-Mms-Delivery-Report', key: 'deliveryReport', kind: 'yes-no' },
  { code: 0x07, name: 'X-Mms-Delivery-Time', key: 'deliveryTime', kind: 'time-value' },
  { code: 0x08, name: 'X-Mms-Expiry', key: 'expiry', kind: 'time-value' },
  { code: 0x09, name: 'From', key: 'from', kind: 'from' },
  { code: 0x0a, name: 'X-Mms-Message-Class', key: 'messageClass', kind: 'class', table: MESSAGE_CLASS },
  { code: 0x0b, name: 'Message-ID', key: 'messageId', kind: 'text' },
  { code: 0x0c, name: 'X-Mms-Message-Type', key: 'messageType', kind: 'message-type', table: MESSAGE_TYPE },
  { code: 0x0d, name: 'X-Mms-MMS-Version', key: 'mmsVersion', kind: 'version' },
  { code: 0x0e, name: 'X-Mms-Message-Size', key: 'messageSize', kind: 'long-integer' },
  { code: 0x0f, name: 'X-Mms-Priority', key: 'priority', kind: 'token', table: PRIORITY },
  { code: 0x10, name: 'X-Mms-Read-Report', key: 'readReport', kind: 'yes-no' },
  { code: 0x11, name: 'X-Mms-Report-Allowed', key: 'reportAllowed', kind: 'yes-no' },
  { code: 0x12, name: 'X-Mms-Response-Status', key: 'responseStatus', kind: 'token', table: RESPONSE_STATUS },
  { code: 0x13, name: 'X-Mms-Response-Text', key: 'responseText', kind: 'encoded-string' },
  { code: 0x14, name: 'X-Mms-Sender-Visibility', key: 'senderVisibility', kind: 'token', table: SENDER_VISIBILITY },
  { code: 0x15, name: 'X-Mms-Status', key: 'status', kind: 'token', table: STATUS },
  { code: 0x16, name: 'Subject', key: 'subject', kind: 'encoded-string' },
  { code: 0x17, name: 'To', key: 'to', kind: 'encoded-string', repeatable: true },
  { code: 0x18, name: 'X-Mms-Transaction-Id', key: 'transactionId', kind: 'text' },
  { code: 0x19, name: 'X-Mms-Retrieve-Status', key: 'retrieveStatus', kind: 'token', table: RETRIEVE_STATUS },
  { code: 0x1a, name: 'X-Mms-Retrieve-Text', key: 'retrieveText', kind: 'encoded-string' },
  { code: 0x1b, name: 'X-Mms-Read-Status', key: 'readStatus', kind: 'token', table: READ_STATUS },
  { code: 0x1c, name: 'X-Mms-Reply-Charging', key: 'replyCharging', kind: 'token', table: REPLY_CHARGING },
  { code: 0x1d, name: 'X-Mms-Reply-Charging-Deadline', key: 'replyChargingDeadline', kind: 'time-value' },
  { code: 0x1e, name: 'X-Mms-Reply-Charging-ID', key: 'replyChargingId', kind: 'text' },
  { code: 0x1f, name: 'X-Mms-Reply-Charging-Size', key: 'replyChargingSize', kind: 'long-integer' },
  { code: 0x20, name: 'X-Mms-Previously-Sent-By', key: 'previouslySentBy', kind: 'previously-sent-by', repeatable: true },
  { code: 0x21, name: 'X-Mms-Previously-Sent-Date', key: 'previouslySentDate', kind: 'previously-sent-date', repeatable: true },
  { code: 0x22, name: 'X-Mms-Store', key: 'store', kind: 'yes-no' },
  { code: 0x23, name: 'X-Mms-MM-State', key: 'mmState', kind: 'token', table: MM_STATE, repeatable: true },
  { code: 0x24, name: 'X-Mms-MM-Flags', key: 'mmFlags', kind: 'mm-flags', repeatable: true },
  { code: 0x25, name: 'X-Mms-Store-Status', key: 'storeStatus', kind: 'token', table: STORE_STATUS },
  { code: 0x26, name: 'X-Mms-Store-Status-Text', key: 'storeStatusText', kind: 'encoded-string' },
  { code: 0x27, name: 'X-Mms-Stored', key: 'stored', kind: 'yes-no' },
  { code: 0x28, name: 'X-Mms-Attributes', key: 'attributes', kind: 'short-integer', repeatable: true },
  { code: 0x29, name: 'X-Mms-Totals', key: 'totals', kind: 'yes-no' },
  { code: 0x2a, name: 'X-Mms-Mbox-Totals', kind: 'opaque' },
  { code: 0x2b, name: 'X-Mms-Quotas', key: 'quotas', kind: 'yes-no' },
  { code: 0x2c, name: 'X-Mms-Mbox-Quotas', kind: 'opaque' },
  { code: 0x2d, name: 'X-Mms-Message-Count', key: 'messageCount', kind: 'integer' },
  { code: 0x2e, name: 'Content', kind: 'opaque' },
  { code: 0x2f, name: 'X-Mms-Start', key: 'start', kind: 'integer' },
  { code: 0x30, name: 'Additional-headers', kind: 'opaque' },
  { code: 0x31, name: 'X-Mms-Distribution-Indicator', key: 'distributionIndicator', kind: 'yes-no' },
  { code: 0x32, name: 'X-Mms-Element-Descriptor', kind: 'opaque' },
  { code: 0x33, name: 'X-Mms-Limit', key: 'limit', kind: 'integer' },
  { code: 0x34, name: 'X-Mms-Recommended-Retrieval-Mode', key: 'recommendedRetrievalMode', kind: 'token', table: RECOMMENDED_RETRIEVAL_MODE },
  { code: 0x35, name: 'X-Mms-Recommended-Retrieval-Mode-Text', key: 'recommendedRetrievalModeText', kind: 'encoded-string' },
  { code: 0x36, name: 'X-Mms-Status-Text', key: 'statusText', kind: 'encoded-string' },
  { code: 0x37, name: 'X-Mms-Applic-ID', key: 'applicId', kind: 'text' },
  { code: 0x38, name: 'X-Mms-Reply-Applic-ID', key: 'replyApplicId', kind: 'text' },
  { code: 0x39, name: 'X-Mms-Aux-Applic-Info', key: 'auxApplicInfo', kind: 'text' },
  { code: 0x3a, name: 'X-Mms-Content-Class', key: 'contentClass', kind: 'token', table: CONTENT_CLASS },
  { code: 0x3b, name: 'X-Mms-DRM-Content', key: 'drmContent', kind: 'yes-no' },
  { code: 0x3c, name: 'X-Mms-Adaptation-Allowed', key: 'adaptationAllowed', kind: 'yes-no' },
  { code: 0x3d, name: 'X-Mms-Replace-ID', key: 'replaceId', kind: 'text' },
  { code: 0x3e, name: 'X-Mms-Cancel-ID', key: 'cancelId', kind: 'text' },
  { code: 0x3f, name: 'X-Mms-Cancel-Status', key: 'cancelStatus', kind: 'token', table: CANCEL_STATUS },
];

export const HEADER_BY_CODE = new Map(HEADERS.map((h) => [h.code, h]));
export const HEADER_BY_KEY = new Map(HEADERS.filter((h) => h.key).map((h) => [h.key!, h]));
export const HEADER_BY_NAME = new Map(HEADERS.map((h) => [h.name.toLowerCase(), h]));

const YES = 0x80;
const NO = 0x81;
const ABSOLUTE = 0x80;
const RELATIVE = 0x81;
const ADDRESS_PRESENT = 0x80;
const INSERT_ADDRESS = 0x81;

function readToken(r: WspReader, def: HeaderDef): string | number {
  const at = r.offset;
  const octet = r.u8(def.name);
  if (octet < 0x80) r.fail('BAD_VALUE', def.name, `0x${octet.toString(16)} is not a token`, at);
  return def.table?.name(octet) ?? octet;
}

function writeToken(w: WspWriter, def: HeaderDef, value: unknown): void {
  const code = typeof value === 'number' ? value : def.table?.code(String(value));
  if (code === undefined || !Number.isInteger(code) || code < 0x80 || code > 0xff) {
    throw new ProtocolError('BAD_VALUE', def.name, `unknown value ${JSON.stringify(value)}`);
  }
  w.u8(code);
}

function readTimeValue(r: WspReader, field: string): TimeValue {
  const sub = r.sub(r.valueLength(field), field);
  const at = sub.offset;
  const token = sub.u8(field);
  let value: TimeValue;
  if (token === ABSOLUTE) value = { absolute: readDate(sub, field) };
  // Delta-seconds-value is a Long-integer; some encoders send a Short-integer.
  else if (token === RELATIVE) value = { relative: sub.integerValue(field) };
  else return sub.fail('BAD_VALUE', field, `0x${token.toString(16)} is neither Absolute nor Relative`, at);
  sub.expectEnd(field);
  return value;
}

function writeTimeValue(w: WspWriter, value: TimeValue, field: string): void {
  w.withValueLength((w) => {
    if ('absolute' in value) writeDate(w.u8(ABSOLUTE), value.absolute, field);
    else w.u8(RELATIVE).longInteger(value.relative, field);
  });
}

/** Version-value: Short-integer 0x80 | major << 4 | minor (minor 0x0F: none), or text. */
function readVersion(r: WspReader, field: string): string {
  if (r.peek(field) < 0x80) return r.textString(field);
  const v = r.shortInteger(field);
  const major = v >> 4;
  const minor = v & 0x0f;
  return minor === 0x0f ? String(major) : `${major}.${minor}`;
}

const VERSION_OCTETS = new Map([['1.0', 0x10], ['1.1', 0x11], ['1.2', 0x12], ['1.3', 0x13]]);

function writeVersion(w: WspWriter, version: string, field: string): void {
  const common = VERSION_OCTETS.get(version);
  if (common !== undefined) {
    w.shortInteger(common, field);
    return;
  }
  const m = /^(\d)(?:\.(\d{1,2}))?$/.exec(version);
  const major = m ? Number(m[1]) : NaN;
  const minor = m?.[2] === undefined ? 0x0f : Number(m[2]);
  if (major <= 7 && minor <= 15) w.shortInteger((major << 4) | minor, field);
  else w.textString(version, field);
}

function readFrom(r: WspReader, field: string): EncodedString | 'insert-address' {
  const sub = r.sub(r.valueLength(field), field);
  const at = sub.offset;
  const token = sub.u8(field);
  if (token === INSERT_ADDRESS) {
    sub.expectEnd(field);
    return 'insert-address';
  }
  if (token !== ADDRESS_PRESENT) sub.fail('BAD_VALUE', field, `0x${token.toString(16)} is neither Address-present nor Insert-address`, at);
  const address = readEncodedString(sub, field);
  sub.expectEnd(field);
  return address;
}

function writeFrom(w: WspWriter, from: EncodedString | 'insert-address', field: string): void {
  w.withValueLength((w) => {
    if (from === 'insert-address') w.u8(INSERT_ADDRESS);
    else writeEncodedString(w.u8(ADDRESS_PRESENT), from, field);
  });
}

/** A value this codec does not interpret, kept in its WSP shape (text, Short-integer, or length-prefixed octets). */
export function readOpaque(r: WspReader, field: string): string | number | Uint8Array {
  const first = r.peek(field);
  if (first >= 0x80) return r.shortInteger(field);
  if (first >= 0x20) return r.textString(field);
  return r.bytes(r.valueLength(field), field);
}

export function writeOpaque(w: WspWriter, value: string | number | Uint8Array, field: string): void {
  if (typeof value === 'string') w.textString(value, field);
  else if (typeof value === 'number') w.shortInteger(value, field);
  else w.valueLength(value.length).bytes(value);
}

/** Reads one value of the header's kind; the caller has consumed the header's name octet. */
export function readHeaderValue(r: WspReader, def: HeaderDef): unknown {
  const field = def.name;
  switch (def.kind) {
    case 'message-type': {
      const at = r.offset;
      const octet = r.u8(field);
      return def.table!.name(octet) ?? r.fail('BAD_VALUE', field, `unknown message type 0x${octet.toString(16)}`, at);
    }
    case 'text':
      return r.textString(field);
    case 'encoded-string':
      return readEncodedString(r, field);
    case 'from':
      return readFrom(r, field);
    case 'date':
      return readDate(r, field);
    case 'time-value':
      return readTimeValue(r, field);
    case 'long-integer':
      return r.longInteger(field);
    case 'integer':
      return r.integerValue(field);
    case 'short-integer':
      return r.shortInteger(field);
    case 'version':
      return readVersion(r, field);
    case 'yes-no': {
      const at = r.offset;
      const octet = r.u8(field);
      if (octet !== YES && octet !== NO) r.fail('BAD_VALUE', field, `0x${octet.toString(16)} is neither Yes nor No`, at);
      return octet === YES;
    }
    case 'token':
      return readToken(r, def);
    case 'class':
      return r.peek(field) >= 0x80 ? readToken(r, def) : r.tokenText(field);
    case 'content-type':
      return readContentType(r, field);
    case 'previously-sent-by': {
      const sub = r.sub(r.valueLength(field), field);
      const value: PreviouslySentBy = { forwardCount: sub.integerValue(field), address: readEncodedString(sub, field) };
      sub.expectEnd(field);
      return value;
    }
    case 'previously-sent-date': {
      const sub = r.sub(r.valueLength(field), field);
      const value: PreviouslySentDate = { forwardCount: sub.integerValue(field), date: readDate(sub, field) };
      sub.expectEnd(field);
      return value;
    }
    case 'mm-flags': {
      const sub = r.sub(r.valueLength(field), field);
      const at = sub.offset;
      const action = MM_FLAGS_ACTION.name(sub.u8(field));
      if (!action) sub.fail('BAD_VALUE', field, 'not Add, Remove or Filter', at);
      const value: MmFlag = { action: action as MmFlag['action'], flag: readEncodedString(sub, field) };
      sub.expectEnd(field);
      return value;
    }
    case 'opaque':
      return readOpaque(r, field);
  }
}

/** Writes one value of the header's kind (not its name octet). */
export function writeHeaderValue(w: WspWriter, def: HeaderDef, value: unknown): void {
  const field = def.name;
  const fail = (what: string): never => {
    throw new ProtocolError('BAD_VALUE', field, `expected ${what}, got ${JSON.stringify(value)}`);
  };
  switch (def.kind) {
    case 'message-type':
    case 'token':
      return writeToken(w, def, value);
    case 'class':
      if (typeof value === 'string' && def.table!.code(value) === undefined) {
        w.tokenText(value, field);
        return;
      }
      return writeToken(w, def, value);
    case 'text':
      if (typeof value !== 'string') fail('a string');
      w.textString(value as string, field);
      return;
    case 'encoded-string':
      if (typeof value !== 'object' || value === null || typeof (value as EncodedString).text !== 'string') fail('{ text, charset? }');
      return writeEncodedString(w, value as EncodedString, field);
    case 'from':
      return writeFrom(w, value as EncodedString | 'insert-address', field);
    case 'date':
      if (!(value instanceof Date)) fail('a Date');
      return writeDate(w, value as Date, field);
    case 'time-value':
      if (typeof value !== 'object' || value === null || !('absolute' in value || 'relative' in value)) fail('{ absolute } or { relative }');
      return writeTimeValue(w, value as TimeValue, field);
    case 'long-integer':
      w.longInteger(value as number, field);
      return;
    case 'integer':
      w.integerValue(value as number, field);
      return;
    case 'short-integer':
      w.shortInteger(value as number, field);
      return;
    case 'version':
      if (typeof value !== 'string') fail('a version string such as "1.2"');
      return writeVersion(w, value as string, field);
    case 'yes-no':
      if (typeof value !== 'boolean') fail('true or false');
      w.u8(value ? YES : NO);
      return;
    case 'content-type':
      return writeContentType(w, value as Parameters<typeof writeContentType>[1], field);
    case 'previously-sent-by': {
      const v = value as PreviouslySentBy;
      w.withValueLength((w) => writeEncodedString(w.integerValue(v.forwardCount, field), v.address, field));
      return;
    }
    case 'previously-sent-date': {
      const v = value as PreviouslySentDate;
      w.withValueLength((w) => writeDate(w.integerValue(v.forwardCount, field), v.date, field));
      return;
    }
    case 'mm-flags': {
      const v = value as MmFlag;
      const action = MM_FLAGS_ACTION.code(v.action) ?? fail('Add, Remove or Filter');
      w.withValueLength((w) => writeEncodedString(w.u8(action), v.flag, field));
      return;
    }
    case 'opaque':
      return writeOpaque(w, value as string | number | Uint8Array, field);
  }
}
