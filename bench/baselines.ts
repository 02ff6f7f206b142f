/**
 * Baselines for the MM7 benches: what any MIME parser must at least do with
 * the same octets, measured beside the real parse.
 *
 * - bare split: delimiter lines found with Buffer.indexOf, each part cut at
 *   its blank line, nested multiparts split the same way; nothing decoded.
 *   The floor for any MIME parser.
 * - bare split + base64: the same, then one leaf's 76-column base64 decoded
 *   with Buffer#write in 48 KiB slices: the floor for a parser that hands
 *   out decoded octets.
 */

export interface Slice {
  headers: Buffer;
  body: Buffer;
}

const BOUNDARY_PARAM = /boundary\s*=\s*"?([^";\r\n]+)"?/i;

/** The boundary parameter of a multipart Content-Type ('' when there is none). */
export function boundaryOf(contentType: string): string {
  return BOUNDARY_PARAM.exec(contentType)?.[1] ?? '';
}

/** Leaves of a multipart body: delimiter lines found with indexOf, each part cut at its blank line, nested multiparts split too. */
export function bareSplit(body: Buffer, boundary: string, out: Slice[] = []): Slice[] {
  const delimiter = Buffer.from(`--${boundary}`, 'latin1');
  let at = body.indexOf(delimiter);
  while (at >= 0) {
    const lineEnd = body.indexOf(0x0a, at);
    if (lineEnd < 0 || body[at + delimiter.length] === 0x2d) break;
    let next = body.indexOf(delimiter, lineEnd);
    while (next > 0 && body[next - 1] !== 0x0a) next = body.indexOf(delimiter, next + 1);
    if (next < 0) break;
    const part = body.subarray(lineEnd + 1, next - 2);
    const blank = part.indexOf('\r\n\r\n');
    const headers = part.subarray(0, blank);
    const inner = BOUNDARY_PARAM.exec(headers.toString('latin1'));
    if (inner?.[1]) bareSplit(part.subarray(blank + 4), inner[1], out);
    else out.push({ headers, body: part.subarray(blank + 4) });
    at = next;
  }
  return out;
}

/** 76-column base64 lines with CRLF (as nodemailer writes them) decoded 630 whole lines at a time. */
export function decodeBase64Lines(b64: Buffer): Buffer {
  const out = Buffer.allocUnsafe(Math.ceil((b64.length * 3) / 4));
  const step = 78 * 630;
  let o = 0;
  for (let p = 0; p < b64.length; p += step) o += out.write(b64.toString('latin1', p, Math.min(b64.length, p + step)), o, 'base64');
  return out.subarray(0, o);
}

/** The bare split, then leaf `leaf` base64-decoded: the decoded octets. */
export function bareSplitDecode(body: Buffer, boundary: string, leaf: number): Buffer {
  return decodeBase64Lines(bareSplit(body, boundary)[leaf]!.body);
}

/**
 * The same request with each base64 leaf sent as `Content-Transfer-Encoding:
 * binary` instead (as many VASP stacks send media): the parse then has
 * nothing to decode, so its cost beside the bare split is the codec's own.
 */
export function withBinaryLeaves(body: Buffer, boundary: string): Buffer {
  const pieces: Buffer[] = [];
  let done = 0;
  for (const leaf of bareSplit(body, boundary)) {
    const headers = leaf.headers.toString('latin1');
    if (!/content-transfer-encoding:\s*base64/i.test(headers)) continue;
    const headersAt = leaf.headers.byteOffset - body.byteOffset;
    const bodyAt = leaf.body.byteOffset - body.byteOffset;
    pieces.push(
      body.subarray(done, headersAt),
      Buffer.from(headers.replace(/(content-transfer-encoding:\s*)base64/i, '$1binary'), 'latin1'),
      body.subarray(headersAt + leaf.headers.length, bodyAt),
      decodeBase64Lines(leaf.body),
    );
    done = bodyAt + leaf.body.length;
  }
  pieces.push(body.subarray(done));
  return Buffer.concat(pieces);
}
