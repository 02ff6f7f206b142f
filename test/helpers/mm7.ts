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

/**
 * Server 1's raw config for a test: every listener on 127.0.0.1 port 0, the
 * admin API behind token `demo`, the demo VASP (demo/demo, short code 12345,
 * loopback only, 1000 submits/s); `extra` adds or replaces sections.
 */
export function loopbackMmscConfig(data: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    data,
    mm7: { listen: '127.0.0.1:0' },
    mm1: { listen: '127.0.0.1:0' },
    admin: { listen: '127.0.0.1:0', token: 'demo' },
    vasps: [{ vaspId: 'demo', vasIds: ['demo'], user: 'demo', password: 'demo', shortCodes: ['12345'], loopbackOnly: true, submitsPerSecond: 1000 }],
    ...extra,
  };
}
