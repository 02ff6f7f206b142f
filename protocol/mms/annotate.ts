import { WspReader } from '../wsp/reader.js';
import { readContentType, formatContentType } from '../wsp/values.js';
import { readHeaders } from '../wsp/headers.js';
import { HEADER_BY_CODE, readHeaderValue, readOpaque } from './headers.js';
import { pduToJson } from './json.js';
import { decodeMms } from './codec.js';

/** One run of octets and what it means, for hex dumps a person can check against the spec. */
export interface Annotation {
  offset: number;
  octets: Uint8Array;
  label: string;
}

function describe(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v));
}

/**
 * Splits a valid MMS PDU into its headers and body parts, each labelled
 * with its ENC name and decoded value. Decodes the PDU first, so invalid
 * input throws the same ProtocolError as decodeMms.
 */
export function annotateMms(bytes: Uint8Array): Annotation[] {
  const pdu = decodeMms(bytes);
  const json = pduToJson(pdu);
  const out: Annotation[] = [];
  const r = new WspReader(bytes);
  const mark = (start: number, label: string, end = r.offset): void => {
    out.push({ offset: start, octets: bytes.subarray(start, end), label });
  };
  const seen = new Map<string, number>();
  let contentType = false;
  while (!r.atEnd && !contentType) {
    const start = r.offset;
    const first = r.u8('header');
    if (first >= 0x80) {
      const def = HEADER_BY_CODE.get(first & 0x7f);
      if (def?.key) {
        const value = readHeaderValue(r, def);
        contentType = def.code === 0x04;
        const index = seen.get(def.name) ?? 0;
        seen.set(def.name, index + 1);
        const shown = def.repeatable ? (json[def.name] as unknown[])[index] : json[def.name];
        mark(start, `${def.name}: ${describe(def.kind === 'content-type' ? formatContentType(value as never) : shown)}`);
      } else {
        const value = readOpaque(r, 'header');
        mark(start, `${def?.name ?? `header 0x${(first & 0x7f).toString(16)}`}: ${describe(value)}`);
      }
    } else {
      r.offset = start;
      const name = r.tokenText('application header');
      mark(start, `application header ${name}: ${describe(r.textString(name))}`);
    }
  }
  if (!Array.isArray(pdu.body)) {
    if (!r.atEnd) {
      const bodyStart = r.offset;
      mark(bodyStart, `body (${r.rest().length} octets)`);
    }
    return out;
  }
  let start = r.offset;
  const count = r.uintvar('nEntries');
  mark(start, `multipart: ${count} entries`);
  for (let i = 1; i <= count; i++) {
    start = r.offset;
    const headersLen = r.uintvar('HeadersLen');
    const dataLen = r.uintvar('DataLen');
    mark(start, `part ${i}: HeadersLen ${headersLen}, DataLen ${dataLen}`);
    const block = r.sub(headersLen, 'headers');
    start = block.offset;
    const ct = readContentType(block);
    mark(start, `part ${i} Content-Type: ${formatContentType(ct)}`, block.offset);
    start = block.offset;
    const headers = readHeaders(block);
    if (headers.length > 0) {
      mark(start, `part ${i} headers: ${headers.map((h) => `${h.name}: ${describe(h.value)}`).join(', ')}`, block.offset);
    }
    start = r.offset;
    r.bytes(dataLen, 'data');
    mark(start, `part ${i} data (${dataLen} octets)`);
  }
  return out;
}

/** Hex lines with `# label` comments, the format of fixtures/pdu/*.hex. */
export function formatAnnotated(annotations: readonly Annotation[], width = 16): string {
  const lines: string[] = [];
  for (const a of annotations) {
    const hex = Buffer.from(a.octets).toString('hex').toUpperCase().replace(/(..)(?!$)/g, '$1 ');
    const rows: string[] = [];
    for (let i = 0; i < hex.length; i += width * 3) rows.push(hex.slice(i, i + width * 3).trimEnd());
    lines.push(`# ${a.label}`);
    lines.push(...rows);
  }
  return lines.join('\n') + '\n';
}
