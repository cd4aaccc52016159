import { PlatformError, REFS, defineAdapter } from '@platform-host/contracts';
import type { AdapterConfig } from '@platform-host/contracts';
import { PrometheusMetrics } from './prometheus-metrics.js';

export { PrometheusMetrics } from './prometheus-metrics.js';
export type { PrometheusMetricsOptions } from './prometheus-metrics.js';

function choice<T extends string>(config: AdapterConfig, key: string, allowed: readonly T[], fallback: T): T {
  const value = (config.get(key) ?? fallback).trim().toLowerCase();
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new PlatformError('PH_ERR_CONFIG_INVALID', `${key} must be one of ${allowed.join(', ')}`, {
    hint: `Set ${key} to ${allowed.join(' or ')}, or unset it for ${fallback}.`,
  });
}

function port(config: AdapterConfig): number {
  const value = config.integer('METRICS_PROMETHEUS_PORT', 9090);
  if (value < 0 || value > 65_535) {
    throw new PlatformError(
      'PH_ERR_CONFIG_INVALID',
      `METRICS_PROMETHEUS_PORT must be a port from 0 to 65535, got ${value}`,
      {
        hint: 'Set METRICS_PROMETHEUS_PORT to a port (0: any free port), or METRICS_PROMETHEUS_SERVE=false to not serve /metrics.',
      },
    );
  }
  return value;
}

/**
 * `--metrics prometheus`: prom-client in a private registry, served as `/metrics` (pull) and/or
 * pushed to a Pushgateway at flush (jobs). `METRICS_PROMETHEUS_SERVE=auto` (the default) serves
 * unless a Pushgateway URL is set.
 */
export default defineAdapter({
  interface: 'metrics',
  dependencies: { logger: REFS.logging },
  create: ({ config, logger }) => {
    const pushgatewayUrl = config.get('METRICS_PROMETHEUS_PUSHGATEWAY_URL') || undefined;
    const serve = choice(config, 'METRICS_PROMETHEUS_SERVE', ['auto', 'true', 'false'], 'auto');
    return new PrometheusMetrics({
      serve: serve === 'auto' ? pushgatewayUrl === undefined : serve === 'true',
      port: port(config),
      host: config.get('METRICS_PROMETHEUS_HOST') || '0.0.0.0',
      pushgatewayUrl,
      jobName: config.get('METRICS_PROMETHEUS_JOB') || 'platform_host',
      defaultMetrics: choice(config, 'METRICS_PROMETHEUS_DEFAULT_METRICS', ['true', 'false'], 'true') === 'true',
      logger,
    });
  },
});
