import { ProtocolError } from '../errors.js';
import { buildMm7HttpPieces, findContent, parseMm7Http, type BindingLimits, type BodyOptions, type HttpBody } from './binding.js';
import { contentIdOfHref } from './exchange.js';
import type { MimeEntity } from './mime-types.js';
import type { Mm7Envelope } from './model.js';
import { buildMm7Soap, parseMm7Soap } from './soap.js';
import { Mm7Error, type XmlLimits } from './xml.js';

/** One MM7 HTTP body, decoded: the SOAP envelope and the content entity its <Content href> names. */
export interface Mm7HttpRequest {
  envelope: Mm7Envelope;
  content?: MimeEntity;
}

export type Mm7Limits = BindingLimits & XmlLimits;

/**
 * Decodes the body of an MM7 POST (or its answer): MIME binding, then
 * SOAP. Every failure is an Mm7Error carrying the status to answer with:
 * a broken MIME body is 2007; a Content href that names no part is 2007
 * too, since the request then lacks what it claims to carry. `body` may be
 * the chunks the body was read in, or a request still arriving: it is then
 * parsed as it arrives, and an error of the body itself (what its iterator
 * throws) comes out as it is (see parseMm7Http).
 */
export async function decodeMm7Http(contentType: string, body: HttpBody, limits: Partial<Mm7Limits> = {}, opts: BodyOptions = {}): Promise<Mm7HttpRequest> {
  let soap: string;
  let message: Awaited<ReturnType<typeof parseMm7Http>>;
  try {
    message = await parseMm7Http(contentType, body, limits, opts);
    soap = message.soap;
  } catch (e) {
    if (e instanceof ProtocolError) throw new Mm7Error(e.code, e.field, e.detail, 2007);
    throw e;
  }
  const envelope = parseMm7Soap(soap, limits);
  const href = envelope.message.content?.href;
  if (href === undefined) return { envelope };
  const content = findContent(message, href);
  if (!content) {
    throw new Mm7Error('MISSING_HEADER', 'Content', `href "${href}" names no MIME part (Content-ID ${contentIdOfHref(href)})`, 2007, {
      release: envelope.release,
      ...(envelope.transactionId !== undefined ? { transactionId: envelope.transactionId } : {}),
      ...(envelope.message.mm7Version !== undefined ? { mm7Version: envelope.message.mm7Version } : {}),
    });
  }
  return { envelope, content };
}

/**
 * Encodes an MM7 body: SOAP alone as text/xml, or multipart/related with
 * the content entity, whose Content-ID is taken from the envelope's href.
 * `binary`: bodies that are not 7bit go unencoded (buildMm7Http).
 */
export async function encodeMm7Http(envelope: Mm7Envelope, content?: MimeEntity, opts: { binary?: boolean } = {}): Promise<{ contentType: string; body: Buffer }> {
  const { contentType, pieces, length } = await encodeMm7HttpPieces(envelope, content, opts);
  return { contentType, body: pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces, length) };
}

/** encodeMm7Http's body as the pieces to write in order, the content's buffers among them uncopied. */
export async function encodeMm7HttpPieces(envelope: Mm7Envelope, content?: MimeEntity, opts: { binary?: boolean } = {}): Promise<{ contentType: string; pieces: Buffer[]; length: number }> {
  const soap = buildMm7Soap(envelope);
  if (!content) return buildMm7HttpPieces(soap);
  const href = envelope.message.content?.href;
  if (href === undefined) throw new ProtocolError('MISSING_HEADER', 'Content', 'content given but the message has no <Content href>');
  return buildMm7HttpPieces(soap, { ...content, contentId: contentIdOfHref(href) }, opts.binary ? { binary: true } : {});
}
