import * as crypto from 'node:crypto';

// node:crypto's randomUUIDv7 (Node >= 24.16, the CI runtime): RFC 9562 version 7, whose first 48
// bits are the Unix time in ms, so ids assigned later sort later — rows and lake records ordered by
// event_id come out roughly in arrival order. On an older Node (>= 22.22 is supported) it falls back
// to randomUUID (version 4): as unique, not time-ordered. No library needed for either.
const { randomUUIDv7 } = crypto as { randomUUIDv7?: () => string };

/** A new event id: a UUID, version 7 where the runtime has `crypto.randomUUIDv7`, else version 4. */
export const newEventId: () => string = randomUUIDv7 ?? (() => crypto.randomUUID());

/**
 * The event as published: an event with its own `event_id` is returned as it is (same object, so
 * its JSON is unchanged); one without gets a new id, put first.
 */
export function withEventId(event: Readonly<Record<string, unknown>>): Readonly<Record<string, unknown>> {
  return typeof event.event_id === 'string' ? event : { event_id: newEventId(), ...event };
}
