import { CodeTable } from '../wsp/tables.js';

/**
 * OMA-MMS-ENC value tables (spec digest §b.1, §b.4), one per spec table, by
 * the names the ENC text and Wireshark use.
 */

/** X-Mms-Message-Type (ENC §7.3.30). */
export const MESSAGE_TYPES = [
  [0x80, 'm-send-req'],
  [0x81, 'm-send-conf'],
  [0x82, 'm-notification-ind'],
  [0x83, 'm-notifyresp-ind'],
  [0x84, 'm-retrieve-conf'],
  [0x85, 'm-acknowledge-ind'],
  [0x86, 'm-delivery-ind'],
  [0x87, 'm-read-rec-ind'],
  [0x88, 'm-read-orig-ind'],
  [0x89, 'm-forward-req'],
  [0x8a, 'm-forward-conf'],
  [0x8b, 'm-mbox-store-req'],
  [0x8c, 'm-mbox-store-conf'],
  [0x8d, 'm-mbox-view-req'],
  [0x8e, 'm-mbox-view-conf'],
  [0x8f, 'm-mbox-upload-req'],
  [0x90, 'm-mbox-upload-conf'],
  [0x91, 'm-mbox-delete-req'],
  [0x92, 'm-mbox-delete-conf'],
  [0x93, 'm-mbox-descr'],
  [0x94, 'm-delete-req'],
  [0x95, 'm-delete-conf'],
  [0x96, 'm-cancel-req'],
  [0x97, 'm-cancel-conf'],
] as const;

export type MessageType = (typeof MESSAGE_TYPES)[number][1];
export const MESSAGE_TYPE = new CodeTable(MESSAGE_TYPES);

export const MESSAGE_CLASS = new CodeTable([
  [0x80, 'Personal'],
  [0x81, 'Advertisement'],
  [0x82, 'Informational'],
  [0x83, 'Auto'],
]);

export const PRIORITY = new CodeTable([
  [0x80, 'Low'],
  [0x81, 'Normal'],
  [0x82, 'High'],
]);

export const SENDER_VISIBILITY = new CodeTable([
  [0x80, 'Hide'],
  [0x81, 'Show'],
]);

/** X-Mms-Status (M-NotifyResp.ind, M-Delivery.ind). */
export const STATUS = new CodeTable([
  [0x80, 'Expired'],
  [0x81, 'Retrieved'],
  [0x82, 'Rejected'],
  [0x83, 'Deferred'],
  [0x84, 'Unrecognised'],
  [0x85, 'Indeterminate'],
  [0x86, 'Forwarded'],
  [0x87, 'Unreachable'],
]);

/** X-Mms-Response-Status (M-Send.conf, M-Forward.conf, MMBox confs). */
export const RESPONSE_STATUS = new CodeTable([
  [0x80, 'Ok'],
  [0x81, 'Error-unspecified'],
  [0x82, 'Error-service-denied'],
  [0x83, 'Error-message-format-corrupt'],
  [0x84, 'Error-sending-address-unresolved'],
  [0x85, 'Error-message-not-found'],
  [0x86, 'Error-network-problem'],
  [0x87, 'Error-content-not-accepted'],
  [0x88, 'Error-unsupported-message'],
  [0xc0, 'Error-transient-failure'],
  [0xc1, 'Error-transient-sending-address-unresolved'],
  [0xc2, 'Error-transient-message-not-found'],
  [0xc3, 'Error-transient-network-problem'],
  [0xc4, 'Error-transient-partial-success'],
  [0xe0, 'Error-permanent-failure'],
  [0xe1, 'Error-permanent-service-denied'],
  [0xe2, 'Error-permanent-message-format-corrupt'],
  [0xe3, 'Error-permanent-sending-address-unresolved'],
  [0xe4, 'Error-permanent-message-not-found'],
  [0xe5, 'Error-permanent-content-not-accepted'],
  [0xe6, 'Error-permanent-reply-charging-limitations-not-met'],
  [0xe7, 'Error-permanent-reply-charging-request-not-accepted'],
  [0xe8, 'Error-permanent-reply-charging-forwarding-denied'],
  [0xe9, 'Error-permanent-reply-charging-not-supported'],
  [0xea, 'Error-permanent-address-hiding-not-supported'],
  [0xeb, 'Error-permanent-lack-of-prepaid'],
]);

export const RETRIEVE_STATUS = new CodeTable([
  [0x80, 'Ok'],
  [0xc0, 'Error-transient-failure'],
  [0xc1, 'Error-transient-message-not-found'],
  [0xc2, 'Error-transient-network-problem'],
  [0xe0, 'Error-permanent-failure'],
  [0xe1, 'Error-permanent-service-denied'],
  [0xe2, 'Error-permanent-message-not-found'],
  [0xe3, 'Error-permanent-content-unsupported'],
]);

export const STORE_STATUS = new CodeTable([
  [0x80, 'Success'],
  [0xc0, 'Error-transient-failure'],
  [0xc1, 'Error-transient-network-problem'],
  [0xe0, 'Error-permanent-failure'],
  [0xe1, 'Error-permanent-service-denied'],
  [0xe2, 'Error-permanent-message-format-corrupt'],
  [0xe3, 'Error-permanent-message-not-found'],
  [0xe4, 'Error-permanent-mmbox-full'],
]);

export const READ_STATUS = new CodeTable([
  [0x80, 'Read'],
  [0x81, 'Deleted-without-being-read'],
]);

export const REPLY_CHARGING = new CodeTable([
  [0x80, 'Requested'],
  [0x81, 'Requested-text-only'],
  [0x82, 'Accepted'],
  [0x83, 'Accepted-text-only'],
]);

export const MM_STATE = new CodeTable([
  [0x80, 'Draft'],
  [0x81, 'Sent'],
  [0x82, 'New'],
  [0x83, 'Retrieved'],
  [0x84, 'Forwarded'],
]);

export const MM_FLAGS_ACTION = new CodeTable([
  [0x80, 'Add'],
  [0x81, 'Remove'],
  [0x82, 'Filter'],
]);

export const CONTENT_CLASS = new CodeTable([
  [0x80, 'text'],
  [0x81, 'image-basic'],
  [0x82, 'image-rich'],
  [0x83, 'video-basic'],
  [0x84, 'video-rich'],
  [0x85, 'megapixel'],
  [0x86, 'content-basic'],
  [0x87, 'content-rich'],
]);

export const RECOMMENDED_RETRIEVAL_MODE = new CodeTable([[0x80, 'Manual']]);

export const CANCEL_STATUS = new CodeTable([
  [0x80, 'Cancel-request-successfully-received'],
  [0x81, 'Cancel-request-corrupted'],
]);

/**
 * Tells a receiver what to do with a response status it does not know:
 * ENC §7.3.48 maps unknown 0xC0–0xDF to transient and 0xE0–0xFF to
 * permanent failure.
 */
export function statusClass(code: number): 'ok' | 'transient' | 'permanent' | 'obsolete-error' {
  if (code === 0x80) return 'ok';
  if (code >= 0xc0 && code <= 0xdf) return 'transient';
  if (code >= 0xe0) return 'permanent';
  return 'obsolete-error';
}
