import { isUtf8 } from 'node:buffer';
import { parseUtcIsoTimestamp, type QueueMessage } from '@platform-host/contracts';
import { OUTPUT_FORMATS, type OutputFormat } from './settings.js';

/** One lake record: the event's fields plus where it came from (issue 12, fixed names). */
export interface LakeRecord {
  readonly event_id: string;
  readonly event_type: string;
  readonly source: string | null;
  /** Event time (epoch ms, UTC); the ingestion time when the event has none. */
  readonly timestamp: number;
  /** The event's `payload` as JSON text (`null` when it has none). */
  readonly payload: string | null;
  readonly _topic: string;
  readonly _partition: number;
  readonly _offset: bigint;
  /** Epoch ms. */
  readonly _ingested_at: number;
}

/** Reasons stream_ingest dead-letters a message with. */
export const DEAD_LETTER_REASONS = ['malformed_json', 'invalid_event'] as const;
/** One of {@link DEAD_LETTER_REASONS}. */
export type DeadLetterReason = (typeof DEAD_LETTER_REASONS)[number];

/** The outcome of decoding one message. */
export type Decoded =
  | { readonly ok: true; readonly record: LakeRecord }
  | { readonly ok: false; readonly reason: DeadLetterReason; readonly error: string };

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Epoch ms of an event `timestamp` (ISO 8601 text with a zone, or epoch milliseconds). */
export function parseTimestamp(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? Math.trunc(value) : undefined;
  if (typeof value !== 'string') return undefined;
  const canonical = parseUtcIsoTimestamp(value);
  if (canonical !== null) return canonical;
  // A zone is required: a local time would land in a different day depending on the machine.
  const match = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})$/i.exec(value);
  if (!match) return undefined;
  // Date.parse rolls a day or time that does not exist over (2026-02-30 is March 2, 24:00 the next
  // day): such a timestamp is refused, not filed under another day.
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map((part) => Number(part ?? 0));
  const calendar = new Date(Date.UTC(year ?? 0, (month ?? 1) - 1, day ?? 1));
  calendar.setUTCFullYear(year ?? 0);
  if (calendar.getUTCMonth() !== (month ?? 1) - 1 || calendar.getUTCDate() !== day) return undefined;
  if ((hour ?? 0) > 23 || (minute ?? 0) > 59 || (second ?? 0) > 59) return undefined;
  const ms = Date.parse(value);
  return Number.isFinite(ms) ? ms : undefined;
}

/**
 * Decodes a message into a lake record: a JSON object with a non-empty string `event_id` and
 * `event_type`, an optional string `source` (none of the three holding U+0000, which the database
 * cannot store), an optional `timestamp` (ISO 8601 with a zone, or epoch
 * ms; ingestion time when absent) and any `payload`. Anything else is a dead letter with a reason.
 */
