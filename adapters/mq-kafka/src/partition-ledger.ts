/**
 * The offsets of one assigned partition that were fetched and are not acknowledged yet, and the
 * position they allow to commit: the lowest unacknowledged offset, or the offset after the last
 * fetched one when every fetched offset is acknowledged. Offsets need not be consecutive (compacted
 * topics, transaction markers): the prefix is contiguous over what was fetched.
 */
export class PartitionLedger {
  /** Fetched offsets in fetch (= offset) order, from `#head` on not yet passed by the commit position. */
  #fetched: number[] = [];
  #head = 0;
  /** Acknowledged offsets at or after the commit position. */
  readonly #acknowledged = new Set<number>();
  #lastFetched: number | undefined;

  /** Records a fetched offset; false when it is not after the last one (a duplicate fetch). */
  fetched(offset: number): boolean {
    if (this.#lastFetched !== undefined && offset <= this.#lastFetched) return false;
    this.#lastFetched = offset;
    this.#fetched.push(offset);
    return true;
  }

  /** The position to commit (the next offset the group should read), or undefined before any fetch. */
  get commitPosition(): number | undefined {
    const pending = this.#fetched[this.#head];
    if (pending !== undefined) return pending;
    return this.#lastFetched === undefined ? undefined : this.#lastFetched + 1;
  }

  /** True when `offset` is acknowledged (also when the commit position has passed it). */
  isAcknowledged(offset: number): boolean {
    const position = this.commitPosition;
    return (position !== undefined && offset < position) || this.#acknowledged.has(offset);
  }

  /**
   * Acknowledges `offset`; returns true when the commit position moved. Acknowledging twice, or an
   * offset never fetched, changes nothing.
   */
  acknowledge(offset: number): boolean {
    // The usual case: the next offset to commit, nothing acknowledged ahead of it. The position
    // moves by one, with no entry in the set.
    if (this.#acknowledged.size === 0 && offset === this.#fetched[this.#head]) {
      this.#head += 1;
      this.#compact();
      return true;
    }
    const position = this.commitPosition;
    if (position === undefined || offset < position || this.#lastFetched === undefined || offset > this.#lastFetched)
      return false;
    this.#acknowledged.add(offset);
    const before = this.#head;
    while (this.#head < this.#fetched.length) {
      const next = this.#fetched[this.#head];
      if (next === undefined || !this.#acknowledged.has(next)) break;
      this.#acknowledged.delete(next);
      this.#head += 1;
    }
    const moved = this.#head !== before;
    this.#compact();
    return moved;
  }

  /** Drops the offsets the commit position has passed, once they are most of the array. */
  #compact(): void {
    if (this.#head > 1024 && this.#head * 2 > this.#fetched.length) {
      this.#fetched = this.#fetched.slice(this.#head);
      this.#head = 0;
    }
  }

  /** Fetched offsets not acknowledged yet. */
  get outstanding(): number {
    return this.#fetched.length - this.#head - this.#acknowledged.size;
  }
}

/**
 * Deliveries of each offset of each (group, topic, partition), kept by the queue across its
 * subscriptions: Kafka has no broker-side delivery count, so a redelivery within this process gets
 * the next count, while a process that starts after a crash counts from 1 again.
 */
export class DeliveryCounts {
  readonly #byPartition = new Map<string, Map<number, number>>();

  static key(group: string, topic: string, partition: number): string {
    return `${group}\u0000${topic}\u0000${partition}`;
  }

  /** Counts one more delivery of `offset` and returns the count (1 for the first). */
  next(key: string, offset: number): number {
    let counts = this.#byPartition.get(key);
    if (counts === undefined) {
      counts = new Map();
      this.#byPartition.set(key, counts);
    }
    const count = (counts.get(offset) ?? 0) + 1;
    counts.set(offset, count);
    return count;
  }

  /** True when deliveries of `key` are counted here (some offset of it was let go unacknowledged). */
  has(key: string): boolean {
    return this.#byPartition.has(key);
  }

  /**
   * Records that `offset` was delivered `deliveries` times (by a holding of the partition that is
   * letting it go), unless a higher count is known.
   */
  record(key: string, offset: number, deliveries: number): void {
    let counts = this.#byPartition.get(key);
    if (counts === undefined) {
      counts = new Map();
      this.#byPartition.set(key, counts);
    }
    if ((counts.get(offset) ?? 0) < deliveries) counts.set(offset, deliveries);
  }

  /** Forgets the offsets below `position` (committed: never delivered to the group again). */
  forgetBelow(key: string, position: number): void {
    const counts = this.#byPartition.get(key);
    if (counts === undefined) return;
    // Keys are in first-delivery order, which is offset order: stop at the first one kept.
    for (const offset of counts.keys()) {
      if (offset >= position) break;
      counts.delete(offset);
    }
    if (counts.size === 0) this.#byPartition.delete(key);
  }

  /** Offsets counted for `key` (for tests). */
  size(key: string): number {
    return this.#byPartition.get(key)?.size ?? 0;
  }
}
