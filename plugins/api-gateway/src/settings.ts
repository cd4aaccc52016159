import type { ModuleConfig } from '@platform-host/contracts';

/** The module arguments of api_gateway, read once. */
export interface GatewaySettings {
  readonly port: number;
  readonly host: string;
  readonly cacheTtlSeconds: number;
  readonly staleTtlSeconds: number;
  readonly maxPageSize: number;
  readonly topic: string;
}

/** Reads the validated arguments (the host checked types, formats and ranges against module.json). */
export function readSettings(config: ModuleConfig): GatewaySettings {
  return {
    port: config.integer('port'),
    host: config.string('host'),
    cacheTtlSeconds: Math.max(config.durationMs('cache-ttl'), 1) / 1000,
    staleTtlSeconds: config.durationMs('stale-ttl') / 1000,
    maxPageSize: config.integer('max-page-size'),
    topic: config.string('topic'),
  };
}
