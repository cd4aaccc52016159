import type { AggregatedEvent } from './event.js';
import { windowStartSeconds } from './windows.js';

/** The merged statistics of one (window size, window start, dimensions) group in one flush. */
interface Aggregate {
  readonly windowSeconds: number;
  readonly windowStartSeconds: number;
  readonly dimensionsKey: string;
  eventCount: number;
  valueCount: number;
  valueSum: number;
  valueMin: number;
  valueMax: number;
}

/** Column arrays of a rollup batch, one element per group, for one `unnest` upsert. */
export interface RollupColumns {
  readonly windowSeconds: number[];
  readonly windowStartSeconds: number[];
  readonly dimensions: string[];
  readonly eventCount: number[];
  readonly valueCount: number[];
  /** `null` where the group has no value (value_count 0). */
  readonly valueSum: Array<number | null>;
  readonly valueMin: Array<number | null>;
  readonly valueMax: Array<number | null>;
}

/**
 * The aggregates of the events of one flush, merged per window and dimensions before they are
 * written, so the upsert has one row per primary key.
 */
export class RollupBatch {
  readonly #groups = new Map<string, Aggregate>();

  constructor(private readonly windowSeconds: readonly number[]) {}

  /** Groups in the batch. */
  get size(): number {
    return this.#groups.size;
  }

  /** Counts `event` in one window of each size. */
  add(event: AggregatedEvent): void {
    for (const size of this.windowSeconds) {
      const start = windowStartSeconds(event.timeMs, size);
      const key = `${size}|${start}|${event.dimensionsKey}`;
      let group = this.#groups.get(key);
      if (group === undefined) {
        group = {
          windowSeconds: size,
          windowStartSeconds: start,
          dimensionsKey: event.dimensionsKey,
          eventCount: 0,
          valueCount: 0,
          valueSum: 0,
          valueMin: Number.POSITIVE_INFINITY,
          valueMax: Number.NEGATIVE_INFINITY,
        };
        this.#groups.set(key, group);
      }
      group.eventCount += 1;
      if (event.value !== undefined) {
        group.valueCount += 1;
        group.valueSum += event.value;
        if (event.value < group.valueMin) group.valueMin = event.value;
        if (event.value > group.valueMax) group.valueMax = event.value;
      }
    }
  }

  /** The batch as column arrays. */
  columns(): RollupColumns {
    const columns: RollupColumns = {
      windowSeconds: [],
      windowStartSeconds: [],
      dimensions: [],
      eventCount: [],
      valueCount: [],
      valueSum: [],
      valueMin: [],
      valueMax: [],
    };
    for (const group of this.#groups.values()) {
      const hasValues = group.valueCount > 0;
      columns.windowSeconds.push(group.windowSeconds);
      columns.windowStartSeconds.push(group.windowStartSeconds);
      columns.dimensions.push(group.dimensionsKey);
      columns.eventCount.push(group.eventCount);
      columns.valueCount.push(group.valueCount);
      columns.valueSum.push(hasValues ? group.valueSum : null);
      columns.valueMin.push(hasValues ? group.valueMin : null);
      columns.valueMax.push(hasValues ? group.valueMax : null);
    }
    return columns;
  }
}
