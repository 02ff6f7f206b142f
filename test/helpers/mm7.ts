import type { Mm7Envelope, Mm7Message } from '../../protocol/mm7/model.js';

/** A REL-6-MM7-1-4 SubmitReq from the demo VASP (short code 12345) to numbers, with content at cid:content-1. */
export function submitEnvelope(transactionId: string, to: string[], extra: Partial<Mm7Message> = {}): Mm7Envelope {
  return {
    release: 'REL-6-MM7-1-4',
    transactionId,
    message: {
      type: 'SubmitReq',
      mm7Version: '6.8.0',
      senderIdentification: { vaspId: 'demo', vasId: 'demo', senderAddress: { kind: 'ShortCode', value: '12345' } },
      recipients: { to: to.map((value) => ({ kind: 'Number' as const, value })), cc: [], bcc: [] },
      content: { href: 'cid:content-1' },
      ...extra,
    },
  };
}
