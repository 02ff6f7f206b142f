import type { MultipartEntry } from '../wsp/multipart.js';
import type { ContentType, EncodedString } from '../wsp/values.js';
import type { MessageType } from './tables.js';

export type { MessageType } from './tables.js';

/** X-Mms-Expiry, X-Mms-Delivery-Time, X-Mms-Reply-Charging-Deadline (ENC §7.3.20). */
export type TimeValue = { absolute: Date } | { relative: number };

/** From: an address, or the insert-address token asking the MMS-C to fill it in (ENC §7.3.21). */
export type From = EncodedString | 'insert-address';

/** A token header's value: its name from the spec table, or the raw octet when unassigned. */
export type Token = string | number;

export interface PreviouslySentBy {
  forwardCount: number;
  address: EncodedString;
}

export interface PreviouslySentDate {
  forwardCount: number;
  date: Date;
}

export interface MmFlag {
  action: 'Add' | 'Remove' | 'Filter';
  flag: EncodedString;
}

/**
 * A header the model has no field for: an application header (Token-text
 * name, text value) or a well-known header this codec keeps opaque, whose
 * value is held in its WSP shape so that it encodes back to the same octets.
 */
export interface OtherHeader {
  name: string | number;
  value: string | number | Uint8Array;
}

/**
 * Every header of OMA-MMS-ENC 1.0–1.3, by field. Which are mandatory
 * depends on the message type (see MANDATORY in headers.ts); the PDU types
 * below make those required.
 */
export interface MmsHeaders {
  messageType: MessageType;
  transactionId?: string;
  mmsVersion?: string;
  messageId?: string;
  date?: Date;
  from?: From;
  to?: EncodedString[];
  cc?: EncodedString[];
  bcc?: EncodedString[];
  subject?: EncodedString;
  messageClass?: Token;
  priority?: Token;
  senderVisibility?: Token;
  deliveryReport?: boolean;
  readReport?: boolean;
  reportAllowed?: boolean;
  messageSize?: number;
  expiry?: TimeValue;
  deliveryTime?: TimeValue;
  contentLocation?: string;
  status?: Token;
  statusText?: EncodedString;
  responseStatus?: Token;
  responseText?: EncodedString;
  retrieveStatus?: Token;
  retrieveText?: EncodedString;
  readStatus?: Token;
  replyCharging?: Token;
  replyChargingDeadline?: TimeValue;
  replyChargingId?: string;
  replyChargingSize?: number;
  previouslySentBy?: PreviouslySentBy[];
  previouslySentDate?: PreviouslySentDate[];
  store?: boolean;
  mmState?: Token[];
  mmFlags?: MmFlag[];
  storeStatus?: Token;
  storeStatusText?: EncodedString;
  stored?: boolean;
  attributes?: number[];
  totals?: boolean;
  quotas?: boolean;
  messageCount?: number;
  start?: number;
  limit?: number;
  distributionIndicator?: boolean;
  recommendedRetrievalMode?: Token;
  recommendedRetrievalModeText?: EncodedString;
  applicId?: string;
  replyApplicId?: string;
  auxApplicInfo?: string;
  contentClass?: Token;
  drmContent?: boolean;
  adaptationAllowed?: boolean;
  replaceId?: string;
  cancelId?: string;
  cancelStatus?: Token;
  /** Application and opaque headers, in the order they were found; written just before Content-Type. */
  otherHeaders?: OtherHeader[];
  /** Always the last header; present exactly when the PDU has a body. */
  contentType?: ContentType;
}

/** A multipart body (its parts) or a single-part body (its octets); views into the decoded input. */
export type MmsBody = MultipartEntry[] | Uint8Array;

export interface MmsPdu extends MmsHeaders {
  body?: MmsBody;
}

/** Headers each PDU type must carry (ENC §6, Android's checkMandatoryHeader). */
export const MANDATORY = {
  'm-send-req': ['transactionId', 'mmsVersion', 'from', 'contentType'],
  'm-send-conf': ['transactionId', 'mmsVersion', 'responseStatus'],
  'm-notification-ind': ['transactionId', 'mmsVersion', 'messageClass', 'messageSize', 'expiry', 'contentLocation'],
  'm-notifyresp-ind': ['transactionId', 'mmsVersion', 'status'],
  'm-retrieve-conf': ['mmsVersion', 'date', 'contentType'],
  'm-acknowledge-ind': ['transactionId', 'mmsVersion'],
  'm-delivery-ind': ['mmsVersion', 'messageId', 'to', 'date', 'status'],
  'm-read-rec-ind': ['mmsVersion', 'messageId', 'to', 'from', 'readStatus'],
  'm-read-orig-ind': ['mmsVersion', 'messageId', 'to', 'from', 'date', 'readStatus'],
  'm-forward-req': ['transactionId', 'mmsVersion', 'from', 'contentLocation'],
  'm-forward-conf': ['transactionId', 'mmsVersion', 'responseStatus'],
  'm-mbox-store-req': ['transactionId', 'mmsVersion', 'contentLocation'],
  'm-mbox-store-conf': ['transactionId', 'mmsVersion', 'storeStatus'],
  'm-mbox-view-req': ['transactionId', 'mmsVersion'],
  'm-mbox-view-conf': ['transactionId', 'mmsVersion', 'responseStatus'],
  'm-mbox-upload-req': ['transactionId', 'mmsVersion', 'contentType'],
  'm-mbox-upload-conf': ['transactionId', 'mmsVersion', 'responseStatus'],
  'm-mbox-delete-req': ['transactionId', 'mmsVersion', 'contentLocation'],
  'm-mbox-delete-conf': ['transactionId', 'mmsVersion', 'responseStatus'],
  'm-mbox-descr': ['mmsVersion'],
  'm-delete-req': ['transactionId', 'mmsVersion', 'contentLocation'],
  'm-delete-conf': ['transactionId', 'mmsVersion', 'responseStatus'],
  'm-cancel-req': ['transactionId', 'mmsVersion', 'cancelId'],
  'm-cancel-conf': ['transactionId', 'mmsVersion', 'cancelStatus'],
} as const satisfies Record<MessageType, readonly (keyof MmsHeaders)[]>;

/** The PDU of one message type, with that type's mandatory headers required. */
export type PduOf<T extends MessageType> = MmsPdu & { messageType: T } & Required<Pick<MmsPdu, (typeof MANDATORY)[T][number]>>;

export type MSendReq = PduOf<'m-send-req'>;
export type MSendConf = PduOf<'m-send-conf'>;
export type MNotificationInd = PduOf<'m-notification-ind'>;
export type MNotifyRespInd = PduOf<'m-notifyresp-ind'>;
export type MRetrieveConf = PduOf<'m-retrieve-conf'>;
export type MAcknowledgeInd = PduOf<'m-acknowledge-ind'>;
export type MDeliveryInd = PduOf<'m-delivery-ind'>;
export type MReadRecInd = PduOf<'m-read-rec-ind'>;
export type MReadOrigInd = PduOf<'m-read-orig-ind'>;
export type MForwardReq = PduOf<'m-forward-req'>;
export type MForwardConf = PduOf<'m-forward-conf'>;
