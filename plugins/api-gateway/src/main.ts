import type { AddressInfo } from 'node:net';
import type { PlatformContext } from '@platform-host/contracts';
import { buildGateway } from './app.js';
import { declareGatewayMetrics } from './gateway-metrics.js';
import { readSettings } from './settings.js';

/** The interfaces api_gateway uses (module.json declares the same). */
export const GATEWAY_INTERFACES = ['database', 'cache', 'message_queue', 'logging', 'metrics'] as const;
export type GatewayContext = PlatformContext<(typeof GATEWAY_INTERFACES)[number]>;

/**
 * Runs the HTTP API until shutdown. Stop intake closes the listener (no new connections; idle
 * keep-alive connections are closed, requests on busy ones are answered with `Connection: close`);
 * the host drain waits for every request in flight (each is tracked work), then `run()` resolves
 * and the process exits 0.
 */
export async function run(ctx: GatewayContext): Promise<number> {
  const settings = readSettings(ctx.config);
  const metrics = declareGatewayMetrics(ctx.metrics);
  const { app, responseCache } = await buildGateway({
    db: ctx.db,
    cache: ctx.cache,
    mq: ctx.mq,
    log: ctx.log,
    metrics,
    settings,
    trackWork: (work) => void ctx.lifecycle.trackWork(work),
  });
  // The cache is an optimisation: without it requests are answered from the database.
  ctx.lifecycle.tolerateUnhealthy('cache');
  ctx.lifecycle.addReadinessCheck('response_cache', () =>
    responseCache.degraded
      ? {
          ok: true,
          detail: `degraded: answering from the database (${responseCache.degradedReason ?? 'cache failed'})`,
        }
      : { ok: true },
  );
  await app.listen({ port: settings.port, host: settings.host });
  const address = app.server.address() as AddressInfo;
  ctx.log.info('API gateway listening', {
    host: settings.host,
    port: address.port,
    topic: settings.topic,
    cacheTtlSeconds: settings.cacheTtlSeconds,
    staleTtlSeconds: settings.staleTtlSeconds,
  });
  const closed = new Promise<void>((resolve) => {
    ctx.lifecycle.onStopAccepting(() => {
      // Not awaited here: closing waits for the requests in flight, which is the drain's job.
      void ctx.lifecycle.trackWork(app.close()).then(resolve, resolve);
    }, 'api_gateway HTTP listener');
  });
  await closed;
  ctx.log.info('API gateway stopped accepting requests; in-flight requests answered');
  return 0;
}
