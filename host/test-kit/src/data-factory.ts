/**
 * Test events for modules that read raw event data (seed 7.2): valid events, events that are
 * invalid for a named reason, JSON Lines serialization for writing them to a file system, and
 * damaged `.jsonl.gz` files.
 */
import { gzipSync } from 'node:zlib';

/** A raw event as it appears in a JSON Lines file of the data lake. */
export interface TestEvent {
  event_type: string;
  payload: Record<string, unknown>;
  source: string;
}

/** Fields of {@link makeEvent}; `payload` fields are merged over the default payload. */
export interface EventOverrides {
  readonly eventType?: string;
  readonly source?: string;
  readonly payload?: Readonly<Record<string, unknown>>;
}

/** Reasons {@link makeInvalidEvent} can produce (the batch_etl validator's names; `missing_type` as in the seed). */
export type InvalidEventReason =
  | 'missing_type'
  | 'missing_event_type'
  | 'empty_event_type'
  | 'event_type_not_string'
  | 'missing_payload'
  | 'payload_not_object'
  | 'payload_malformed_json'
  | 'missing_source'
  | 'empty_source'
  | 'source_not_string';

/** A single valid event: `page_view` from `web` with a small payload, unless overridden (seed: `make_event`). */
export function makeEvent(overrides: EventOverrides = {}): TestEvent {
  return {
    event_type: overrides.eventType ?? 'page_view',
    payload: { url: '/home', user_id: 'u1', ...overrides.payload },
    source: overrides.source ?? 'web',
  };
}

/**
 * `count` valid events that all differ: each payload carries a sequential `seq` (0, 1, ...) and
 * `user_id` (`u0`, `u1`, ...), so none is a duplicate of another (seed: `make_events`).
 */
export function makeEvents(count: number, overrides: EventOverrides = {}): TestEvent[] {
  return Array.from({ length: count }, (_unused, seq) =>
    makeEvent({ ...overrides, payload: { user_id: `u${seq}`, seq, ...overrides.payload } }),
  );
}

/** An event that a validator refuses for `reason` (seed: `make_invalid_event`). */
export function makeInvalidEvent(reason: InvalidEventReason = 'missing_type'): Record<string, unknown> {
  const event: Record<string, unknown> = { ...makeEvent() };
  switch (reason) {
    case 'missing_type':
    case 'missing_event_type':
      delete event.event_type;
      break;
    case 'empty_event_type':
      event.event_type = '   ';
      break;
    case 'event_type_not_string':
      event.event_type = 42;
      break;
    case 'missing_payload':
      delete event.payload;
      break;
    case 'payload_not_object':
      event.payload = ['not', 'an', 'object'];
      break;
    case 'payload_malformed_json':
      event.payload = '{"url": "/home",';
      break;
    case 'missing_source':
      delete event.source;
      break;
    case 'empty_source':
      event.source = '';
      break;
    case 'source_not_string':
      event.source = ['web'];
      break;
  }
  return event;
}

/** Events as JSON Lines bytes: one JSON object per line, each ending with `\n` (seed: `events_to_jsonl`). */
export function eventsToJsonl(events: readonly unknown[]): Uint8Array {
  return Buffer.from(events.map((event) => `${JSON.stringify(event)}\n`).join(''), 'utf8');
}

/** Ways a `.jsonl.gz` file of a data lake arrives damaged (see {@link damagedGzip}). */
export const DAMAGED_GZIP_KINDS = ['truncated', 'corrupt', 'not_gzip', 'empty', 'trailing_garbage'] as const;
export type DamagedGzipKind = (typeof DAMAGED_GZIP_KINDS)[number];

/**
 * The bytes of a `.jsonl.gz` file holding `content`, damaged as `kind` says: `truncated` (cut in
 * the middle of its compressed data), `corrupt` (one byte in the middle of the compressed data
 * flipped, so its CRC-32 fails), `not_gzip` (the plain text, mislabelled), `empty` (zero bytes),
 * `trailing_garbage` (a complete gzip stream followed by bytes that are not gzip).
 */
export function damagedGzip(content: Uint8Array, kind: DamagedGzipKind): Buffer {
  const gzip = gzipSync(content);
  switch (kind) {
    case 'truncated':
      return gzip.subarray(0, Math.floor(gzip.length / 2));
    case 'corrupt': {
      const flipped = Buffer.from(gzip);
      const middle = Math.floor(flipped.length / 2);
      flipped[middle] = (flipped[middle] as number) ^ 0xff;
      return flipped;
    }
    case 'not_gzip':
      return Buffer.from(content);
    case 'empty':
      return Buffer.alloc(0);
    case 'trailing_garbage':
      return Buffer.concat([gzip, Buffer.from('this is not gzip data\n')]);
  }
}
