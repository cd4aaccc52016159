import { isPlatformError, PlatformError, REFS, type Connectable } from '@platform-host/contracts';
import type { ConstructedAdapter } from './wire-adapters.js';

/** True for an adapter instance the host connects and disconnects. */
export function isConnectable(value: unknown): value is Connectable {
  return (
    typeof (value as Partial<Connectable>).connect === 'function' &&
    typeof (value as Partial<Connectable>).disconnect === 'function'
  );
}

/**
 * Calls `connect` and waits for it at most `timeoutMs`. Rejects with its own error when it
 * rejects, or with `PH_ERR_CONNECT` once the deadline passes (the call is abandoned: nobody waits
 * for it any more, and the caller disconnects the adapter). No adapter's connect() — a third-party
 * one included — can hold a run or a command forever.
 */
export async function connectWithin(connect: () => Promise<void>, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new PlatformError('PH_ERR_CONNECT', `connect() did not finish within ${timeoutMs / 1000} s`, {
            hint: 'Check that its backend is reachable and answers, or raise --connect-timeout (PLATFORM_CONNECT_TIMEOUT).',
          }),
        ),
      timeoutMs,
    );
  });
  try {
    await Promise.race([connect(), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Connects one constructed adapter within `timeoutMs` (`--connect-timeout`). Any failure is one
 * `PH_ERR_CONNECT` (exit 1) naming the interface, the adapter and its flag, with the adapter's
 * message, hint and error (as cause): `Cannot connect database adapter postgres (--db postgres): ...`.
 */
export async function connectAdapter(adapter: ConstructedAdapter, timeoutMs: number): Promise<void> {
  if (!isConnectable(adapter.instance)) return;
  const instance = adapter.instance;
  try {
    await connectWithin(() => instance.connect(), timeoutMs);
  } catch (error) {
    throw new PlatformError(
      'PH_ERR_CONNECT',
      `Cannot connect ${adapter.interface} adapter ${adapter.record.name} (--${REFS[adapter.interface].flag} ${adapter.flag}): ${error instanceof Error ? error.message : String(error)}`,
      { cause: error, hint: isPlatformError(error) ? error.hint : undefined },
    );
  }
}
