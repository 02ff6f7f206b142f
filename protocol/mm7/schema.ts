import type { Mm7Fields, Mm7MessageType } from './model.js';

/**
 * The element sequence of every MM7 message, in schema order.
 *
 * No 3GPP XSD could be obtained (../shared/spec/mm7/SOURCES.md), so this
 * table is derived: SubmitReq and DeliverReq from the REL-6-MM7-1-4 order
 * in the spec digest §a.5 (itself second-hand), the others from §a.4 and
 * 23.140's message tables. Elements marked `rel6` exist only in the REL-6
 * schemas and are never written under a REL-5 namespace. A test pins this
 * order; when the XSDs arrive, validate against them and fix the table.
 */
export type ElementKind =
  | 'string'
  | 'integer'
  | 'boolean'
  | 'dateTime'
  | 'time'
  | 'address'
  | 'recipients'
  | 'senderIdentification'
  | 'status'
  | 'content'
  | 'replyCharging'
  | 'deliveryCondition'
  | 'uaCapabilities'
  | 'previouslySentBy'
  | 'previouslySentDate';

export interface ElementDef {
  /** The element's local name in the MM7 namespace. */
  name: string;
  key: keyof Mm7Fields;
  kind: ElementKind;
  required?: boolean;
  rel6?: boolean;
}

const e = (name: string, key: keyof Mm7Fields, kind: ElementKind, flags: { required?: boolean; rel6?: boolean } = {}): ElementDef => ({ name, key, kind, ...flags });

const VERSION = e('MM7Version', 'mm7Version', 'string', { required: true });
const STATUS = e('Status', 'status', 'status', { required: true });
const APPLIC = [e('ApplicID', 'applicId', 'string', { rel6: true }), e('ReplyApplicID', 'replyApplicId', 'string', { rel6: true }), e('AuxApplicInfo', 'auxApplicInfo', 'string', { rel6: true })];
const SIMPLE_RSP = [VERSION, STATUS];

