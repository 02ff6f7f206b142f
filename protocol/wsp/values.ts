import { ProtocolError } from '../errors.js';
import { decodeCharset, encodeCharset, MIB } from './charset.js';
import type { WspReader } from './reader.js';
import { CHARSETS, CONTENT_TYPES, ENCODED_PARAMETERS, MAX_ENCODED_CONTENT_TYPE, PARAMETERS } from './tables.js';
import type { WspWriter } from './writer.js';

/**
 * Encoded-string-value (WSP-230 §8.4.2.1 / OMA-MMS-ENC §7.2.9): text with
 * an optional charset. `charset` is the IANA MIBenum; absent means the
 * plain Text-string form was (or will be) used.
 */
export interface EncodedString {
  text: string;
  charset?: number;
}

export function readEncodedString(r: WspReader, field: string): EncodedString {
  const first = r.peek(field);
  if (first > 31) return { text: r.textString(field) };
  const sub = r.sub(r.valueLength(field), field);
  const charset = sub.peek(field) === 0x80 ? (sub.u8(field), 0) : sub.integerValue(field);
  if (sub.remaining > 0 && sub.buf[sub.offset] === 0x7f) sub.u8(field);
  // The text runs to the end of the Value-length, NUL included. Searching for
  // the first NUL instead would cut UCS-2 text at its first high zero octet.
  const octets = sub.rest();
  if (octets.length === 0 || octets[octets.length - 1] !== 0) {
    r.fail('BAD_VALUE', field, 'Encoded-string-value text is not NUL-terminated', sub.end - 1);
  }
  return { text: decodeCharset(octets.subarray(0, octets.length - 1), charset), charset };
}

export function writeEncodedString(w: WspWriter, value: EncodedString, field: string): void {
  // The plain form cannot hold an empty text or one starting below 0x20 (the
  // first octet would read as a Value-length): those go out as UTF-8.
  const plain = value.charset === undefined && value.text.length > 0 && value.text.charCodeAt(0) >= 0x20;
  if (plain) {
    w.textString(value.text, field);
    return;
  }
  const charset = value.charset ?? MIB.utf8;
  const octets = encodeCharset(value.text, charset, field);
  w.withValueLength((w) => {
    w.integerValue(charset, field);
    // Quote also a leading 0x7F so that the reader's quote removal is exact.
    // Here a first octet below 0x20 is fine: the Value-length bounds the text.
    if (octets.length > 0 && octets[0]! >= 0x7f) w.u8(0x7f);
    w.bytes(octets).u8(0);
  });
}

/** Date-value: Long-integer seconds since 1970-01-01T00:00:00Z. */
export function readDate(r: WspReader, field: string): Date {
  return new Date(r.longInteger(field) * 1000);
}

export function writeDate(w: WspWriter, date: Date, field: string): void {
  const ms = date.getTime();
  if (!Number.isFinite(ms) || ms < 0) throw new ProtocolError('BAD_VALUE', field, 'date must be at or after 1970-01-01');
  w.longInteger(Math.floor(ms / 1000), field);
}

/** A content-type parameter. Well-known names come back by their spec name. */
export interface ContentTypeParam {
  /** Spec name (`charset`, `type`, `start`, …), a Token-text, or the code of an unassigned well-known parameter. */
  name: string | number;
  /** `charset` by its name (e.g. `utf-8`) or MIBenum when unknown; integers as numbers; text otherwise. */
  value: string | number;
}

export interface ContentType {
  /** Media type, e.g. `image/jpeg`; a number for an unassigned well-known code. */
  mediaType: string | number;
  params: ContentTypeParam[];
}

/** Q-value (WSP-230 §8.4.2.3): a uintvar, 1–100 for two decimals, 101–1099 for three. */
function qToString(q: number): string {
  if (q >= 1 && q <= 100) return String((q - 1) / 100);
  if (q >= 101 && q <= 1099) return String((q - 100) / 1000);
  return String(q);
}

