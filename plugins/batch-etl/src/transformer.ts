/**
 * Transformation of validated events into rows of the cleaned table (seed 6.3 step 3, 6.5). Pure:
 * no infrastructure, data in, data out.
 */
import { hash } from 'node:crypto';
import { canonicalJson, parseJsonExact } from './canonical-json.js';
import type { ValidEvent } from './validator.js';

/** One row of the cleaned table. */
export interface CleanedEvent {
  /** Lowercase, without surrounding whitespace. */
  readonly eventType: string;
  /** The payload object as canonical JSON text (see `canonicalJson`). */
  readonly payloadJson: string;
  readonly source: string;
  /** The processing date, `YYYY-MM-DD`. */
  readonly eventDate: string;
  /** When the run started; the same for every row of a run. */
  readonly createdAt: Date;
  /** Hex sha256 of event type, event date and canonical payload (see {@link computeDedupKey}). */
  readonly dedupKey: string;
}

/** Options of {@link transformEvent}. */
export interface TransformOptions {
  /**
   * The event was parsed with `parseJsonExact`: a payload given as a JSON string is parsed the
   * same way, so that no number in it is rounded.
   */
  readonly exactNumbers?: boolean;
}

/** Lowercases and strips surrounding whitespace (seed: `normalize_event_type`). */
export function normalizeEventType(eventType: string): string {
  return eventType.trim().toLowerCase();
}

/**
 * The payload as an object (seed: `ensure_payload_dict`): a string is parsed as JSON, an object is
 * returned as it is. Throws `TypeError` when the result is not a JSON object (the validator
 * refuses such events first) and `SyntaxError` for a string that is not JSON.
 */
export function ensurePayloadDict(payload: unknown, options: TransformOptions = {}): Record<string, unknown> {
  const value: unknown =
    typeof payload === 'string' ? (options.exactNumbers ? parseJsonExact(payload) : JSON.parse(payload)) : payload;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError(
      `The payload must be a JSON object, got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}`,
    );
  }
  return value as Record<string, unknown>;
}

/**
 * The dedup key (seed: `compute_dedup_key`): hex sha256 of the normalized event type, the event
 * date and the canonical payload, separated by U+0000 (which none of them can contain: the
 * validator refuses it in event types, and JSON text escapes it), so the parts cannot run into
 * each other. Key order and number spelling in the payload do not change the key.
 */
export function computeDedupKey(event: Pick<CleanedEvent, 'eventType' | 'payloadJson' | 'eventDate'>): string {
  return hash('sha256', `${event.eventType}\u0000${event.eventDate}\u0000${event.payloadJson}`, 'hex');
}

/**
 * One validated event as a cleaned row. Throws `InexactNumberError` when the payload holds a
 * number beyond double precision that was parsed with plain `JSON.parse` (parse the source again
 * with `parseJsonExact` and pass `exactNumbers`), `NumberOutOfRangeError` for a number PostgreSQL
 * numeric cannot hold and `TooDeepError` for a payload nested deeper than `MAX_JSON_DEPTH`.
 */
export function transformEvent(
  event: ValidEvent,
  eventDate: string,
  createdAt: Date,
  options: TransformOptions = {},
): CleanedEvent {
  const eventType = normalizeEventType(event.eventType);
  const payloadJson = canonicalJson(ensurePayloadDict(event.payload, options), {
    exactNumbers: options.exactNumbers ?? false,
  });
  return {
    eventType,
    payloadJson,
    source: event.source,
    eventDate,
    createdAt,
    dedupKey: computeDedupKey({ eventType, payloadJson, eventDate }),
  };
}

/**
 * Transforms validated events into cleaned rows (seed: `transform_events`): event type
 * normalized, payload an object in canonical form, `eventDate` from the processing date,
 * `createdAt` added (default now, the same for all), dedup key computed.
 */
export function transformEvents(
  events: readonly ValidEvent[],
  date: string,
  createdAt: Date = new Date(),
): CleanedEvent[] {
  return events.map((event) => transformEvent(event, date, createdAt));
}
