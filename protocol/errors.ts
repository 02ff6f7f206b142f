/**
 * The one error type every decoder in protocol/ throws for bad input.
 *
 * Two identities, as in undici and ws: a stable `code` for programs and
 * tests, and a sentence for people that names the field and the octet
 * offset where decoding stopped. Front ends map codes to their protocol's
 * own answer (M-Send.conf status, MM7 2007, SMTP 5xx).
 */
export type ProtocolErrorCode =
  /** The input ended before the field did. */
  | 'TRUNCATED'
  /** A length field points past the end of its container or is out of range. */
  | 'BAD_LENGTH'
  /** A value is not allowed where it stands (wrong token, wrong octet). */
  | 'BAD_VALUE'
  /** An integer does not fit the encoding (uintvar > 32 bits, long integer > 48 bits). */
  | 'OVERFLOW'
  /** A header the PDU must carry is absent. */
  | 'MISSING_HEADER'
  /** Octets left over where the structure says it is complete. */
  | 'TRAILING_DATA'
  /** A value the codec knows of but cannot produce (e.g. an unencodable charset). */
  | 'UNSUPPORTED'
  /** Segments of one datagram disagree with each other. */
  | 'INCONSISTENT';

export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  constructor(
    readonly code: ProtocolErrorCode,
    /** The spec name of the field being read or written. */
    readonly field: string,
    /** What is wrong, without the field and offset. */
    readonly detail: string,
    /** Octet offset in the input where the problem was found; -1 when encoding. */
    readonly offset = -1,
  ) {
    super(offset >= 0 ? `${field}: ${detail} (at octet ${offset})` : `${field}: ${detail}`);
  }

  /** The same error with its offset moved by `by` octets, for a PDU decoded inside a larger one. */
  shifted(by: number): ProtocolError {
    return this.offset < 0 ? this : new ProtocolError(this.code, this.field, this.detail, this.offset + by);
  }
}
