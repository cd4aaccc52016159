import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { HostLifecycle } from '../lifecycle/host-lifecycle.js';
import { Readiness, type HealthTarget } from './readiness.js';

/** Options of {@link HealthServer}. */
export interface HealthServerOptions {
  /** Bound of each readiness check in ms (default 3000). */
  readonly checkTimeoutMs?: number;
}

/**
 * The `node:http` health server of services and workers (seed 8): `/health/live` (200 while the
 * event loop answers and no heartbeat is stale; 503 naming the stale ones), `/health/ready` (every
 * adapter's health check and the module's readiness checks, coalesced and bounded, in the seed's
 * shape; 503 before `run()` and once shutdown begins), `/health/startup` (200 once `run()` began).
 */
export class HealthServer {
  private server: Server | undefined;
  readonly readiness: Readiness;

  constructor(
    private readonly lifecycle: HostLifecycle,
    targets: readonly HealthTarget[],
    options: HealthServerOptions = {},
  ) {
    this.readiness = new Readiness(lifecycle, targets, options.checkTimeoutMs);
  }

  /** Starts listening; resolves with the bound port (`0` picks a free one). */
  async listen(port: number, host = '0.0.0.0'): Promise<number> {
    const server = createServer((request, response) => {
      const send = (status: number, body: unknown): void => {
        response.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
        response.end(request.method === 'HEAD' ? undefined : JSON.stringify(body));
      };
      const path = (request.url ?? '/').split('?')[0];
      if (request.method !== 'GET' && request.method !== 'HEAD')
        return send(405, { status: 'error', detail: 'method not allowed' });
      if (path === '/health/live') {
        const stale = this.lifecycle.staleHeartbeats();
        return stale.length === 0 ? send(200, { status: 'ok' }) : send(503, { status: 'error', stale });
      }
      if (path === '/health/startup')
        return send(this.lifecycle.started ? 200 : 503, { status: this.lifecycle.started ? 'ok' : 'starting' });
      if (path === '/health/ready') {
        void this.readiness.report().then((report) => send(report.status === 'ok' ? 200 : 503, report));
        return;
      }
      send(404, { status: 'error', detail: 'not found; try /health/live, /health/ready or /health/startup' });
    });
    server.keepAliveTimeout = 1000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    this.server = server;
    return (server.address() as AddressInfo).port;
  }

  /** Stops accepting connections and closes the open ones. */
  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }
}
