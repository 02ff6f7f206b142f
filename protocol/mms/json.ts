import { ProtocolError } from '../errors.js';
import { decodeCharset, encodeCharset } from '../wsp/charset.js';
import type { WspHeader, WspHeaderValue } from '../wsp/headers.js';
import type { MultipartEntry } from '../wsp/multipart.js';
import { CHARSETS } from '../wsp/tables.js';
import { contentTypeCharset, formatContentType, parseContentType, type ContentType, type EncodedString } from '../wsp/values.js';
import { headerOrder } from './codec.js';
import { HEADER_BY_KEY, HEADER_BY_NAME, type HeaderDef } from './headers.js';
import type { MmsPdu, OtherHeader, TimeValue } from './model.js';

/**
 * The JSON form of an MMS PDU that `mmsc pdu decode` prints and `mmsc pdu
 * encode` reads: every header under its ENC name, in wire order, values in
 * readable form; parts with their content type, headers, size and octets
 * (base64). `pduFromJson(pduToJson(x))` encodes to the same octets as x.
 */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

const INSERT_ADDRESS = 'insert-address';

function charsetJson(mib: number): Json {
  return CHARSETS.name(mib) ?? mib;
}

function encodedToJson(v: EncodedString): Json {
  return v.charset === undefined ? v.text : { text: v.text, charset: charsetJson(v.charset) };
}

function encodedFromJson(j: Json, field: string): EncodedString {
  if (typeof j === 'string') return { text: j };
  if (j && typeof j === 'object' && !Array.isArray(j) && typeof j.text === 'string') {
    const c = j.charset;
    if (c === undefined) return { text: j.text };
    const charset = typeof c === 'number' ? c : typeof c === 'string' ? CHARSETS.code(c) : undefined;
    if (charset === undefined) throw new ProtocolError('BAD_VALUE', field, `unknown charset ${JSON.stringify(c)}`);
    return { text: j.text, charset };
  }
  throw new ProtocolError('BAD_VALUE', field, 'expected a string or { "text", "charset" }');
}

function dateFromJson(j: Json, field: string): Date {
  const d = typeof j === 'string' || typeof j === 'number' ? new Date(j) : new Date(NaN);
  if (Number.isNaN(d.getTime())) throw new ProtocolError('BAD_VALUE', field, `${JSON.stringify(j)} is not a date`);
  return d;
}

function obj(j: Json, field: string): JsonObject {
  if (j && typeof j === 'object' && !Array.isArray(j)) return j;
  throw new ProtocolError('BAD_VALUE', field, 'expected an object');
}

export function rawToJson(v: WspHeaderValue): Json {
  return v instanceof Uint8Array ? { hex: Buffer.from(v).toString('hex') } : v;
}

export function rawFromJson(j: Json, field: string): WspHeaderValue {
  if (typeof j === 'string' || typeof j === 'number') return j;
  const o = obj(j, field);
  if (typeof o.hex !== 'string') throw new ProtocolError('BAD_VALUE', field, 'expected a string, a number or { "hex" }');
  return Buffer.from(o.hex, 'hex');
}

function valueToJson(def: HeaderDef, v: unknown): Json {
  switch (def.kind) {
    case 'encoded-string':
      return encodedToJson(v as EncodedString);
    case 'from':
      return v === INSERT_ADDRESS ? { [INSERT_ADDRESS]: true } : encodedToJson(v as EncodedString);
    case 'date':
      return (v as Date).toISOString();
    case 'time-value': {
      const t = v as TimeValue;
      return 'absolute' in t ? { absolute: t.absolute.toISOString() } : { relative: t.relative };
    }
    case 'content-type':
      return formatContentType(v as ContentType);
    case 'previously-sent-by': {
      const p = v as { forwardCount: number; address: EncodedString };
      return { forwardCount: p.forwardCount, address: encodedToJson(p.address) };
    }
    case 'previously-sent-date': {
      const p = v as { forwardCount: number; date: Date };
      return { forwardCount: p.forwardCount, date: p.date.toISOString() };
    }
    case 'mm-flags': {
      const p = v as { action: string; flag: EncodedString };
      return { action: p.action, flag: encodedToJson(p.flag) };
    }
    default:
      return v as Json;
  }
}

function valueFromJson(def: HeaderDef, j: Json): unknown {
  const field = def.name;
  switch (def.kind) {
    case 'encoded-string':
      return encodedFromJson(j, field);
    case 'from':
      return j && typeof j === 'object' && !Array.isArray(j) && j[INSERT_ADDRESS] === true ? INSERT_ADDRESS : encodedFromJson(j, field);
    case 'date':
      return dateFromJson(j, field);
    case 'time-value': {
      const o = obj(j, field);
      if (o.absolute !== undefined) return { absolute: dateFromJson(o.absolute, field) };
      if (typeof o.relative === 'number') return { relative: o.relative };
      throw new ProtocolError('BAD_VALUE', field, 'expected { "absolute": date } or { "relative": seconds }');
    }
    case 'content-type':
      if (typeof j !== 'string') throw new ProtocolError('BAD_VALUE', field, 'expected a content type string');
      return parseContentType(j, field);
    case 'previously-sent-by': {
      const o = obj(j, field);
      return { forwardCount: o.forwardCount, address: encodedFromJson(o.address ?? null, field) };
    }
    case 'previously-sent-date': {
      const o = obj(j, field);
      return { forwardCount: o.forwardCount, date: dateFromJson(o.date ?? null, field) };
    }
    case 'mm-flags': {
      const o = obj(j, field);
      return { action: o.action, flag: encodedFromJson(o.flag ?? null, field) };
    }
    default:
      return j;
  }
}

