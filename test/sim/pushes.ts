/** Shared by the SMPP bearer and simulator tests: WAP pushes of a chosen size, and waiting for a condition. */
import { encodeMmsPush } from '../../protocol/mms/push.js';
import type { MNotificationInd } from '../../protocol/mms/model.js';
import type { PushRequest } from '../../src/push/notifier.js';

/** An M-Notification.ind; `subjectLength` grows the push past one SMS (128 octets of push per segment). */
export function notification(transactionId: string, subjectLength = 5): MNotificationInd {
  return {
    messageType: 'm-notification-ind',
    transactionId,
    mmsVersion: '1.2',
    from: { text: '12345/TYPE=PLMN' },
    subject: { text: 'S'.repeat(subjectLength), charset: 106 },
    messageClass: 'Personal',
    messageSize: 31_000,
    expiry: { relative: 172_800 },
    contentLocation: `http://127.0.0.1:8081/m/${transactionId}`,
  };
}

export function pushFor(to: string, transactionId: string, subjectLength = 5, tid = 1): PushRequest & { notification: MNotificationInd } {
  const n = notification(transactionId, subjectLength);
  return { to, messageId: `msg-${transactionId}`, pushPdu: encodeMmsPush(n, tid), notification: n };
}

/** Polls `condition` every few ms until it holds (the tap timeout bounds the wait). */
export async function until(condition: () => boolean, what = 'condition'): Promise<void> {
  for (let i = 0; ; i++) {
    if (condition()) return;
    if (i > 10_000) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
