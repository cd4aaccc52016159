import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { HealthCheckResult, InterfaceName } from '@platform-host/contracts';
import type { HostLifecycle } from '../lifecycle/host-lifecycle.js';

/** One adapter whose health the readiness probe aggregates. */
export interface HealthTarget {
  readonly interface: InterfaceName;
  readonly adapter: string;
  check(): Promise<HealthCheckResult>;
}

export interface ReadinessReport {
  readonly status: 'ok' | 'error' | 'shutting_down' | 'starting';
  readonly checks: Record<string, { status: 'ok' | 'error'; adapter: string; detail?: string }>;
}

const CHECK_TIMEOUT_MS = 5000;

async function checkWithTimeout(target: HealthTarget): Promise<HealthCheckResult> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      target
        .check()
        .catch((error: unknown) => ({ ok: false, detail: error instanceof Error ? error.message : String(error) })),
      new Promise<HealthCheckResult>((resolve) => {
        timer = setTimeout(
          () => resolve({ ok: false, detail: `no answer within ${CHECK_TIMEOUT_MS} ms` }),
          CHECK_TIMEOUT_MS,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs every adapter health check (in parallel) and combines them with the lifecycle phase. */
export async function readiness(lifecycle: HostLifecycle, targets: readonly HealthTarget[]): Promise<ReadinessReport> {
  if (lifecycle.phase === 'shutting_down' || lifecycle.phase === 'stopped')
    return { status: 'shutting_down', checks: {} };
  const results = await Promise.all(targets.map(async (target) => [target, await checkWithTimeout(target)] as const));
  const checks: ReadinessReport['checks'] = {};
  for (const [target, result] of results) {
    checks[target.interface] = {
      status: result.ok ? 'ok' : 'error',
      adapter: target.adapter,
      ...(result.detail ? { detail: result.detail } : {}),
    };
  }
  // Shutdown may have begun while the checks ran.
  if (!lifecycle.ready) return { status: lifecycle.phase === 'starting' ? 'starting' : 'shutting_down', checks };
  return { status: results.every(([, result]) => result.ok) ? 'ok' : 'error', checks };
}

/**
 * The `node:http` health server of services and workers (seed 8): `/health/live` (the event loop
 * answers), `/health/ready` (every constructed adapter's healthCheck, 503 once shutdown begins),
 * `/health/startup` (200 once `run()` has begun).
 */
export class HealthServer {
  private server: Server | undefined;

  constructor(
    private readonly lifecycle: HostLifecycle,
    private readonly targets: readonly HealthTarget[],
  ) {}

  /** Starts listening on 127.0.0.1-or-all interfaces; resolves with the bound port. */
  async listen(port: number, host = '0.0.0.0'): Promise<number> {
    const server = createServer((request, response) => {
      const send = (status: number, body: unknown): void => {
        response.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
        response.end(JSON.stringify(body));
      };
      const path = (request.url ?? '/').split('?')[0];
      if (request.method !== 'GET' && request.method !== 'HEAD')
        return send(405, { status: 'error', detail: 'method not allowed' });
      if (path === '/health/live') return send(200, { status: 'ok' });
      if (path === '/health/startup')
        return send(this.lifecycle.started ? 200 : 503, { status: this.lifecycle.started ? 'ok' : 'starting' });
      if (path === '/health/ready') {
        readiness(this.lifecycle, this.targets).then(
          (report) => send(report.status === 'ok' ? 200 : 503, report),
          (error: unknown) => send(503, { status: 'error', detail: String(error) }),
        );
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

  /** Stops accepting connections and closes idle ones. */
  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    server.closeIdleConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
