import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { inRequest, startRequest, withRequestId, type LogFn } from '../mmsc/log.js';
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
 * each run in a request context (request id in logs and X-Request-Id,
 * duration in the metrics), a 500 for bugs, start() on port 0 in tests and
 * stop() that lets requests in flight finish.
 */
export abstract class Frontend {
  private readonly server: Server;
  /** opts.log with the request id of the request being handled. */
  protected readonly log: LogFn | undefined;
  port = 0;

  constructor(
    private readonly base: FrontendBase,
    iface: 'mm7' | 'mm1',
  ) {
    this.log = withRequestId(base.log);
    this.server = createServer((req, res) => {
      const ctx = startRequest(res);
      base.metrics?.timeRequest(res, iface, () => ctx.operation);
      inRequest(ctx, () => this.handle(req, res)).catch((e: unknown) => {
        this.log?.({ event: `${iface}-internal-error`, error: String(e) });
        if (!res.headersSent) send(res, 500, 'internal error');
      });
    });
  }

  protected abstract handle(req: IncomingMessage, res: ServerResponse): Promise<void>;

  async start(): Promise<number> {
    this.port = await listen(this.server, this.base.host, this.base.port);
    return this.port;
  }

  stop(): Promise<void> {
    return close(this.server);
  }
}
