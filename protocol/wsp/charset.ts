import { TextDecoder } from 'node:util';
import { ProtocolError } from '../errors.js';
import { CHARSETS } from './tables.js';

/** MIBenum values the codec refers to by name. */
export const MIB = {
  usAscii: 3,
  iso8859_1: 4,
  utf8: 106,
  ucs2: 1000,
  utf16be: 1013,
  utf16le: 1014,
  utf16: 1015,
} as const;

const decoders = new Map<number, TextDecoder | null>();

/** A WHATWG decoder for the charset, or null when Node's ICU has none. */
function legacyDecoder(mib: number): TextDecoder | null {
  let decoder = decoders.get(mib);
  if (decoder === undefined) {
    const name = CHARSETS.name(mib);
    try {
      decoder = name ? new TextDecoder(name) : null;
    } catch {
      decoder = null;
    }
    decoders.set(mib, decoder);
  }
  return decoder;
}

function utf16(octets: Uint8Array, bigEndian: boolean): string {
  const even = octets.length & ~1;
  const copy = Buffer.from(octets.subarray(0, even));
  if (bigEndian) copy.swap16();
  return copy.toString('utf16le');
}

/**
 * Text of an Encoded-string-value or a charset-tagged part. UCS-2 and
 * UTF-16 without a byte order mark are big-endian (RFC 2781 §4.3), which
 * is what terminals send; ISO-8859-1 and US-ASCII are read octet for octet
 * (WHATWG would turn ISO-8859-1 into windows-1252). A charset nobody here
 * can decode is read as UTF-8 rather than failing the whole PDU.
 */
export function decodeCharset(octets: Uint8Array, mib: number): string {
  switch (mib) {
    case MIB.utf8:
    case 0:
      return Buffer.from(octets.buffer, octets.byteOffset, octets.byteLength).toString('utf8');
    case MIB.usAscii:
    case MIB.iso8859_1:
      return Buffer.from(octets.buffer, octets.byteOffset, octets.byteLength).toString('latin1');
    case MIB.ucs2:
    case MIB.utf16:
      if (octets[0] === 0xff && octets[1] === 0xfe) return utf16(octets.subarray(2), false);
      if (octets[0] === 0xfe && octets[1] === 0xff) return utf16(octets.subarray(2), true);
      return utf16(octets, true);
    case MIB.utf16be:
      return utf16(octets, true);
    case MIB.utf16le:
      return utf16(octets, false);
    default: {
      const decoder = legacyDecoder(mib);
      return decoder ? decoder.decode(octets) : Buffer.from(octets).toString('utf8');
    }
  }
}

/**
 * Octets of `text` in the charset. Only charsets an MMS-C sends are
 * written; for the others the caller gets UNSUPPORTED and should send UTF-8.
 */
export function encodeCharset(text: string, mib: number, field = 'charset'): Buffer {
  switch (mib) {
    case MIB.utf8:
    case 0:
      return Buffer.from(text, 'utf8');
    case MIB.usAscii:
    case MIB.iso8859_1: {
      const limit = mib === MIB.usAscii ? 0x7f : 0xff;
      for (let i = 0; i < text.length; i++) {
        if (text.charCodeAt(i) > limit) {
          throw new ProtocolError('BAD_VALUE', field, `character U+${text.charCodeAt(i).toString(16).toUpperCase()} has no ${CHARSETS.name(mib)} form`);
        }
      }
      return Buffer.from(text, 'latin1');
    }
    case MIB.ucs2:
    case MIB.utf16:
    case MIB.utf16be:
      return Buffer.from(text, 'utf16le').swap16();
    case MIB.utf16le:
      return Buffer.from(text, 'utf16le');
    default:
      throw new ProtocolError('UNSUPPORTED', field, `cannot encode text in ${CHARSETS.name(mib) ?? `MIBenum ${mib}`}`);
  }
}

/** MIBenum for a charset name (case-insensitive), or undefined. */
export function charsetMib(name: string): number | undefined {
  return CHARSETS.code(name.trim());
}
