/**
 * The h.3 SubmitReq (spec §h.3) and its content, as models for
 * encodeMm7Http: bench/mm7.ts times their parse and build, bench/accept.ts
 * posts them to the gateway.
 */
import { randomBytes } from 'node:crypto';
import type { Mm7Envelope } from '../protocol/mm7/model.js';
import type { MimeEntity } from '../protocol/mm7/mime-types.js';

/** The h.3 SubmitReq as a model; `who` replaces the sender and recipient (bench/accept uses the demo VASP). */
export function submitEnvelope(
  transactionId: string,
  who: { vaspId: string; vasId: string; shortCode: string; to: string } = { vaspId: 'acme', vasId: 'news', shortCode: '12345', to: '+447700900123' },
): Mm7Envelope {
  return {
    release: 'REL-6-MM7-1-4',
    transactionId,
    message: {
      type: 'SubmitReq',
      mm7Version: '6.8.0',
      senderIdentification: { vaspId: who.vaspId, vasId: who.vasId, senderAddress: { kind: 'ShortCode', value: who.shortCode } },
      recipients: { to: [{ kind: 'Number', value: who.to }], cc: [], bcc: [] },
      serviceCode: 'ARCH-1',
      messageClass: 'Informational',
      timeStamp: new Date('2024-05-01T10:00:00Z'),
      expiryDate: { relative: 'P2D' },
      deliveryReport: true,
      readReply: false,
      priority: 'Normal',
      subject: 'Archive test',
      distributionIndicator: true,
      content: { href: 'cid:mms-content@acme', allowAdaptations: true },
    },
  };
}

/** Text-only content: one text/plain entity. */
export function textContent(): MimeEntity {
  return { mediaType: 'text/plain', params: { charset: 'utf-8' }, contentLocation: 'text.txt', headers: [], body: Buffer.from('Your ticket code is 4711. Show this message at the gate.') };
}

/** Text + a JPEG of `size` random octets (incompressible, as a real JPEG), in a multipart/mixed as h.3. */
export function photoContent(size: number): MimeEntity {
  return {
    mediaType: 'multipart/mixed',
    params: {},
    headers: [],
    parts: [
      { mediaType: 'text/plain', params: { charset: 'utf-8' }, contentId: 't1@acme', contentLocation: 'hello.txt', headers: [], body: Buffer.from('Hello from the archive test.') },
      { mediaType: 'image/jpeg', params: {}, contentId: 'i1@acme', contentLocation: 'photo.jpg', headers: [], body: randomBytes(size) },
    ],
  };
}
