import { z } from 'zod';
import { DEAD_LETTER_HEADERS, type QueueMessage } from '../interfaces/message-queue.js';
import type { MessageSchemaId } from '../manifest/types.js';

const SNAKE_CASE_WORD = /^[a-z][a-z0-9_]*$/;

/**
 * A text field of the event that fits the warehouse's VARCHAR(255) columns, is not blank and holds
 * no U+0000 (PostgreSQL text cannot store it).
 */
// The patterns name U+0000 on purpose (no-control-regex flags any control character in a pattern).
/* eslint-disable no-control-regex */
const eventText = (what: string): z.ZodString =>
  z
    .string()
    .min(1)
    .max(255)
    .regex(/^[^\u0000]*[^\s\u0000][^\u0000]*$/u, 'must not be blank or hold U+0000')
    .describe(what);
/* eslint-enable no-control-regex */

/**
 * The platform event (DESIGN.md "how data flows"), as producers publish it on a topic such as
 * `events`: `event_type`, `source`, `timestamp` (RFC 3339 / ISO-8601 with `Z` or an offset) and
 * `payload` (an object) are required, `event_id` is optional; no other field. Text fields fit the
 * warehouse columns (at most 255 characters, no U+0000). This is the one source of
 * `schemas/platform-event.schema.json`.
 */
export const platformEventSchema = z
  .strictObject({
    event_id: z
      .string()
      .min(1)
      .max(255)
      // eslint-disable-next-line no-control-regex -- U+0000 is the character refused
      .regex(/^[^\u0000]+$/u, 'must not hold U+0000')
      .optional()
      .describe('Producer-chosen id; consumers that deduplicate use it. Optional.'),
    event_type: eventText('What happened, e.g. "purchase".'),
    source: eventText('Who sent it, e.g. "web".'),
    timestamp: z.iso
      .datetime({ offset: true })
      .max(64)
      .describe('Event time: an RFC 3339 date-time with Z or an offset, e.g. 2026-01-15T10:00:00Z.'),
    payload: z.record(z.string(), z.unknown()).describe('Event data: any JSON object.'),
  })
  .describe('The platform event (DESIGN.md), one per message value, as UTF-8 JSON.');

/** A platform event as validated by {@link platformEventSchema}. */
export type PlatformEvent = z.output<typeof platformEventSchema>;

const digits = z.string().regex(/^\d+$/, 'must be a whole number in decimal');

/**
 * The headers of a dead letter (DESIGN.md decision 15, {@link DEAD_LETTER_HEADERS}): the original
 * message's own headers are kept (any other string header is allowed), and these are added.
 */
export const deadLetterHeadersSchema = z
  .looseObject({
    [DEAD_LETTER_HEADERS.reason]: z
      .string()
      .regex(SNAKE_CASE_WORD, 'must be a snake_case word')
      .describe(
        'Why the message was dead-lettered; the consumer documents its reasons (max_deliveries: the queue gave up).',
      ),
    [DEAD_LETTER_HEADERS.error]: z.string().max(1000).optional().describe('A secret-free one-line message.'),
    [DEAD_LETTER_HEADERS.originalTopic]: z.string().min(1),
    [DEAD_LETTER_HEADERS.originalId]: z.string().min(1),
    [DEAD_LETTER_HEADERS.originalPartition]: digits.optional(),
    [DEAD_LETTER_HEADERS.originalOffset]: z.string().min(1).optional(),
    [DEAD_LETTER_HEADERS.group]: z.string().min(1),
    [DEAD_LETTER_HEADERS.deliveryCount]: digits,
    [DEAD_LETTER_HEADERS.deadLetteredAt]: z.iso.datetime(),
  })
  .catchall(z.string());

/**
 * A dead letter as read from `<topic>.dead-letter`: the original key and value (base64, since a
 * dead-lettered value need not be UTF-8) and the headers of {@link deadLetterHeadersSchema}. The
 * one source of `schemas/dead-letter.schema.json`; {@link deadLetterEnvelopeOf} builds it from a
 * delivered message.
 */
export const deadLetterEnvelopeSchema = z
  .strictObject({
    topic: z
      .string()
      .regex(/^.+\.dead-letter$/, 'must be <original topic>.dead-letter')
      .describe('The dead-letter topic it was read from.'),
    key: z.string().optional().describe('The original message key, when it had one.'),
    value: z.base64().describe('The original message value, unchanged, base64-encoded.'),
    headers: deadLetterHeadersSchema,
  })
  .describe('A dead letter (DESIGN.md decision 15) as a consumer of <topic>.dead-letter receives it.');

/** A dead letter as validated by {@link deadLetterEnvelopeSchema}. */
export type DeadLetterEnvelope = z.output<typeof deadLetterEnvelopeSchema>;

/** The envelope of a message delivered from a dead-letter topic, for {@link deadLetterEnvelopeSchema}. */
export function deadLetterEnvelopeOf(message: QueueMessage): Record<string, unknown> {
  return {
    topic: message.topic,
    ...(message.key === undefined ? {} : { key: message.key }),
    value: Buffer.from(message.value).toString('base64'),
    headers: { ...message.headers },
  };
}

/** A message schema the platform ships: its zod schema, version and JSON Schema file under `schemas/`. */
export interface PlatformMessageSchema {
  readonly id: MessageSchemaId;
  /** Semantic version of the message format; a consumer declaring `id@major` accepts that major. */
  readonly version: string;
  readonly title: string;
  /** File name under `schemas/`. */
  readonly file: string;
  readonly schema: z.ZodType;
}

/** The message schemas a module manifest can name in `messages` by id. */
export const PLATFORM_MESSAGE_SCHEMAS: Readonly<Record<MessageSchemaId, PlatformMessageSchema>> = {
  'platform-event': {
    id: 'platform-event',
    version: '1.0.0',
    title: 'platform-host platform event (message value of the events topic)',
    file: 'platform-event.schema.json',
    schema: platformEventSchema,
  },
  'dead-letter': {
    id: 'dead-letter',
    version: '1.0.0',
    title: 'platform-host dead letter (a message of <topic>.dead-letter)',
    file: 'dead-letter.schema.json',
    schema: deadLetterEnvelopeSchema,
  },
};
