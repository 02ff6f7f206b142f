/**
 * The MMS-C's one internal message model (DESIGN.md, message flow step 1):
 * every front end turns its wire data into this, and every back end reads
 * it. Addresses are normalised strings: `+15550001111` (E.164), `12345`
 * (short code), `user@example.org` (e-mail).
 */

export interface StoredPart {
  /** Full media type with parameters, MIME style: `text/plain; charset=utf-8`. */
  contentType: string;
  /** Without angle brackets. */
  contentId?: string;
  contentLocation?: string;
  data: Buffer;
}

export type Origin =
  | {
      interface: 'mm7';
      vaspId: string;
      vasId?: string;
      release: string;
      mm7Version: string;
      transactionId?: string;
      linkedId?: string;
      serviceCode?: string;
    }
  | { interface: 'mm1'; msisdn: string; transactionId: string }
  /** MM3: a mail from the e-mail world; `mailFrom` is the SMTP envelope sender, `messageId` the mail's Message-ID. */
  | { interface: 'mm3'; mailFrom: string; messageId?: string }
  /** MM4_forward.REQ from a peer MMS-C: its domain, X-Mms-Transaction-ID, X-Mms-Message-ID, and whether it asked for MM4_forward.RES. */
  | { interface: 'mm4'; peerDomain: string; transactionId: string; originatorMessageId: string; ackRequested: boolean };

export interface MessageEnvelope {
  from: string;
  to: string[];
  cc: string[];
  bcc: string[];
  subject?: string;
  messageClass?: string;
  priority?: string;
  /** When the MMS-C accepted it. */
  date: Date;
  /** When the TTL store destroys it (the earlier of the message's own expiry and the configured TTL). */
  expiresAt: Date;
  earliestDelivery?: Date;
  deliveryReport: boolean;
  readReport: boolean;
  /** Top-level type with parameters: `multipart/related; start="<smil>"; type="application/smil"`, or a single part's type. */
  contentType: string;
  allowAdaptations: boolean;
  origin: Origin;
}

export type RecipientKind = 'to' | 'cc' | 'bcc';

export type RecipientState =
  | 'accepted'
  | 'notified'
  | 'retrieved'
  | 'acknowledged'
  | 'rejected'
  | 'deferred'
  | 'expired'
  | 'cancelled'
  | 'unroutable'
  /** Handed to the next hop (MM3 mail, MM4 peer, VASP, archive-only): its reports may move it on. */
  | 'forwarded';

export interface NewRecipient {
  address: string;
  kind: RecipientKind;
  state: RecipientState;
  /** Why a recipient was not accepted (routing), for reports and the admin API. */
  reason?: string;
}

export interface NewMessage {
  envelope: MessageEnvelope;
  parts: StoredPart[];
  recipients: NewRecipient[];
}

export interface StoredRecipient extends NewRecipient {
  /** Unguessable retrieval token; the Content-Location is `<base>/m/<token>`. */
  token: string;
  updatedAt: Date;
}

export interface StoredMessage {
  messageId: string;
  envelope: MessageEnvelope;
  recipients: StoredRecipient[];
  /** Total octets of the parts' data, as stored. */
  size: number;
  /** True once the sweeper destroyed the content (a tombstone remains). */
  destroyed: boolean;
}

/** Time, injected so TTL and retry tests run in milliseconds. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };
