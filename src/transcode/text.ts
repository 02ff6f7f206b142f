/**
 * Text parts: charset conversion to one the terminal accepts and cutting
 * text that is too long for the budget, with a marker saying so.
 */
import { CHARSETS } from '../../protocol/wsp/tables.js';

/** Charsets this module can write; any charset the platform's TextDecoder knows can be read. */
export const WRITABLE_CHARSETS = ['utf-8', 'us-ascii', 'iso-8859-1', 'utf-16'] as const;
export type WritableCharset = (typeof WRITABLE_CHARSETS)[number];

const ALIASES: Record<string, WritableCharset> = {
  'utf-8': 'utf-8',
  utf8: 'utf-8',
  'us-ascii': 'us-ascii',
  ascii: 'us-ascii',
  'iso-8859-1': 'iso-8859-1',
  'iso_8859-1': 'iso-8859-1',
  latin1: 'iso-8859-1',
  'utf-16': 'utf-16',
  'iso-10646-ucs-2': 'utf-16',
};

export function writableCharset(name: string): WritableCharset | undefined {
  return ALIASES[name.trim().toLowerCase()];
}

/** Text of a part in its declared charset (default us-ascii per RFC 2046, read as UTF-8, its superset in practice). */
export function decodeText(data: Buffer, charset: string | undefined): string {
  const label = (charset ?? 'utf-8').trim().toLowerCase();
  if (label === 'utf-16' || label === 'iso-10646-ucs-2') {
    // RFC 2781: big-endian unless a BOM says otherwise.
    if (data.length >= 2 && data[0] === 0xff && data[1] === 0xfe) return new TextDecoder('utf-16le').decode(data.subarray(2));
    const be = data.length >= 2 && data[0] === 0xfe && data[1] === 0xff ? data.subarray(2) : data;
    const swapped = Buffer.from(be.subarray(0, be.length - (be.length % 2)));
    swapped.swap16();
    return new TextDecoder('utf-16le').decode(swapped);
  }
  let decoder: { decode(data: Uint8Array): string };
  try {
    decoder = new TextDecoder(label === 'us-ascii' ? 'utf-8' : label);
  } catch {
    decoder = new TextDecoder('utf-8');
  }
  return decoder.decode(data);
}

/** The text in `charset`; characters it cannot carry become `?`. UTF-16 is written big-endian with a BOM. */
export function encodeText(text: string, charset: WritableCharset): Buffer {
  switch (charset) {
    case 'utf-8':
      return Buffer.from(text, 'utf8');
    case 'us-ascii':
      return Buffer.from(text.replace(/[^\x00-\x7f]/gu, '?'), 'latin1');
    case 'iso-8859-1':
      return Buffer.from(text.replace(/[^\x00-\xff]/gu, '?'), 'latin1');
    case 'utf-16': {
      const body = Buffer.from(text, 'utf16le');
      body.swap16();
      return Buffer.concat([Buffer.from([0xfe, 0xff]), body]);
    }
  }
}

/** The charset to send: the part's own when the terminal accepts it, else the terminal's first writable one, else UTF-8. */
export function targetCharset(own: string | undefined, accepted: readonly string[]): WritableCharset {
  const ownWritable = own === undefined ? 'us-ascii' : writableCharset(own);
  if (ownWritable && (accepted.includes(ownWritable) || accepted.includes('*'))) return ownWritable;
  for (const a of accepted) {
    const w = writableCharset(a);
    if (w) return w;
  }
  return 'utf-8';
}

/**
 * Whether a terminal accepting `accepted` can read a part labelled `own`
 * as it is (no label: us-ascii, RFC 2046). The label must be one the
 * terminal lists (or `*`) and one a WSP Content-Type can carry: an alias
 * such as utf8 has no MIBenum, so such a part is relabelled instead.
 */
export function charsetAccepted(own: string | undefined, accepted: readonly string[]): boolean {
  const label = (own ?? 'us-ascii').trim().toLowerCase();
  if (CHARSETS.code(label) === undefined) return false;
  return accepted.includes('*') || accepted.includes(label);
}

export const cutMarker = (removed: number): string => `\n[… ${removed} more characters cut to fit this phone]`;

/**
 * The longest head of `text` that, with the cut marker, encodes within
 * `maxOctets`; the whole text when it fits. Cuts between code points only.
 */
export function cutText(text: string, charset: WritableCharset, maxOctets: number): { text: string; data: Buffer; cut: boolean } {
  const whole = encodeText(text, charset);
  if (whole.length <= maxOctets) return { text, data: whole, cut: false };
  const points = Array.from(text);
  let lo = 0;
  let hi = points.length;
  const build = (n: number): string => points.slice(0, n).join('') + cutMarker(points.length - n);
  // Binary search on the number of code points kept: the encoded length grows with it.
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (encodeText(build(mid), charset).length <= maxOctets) lo = mid;
    else hi = mid - 1;
  }
  const out = build(lo);
  const data = encodeText(out, charset);
  if (data.length > maxOctets) return { text: '', data: Buffer.alloc(0), cut: true };
  return { text: out, data, cut: true };
}
