/**
 * A MIME entity of the MM7 HTTP binding (3GPP TS 23.140 §8.7.1, RFC 2387):
 * the SOAP envelope's sibling that carries the message content. A leaf has
 * `body` (transfer encoding already removed); a multipart has `parts`.
 */
export interface MimeEntity {
  /** Media type, lower case, without parameters: `image/jpeg`, `multipart/related`. */
  mediaType: string;
  /** Content-Type parameters, names lower case (`charset`, `boundary`, `start`, `type`, `name`). */
  params: Record<string, string>;
  /** Content-ID without angle brackets, as href="cid:…" names it. */
  contentId?: string;
  contentLocation?: string;
  /** Content-Disposition value as sent (`attachment; filename="a.jpg"`), when present. */
  contentDisposition?: string;
  /** Every other header, names lower case, in order. */
  headers: Array<[name: string, value: string]>;
  /** Decoded octets of a leaf. */
  body?: Buffer;
  /** Children of a multipart, in order. */
  parts?: MimeEntity[];
}
