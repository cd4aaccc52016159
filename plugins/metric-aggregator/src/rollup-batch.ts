import type { AggregatedEvent } from './event.js';
import { windowStartSeconds } from './windows.js';

/** The merged statistics of one (window size, window start, dimensions) group in one flush. */
interface Aggregate {
  readonly windowSeconds: number;
  readonly windowStartSeconds: number;
  readonly dimensionsKey: string;
  /** `dimensionsKey` as an element of a PostgreSQL array literal. */
  readonly quotedDimensions: string;
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

/** {@link RollupColumns} as PostgreSQL array literals (see {@link RollupBatch.arrayLiterals}). */
export type RollupArrayLiterals = { readonly [column in keyof RollupColumns]: string };

/**
 * A text as a double-quoted element of a PostgreSQL array literal: backslashes and double quotes
 * escaped with a backslash (array_in's rules); everything else, commas and braces included, is
 * literal inside the quotes.
 */
export function quotedArrayElement(text: string): string {
  const escaped = text.includes('\\') ? text.replaceAll('\\', '\\\\') : text;
  return `"${escaped.replaceAll('"', '\\"')}"`;
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
    // Quoted once for all the windows of the event that start a new group.
    let quoted: string | undefined;
    for (const size of this.windowSeconds) {
      const start = windowStartSeconds(event.timeMs, size);
      const key = `${size}|${start}|${event.dimensionsKey}`;
      let group = this.#groups.get(key);
      if (group === undefined) {
        group = {
          windowSeconds: size,
          windowStartSeconds: start,
          dimensionsKey: event.dimensionsKey,
          quotedDimensions: (quoted ??= quotedArrayElement(event.dimensionsKey)),
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

  /**
   * The batch as PostgreSQL array literals, one per column in the order of {@link RollupColumns}
   * (`{60,3600}`, `{"{\\"event_type\\":\\"a\\"}"}`, `NULL` where a group has no value), bound to
   * `$n::integer[]`-style placeholders. The server parses them exactly as it parses the arrays the
   * driver would write from {@link columns}; building them here skips the driver's generic
   * per-element escaping (two regular expressions per element, most of the worker's SQL cost).
   * Numbers are written as JavaScript prints them (shortest round-trip text, which float8 reads
   * back to the same double).
   */
  arrayLiterals(): RollupArrayLiterals {
    const windowSeconds: string[] = [];
    const windowStartSeconds: string[] = [];
    const dimensions: string[] = [];
    const eventCount: string[] = [];
    const valueCount: string[] = [];
    const valueSum: string[] = [];
    const valueMin: string[] = [];
    const valueMax: string[] = [];
    for (const group of this.#groups.values()) {
      const hasValues = group.valueCount > 0;
      windowSeconds.push(String(group.windowSeconds));
      windowStartSeconds.push(String(group.windowStartSeconds));
      dimensions.push(group.quotedDimensions);
      eventCount.push(String(group.eventCount));
      valueCount.push(String(group.valueCount));
      valueSum.push(hasValues ? String(group.valueSum) : 'NULL');
      valueMin.push(hasValues ? String(group.valueMin) : 'NULL');
      valueMax.push(hasValues ? String(group.valueMax) : 'NULL');
    }
    const literal = (items: string[]): string => `{${items.join(',')}}`;
    return {
      windowSeconds: literal(windowSeconds),
      windowStartSeconds: literal(windowStartSeconds),
      dimensions: literal(dimensions),
      eventCount: literal(eventCount),
      valueCount: literal(valueCount),
      valueSum: literal(valueSum),
      valueMin: literal(valueMin),
      valueMax: literal(valueMax),
    };
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
