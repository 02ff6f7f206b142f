import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** One notification to hand to a bearer: the WSP push PDU for a terminal. */
export interface PushRequest {
  /** Normalised recipient address, e.g. `+15550002222`. */
  to: string;
  messageId: string;
  /** The complete connectionless WSP push PDU (TID first), carrying an M-Notification.ind. */
  pushPdu: Buffer;
}

/** Hands notifications to a bearer. Resolves once the bearer took responsibility for it. */
export interface Notifier {
  notify(push: PushRequest): Promise<void>;
}

/**
 * The test-lab bearer: each push as a file, plus one JSON line per push in
 * `index.jsonl` (time, to, message id, file, size). The file is written
 * before the index line, so a reader of the index always finds the file.
 */
export class SpoolNotifier implements Notifier {
  private seq = 0;
  private ready: Promise<void> | undefined;

  constructor(
    readonly dir: string,
    private readonly clock: { now(): Date } = { now: () => new Date() },
  ) {}

  async notify(push: PushRequest): Promise<void> {
    this.ready ??= mkdir(this.dir, { recursive: true }).then(() => undefined);
    await this.ready;
    const now = this.clock.now();
    const file = `${now.getTime()}-${process.pid}-${++this.seq}.push`;
    await writeFile(join(this.dir, file), push.pushPdu);
    const line = { time: now.toISOString(), to: push.to, messageId: push.messageId, file, size: push.pushPdu.length };
    await appendFile(join(this.dir, 'index.jsonl'), `${JSON.stringify(line)}\n`);
  }
}