export function decodeMessage(message: QueueMessage, ingestedAt: number, offset?: bigint): Decoded {
  let value: unknown;
  const bytes = message.value;
  // isUtf8 + a zero-copy Buffer view: about half the cost of a fatal TextDecoder per message.
  if (!isUtf8(bytes))
    return { ok: false, reason: 'malformed_json', error: 'not UTF-8 JSON: the bytes are not valid UTF-8' };
  try {
    value = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch (error) {
    return { ok: false, reason: 'malformed_json', error: `not UTF-8 JSON: ${(error as Error).message}` };
  }
  if (!isPlainObject(value)) return { ok: false, reason: 'invalid_event', error: 'the event is not a JSON object' };
  const invalid = (error: string): Decoded => ({ ok: false, reason: 'invalid_event', error });
  const { event_id: eventId, event_type: eventType, source, timestamp, payload } = value;
  if (typeof eventId !== 'string' || eventId === '') return invalid('event_id must be a non-empty string');
  if (typeof eventType !== 'string' || eventType === '') return invalid('event_type must be a non-empty string');
  if (source !== undefined && source !== null && typeof source !== 'string') return invalid('source must be a string');
  // PostgreSQL text cannot hold U+0000: such a row would fail its commit on every retry and hold
  // the partition back, so the event is dead-lettered instead.
  if (eventId.includes('\u0000')) return invalid('event_id holds a NUL character (U+0000)');
  if (eventType.includes('\u0000')) return invalid('event_type holds a NUL character (U+0000)');
  if (typeof source === 'string' && source.includes('\u0000')) return invalid('source holds a NUL character (U+0000)');
  // A `\ud800` escape parses to a lone surrogate, which UTF-8 cannot hold: written as U+FFFD (as
  // the lake's UTF-8 encoding and the database driver did), and never sent to the database as a
  // JSON escape it refuses.
  let timeMs = ingestedAt;
  if (timestamp !== undefined && timestamp !== null) {
    const parsed = parseTimestamp(timestamp);
    if (parsed === undefined || parsed < 0 || parsed > 253_402_300_799_999) {
      return invalid('timestamp must be ISO 8601 with a zone (2026-01-15T10:00:00Z) or epoch milliseconds');
    }
    timeMs = parsed;
  }
  const position = offset ?? numericOffset(message);
  if (message.partition === undefined || position === undefined) {
    return invalid(`the message has no numeric partition offset (${String(message.offset)})`);
  }
  return {
    ok: true,
    record: {
      event_id: wellFormed(eventId),
      event_type: wellFormed(eventType),
      source: typeof source === 'string' ? wellFormed(source) : null,
      timestamp: timeMs,
      payload: payload === undefined ? null : JSON.stringify(payload),
      _topic: message.topic,
      _partition: message.partition,
      _offset: position,
      _ingested_at: ingestedAt,
    },
  };
}

/** A lone UTF-16 surrogate (unicode mode: a pair is one code point and does not match). */
const LONE_SURROGATE = /\p{Cs}/u;

/** `text` with each lone surrogate replaced by U+FFFD, as a UTF-8 encoder writes it. */
function wellFormed(text: string): string {
  return LONE_SURROGATE.test(text) ? text.replace(/\p{Cs}/gu, '\uFFFD') : text;
}

/** The message's offset as a number, when it is one (digits only). */
export function numericOffset(message: QueueMessage): bigint | undefined {
  return message.offset !== undefined && /^\d+$/.test(message.offset) ? BigInt(message.offset) : undefined;
}

const MS_PER_DAY = 86_400_000;
/** `YYYY-MM-DD` by UTC day number: a batch spans few days, and formatting a date is per message. */
const dayNames = new Map<number, string>();

/** The day `utcDate` named last, and its name: consecutive events mostly share their day. */
let lastDay = Number.NaN;
let lastDayName = '';

/** `YYYY-MM-DD` of an epoch ms in UTC. */
export function utcDate(ms: number): string {
  const day = Math.floor(ms / MS_PER_DAY);
  if (day === lastDay) return lastDayName;
  let name = dayNames.get(day);
  if (name === undefined) {
    if (dayNames.size >= 4096) dayNames.clear();
    name = new Date(day * MS_PER_DAY).toISOString().slice(0, 10);
    dayNames.set(day, name);
  }
  lastDay = day;
  lastDayName = name;
  return name;
}

/**
 * The fixed lake layout: `<lake-prefix>/<topic>/<YYYY-MM-DD>/<topic>-p<partition>-<first offset>.<ext>`,
 * the offset zero-padded to 20 digits.
 */
export function lakeFilePath(
  lakePrefix: string,
  topic: string,
  date: string,
  partition: number,
  firstOffset: bigint,
  format: OutputFormat,
): string {
  return `${lakePrefix}/${topic}/${date}/${topic}-p${partition}-${firstOffset.toString().padStart(20, '0')}.${OUTPUT_FORMATS[format]}`;
}

/**
 * Where a file's bytes wait before its commit: `<lake-prefix>/_staging/<topic>/p<partition>/g<generation>/<name>`.
 * A topic name cannot start with `_`, so this never mixes with a topic's files.
 */
export function stagingPath(lakePrefix: string, finalPath: string, partition: number, generation: bigint): string {
  const withoutPrefix = finalPath.slice(lakePrefix.length + 1);
  const topic = withoutPrefix.slice(0, withoutPrefix.indexOf('/'));
  const name = withoutPrefix.slice(withoutPrefix.lastIndexOf('/') + 1);
  return `${stagingPartitionPrefix(lakePrefix, topic, partition)}/g${generation}/${name}`;
}

/** The staging folder of one partition. */
export function stagingPartitionPrefix(lakePrefix: string, topic: string, partition: number): string {
  return `${lakePrefix}/_staging/${topic}/p${partition}`;
}