export const SCHEMA: Record<Mm7MessageType, ElementDef[]> = {
  SubmitReq: [
    VERSION,
    e('SenderIdentification', 'senderIdentification', 'senderIdentification', { required: true }),
    e('Recipients', 'recipients', 'recipients', { required: true }),
    e('ServiceCode', 'serviceCode', 'string'),
    e('LinkedID', 'linkedId', 'string'),
    e('MessageClass', 'messageClass', 'string'),
    e('TimeStamp', 'timeStamp', 'dateTime'),
    e('ReplyCharging', 'replyCharging', 'replyCharging'),
    e('EarliestDeliveryTime', 'earliestDeliveryTime', 'time'),
    e('ExpiryDate', 'expiryDate', 'time'),
    e('DeliveryReport', 'deliveryReport', 'boolean'),
    e('ReadReply', 'readReply', 'boolean'),
    e('Priority', 'priority', 'string'),
    e('Subject', 'subject', 'string'),
    e('ChargedParty', 'chargedParty', 'string'),
    e('ChargedPartyID', 'chargedPartyId', 'string', { rel6: true }),
    e('DistributionIndicator', 'distributionIndicator', 'boolean'),
    e('DeliveryCondition', 'deliveryCondition', 'deliveryCondition', { rel6: true }),
    ...APPLIC,
    e('ContentClass', 'contentClass', 'string', { rel6: true }),
    e('DRMContent', 'drmContent', 'boolean', { rel6: true }),
    e('Content', 'content', 'content'),
  ],
  SubmitRsp: [VERSION, STATUS, e('MessageID', 'messageId', 'string')],
  DeliverReq: [
    VERSION,
    e('MMSRelayServerID', 'mmsRelayServerId', 'string'),
    e('VASPID', 'vaspId', 'string', { rel6: true }),
    e('VASID', 'vasId', 'string', { rel6: true }),
    e('LinkedID', 'linkedId', 'string'),
    e('Sender', 'sender', 'address', { required: true }),
    e('Recipients', 'recipients', 'recipients'),
    e('Previouslysentby', 'previouslySentBy', 'previouslySentBy', { rel6: true }),
    e('Previouslysentdateandtime', 'previouslySentDate', 'previouslySentDate', { rel6: true }),
    e('SenderSPI', 'senderSpi', 'string', { rel6: true }),
    e('RecipientSPI', 'recipientSpi', 'string', { rel6: true }),
    e('TimeStamp', 'timeStamp', 'dateTime'),
    e('ReplyChargingID', 'replyChargingId', 'string'),
    e('Priority', 'priority', 'string'),
    e('Subject', 'subject', 'string'),
    ...APPLIC,
    e('UACapabilities', 'uaCapabilities', 'uaCapabilities', { rel6: true }),
    e('Content', 'content', 'content'),
  ],
  DeliverRsp: [VERSION, STATUS, e('ServiceCode', 'serviceCode', 'string')],
  CancelReq: [
    VERSION,
    e('SenderIdentification', 'senderIdentification', 'senderIdentification', { required: true }),
    e('MessageID', 'messageId', 'string', { required: true }),
  ],
  CancelRsp: SIMPLE_RSP,
  ReplaceReq: [
    VERSION,
    e('SenderIdentification', 'senderIdentification', 'senderIdentification', { required: true }),
    e('MessageID', 'messageId', 'string', { required: true }),
    e('ServiceCode', 'serviceCode', 'string'),
    e('TimeStamp', 'timeStamp', 'dateTime'),
    e('ReadReply', 'readReply', 'boolean'),
    e('EarliestDeliveryTime', 'earliestDeliveryTime', 'time'),
    e('DistributionIndicator', 'distributionIndicator', 'boolean'),
    e('ContentClass', 'contentClass', 'string', { rel6: true }),
    e('DRMContent', 'drmContent', 'boolean', { rel6: true }),
    e('Content', 'content', 'content'),
  ],
  ReplaceRsp: SIMPLE_RSP,
  DeliveryReportReq: [
    VERSION,
    e('MMSRelayServerID', 'mmsRelayServerId', 'string'),
    e('MessageID', 'messageId', 'string', { required: true }),
    e('Recipient', 'recipient', 'address', { required: true }),
    e('Sender', 'sender', 'address', { required: true }),
    e('Date', 'date', 'dateTime', { required: true }),
    e('MMStatus', 'mmStatus', 'string', { required: true }),
    e('MMStatusExtension', 'mmStatusExtension', 'string', { rel6: true }),
    e('StatusText', 'statusText', 'string'),
    ...APPLIC,
    e('UACapabilities', 'uaCapabilities', 'uaCapabilities'),
  ],
  DeliveryReportRsp: SIMPLE_RSP,
  ReadReplyReq: [
    VERSION,
    e('MMSRelayServerID', 'mmsRelayServerId', 'string'),
    e('MessageID', 'messageId', 'string', { required: true }),
    e('Recipient', 'recipient', 'address', { required: true }),
    e('Sender', 'sender', 'address', { required: true }),
    e('TimeStamp', 'timeStamp', 'dateTime', { required: true }),
    e('MMStatus', 'mmStatus', 'string', { required: true }),
    e('StatusText', 'statusText', 'string'),
    ...APPLIC,
  ],
  ReadReplyRsp: SIMPLE_RSP,
  RSErrorRsp: [VERSION, e('MMSRelayServerID', 'mmsRelayServerId', 'string'), STATUS],
  VASPErrorRsp: [VERSION, e('SenderIdentification', 'senderIdentification', 'senderIdentification'), STATUS],
  extendedCancelReq: [
    VERSION,
    e('SenderIdentification', 'senderIdentification', 'senderIdentification', { required: true }),
    e('CancelID', 'cancelId', 'string', { required: true }),
    ...APPLIC,
  ],
  extendedCancelRsp: SIMPLE_RSP,
  extendedReplaceReq: [
    VERSION,
    e('SenderIdentification', 'senderIdentification', 'senderIdentification', { required: true }),
    e('ReplaceID', 'replaceId', 'string', { required: true }),
    e('ServiceCode', 'serviceCode', 'string'),
    e('TimeStamp', 'timeStamp', 'dateTime'),
    e('EarliestDeliveryTime', 'earliestDeliveryTime', 'time'),
    e('ExpiryDate', 'expiryDate', 'time'),
    e('ReadReply', 'readReply', 'boolean'),
    e('DeliveryReport', 'deliveryReport', 'boolean'),
    ...APPLIC,
    e('Content', 'content', 'content'),
  ],
  extendedReplaceRsp: [VERSION, STATUS, e('MessageID', 'messageId', 'string')],
};

/** Messages that exist only in the REL-6 schemas. */
export const REL6_ONLY: ReadonlySet<Mm7MessageType> = new Set(['extendedCancelReq', 'extendedCancelRsp', 'extendedReplaceReq', 'extendedReplaceRsp']);

/** Messages sent inside a SOAP Fault's detail. */
export const FAULT_MESSAGES: ReadonlySet<Mm7MessageType> = new Set(['RSErrorRsp', 'VASPErrorRsp']);
