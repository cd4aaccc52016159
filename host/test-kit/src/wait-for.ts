import { setTimeout as sleep } from 'node:timers/promises';

/** How often {@link waitFor} re-evaluates its condition. */
const POLL_INTERVAL_MS = 10;

/**
 * Polls `condition` until it returns true, or rejects once `timeoutMs` has passed. Use it instead
 * of a fixed sleep to wait for something asynchronous (a delivery, an expiry):
 *
 * ```ts
 * await waitFor(() => received.length === 10, 5000, 'ten deliveries');
 * ```
 *
 * The condition is evaluated at least once, even with a timeout of 0. An exception thrown by the
 * condition rejects at once.
 *
 * @param description What is awaited, used in the error message ("timed out after 5000 ms waiting for ten deliveries").
 */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 5000,
  description = 'the condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() >= deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${description}`);
    await sleep(POLL_INTERVAL_MS);
  }
}
