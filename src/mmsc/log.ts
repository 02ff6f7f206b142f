/**
 * Structured logs (pino): one JSON line per event, with time, level, event,
 * messageId and requestId first. `createLogger` returns the plain
 * `(event) => void` callback every component already takes.
 *
 * Request ids: a front end gives each HTTP request a RequestContext and
 * hands its id on explicitly: its own events carry it, and so do the core's
 * events about what the request caused (e.g. `notified` after an accept:
 * the outbox worker keeps the id with the jobs it runs in memory). The id
 * is the one sent back as X-Request-Id. Not an AsyncLocalStorage: its
 * promise hooks ran for every promise of the process, and the text-only
 * accept bench spent 7-10 % more main-thread CPU per accept with it.
 */
import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import pino from 'pino';

export type LogFn = (event: Record<string, unknown>) => void;

export interface RequestContext {
  readonly requestId: string;
  /** What the request turned out to be (MM7 message type, MM1 PDU type, `retrieve`), for metrics. */
  operation: string;
}

/** A new request: a random id, already set as the X-Request-Id response header. */
export function startRequest(res: ServerResponse): RequestContext {
  const ctx: RequestContext = { requestId: randomUUID(), operation: 'unknown' };
  res.setHeader('X-Request-Id', ctx.requestId);
  return ctx;
}

/** A request id as a log field, none when there is none (a poll's job, a sweep): spread it into an event. */
export function requestIdField(requestId: string | undefined): { requestId?: string } {
  return requestId === undefined ? {} : { requestId };
}

/** Wraps a log callback so each event gets this request id, unless it has one. */
export function withRequestId(log: LogFn | undefined, requestId: string): LogFn | undefined {
  if (!log) return undefined;
  return (event) => log(event.requestId === undefined ? Object.assign({}, event, { requestId }) : event);
}

type Level = 'error' | 'warn' | 'info';

/**
 * Levels from event names: failures are errors, refused input is a warning, the rest is info.
 * A sync pull or hint that failed is retried on its own timer (the other node is
 * still starting, or down for a while): a warning, not an error.
 */
function levelOf(event: string): Level {
  if (/sync.*-failed|hint-failed/.test(event)) return 'warn';
  if (/error|failed/.test(event)) return 'error';
  if (/malformed|rejected|refused/.test(event)) return 'warn';
  return 'info';
}

/** Line buffers to write out before the process exits. */
const unflushed = new Set<TurnBuffer>();
let exitHookSet = false;

/**
 * The lines of one event-loop turn, written as one chunk at its end
 * (setImmediate), in order. A write() per line cost a system call per
 * line, ~2 us here: a busy node writes two lines per accepted message, and
 * the text-only accept load spent 1-8 % less main-thread CPU per message
 * with them joined (6 interleaved pairs, pino lines to /dev/null). What
 * waits is at most one turn's lines: written on process exit too (an
 * uncaught exception included); a SIGKILL can take them. A buffer with
 * lines waiting is in `unflushed`, with its flush scheduled.
 */
class TurnBuffer {
  #lines: string[] = [];

  constructor(private readonly out: (chunk: string) => void) {
    if (!exitHookSet) {
      exitHookSet = true;
      process.on('exit', () => {
        for (const b of unflushed) b.flush();
      });
    }
  }

  write(line: string): void {
    this.#lines.push(line);
    if (unflushed.has(this)) return;
    unflushed.add(this);
    setImmediate(() => this.flush());
  }

  flush(): void {
    unflushed.delete(this);
    if (this.#lines.length === 0) return;
    const chunk = this.#lines.length === 1 ? this.#lines[0]! : this.#lines.join('');
    this.#lines = [];
    this.out(chunk);
  }
}

/** A logger writing JSON lines to `destination` (a stream, or a file descriptor; default stderr), each turn's lines in one write. */
export function createLogger(destination: pino.DestinationStream | number = 2): LogFn {
  // A file descriptor through pino's own writer (SonicBoom): it finishes partial writes and retries EAGAIN.
  const sink = typeof destination === 'number' ? pino.destination({ dest: destination, sync: true }) : destination;
  const stream = new TurnBuffer((chunk) => void sink.write(chunk));
  const logger = pino(
    {
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    stream,
  );
  // Built key by key: a rest-destructuring and an object that starts with a spread each cost
  // microseconds on Node 20, and a busy node logs two lines per message.
  return (e) => {
    const name = typeof e.event === 'string' ? e.event : 'log';
    const line: Record<string, unknown> = { event: name };
    if (e.messageId !== undefined) line.messageId = e.messageId;
    if (e.requestId !== undefined) line.requestId = e.requestId;
    for (const key in e) if (key !== 'event' && key !== 'messageId' && key !== 'requestId') line[key] = e[key];
    logger[levelOf(name)](line);
  };
}