function isText(ct: ContentType): boolean {
  return typeof ct.mediaType === 'string' && /^(text\/|application\/smil)/i.test(ct.mediaType);
}

export function headersToJson(headers: readonly (WspHeader | OtherHeader)[]): Json[] {
  return headers.map((h) => ({ name: h.name, value: rawToJson(h.value) }));
}

export function headersFromJson(j: Json | undefined, field: string): WspHeader[] {
  if (j === undefined) return [];
  if (!Array.isArray(j)) throw new ProtocolError('BAD_VALUE', field, 'expected a list of { "name", "value" }');
  return j.map((h) => {
    const o = obj(h, field);
    if (typeof o.name !== 'string' && typeof o.name !== 'number') throw new ProtocolError('BAD_VALUE', field, 'header without a name');
    return { name: o.name, value: rawFromJson(o.value ?? null, String(o.name)) };
  });
}

export function partToJson(p: MultipartEntry): JsonObject {
  const out: JsonObject = { 'Content-Type': formatContentType(p.contentType) };
  if (p.headers.length > 0) out.headers = headersToJson(p.headers);
  out.size = p.data.length;
  if (isText(p.contentType)) out.text = decodeCharset(p.data, contentTypeCharset(p.contentType) ?? 106);
  out.data = Buffer.from(p.data).toString('base64');
  return out;
}

/** A part from JSON: `data` (base64) wins; `text` alone is encoded in the part's charset (UTF-8 by default). */
export function partFromJson(j: Json, field = 'part'): MultipartEntry {
  const o = obj(j, field);
  const ctText = o['Content-Type'];
  if (typeof ctText !== 'string') throw new ProtocolError('MISSING_HEADER', 'Content-Type', `${field} has no Content-Type`);
  const contentType = parseContentType(ctText);
  let data: Uint8Array;
  if (typeof o.data === 'string') data = Buffer.from(o.data, 'base64');
  else if (typeof o.text === 'string') data = encodeCharset(o.text, contentTypeCharset(contentType) ?? 106, field);
  else throw new ProtocolError('BAD_VALUE', field, 'needs "data" (base64) or "text"');
  return { contentType, headers: headersFromJson(o.headers, field), data };
}

export function pduToJson(pdu: MmsPdu): JsonObject {
  const out: JsonObject = {};
  for (const key of headerOrder(pdu)) {
    const def = HEADER_BY_KEY.get(key)!;
    const v = pdu[key];
    out[def.name] = def.repeatable ? (v as unknown[]).map((item) => valueToJson(def, item)) : valueToJson(def, v);
  }
  if (pdu.otherHeaders?.length) out['Other-Headers'] = headersToJson(pdu.otherHeaders);
  if (pdu.contentType) out['Content-Type'] = formatContentType(pdu.contentType);
  if (Array.isArray(pdu.body)) out.parts = pdu.body.map(partToJson);
  else if (pdu.body) out.body = { size: pdu.body.length, data: Buffer.from(pdu.body).toString('base64') };
  return out;
}

export function pduFromJson(j: Json): MmsPdu {
  const o = obj(j, 'PDU');
  const pdu: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(o)) {
    if (name === 'parts' || name === 'body' || name === 'Other-Headers') continue;
    const def = HEADER_BY_NAME.get(name.toLowerCase());
    if (!def?.key) throw new ProtocolError('BAD_VALUE', name, 'not an MMS header this codec models (use "Other-Headers")');
    if (def.repeatable) {
      const list = Array.isArray(value) ? value : [value];
      pdu[def.key] = list.map((item) => valueFromJson(def, item));
    } else {
      pdu[def.key] = valueFromJson(def, value);
    }
  }
  if (o['Other-Headers'] !== undefined) pdu.otherHeaders = headersFromJson(o['Other-Headers'], 'Other-Headers');
  if (Array.isArray(o.parts)) pdu.body = o.parts.map((p, i) => partFromJson(p, `part ${i + 1}`));
  else if (o.body !== undefined) {
    const b = obj(o.body, 'body');
    if (typeof b.data !== 'string') throw new ProtocolError('BAD_VALUE', 'body', 'needs "data" (base64)');
    pdu.body = Buffer.from(b.data, 'base64');
  }
  return pdu as unknown as MmsPdu;
}
