import { performance } from 'node:perf_hooks';

/** One piece of work under a deadline: finished in time, or expired when due. */
class Pending {
  settled = false;

  constructor(
    readonly due: number,
    public onExpired: (() => void) | undefined,
  ) {}

  /** Marks it settled and lets go of what it held (a settled entry may wait in the queue a while). */
  settle(): void {
    this.settled = true;
    this.onExpired = undefined;
  }
}

/** A deadline started by {@link Deadlines.start}, given back to {@link Deadlines.finish}. */
export type Deadline = object;

/**
 * Deadlines of one fixed length for many concurrent promises, on one timer. Every deadline is
 * `timeoutMs` long, so they fall due in the order they were started: they wait in a FIFO queue,
 * whose settled head is dropped as soon as it settles, and one timer, armed for the oldest unsettled
 * entry, rejects what is overdue. Settled entries behind an unsettled head (one slow request) are
 * compacted away once they outnumber the unsettled ones, so the queue stays about as long as the
 * work in flight.
 *
 * Per promise this costs one small object and no timer. A `setTimeout` per request (the obvious
 * way) costs a `Timeout` resource, a timer-list insertion and removal and, each time the list runs
 * empty (every request of a server that is not busy), a new list in the timer heap and a re-armed
 * libuv timer. The timer here is unref'd: pending work keeps the process alive by its own handles.
 */
export class Deadlines {
  #queue: Pending[] = [];
  #head = 0;
  #unsettled = 0;
  /** True while the timer is armed. */
  #armed = false;

  /** @param timeoutMs how long each promise may take before it is rejected. */
  constructor(readonly timeoutMs: number) {
    if (!(timeoutMs > 0) || !Number.isFinite(timeoutMs)) {
      throw new RangeError(`Deadlines timeoutMs must be a positive number of milliseconds, got ${timeoutMs}`);
    }
  }

  /** How many deadlines are queued (settled ones behind an unsettled head included). */
  get queued(): number {
    return this.#queue.length - this.#head;
  }

  /**
   * `work`'s outcome, or a rejection with `expired()` once it has run for `timeoutMs` (the work
   * itself is not stopped; its later outcome is ignored).
   */
  within<T>(work: Promise<T>, expired: () => Error): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const pending = this.#start(() => reject(expired()));
      work.then(
        (value) => {
          this.#settle(pending);
          resolve(value);
        },
        (error: unknown) => {
          this.#settle(pending);
          // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- passed on unchanged
          reject(error);
        },
      );
    });
  }

  /**
   * Starts a deadline without a promise of its own (for a caller that settles its work itself):
   * `onExpired` is called once it has run for `timeoutMs`, unless {@link finish} came first.
   */
  start(onExpired: () => void): Deadline {
    return this.#start(onExpired);
  }

  /** Ends a deadline of {@link start}: true when in time, false when it had expired already. */
  finish(deadline: Deadline): boolean {
    if (!(deadline instanceof Pending)) throw new TypeError('Deadlines.finish takes what Deadlines.start returned');
    return this.#settle(deadline);
  }

  #start(onExpired: () => void): Pending {
    const pending = new Pending(performance.now() + this.timeoutMs, onExpired);
    this.#queue.push(pending);
    this.#unsettled += 1;
    if (!this.#armed) this.#arm(this.timeoutMs);
    return pending;
  }

  /** Settles `pending`: true when it had not expired. */
  #settle(pending: Pending): boolean {
    if (pending.settled) return false; // expired already
    pending.settle();
    this.#unsettled -= 1;
    if (this.#queue[this.#head] === pending) this.#dropSettledHead();
    else if (this.queued > 1024 && this.#unsettled * 2 < this.queued) this.#compact();
    return true;
  }

  /** Drops every settled entry (amortized: only once they are more than half of the queue). */
  #compact(): void {
    this.#queue = this.#queue.slice(this.#head).filter((pending) => !pending.settled);
    this.#head = 0;
  }

  #dropSettledHead(): void {
    const queue = this.#queue;
    while (this.#head < queue.length && queue[this.#head]!.settled) this.#head += 1;
    if (this.#head === queue.length) {
      queue.length = 0;
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= queue.length) {
      queue.splice(0, this.#head);
      this.#head = 0;
    }
  }

  #arm(delayMs: number): void {
    this.#armed = true;
    setTimeout(() => this.#expire(), Math.max(1, Math.ceil(delayMs))).unref();
  }

  /** Rejects every overdue entry, then arms the timer for the oldest one left (if any). */
  #expire(): void {
    this.#armed = false;
    const now = performance.now();
    const queue = this.#queue;
    while (this.#head < queue.length) {
      const oldest = queue[this.#head]!;
      if (!oldest.settled) {
        if (oldest.due > now) break;
        const { onExpired } = oldest;
        oldest.settle();
        this.#unsettled -= 1;
        onExpired?.();
      }
      this.#head += 1;
    }
    this.#dropSettledHead();
    if (this.#head < queue.length) this.#arm(queue[this.#head]!.due - now);
  }
}
