import { parseUtcIsoTimestamp } from '@platform-host/contracts';
import type { Dimension } from './settings.js';

/** The dead-letter reasons of issue 11 (fixed: dashboards count them by this header). */
export const DEAD_LETTER_REASONS = ['malformed_json', 'invalid_event', 'future_timestamp', 'late'] as const;
export type DeadLetterReason = (typeof DEAD_LETTER_REASONS)[number];

/** An event that passed validation, reduced to what the aggregation needs. */
export interface AggregatedEvent {
  /** Event time, epoch milliseconds. */
  readonly timeMs: number;
  /** The `dimensions` value as canonical JSON text (keys in `--group-by` order). */
  readonly dimensionsKey: string;
  /** The finite number at `--value-field`, or `undefined`. */
  readonly value: number | undefined;
}

/** The outcome of decoding one message value. */
export type DecodedEvent =
  | { readonly ok: true; readonly event: AggregatedEvent }
  | { readonly ok: false; readonly reason: 'malformed_json' | 'invalid_event'; readonly error: string };

/**
 * Largest `dimensions` value, in bytes of its JSON text. It is part of the primary key, and a
 * btree entry cannot exceed about 2.7 kB (DESIGN.md decision 6): a larger value would fail every
 * flush it is part of.
 */
export const MAX_DIMENSIONS_BYTES = 1024;

const TIMESTAMP =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(?:([Zz])|([+-])(\d{2}):?(\d{2}))$/;

/**
 * Epoch milliseconds of an ISO-8601 timestamp with `Z` or an offset (`2026-01-15T10:00:00Z`,
 * `2026-01-15T12:00:00.250+02:00`), or `undefined` when it is not one or names a day or time that
 * does not exist (`2026-02-30`, `24:00`). Fractions below a millisecond are truncated.
 */
export function parseTimestamp(text: string): number | undefined {
  return parseUtcIsoTimestamp(text) ?? parseTimestampText(text);
}

/** {@link parseTimestamp} for every accepted shape, with the regular expression. */
export function parseTimestampText(text: string): number | undefined {
  const match = TIMESTAMP.exec(text);
  if (!match) return undefined;
  // Read group by group (no array per call: this runs for every event).
  const year = Number(match[1]);
  const month = Number(match[2]);
  const day = Number(match[3]);
  const hour = Number(match[4]);
  const minute = Number(match[5]);
  const second = Number(match[6] ?? 0);
  const fraction = match[7];
  const millis =
    fraction === undefined ? 0 : Number(fraction.length >= 3 ? fraction.slice(0, 3) : fraction.padEnd(3, '0'));
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  // Date.UTC reads years 0 to 99 as 1900 to 1999: the year is set on its own.
  const date = new Date(Date.UTC(2000, month - 1, day, hour, minute, second, millis));
  date.setUTCFullYear(year, month - 1, day);
  const local = date.getTime();
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) {
    return undefined;
  }
  if (match[8] !== undefined) return local;
  const offsetHours = Number(match[10]);
  const offsetMinutes = Number(match[11]);
  if (offsetHours > 23 || offsetMinutes > 59) return undefined;
  const sign = match[9] === '-' ? -1 : 1;
  return local - sign * (offsetHours * 60 + offsetMinutes) * 60_000;
}

/** The value at `path` inside `root`, or `undefined` when a step is missing or not an object. */
export function valueAt(root: unknown, path: readonly string[]): unknown {
  let current = root;
  for (const segment of path) {
    if (current === null || typeof current !== 'object' || Array.isArray(current)) return undefined;
    if (!Object.hasOwn(current, segment)) return undefined;
    current = (current as Record<string, unknown>)[segment];
  }
  return current;
}

/**
 * JSON text of a dimension value with object keys sorted and strings made well-formed, so that two
 * values PostgreSQL's jsonb considers equal have the same text (the in-memory grouping key must
 * agree with the primary key). Returns `undefined` when the value holds a NUL character, which
 * jsonb cannot store.
 */
