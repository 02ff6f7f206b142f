/**
 * Builds the notifier of server 1 from its `push` configuration: each
 * named bearer (smpp, pap, http, spool), and the selection of a bearer per
 * number range with a fallback. Without a `push` section every push goes
 * to the spool (the test-lab default).
 */
import type { MmscConfig } from '../config/mmsc.js';
import type { Clock } from '../mmsc/model.js';
import { HttpNotifier } from './http.js';
import { SpoolNotifier, type Notifier } from './notifier.js';
import { PapNotifier } from './pap.js';
import { SelectingNotifier } from './select.js';
import { SmppNotifier } from './smpp.js';

export interface Bearers {
  notifier: Notifier;
  /** Connect what connects (SMPP binds) now rather than at the first push. */
  start(): void;
  /** Unbinds and closes; pushes in flight are rejected as retryable and stay in the outbox. */
  close(): Promise<void>;
}

/** `spoolDir`: where a spool bearer without a dir of its own writes (notifier.dir, or <data>/spool). */
export function buildBearers(config: Pick<MmscConfig, 'push' | 'notifier'>, spoolDir: string, clock: Clock, log?: (event: Record<string, unknown>) => void): Bearers {
  const spool = (dir: string | undefined): SpoolNotifier => new SpoolNotifier(dir ?? spoolDir, clock);
  if (!config.push) {
    const notifier = spool(undefined);
    return { notifier, start: () => undefined, close: async () => undefined };
  }
  const smpp: SmppNotifier[] = [];
  const named: Record<string, Notifier> = {};
  for (const [name, b] of Object.entries(config.push.bearers)) {
    switch (b.kind) {
      case 'smpp': {
        const { kind: _kind, ...options } = b;
        const n = new SmppNotifier({ ...options, ...(log ? { log: (e) => log({ bearer: name, ...e }) } : {}) });
        smpp.push(n);
        named[name] = n;
        break;
      }
      case 'pap':
        named[name] = PapNotifier.fromConfig(b, clock);
        break;
      case 'http':
        named[name] = HttpNotifier.fromConfig(b, clock);
        break;
      case 'spool':
        named[name] = spool(b.dir);
        break;
    }
  }
  return {
    notifier: new SelectingNotifier(config.push.select, named),
    start: () => smpp.forEach((n) => n.start()),
    close: async () => {
      await Promise.all(smpp.map((n) => n.close()));
    },
  };
}