function qFromString(s: string, field: string): number {
  const q = Number(s);
  if (!(q >= 0 && q < 1)) throw new ProtocolError('BAD_VALUE', field, `q=${s} is outside 0–1`);
  const two = Math.round(q * 100);
  return Math.abs(two / 100 - q) < 1e-9 ? two + 1 : Math.round(q * 1000) + 100;
}

/** Text-value: No-value (0x00), Quoted-string or Token-text. */
function readTextValue(r: WspReader, field: string): string {
  const first = r.peek(field);
  if (first === 0) {
    r.u8(field);
    return '';
  }
  return first === 0x22 ? r.quotedString(field) : r.textString(field);
}

/** Integer-value or Text-value, the shape of untyped and unassigned parameters. */
function readUntypedValue(r: WspReader, field: string): string | number {
  const first = r.peek(field);
  if (first >= 0x80 || (first >= 1 && first <= 30)) return r.integerValue(field);
  if (first === 31) return r.fail('UNSUPPORTED', field, 'length-quoted parameter value');
  return readTextValue(r, field);
}

const TOKEN = /^[!#$%&'*+\-.0-9A-Z^_`a-z|~]+$/;

function writeTextValue(w: WspWriter, value: string, field: string): void {
  if (value === '') w.u8(0);
  else if (TOKEN.test(value)) w.textString(value, field);
  else w.quotedString(value, field);
}

export function readParam(r: WspReader): ContentTypeParam {
  const field = 'Content-Type parameter';
  const first = r.peek(field);
  if (first >= 0x20 && first < 0x80) {
    return { name: r.tokenText(field), value: readUntypedValue(r, field) };
  }
  const code = r.integerValue(field);
  const name = PARAMETERS.name(code) ?? code;
  switch (code) {
    case 0x00:
      return { name, value: qToString(r.uintvar(field)) };
    case 0x01: {
      const mib = r.peek(field) === 0x80 ? (r.u8(field), 0) : r.integerValue(field);
      return { name, value: CHARSETS.name(mib) ?? mib };
    }
    case 0x09: {
      // Constrained-encoding: a media type as text or as a well-known code.
      if (r.peek(field) >= 0x80) {
        const typeCode = r.shortInteger(field);
        return { name, value: CONTENT_TYPES.name(typeCode) ?? typeCode };
      }
      return { name, value: r.textString(field) };
    }
    case 0x05:
    case 0x06:
    case 0x0a:
    case 0x0b:
    case 0x0c:
    case 0x0d:
    case 0x0f:
      return { name, value: r.textString(field) };
    case 0x12:
    case 0x17:
    case 0x18:
    case 0x19:
    case 0x1a:
    case 0x1b:
    case 0x1c:
    case 0x1d:
      return { name, value: readTextValue(r, field) };
    default:
      return { name, value: readUntypedValue(r, field) };
  }
}

export function writeParam(w: WspWriter, p: ContentTypeParam): void {
  const field = `Content-Type parameter ${p.name}`;
  if (typeof p.name === 'number') {
    w.integerValue(p.name, field);
    if (typeof p.value === 'number') w.integerValue(p.value, field);
    else w.textString(p.value, field);
    return;
  }
  const key = p.name.toLowerCase();
  const code = ENCODED_PARAMETERS[key];
  if (key === 'q') {
    w.shortInteger(0x00, field).uintvar(qFromString(String(p.value), field), field);
    return;
  }
  if (code === undefined) {
    w.tokenText(p.name, field);
    if (typeof p.value === 'number') w.integerValue(p.value, field);
    else writeTextValue(w, p.value, field);
    return;
  }
  w.shortInteger(code, field);
  if (key === 'charset') {
    const mib = typeof p.value === 'number' ? p.value : CHARSETS.code(p.value);
    if (mib === undefined) throw new ProtocolError('BAD_VALUE', field, `unknown charset "${p.value}"`);
    if (mib === 0) w.u8(0x80);
    else w.integerValue(mib, field);
    return;
  }
  w.textString(String(p.value), field);
}

/**
 * Content-type-value (WSP-230 §8.4.2.24): Constrained-media (a well-known
 * code or a bare Extension-media text) or the general form, a Value-length
 * around the media type and its parameters.
 */
export function readContentType(r: WspReader, field = 'Content-Type'): ContentType {
  const first = r.peek(field);
  if (first >= 0x80) {
    const code = r.shortInteger(field);
    return { mediaType: CONTENT_TYPES.name(code) ?? code, params: [] };
  }
  if (first >= 0x20) return { mediaType: r.textString(field), params: [] };
  const sub = r.sub(r.valueLength(field), field);
  let mediaType: string | number;
  const media = sub.peek(field);
  if (media >= 0x80 || media < 0x20) {
    const code = sub.integerValue(field);
    mediaType = CONTENT_TYPES.name(code) ?? code;
  } else {
    mediaType = sub.textString(field);
  }
  const params: ContentTypeParam[] = [];
  while (!sub.atEnd) params.push(readParam(sub));
  return { mediaType, params };
}

export function writeContentType(w: WspWriter, ct: ContentType, field = 'Content-Type'): void {
  let code: number | undefined;
  if (typeof ct.mediaType === 'number') code = ct.mediaType;
  else {
    const known = CONTENT_TYPES.code(ct.mediaType);
    if (known !== undefined && known <= MAX_ENCODED_CONTENT_TYPE) code = known;
  }
  if (ct.params.length === 0 && (code === undefined || code < 0x80)) {
    if (code !== undefined) w.shortInteger(code, field);
    else w.textString(ct.mediaType as string, field);
    return;
  }
  w.withValueLength((w) => {
    if (code !== undefined) w.integerValue(code, field);
    else w.textString(ct.mediaType as string, field);
    for (const p of ct.params) writeParam(w, p);
  });
}

/** The value of a parameter by name (case-insensitive), as a string. */
export function paramValue(ct: ContentType, name: string): string | undefined {
  const want = name.toLowerCase();
  for (const p of ct.params) {
    if (typeof p.name === 'string' && p.name.toLowerCase() === want) return String(p.value);
  }
  return undefined;
}

/** MIBenum of the `charset` parameter, or undefined when absent. */
export function contentTypeCharset(ct: ContentType): number | undefined {
  const p = ct.params.find((p) => p.name === 'charset');
  if (!p) return undefined;
  return typeof p.value === 'number' ? p.value : CHARSETS.code(p.value) ?? MIB.utf8;
}

/**
 * `image/jpeg; name="a.jpg"` style text, for logs and the CLI's JSON.
 * Text values are quoted, integers bare, unassigned codes as `0x..`;
 * `parseContentType` reads it back to the same value.
 */
export function formatContentType(ct: ContentType): string {
  const code = (n: number): string => `0x${n.toString(16)}`;
  const base = typeof ct.mediaType === 'number' ? code(ct.mediaType) : ct.mediaType;
  const params = ct.params.map((p) => `${typeof p.name === 'number' ? code(p.name) : p.name}=${typeof p.value === 'number' ? p.value : JSON.stringify(p.value)}`);
  return [base, ...params].join('; ');
}

const PARAM_TEXT = /;\s*([^=;\s]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;"]*)/y;

export function parseContentType(text: string, field = 'Content-Type'): ContentType {
  const semi = text.indexOf(';');
  const base = (semi < 0 ? text : text.slice(0, semi)).trim();
  if (base === '') throw new ProtocolError('BAD_VALUE', field, 'empty media type');
  const fromCode = (s: string): string | number => (/^0x[0-9a-f]+$/i.test(s) ? parseInt(s, 16) : s);
  const params: ContentTypeParam[] = [];
  let rest = semi < 0 ? '' : text.slice(semi);
  while (rest.trim() !== '') {
    PARAM_TEXT.lastIndex = 0;
    const m = PARAM_TEXT.exec(rest);
    if (!m) throw new ProtocolError('BAD_VALUE', field, `cannot parse parameters "${rest.trim()}"`);
    const raw = m[2]!.trim();
    const value = raw.startsWith('"') ? (JSON.parse(raw) as string) : /^[0-9]+$/.test(raw) ? Number(raw) : raw;
    params.push({ name: fromCode(m[1]!), value });
    rest = rest.slice(PARAM_TEXT.lastIndex);
  }
  return { mediaType: fromCode(base), params };
}