function canonicalJson(value: unknown): string | undefined {
  if (value === undefined || value === null) return 'null';
  if (typeof value === 'string') {
    if (value.includes('\u0000')) return undefined;
    return JSON.stringify(wellFormed(value));
  }
  if (typeof value === 'number' || typeof value === 'boolean') return JSON.stringify(value);
  if (Array.isArray(value)) {
    const items: string[] = [];
    for (const item of value) {
      const text = canonicalJson(item);
      if (text === undefined) return undefined;
      items.push(text);
    }
    return `[${items.join(',')}]`;
  }
  if (typeof value === 'object') {
    const record = value as Record<string, unknown>;
    const parts: string[] = [];
    for (const key of Object.keys(record).sort()) {
      if (key.includes('\u0000')) return undefined;
      const text = canonicalJson(record[key]);
      if (text === undefined) return undefined;
      parts.push(`${JSON.stringify(wellFormed(key))}:${text}`);
    }
    return `{${parts.join(',')}}`;
  }
  return 'null';
}

const SURROGATE = /[\uD800-\uDFFF]/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** `text` with lone surrogates replaced by U+FFFD, as its UTF-8 encoding on the way to the database does. */
function wellFormed(text: string): string {
  // Nearly every text holds no surrogate at all: one scan, no replacement string built.
  return SURROGATE.test(text) ? text.replace(LONE_SURROGATE, '\uFFFD') : text;
}

const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * Decodes and validates one message value (the platform event of DESIGN.md): it must be UTF-8 JSON
 * (else `malformed_json`), an object with a non-empty string `event_type` and a `timestamp` that
 * {@link parseTimestamp} accepts (else `invalid_event`). Missing dimensions are `null` in
 * `dimensions`; a `dimensions` value over {@link MAX_DIMENSIONS_BYTES} or holding a NUL character
 * is `invalid_event`, since the table could not store it.
 */
export function decodeEvent(
  bytes: Uint8Array,
  dimensions: readonly Dimension[],
  valuePath: readonly string[],
): DecodedEvent {
  let parsed: unknown;
  try {
    parsed = JSON.parse(decoder.decode(bytes));
  } catch (error) {
    const what = error instanceof SyntaxError ? error.message : 'the value is not UTF-8 text';
    return { ok: false, reason: 'malformed_json', error: `the message value is not JSON: ${what}` };
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    return { ok: false, reason: 'invalid_event', error: 'the event is not a JSON object' };
  }
  const record = parsed as Record<string, unknown>;
  const eventType = record.event_type;
  if (typeof eventType !== 'string' || eventType.trim() === '') {
    return {
      ok: false,
      reason: 'invalid_event',
      error: eventType === undefined ? 'event_type is missing' : 'event_type must be a non-empty string',
    };
  }
  const timestamp = record.timestamp;
  if (timestamp === undefined || timestamp === null) {
    return { ok: false, reason: 'invalid_event', error: 'timestamp is missing' };
  }
  const timeMs = typeof timestamp === 'string' ? parseTimestamp(timestamp) : undefined;
  if (timeMs === undefined) {
    return {
      ok: false,
      reason: 'invalid_event',
      error: 'timestamp is not an ISO-8601 date-time with Z or an offset (such as 2026-01-15T10:00:00Z)',
    };
  }
  const parts: string[] = [];
  for (const dimension of dimensions) {
    const text = canonicalJson(valueAt(record, dimension.path));
    if (text === undefined) {
      return { ok: false, reason: 'invalid_event', error: `${dimension.name} holds a NUL character` };
    }
    parts.push(`${JSON.stringify(dimension.name)}:${text}`);
  }
  const dimensionsKey = `{${parts.join(',')}}`;
  // A UTF-16 code unit takes at most 3 bytes of UTF-8: short keys need no byte count.
  if (dimensionsKey.length * 3 > MAX_DIMENSIONS_BYTES && Buffer.byteLength(dimensionsKey) > MAX_DIMENSIONS_BYTES) {
    return {
      ok: false,
      reason: 'invalid_event',
      error: `the dimensions of this event take more than ${MAX_DIMENSIONS_BYTES} bytes`,
    };
  }
  const value = valueAt(record, valuePath);
  return {
    ok: true,
    event: { timeMs, dimensionsKey, value: typeof value === 'number' && Number.isFinite(value) ? value : undefined },
  };
}
