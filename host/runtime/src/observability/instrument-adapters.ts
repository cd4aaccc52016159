import type { Cache, Database, InterfaceName, InterfaceTypes, MessageQueue } from '@platform-host/contracts';
import type { ConstructedAdapter } from '../wiring/wire-adapters.js';
import { instrumentCache } from './cache-metrics.js';
import { instrumentDatabase } from './database-metrics.js';
import { instrumentMessageQueue } from './queue-metrics.js';
import type { PlatformMetricsScope } from './scope.js';

/**
 * The instrumented stand-in for one constructed adapter: the database, queue and cache get their
 * standard platform metrics (DESIGN.md decision 14); every other interface is returned as is.
 */
export function instrumentAdapter<K extends InterfaceName>(
  name: K,
  instance: InterfaceTypes[K],
  scope: PlatformMetricsScope,
): InterfaceTypes[K] {
  switch (name) {
    case 'database':
      return instrumentDatabase(instance as Database, scope) as InterfaceTypes[K];
    case 'message_queue':
      return instrumentMessageQueue(instance as MessageQueue, scope) as InterfaceTypes[K];
    case 'cache':
      return instrumentCache(instance as Cache, scope) as InterfaceTypes[K];
    default:
      return instance;
  }
}

/**
 * The constructed adapters with the database, queue and cache replaced by their instrumenting
 * proxies (same order, same records). Register these instances — not the originals — where
 * modules and the host resolve them, so every call is measured.
 */
export function instrumentAdapters(
  scope: PlatformMetricsScope,
  constructed: readonly ConstructedAdapter[],
): ConstructedAdapter[] {
  return constructed.map((adapter) => ({
    ...adapter,
    instance: instrumentAdapter(adapter.interface, adapter.instance, scope),
  }));
}
