/** Start of the tumbling window of `windowSeconds` holding `timeMs`, in epoch seconds (aligned to the Unix epoch, UTC). */
export function windowStartSeconds(timeMs: number, windowSeconds: number): number {
  return Math.floor(Math.floor(timeMs / 1000) / windowSeconds) * windowSeconds;
}

/**
 * The earliest end (epoch ms) among the windows of an event at `timeMs`, one of each size. An event
 * is late once the watermark has reached it: its first window to close is closed, and it is then
 * applied to none of its windows (never to some and not others).
 */
export function earliestWindowEndMs(timeMs: number, windowSeconds: readonly number[]): number {
  let earliest = Number.POSITIVE_INFINITY;
  for (const size of windowSeconds) {
    const end = (windowStartSeconds(timeMs, size) + size) * 1000;
    if (end < earliest) earliest = end;
  }
  return earliest;
}

/** Options of {@link WatermarkClock}. */
export interface WatermarkOptions {
  readonly allowedLatenessMs: number;
  /**
   * Quiet time after which the watermark follows the wall clock: no message delivered for this
   * long means the consumer has caught up with the queue.
   */
  readonly idleAfterMs: number;
}

/**
 * The watermark of one consumer group and topic, in epoch milliseconds: the largest event time seen
 * minus the allowed lateness, never moving back. While no message arrives for `idleAfterMs` it also
 * advances by the wall-clock time passed since the last arrival (never beyond wall clock minus the
 * allowed lateness), so windows close on a quiet stream. While messages keep arriving — a backlog
 * being drained, however fast — it depends on event times only.
 */
export class WatermarkClock {
  #watermarkMs: number | undefined;
  #maxEventMs: number | undefined;
  #lastArrivalWallMs: number;
  /** The watermark when the last message arrived: where the idle advance starts from. */
  #watermarkAtArrivalMs: number | undefined;

  constructor(
    private readonly options: WatermarkOptions,
    nowMs: number,
  ) {
    this.#lastArrivalWallMs = nowMs;
  }

  /** The current watermark (epoch ms), `undefined` before any event or stored watermark. */
  get watermarkMs(): number | undefined {
    return this.#watermarkMs;
  }

  /** Takes a persisted watermark (another worker's, or this group's before a restart) when it is ahead. */
  adopt(watermarkMs: number | undefined): void {
    if (watermarkMs === undefined) return;
    if (this.#watermarkMs === undefined || watermarkMs > this.#watermarkMs) this.#watermarkMs = watermarkMs;
    if (this.#watermarkAtArrivalMs === undefined || watermarkMs > this.#watermarkAtArrivalMs) {
      this.#watermarkAtArrivalMs = watermarkMs;
    }
  }

  /** Records that messages arrived now (valid, invalid or duplicate: the consumer is not idle). */
  arrived(nowMs: number): void {
    this.#lastArrivalWallMs = nowMs;
    this.#watermarkAtArrivalMs = this.#watermarkMs;
  }

  /** Records the time of an event that will be applied (not late, not from the future). */
  observe(eventMs: number): void {
    if (this.#maxEventMs !== undefined && eventMs <= this.#maxEventMs) return;
    this.#maxEventMs = eventMs;
    const candidate = eventMs - this.options.allowedLatenessMs;
    if (this.#watermarkMs === undefined || candidate > this.#watermarkMs) this.#watermarkMs = candidate;
    if (this.#watermarkAtArrivalMs === undefined || candidate > this.#watermarkAtArrivalMs) {
      this.#watermarkAtArrivalMs = candidate;
    }
  }

  /** Applies the idle advance when the consumer has been quiet long enough; returns the watermark. */
  tick(nowMs: number): number | undefined {
    const quietMs = nowMs - this.#lastArrivalWallMs;
    if (quietMs >= this.options.idleAfterMs) {
      const ceiling = nowMs - this.options.allowedLatenessMs;
      const base = this.#watermarkAtArrivalMs ?? ceiling;
      const advanced = Math.min(base + quietMs, ceiling);
      if (this.#watermarkMs === undefined || advanced > this.#watermarkMs) this.#watermarkMs = advanced;
    }
    return this.#watermarkMs;
  }
}
