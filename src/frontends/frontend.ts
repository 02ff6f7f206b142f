import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { startRequest, withRequestId, type LogFn, type RequestContext } from '../mmsc/log.js';
import type { Metrics } from '../mmsc/metrics.js';
import { close, listen, send } from './http-util.js';

export interface FrontendBase {
  host: string;
  port: number;
  log?: LogFn;
  metrics?: Metrics;
}

/**
 * What the MM7 and MM1 front ends share: one HTTP listener whose requests
 * each get a request context (request id in logs and X-Request-Id,
 * operation and duration in the metrics), a 500 for bugs, start() on port 0
 * in tests and stop() that lets requests in flight finish.
 */
export abstract class Frontend {
  private readonly server: Server;
  port = 0;

  constructor(
    private readonly base: FrontendBase,
    iface: 'mm7' | 'mm1',
  ) {
    this.server = createServer((req, res) => {
      const ctx = startRequest(res);
      base.metrics?.timeRequest(res, iface, () => ctx.operation);
      this.handle(req, res, ctx).catch((e: unknown) => {
        this.logFor(ctx)?.({ event: `${iface}-internal-error`, error: String(e) });
        if (!res.headersSent) send(res, 500, 'internal error');
      });
    });
  }

  /** `ctx.operation` is for the handler to set once it knows what the request is. */
  protected abstract handle(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): Promise<void>;

  /** The log callback with this request's id on every event. */
  protected logFor(ctx: RequestContext): LogFn | undefined {
    return withRequestId(this.base.log, ctx.requestId);
  }

  async start(): Promise<number> {
    this.port = await listen(this.server, this.base.host, this.base.port);
    return this.port;
  }

  stop(): Promise<void> {
    return close(this.server);
  }
}
