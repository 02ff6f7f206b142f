import type { Release } from './releases.js';

/** An MM7 address element's child (§a.6): exactly one of these three. */
export interface Mm7Address {
  kind: 'Number' | 'ShortCode' | 'RFC2822Address';
  value: string;
  /** Shown to recipients, not delivered to. */
  displayOnly?: boolean;
  /** The value is a token, not a real address. */
  addressCoding?: 'encrypted' | 'obfuscated';
  id?: string;
}

export interface Mm7Recipients {
  to: Mm7Address[];
  cc: Mm7Address[];
  bcc: Mm7Address[];
}

export interface SenderIdentification {
  vaspId?: string;
  vasId?: string;
  senderAddress?: Mm7Address;
}

/** An absolute xs:dateTime or a relative xs:duration (`P2D`, `PT1H`). */
export type TimeSpec = { absolute: Date } | { relative: string };

export interface ReplyCharging {
  replyChargingSize?: number;
  replyDeadline?: TimeSpec;
}

export interface Mm7Content {
  /** As sent: `cid:mms-content@acme`, or a bare Content-ID from lenient stacks. */
  href: string;
  allowAdaptations?: boolean;
}

export interface Mm7Status {
  code: number;
  text?: string;
  /** Free content of Details, as text. */
  details?: string;
}

export interface UaCapabilities {
  uaProf?: string;
  timeStamp?: Date;
}

export interface PreviouslySentBy {
  sequence: number;
  address: Mm7Address;
}

export interface PreviouslySentDate {
  sequence: number;
  dateTime: Date;
}

export type MessageClass = 'Personal' | 'Informational' | 'Advertisement' | 'Auto';
export type Priority = 'Normal' | 'High' | 'Low';
export type ChargedParty = 'Sender' | 'Recipient' | 'Both' | 'Neither' | 'ThirdParty';

/**
 * Every element any MM7 message carries, by field. Which fields a message
 * has, in which order, and in which releases, is in schema.ts; the types
 * of each message below pick from this.
 */
export interface Mm7Fields {
  mm7Version: string;
  senderIdentification?: SenderIdentification;
  recipients?: Mm7Recipients;
  serviceCode?: string;
  linkedId?: string;
  messageClass?: MessageClass | string;
  timeStamp?: Date;
  replyCharging?: ReplyCharging;
  earliestDeliveryTime?: TimeSpec;
  expiryDate?: TimeSpec;
  deliveryReport?: boolean;
  readReply?: boolean;
  priority?: Priority | string;
  subject?: string;
  chargedParty?: ChargedParty | string;
  chargedPartyId?: string;
  distributionIndicator?: boolean;
  deliveryCondition?: number[];
  applicId?: string;
  replyApplicId?: string;
  auxApplicInfo?: string;
  contentClass?: string;
  drmContent?: boolean;
  content?: Mm7Content;
  status?: Mm7Status;
  messageId?: string;
  mmsRelayServerId?: string;
  vaspId?: string;
  vasId?: string;
  sender?: Mm7Address;
  recipient?: Mm7Address;
  previouslySentBy?: PreviouslySentBy[];
  previouslySentDate?: PreviouslySentDate[];
  senderSpi?: string;
  recipientSpi?: string;
  replyChargingId?: string;
  uaCapabilities?: UaCapabilities;
  date?: Date;
  mmStatus?: string;
  mmStatusExtension?: string;
  statusText?: string;
  cancelId?: string;
  replaceId?: string;
}

export const MESSAGE_TYPES = [
  'SubmitReq',
  'SubmitRsp',
  'DeliverReq',
  'DeliverRsp',
  'CancelReq',
  'CancelRsp',
  'ReplaceReq',
  'ReplaceRsp',
  'DeliveryReportReq',
  'DeliveryReportRsp',
  'ReadReplyReq',
  'ReadReplyRsp',
  'RSErrorRsp',
  'VASPErrorRsp',
  'extendedCancelReq',
  'extendedCancelRsp',
  'extendedReplaceReq',
  'extendedReplaceRsp',
] as const;

export type Mm7MessageType = (typeof MESSAGE_TYPES)[number];

/** One MM7 message: its type and the elements it carries. */
export type Mm7Message = { type: Mm7MessageType } & Partial<Mm7Fields>;

/** A whole SOAP envelope: the release (namespace) it is written in, the header's TransactionID and the message. */
export interface Mm7Envelope {
  release: Release;
  transactionId?: string;
  message: Mm7Message;
  /** Set when the body was a SOAP Fault (the message is then an RSErrorRsp or VASPErrorRsp from its detail). */
  fault?: { code: string; string: string };
}
