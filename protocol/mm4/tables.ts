/**
 * The value sets of the MM4 header fields (3GPP TS 23.140 §8.4, stage 3
 * for MM4; ../shared/spec/README.md §f). One table per field, shared by
 * the builder and the parser.
 */

export const MM4_MESSAGE_TYPES = [
  'MM4_forward.REQ',
  'MM4_forward.RES',
  'MM4_delivery_report.REQ',
  'MM4_delivery_report.RES',
  'MM4_read_reply_report.REQ',
  'MM4_read_reply_report.RES',
] as const;
export type Mm4MessageType = (typeof MM4_MESSAGE_TYPES)[number];

/** X-Mms-Request-Status-Code of the .RES messages. */
export const MM4_REQUEST_STATUS = [
  'Ok',
  'Error-unspecified',
  'Error-service-denied',
  'Error-message-format-corrupt',
  'Error-sending-address-unresolved',
  'Error-message-not-found',
  'Error-network-problem',
  'Error-content-not-accepted',
  'Error-unsupported-message',
] as const;
export type Mm4RequestStatus = (typeof MM4_REQUEST_STATUS)[number];

/** X-Mms-MM-Status-Code of MM4_delivery_report.REQ. */
export const MM4_MM_STATUS = ['Expired', 'Retrieved', 'Rejected', 'Deferred', 'Unrecognised', 'Indeterminate', 'Forwarded'] as const;
export type Mm4MmStatus = (typeof MM4_MM_STATUS)[number];

/** X-Mms-Read-Status of MM4_read_reply_report.REQ. */
export const MM4_READ_STATUS = ['Read', 'Deleted without being read'] as const;
export type Mm4ReadStatus = (typeof MM4_READ_STATUS)[number];

export const MM4_MESSAGE_CLASS = ['Personal', 'Informational', 'Advertisement', 'Auto'] as const;
export type Mm4MessageClass = (typeof MM4_MESSAGE_CLASS)[number];

export const MM4_PRIORITY = ['Low', 'Normal', 'High'] as const;
export type Mm4Priority = (typeof MM4_PRIORITY)[number];

/** The 3GPP release this MMS-C writes in X-Mms-3GPP-MMS-Version (Rel-6 stage 3). */
export const MM4_DEFAULT_VERSION = '6.3.0';

/** Header names as 23.140 spells them; lookups are case-insensitive. */
export const H = {
  version: 'X-Mms-3GPP-MMS-Version',
  messageType: 'X-Mms-Message-Type',
  transactionId: 'X-Mms-Transaction-ID',
  messageId: 'X-Mms-Message-ID',
  ackRequest: 'X-Mms-Ack-Request',
  originatorSystem: 'X-Mms-Originator-System',
  requestStatus: 'X-Mms-Request-Status-Code',
  statusText: 'X-Mms-Status-Text',
  mmStatus: 'X-Mms-MM-Status-Code',
  mmStatusText: 'X-Mms-MM-Status-Text',
  readStatus: 'X-Mms-Read-Status',
  deliveryReport: 'X-Mms-Delivery-Report',
  readReply: 'X-Mms-Read-Reply',
  expiry: 'X-Mms-Expiry',
  messageClass: 'X-Mms-Message-Class',
  priority: 'X-Mms-Priority',
  sender: 'Sender',
  from: 'From',
  to: 'To',
  cc: 'Cc',
  subject: 'Subject',
  date: 'Date',
  rfc2822MessageId: 'Message-ID',
} as const;

/** Deployed peers write X-Mms-Status where 23.140 has X-Mms-MM-Status-Code (VectorCore MMSC): read both. */
export const MM_STATUS_ALIASES = ['x-mms-mm-status-code', 'x-mms-status'] as const;
