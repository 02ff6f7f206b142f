import { ProtocolError } from '../errors.js';
import type { WspReader } from './reader.js';
import { DISPOSITIONS, HEADER_FIELDS, PUSH_APPLICATIONS } from './tables.js';
import { formatContentType, parseContentType, readParam, writeParam, type ContentTypeParam } from './values.js';
import type { WspWriter } from './writer.js';

/**
 * A WSP header as found in multipart part headers and push PDUs.
 *
 * Values are decoded where the header's meaning is known (Content-ID,
 * Content-Disposition, X-Wap-Application-Id) and otherwise kept by shape:
 * text as a string, a Short-integer as a number, a length-prefixed value
 * as its raw octets. Every shape encodes back to the same octets.
 */
export type WspHeaderValue = string | number | Uint8Array;

export interface WspHeader {
  /** Spec name for well-known fields, Token-text for application headers, the code for an unassigned field. */
  name: string | number;
  value: WspHeaderValue;
}

const CONTENT_ID = 0x40;
const CONTENT_DISPOSITION = 0x2e;
const CONTENT_DISPOSITION_14 = 0x45;
const X_WAP_APPLICATION_ID = 0x2f;

function readRawOrScalar(r: WspReader, field: string): WspHeaderValue {
  const first = r.peek(field);
  if (first >= 0x80) return r.shortInteger(field);
  if (first >= 0x20) return r.textString(field);
  // 0–31: a Value-length (or Long-integer, the same shape) and its octets.
  return r.bytes(r.valueLength(field), field);
}

function readDisposition(r: WspReader, field: string): string {
  const sub = r.sub(r.valueLength(field), field);
  const first = sub.peek(field);
  const disposition = first >= 0x80 ? DISPOSITIONS.name(sub.shortInteger(field)) ?? 'attachment' : sub.tokenText(field);
  const params: ContentTypeParam[] = [];
  while (!sub.atEnd) params.push(readParam(sub));
  return formatContentType({ mediaType: disposition, params });
}

export function readHeader(r: WspReader): WspHeader {
  const start = r.offset;
  const first = r.peek('header');
  if (first >= 0x80) {
    const code = r.shortInteger('header');
    const name = HEADER_FIELDS.name(code) ?? code;
    const field = String(name);
    switch (code) {
      case CONTENT_ID:
        // Quoted-string by the spec; some encoders send a plain Text-string.
        return { name, value: r.peek(field) === 0x22 ? r.quotedString(field) : r.textString(field) };
      case CONTENT_DISPOSITION:
      case CONTENT_DISPOSITION_14:
        return { name, value: readDisposition(r, field) };
      case X_WAP_APPLICATION_ID: {
        const v = r.peek(field) >= 0x20 && r.peek(field) < 0x80 ? r.textString(field) : r.integerValue(field);
        return { name, value: typeof v === 'number' ? PUSH_APPLICATIONS.name(v) ?? v : v };
      }
      default:
        return { name, value: readRawOrScalar(r, field) };
    }
  }
  if (first >= 0x20 && first < 0x7f) {
    const name = r.tokenText('application header');
    return { name, value: r.textString(name) };
  }
  return r.fail('UNSUPPORTED', 'header', `header code page shift 0x${first.toString(16)} is not supported`, start);
}

/** Headers until the end of the reader's range. */
export function readHeaders(r: WspReader): WspHeader[] {
  const headers: WspHeader[] = [];
  while (!r.atEnd) headers.push(readHeader(r));
  return headers;
}

export function writeHeader(w: WspWriter, h: WspHeader): void {
  const field = String(h.name);
  const code = typeof h.name === 'number' ? h.name : HEADER_FIELDS.code(h.name);
  if (code === undefined) {
    if (typeof h.value !== 'string') {
      throw new ProtocolError('BAD_VALUE', field, 'an application header carries text only');
    }
    w.tokenText(h.name as string, field).textString(h.value, field);
    return;
  }
  w.shortInteger(code, field);
  const v = h.value;
  if (code === CONTENT_ID && typeof v === 'string') {
    w.quotedString(v, field);
  } else if ((code === CONTENT_DISPOSITION || code === CONTENT_DISPOSITION_14) && typeof v === 'string') {
    // Same `token; name="value"` text as a content type, so the same parser.
    const { mediaType: disposition, params } = parseContentType(v, field);
    w.withValueLength((w) => {
      const token = typeof disposition === 'string' ? DISPOSITIONS.code(disposition) : disposition;
      if (token !== undefined) w.shortInteger(token, field);
      else w.tokenText(disposition as string, field);
      for (const p of params) writeParam(w, p);
    });
  } else if (code === X_WAP_APPLICATION_ID && typeof v === 'string' && PUSH_APPLICATIONS.code(v) !== undefined) {
    w.integerValue(PUSH_APPLICATIONS.code(v)!, field);
  } else if (typeof v === 'string') {
    w.textString(v, field);
  } else if (typeof v === 'number') {
    w.integerValue(v, field);
  } else {
    w.valueLength(v.length).bytes(v);
  }
}

export function writeHeaders(w: WspWriter, headers: readonly WspHeader[]): void {
  for (const h of headers) writeHeader(w, h);
}

/** The first header of that name (case-insensitive). */
export function findHeader(headers: readonly WspHeader[], name: string): WspHeaderValue | undefined {
  const want = name.toLowerCase();
  return headers.find((h) => typeof h.name === 'string' && h.name.toLowerCase() === want)?.value;
}
