import { readHeaders, writeHeaders, type WspHeader } from './headers.js';
import type { WspReader } from './reader.js';
import { readContentType, writeContentType, type ContentType } from './values.js';
import { WspWriter } from './writer.js';

/** One entry of a WSP multipart body (WSP-230 §8.5). `data` is a view of the input. */
export interface MultipartEntry {
  contentType: ContentType;
  headers: WspHeader[];
  data: Uint8Array;
}

/**
 * nEntries, then per entry HeadersLen, DataLen, content type + headers,
 * data. Entries are parsed one by one against what is left, so a huge
 * nEntries costs nothing until the octets to back it are really there.
 */
export function readMultipart(r: WspReader): MultipartEntry[] {
  const countAt = r.offset;
  const count = r.uintvar('multipart nEntries');
  const entries: MultipartEntry[] = [];
  for (let i = 0; i < count; i++) {
    const field = `multipart entry ${i + 1}`;
    if (r.atEnd) r.fail('TRUNCATED', 'multipart nEntries', `${count} entries declared, ${i} present`, countAt);
    const headersLen = r.uintvar(`${field} HeadersLen`);
    const dataLen = r.uintvar(`${field} DataLen`);
    const headerBlock = r.sub(headersLen, `${field} headers`);
    const contentType = readContentType(headerBlock, `${field} Content-Type`);
    const headers = readHeaders(headerBlock);
    const data = r.bytes(dataLen, `${field} data`);
    entries.push({ contentType, headers, data });
  }
  r.expectEnd('multipart body');
  return entries;
}

export function writeMultipart(w: WspWriter, entries: readonly MultipartEntry[]): void {
  w.uintvar(entries.length, 'multipart nEntries');
  for (const entry of entries) {
    const headerBlock = new WspWriter(64);
    writeContentType(headerBlock, entry.contentType);
    writeHeaders(headerBlock, entry.headers);
    const headers = headerBlock.finish();
    w.uintvar(headers.length).uintvar(entry.data.length).bytes(headers).bytes(entry.data);
  }
}
