import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';

const STORE_KEY = Symbol.for('platform-host.correlation-store');
type GlobalWithStore = typeof globalThis & { [STORE_KEY]?: AsyncLocalStorage<string> };

/** One store per process, shared by every copy of this package. */
function store(): AsyncLocalStorage<string> {
  const holder = globalThis as GlobalWithStore;
  holder[STORE_KEY] ??= new AsyncLocalStorage<string>();
  return holder[STORE_KEY];
}

/**
 * Runs `work` with `correlationId` attached to every log entry made inside it, across awaits.
 * Call it at ingestion boundaries (an HTTP request, a consumed message, a job run).
 */
export function withCorrelationId<T>(correlationId: string, work: () => T): T {
  return store().run(correlationId, work);
}

/** The correlation id of the current async context, if any. */
export function currentCorrelationId(): string | undefined {
  return store().getStore();
}

/** A new random correlation id. */
export function newCorrelationId(): string {
  return randomUUID();
}
