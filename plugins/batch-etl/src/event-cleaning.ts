import { InexactNumberError, NumberOutOfRangeError, parseJsonExact, TooDeepError } from './canonical-json.js';
import { transformEvent, type CleanedEvent } from './transformer.js';
import { validateSingleEvent, type InvalidReason } from './validator.js';

/** A raw line as a cleaned row, or the reason it was refused. */
export type LineOutcome =
  | { readonly event: CleanedEvent; readonly reason?: undefined }
  | { readonly event?: undefined; readonly reason: InvalidReason };

/**
 * `\u0000` or an unpaired surrogate escape (`\ud800`-`\udfff`) in JSON text, not preceded by an
 * escaped backslash: what `JSON.stringify` writes for characters PostgreSQL jsonb refuses.
 */
const UNSTORABLE_ESCAPE = /(?:^|[^\\])(?:\\\\)*\\u(?:0000|d[89a-f])/i;

/** True when jsonb can store the JSON text (a fast path checks for any `\u` escape first). */
export function isStorableJson(text: string): boolean {
  return !text.includes('\\u') || !UNSTORABLE_ESCAPE.test(text);
}

function clean(parsed: unknown, eventDate: string, createdAt: Date, exactNumbers: boolean): LineOutcome {
  const validation = validateSingleEvent(parsed);
  if (!validation.valid) return { reason: validation.reason };
  const event = transformEvent(validation.event, eventDate, createdAt, { exactNumbers });
  if (!isStorableJson(event.payloadJson)) return { reason: 'unsupported_character' };
  return { event };
}

/**
 * One line of a JSON Lines file through parse, validation (seed 6.3 step 2) and transformation
 * (step 3). Never throws for bad data: a line that is not JSON is `malformed_json`, a payload
 * nested deeper than MAX_JSON_DEPTH is `too_deep`, a number PostgreSQL cannot hold is
 * `number_out_of_range`. A line holding a number beyond double precision is parsed again exactly,
 * so that number is stored unchanged.
 */
export function cleanLine(line: string, eventDate: string, createdAt: Date): LineOutcome {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return { reason: 'malformed_json' };
  }
  try {
    try {
      return clean(parsed, eventDate, createdAt, false);
    } catch (error) {
      if (!(error instanceof InexactNumberError)) throw error;
      return clean(parseJsonExact(line), eventDate, createdAt, true);
    }
  } catch (error) {
    if (error instanceof TooDeepError) return { reason: 'too_deep' };
    if (error instanceof NumberOutOfRangeError) return { reason: 'number_out_of_range' };
    throw error;
  }
}
