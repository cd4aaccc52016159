/**
 * Validation of raw events (seed 6.3 step 2, 6.6). Pure: no infrastructure, data in, data out.
 * A raw event needs `event_type` (non-empty string), `payload` (an object, or a string holding a
 * JSON object) and `source` (non-empty string), and must fit the cleaned table: text columns are
 * VARCHAR(255), and PostgreSQL text and jsonb cannot hold U+0000 or unpaired surrogates. Lengths
 * are checked on what is stored (the event type after normalization, which may lengthen it:
 * `"İ".toLowerCase()` is two characters) and in the unit VARCHAR counts, code points.
 */
import { normalizeEventType } from './transformer.js';

/** Why a raw line or event was refused. */
export const INVALID_REASONS = [
  'invalid_utf8',
  'line_too_long',
  'malformed_json',
  'not_an_object',
  'missing_event_type',
  'event_type_not_string',
  'empty_event_type',
  'event_type_too_long',
  'missing_payload',
  'payload_malformed_json',
  'payload_not_object',
  'missing_source',
  'source_not_string',
  'empty_source',
  'source_too_long',
  'unsupported_character',
  /** The payload is nested deeper than MAX_JSON_DEPTH (1000) levels. */
  'too_deep',
  /** The payload holds a number PostgreSQL numeric cannot hold (beyond 131072 integer digits). */
  'number_out_of_range',
  /** The database refused the row (whatever the checks above let through); logged with its message. */
  'db_rejected',
] as const;
export type InvalidReason = (typeof INVALID_REASONS)[number];

/** Malformed input (logged as errors, seed 6.3); the other reasons are logged as warnings. */
export const MALFORMED_REASONS: ReadonlySet<InvalidReason> = new Set<InvalidReason>([
  'invalid_utf8',
  'line_too_long',
  'malformed_json',
  'payload_malformed_json',
]);

/** Longest `event_type` and `source`, in characters: the columns are VARCHAR(255). */
export const MAX_TEXT_LENGTH = 255;

/** A raw event that passed validation; the payload is not yet normalized. */
export interface ValidEvent {
  readonly eventType: string;
  /** An object, or a string holding a JSON object (see `ensurePayloadDict`). */
  readonly payload: unknown;
  readonly source: string;
}

export type SingleValidation =
  { readonly valid: true; readonly event: ValidEvent } | { readonly valid: false; readonly reason: InvalidReason };

/** Result of {@link validateEvents}. */
export interface ValidationResult {
  readonly valid: ValidEvent[];
  readonly invalid: Array<{ readonly event: unknown; readonly reason: InvalidReason }>;
  /** reason -> count, only reasons that occurred. */
  readonly errorCounts: Partial<Record<InvalidReason, number>>;
}

/** What {@link validateEvents} logs through (the platform Logger fits). */
export interface ValidationLog {
  warn(message: string, fields?: Readonly<Record<string, unknown>>): void;
  error(message: string, fields?: Readonly<Record<string, unknown>>): void;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `String.prototype.isWellFormed` (ES2024, Node >= 20), not in this project's ES2023 lib. */
type WellFormedCheck = { isWellFormed(): boolean };

/** True when PostgreSQL text can hold `text`: no U+0000, no unpaired surrogate. */
export function isStorableText(text: string): boolean {
  return !text.includes('\u0000') && (text as unknown as WellFormedCheck).isWellFormed();
}

/** Length in characters (code points), as VARCHAR counts it. */
function characterLength(text: string): number {
  if (text.length <= MAX_TEXT_LENGTH) return text.length;
  let count = 0;
  for (const _character of text) count += 1;
  return count;
}

function checkText(value: unknown, field: 'event_type' | 'source'): InvalidReason | undefined {
  if (value === undefined || value === null) return `missing_${field}`;
  if (typeof value !== 'string') return `${field}_not_string`;
  if (value.trim() === '') return `empty_${field}`;
  if (characterLength(field === 'event_type' ? normalizeEventType(value) : value) > MAX_TEXT_LENGTH)
    return `${field}_too_long`;
  if (!isStorableText(value)) return 'unsupported_character';
  return undefined;
}

function checkPayload(value: unknown): InvalidReason | undefined {
  if (value === undefined || value === null) return 'missing_payload';
  if (isPlainObject(value)) return undefined;
  if (typeof value !== 'string') return 'payload_not_object';
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return 'payload_malformed_json';
  }
  return isPlainObject(parsed) ? undefined : 'payload_not_object';
}

/**
 * Validates one raw event (seed: `validate_single_event`). Returns the typed event, or the first
 * reason it is refused, checking event_type, then payload, then source.
 */
export function validateSingleEvent(event: unknown): SingleValidation {
  if (!isPlainObject(event)) return { valid: false, reason: 'not_an_object' };
  const reason =
    checkText(event.event_type, 'event_type') ?? checkPayload(event.payload) ?? checkText(event.source, 'source');
  if (reason !== undefined) return { valid: false, reason };
  return {
    valid: true,
    event: { eventType: event.event_type as string, payload: event.payload, source: event.source as string },
  };
}

/**
 * Validates raw events (seed: `validate_events`): splits them into valid and invalid and counts
 * reasons. With a `log`, every invalid event is logged (malformed JSON as an error, the rest as
 * warnings) with its index and reason; the event itself is not logged, it may hold personal data.
 */
export function validateEvents(events: readonly unknown[], log?: ValidationLog): ValidationResult {
  const result: ValidationResult = { valid: [], invalid: [], errorCounts: {} };
  events.forEach((event, index) => {
    const outcome = validateSingleEvent(event);
    if (outcome.valid) {
      result.valid.push(outcome.event);
      return;
    }
    result.invalid.push({ event, reason: outcome.reason });
    result.errorCounts[outcome.reason] = (result.errorCounts[outcome.reason] ?? 0) + 1;
    if (MALFORMED_REASONS.has(outcome.reason))
      log?.error('Invalid event: malformed JSON', { index, reason: outcome.reason });
    else log?.warn('Invalid event skipped', { index, reason: outcome.reason });
  });
  return result;
}
