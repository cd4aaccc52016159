import type { QueueMessage } from '../interfaces/message-queue.js';

/** What {@link PendingDeadLetters} needs: the queue's dead-letter call and what to do around it. */
export interface PendingDeadLettersOptions {
  /** Publishes the dead letter of `message` and acknowledges it (`MessageQueue.deadLetter`); resolves once durable. */
  readonly publish: (message: QueueMessage, reason: string, error: string) => Promise<void>;
  /** Called once for each dead letter that became durable (counters, offsets to record). */
  readonly onDurable?: (message: QueueMessage, reason: string) => void;
  /** Called after each failed attempt; the dead letter is tried again after `retryInMs`. */
  readonly onFailure?: (message: QueueMessage, reason: string, failure: unknown, retryInMs: number) => void;
  /** Delay before attempt `failures + 1` (default 100 ms doubling up to {@link MAX_DEAD_LETTER_RETRY_MS}). */
  readonly retryDelayMs?: (failures: number) => number;
}

/** The longest wait between two attempts at one dead letter. */
export const MAX_DEAD_LETTER_RETRY_MS = 5000;

/** One message whose dead letter is not durable yet. */
interface Entry {
  readonly message: QueueMessage;
  readonly partition: number;
  /** The message's offset on a partitioned queue; `undefined` where positions are not numbers (Redis ids). */
  readonly offset: bigint | undefined;
  /** The attempt running now, or the last failed one while a retry waits; never rejects. */
  attempt: Promise<boolean>;
  failures: number;
  timer: NodeJS.Timeout | undefined;
  abandoned: boolean;
}

/**
 * The dead letters a consumer has started and that are not durable yet, by partition and offset.
 *
 * A partitioned queue records progress as one position per partition (a high-water offset, a
 * committed offset): a position that covers an invalid message says it was handled, so its dead
 * letter must be durable first (DESIGN.md decision 15: dead letters instead of drops). Handlers
 * start dead letters here without waiting for each one; whoever records a position first awaits
 * {@link settle} and then keeps below {@link blockingOffsets}: the lowest offset of each partition
 * whose dead letter is still not durable. A failed publish is retried (with backoff) until it
 * succeeds or its partition is revoked, so it blocks its offset instead of being skipped.
 */
export class PendingDeadLetters {
  readonly #options: PendingDeadLettersOptions;
  readonly #entries = new Map<string, Entry>();

  constructor(options: PendingDeadLettersOptions) {
    this.#options = options;
  }

  /** Dead letters not durable yet (publishing, or waiting for a retry). */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Starts publishing the dead letter of `message`. Resolves (never rejects) once the first attempt
   * settled: true when the dead letter is durable, false when it failed and is being retried. A
   * message whose dead letter is already under way is not published twice.
   */
  deadLetter(message: QueueMessage, reason: string, error: string): Promise<boolean> {
    const known = this.#entries.get(message.id);
    if (known !== undefined) return known.attempt;
    const entry: Entry = {
      message,
      partition: message.partition ?? 0,
      offset: message.offset !== undefined && /^\d+$/.test(message.offset) ? BigInt(message.offset) : undefined,
      attempt: Promise.resolve(false),
      failures: 0,
      timer: undefined,
      abandoned: false,
    };
    this.#entries.set(message.id, entry);
    return this.#attempt(entry, reason, error);
  }

  /** Waits until every attempt running now has settled (succeeded, or failed and waiting for a retry). */
  async settle(): Promise<void> {
    const running = [...this.#entries.values()].map((entry) => entry.attempt);
    if (running.length > 0) await Promise.all(running);
  }

  /**
   * The lowest offset per partition whose dead letter is not durable: a position recorded now
   * must stay below it. Partitions without one are absent.
   */
  blockingOffsets(): Map<number, bigint> {
    const blocks = new Map<number, bigint>();
    for (const entry of this.#entries.values()) {
      if (entry.offset === undefined) continue;
      const known = blocks.get(entry.partition);
      if (known === undefined || entry.offset < known) blocks.set(entry.partition, entry.offset);
    }
    return blocks;
  }

  /**
   * Stops retrying the dead letters of `partitions` (revoked: their messages are not acknowledged,
   * so the next owner receives and dead-letters them again). All partitions when omitted.
   */
  abandon(partitions?: Iterable<number>): void {
    const which = partitions === undefined ? undefined : new Set(partitions);
    for (const [id, entry] of this.#entries) {
      if (which !== undefined && !which.has(entry.partition)) continue;
      entry.abandoned = true;
      if (entry.timer !== undefined) clearTimeout(entry.timer);
      this.#entries.delete(id);
    }
  }

  #attempt(entry: Entry, reason: string, error: string): Promise<boolean> {
    const attempt = this.#options.publish(entry.message, reason, error).then(
      () => {
        if (entry.abandoned) return false;
        this.#entries.delete(entry.message.id);
        this.#options.onDurable?.(entry.message, reason);
        return true;
      },
      (failure: unknown) => {
        if (entry.abandoned) return false;
        entry.failures += 1;
        const retryInMs = (this.#options.retryDelayMs ?? retryBackoffMs)(entry.failures);
        this.#options.onFailure?.(entry.message, reason, failure, retryInMs);
        entry.timer = setTimeout(() => {
          entry.timer = undefined;
          if (!entry.abandoned) void this.#attempt(entry, reason, error);
        }, retryInMs);
        return false;
      },
    );
    entry.attempt = attempt;
    return attempt;
  }
}

/**
 * The wait before trying again something that has failed `failures` times (1 or more): 100 ms,
 * doubled per failure, at most {@link MAX_DEAD_LETTER_RETRY_MS}. The one backoff of the consumers'
 * retries: dead letters here, and the modules' flushes and commits while their store is down.
 */
export function retryBackoffMs(failures: number): number {
  return Math.min(MAX_DEAD_LETTER_RETRY_MS, 100 * 2 ** (failures - 1));
}
