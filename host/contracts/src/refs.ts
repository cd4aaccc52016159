import type { Cache } from './interfaces/cache.js';
import type { Database } from './interfaces/database.js';
import type { FileSystem } from './interfaces/filesystem.js';
import type { Logger } from './interfaces/logger.js';
import type { MessageQueue } from './interfaces/message-queue.js';
import type { Metrics } from './interfaces/metrics.js';
import type { Secrets } from './interfaces/secrets.js';

/** Each infrastructure interface by the name modules use in `module.json` `dependencies.interfaces`. */
export interface InterfaceTypes {
  database: Database;
  filesystem: FileSystem;
  cache: Cache;
  message_queue: MessageQueue;
  logging: Logger;
  metrics: Metrics;
  secrets: Secrets;
}

export type InterfaceName = keyof InterfaceTypes;

/** All interface names, in the order the host constructs them (secrets and logging first). */
export const INTERFACE_NAMES = [
  'secrets',
  'logging',
  'metrics',
  'database',
  'filesystem',
  'cache',
  'message_queue',
] as const satisfies readonly InterfaceName[];

/**
 * A typed reference to one interface: the only way host code names a service in the DI container,
 * so a resolved value always has the interface's type.
 */
export interface InterfaceRef<K extends InterfaceName> {
  readonly id: K;
  /** The DI token. A symbol registered globally, so copies of this package agree on it. */
  readonly token: symbol;
  /** The global flag that selects this interface's adapter (`db` for `--db`). */
  readonly flag: string;
  /** The property under which a module's context holds it (`db` for `ctx.db`). */
  readonly contextKey: ContextKeys[K];
  /** Phantom field carrying the type; never set at run time. */
  readonly __type?: InterfaceTypes[K];
}

/** The property names in a module's context, as in seed 6.1. */
export interface ContextKeys {
  database: 'db';
  filesystem: 'fs';
  cache: 'cache';
  message_queue: 'mq';
  logging: 'log';
  metrics: 'metrics';
  secrets: 'secrets';
}

function createRef<K extends InterfaceName>(id: K, flag: string, contextKey: ContextKeys[K]): InterfaceRef<K> {
  return Object.freeze({ id, flag, contextKey, token: Symbol.for(`platform-host.interface.${id}`) });
}

/** The typed refs of the seven interfaces. */
export const REFS: { readonly [K in InterfaceName]: InterfaceRef<K> } = Object.freeze({
  database: createRef('database', 'db', 'db'),
  filesystem: createRef('filesystem', 'fs', 'fs'),
  cache: createRef('cache', 'cache', 'cache'),
  message_queue: createRef('message_queue', 'mq', 'mq'),
  logging: createRef('logging', 'log', 'log'),
  metrics: createRef('metrics', 'metrics', 'metrics'),
  secrets: createRef('secrets', 'secrets', 'secrets'),
});

/** True when `name` is one of the seven interface names. */
export function isInterfaceName(name: string): name is InterfaceName {
  return Object.hasOwn(REFS, name);
}
