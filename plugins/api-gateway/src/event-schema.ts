import { readFileSync } from 'node:fs';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { platformEventSchema as contractEventSchema } from '@platform-host/contracts/message-schemas';
import type { InputProblem } from './problem.js';

/** The years a timestamp may have: in UTC they stay within the days the data lake files (1970-9999). */
export const LAKE_YEARS = 'in the years 1971 to 9989';

/**
 * The JSON Schema of what the gateway publishes (`schemas/published-event.schema.json`, declared
 * in module.json `messages`): the platform event with `event_id` always present and the timestamp
 * within {@link LAKE_YEARS}.
 */
export const PUBLISHED_EVENT_SCHEMA_FILE = new URL('../schemas/published-event.schema.json', import.meta.url);

let lakeTimestamp: RegExp | undefined;

/** The published schema's timestamp pattern (strict RFC 3339 and {@link LAKE_YEARS}), read once. */
function lakeTimestampPattern(): RegExp {
  if (lakeTimestamp === undefined) {
    const schema: unknown = JSON.parse(readFileSync(PUBLISHED_EVENT_SCHEMA_FILE, 'utf8'));
    const pattern = (schema as { properties?: { timestamp?: { pattern?: unknown } } }).properties?.timestamp?.pattern;
    if (typeof pattern !== 'string') throw new Error(`${PUBLISHED_EVENT_SCHEMA_FILE.pathname}: no timestamp pattern`);
    // JSON Schema patterns are ECMA-262 with the u flag.
    lakeTimestamp = new RegExp(pattern, 'u');
  }
  return lakeTimestamp;
}

/** Most events one `POST /v1/events` accepts. */
export const MAX_EVENTS_PER_REQUEST = 1000;

/**
 * The platform event (DESIGN.md "how data flows"): `event_type`, `source` and `timestamp` (ISO-8601
 * with a time zone) required, `payload` an object, `event_id` optional. Text fields fit the
 * warehouse columns (VARCHAR(255)); other fields are refused, so a misspelt field is reported
 * instead of dropped.
 */
export const platformEventSchema = {
  $id: 'PlatformEvent',
  type: 'object',
  additionalProperties: false,
  required: ['event_type', 'source', 'timestamp', 'payload'],
  properties: {
    event_id: { type: 'string', minLength: 1, maxLength: 255 },
    event_type: { type: 'string', minLength: 1, maxLength: 255, pattern: '\\S' },
    source: { type: 'string', minLength: 1, maxLength: 255, pattern: '\\S' },
    timestamp: {
      type: 'string',
      format: 'date-time',
      maxLength: 64,
      description: `RFC 3339 with Z or an offset, e.g. 2026-01-15T10:00:00Z, ${LAKE_YEARS}.`,
    },
    payload: { type: 'object' },
  },
} as const;

/** The body of `POST /v1/events`: one event or a non-empty array of at most 1000. */
export const ingestBodySchema = {
  oneOf: [
    platformEventSchema,
    { type: 'array', minItems: 1, maxItems: MAX_EVENTS_PER_REQUEST, items: platformEventSchema },
  ],
} as const;

// ajv-formats is CommonJS with its function as `default`.
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

/** ajv 8 with every error reported (not only the first) and RFC 3339 date-time checks (ajv-formats). */
function strictAjv(): Ajv {
  const ajv = new Ajv({ allErrors: true, strict: true, coerceTypes: false, useDefaults: false });
  addFormats(ajv);
  return ajv;
}

let compiled: ValidateFunction | undefined;

function eventValidator(): ValidateFunction {
  compiled ??= strictAjv().compile({ ...platformEventSchema, $id: undefined });
  return compiled;
}

/** A readable reason for one ajv error. */
function reasonOf(error: ErrorObject): string {
  switch (error.keyword) {
    case 'required':
      return 'is required';
    case 'additionalProperties':
      return 'is not a field of the platform event';
    case 'format':
      return 'must be an ISO-8601 date-time with a time zone (2026-01-15T10:00:00Z)';
    case 'pattern':
      return 'must not be blank';
    case 'type':
      return `must be ${String((error.params as { type?: unknown }).type)}`;
    default:
      return error.message ?? 'is not valid';
  }
}

/** The field an ajv error is about, below the event. */
function fieldOf(error: ErrorObject): string {
  const params = error.params as { missingProperty?: unknown; additionalProperty?: unknown };
  const path = error.instancePath
    .split('/')
    .filter(Boolean)
    .map((part) => part.replaceAll('~1', '/').replaceAll('~0', '~'));
  if (error.keyword === 'required' && typeof params.missingProperty === 'string') path.push(params.missingProperty);
  if (error.keyword === 'additionalProperties' && typeof params.additionalProperty === 'string')
    path.push(params.additionalProperty);
  return path.join('.');
}

/**
 * Checks a `POST /v1/events` body. Answers the events, or every problem found, each naming the
 * index and the field (`body[3].timestamp`; `body.timestamp` for a single event).
 */
export function validateIngestBody(
  body: unknown,
): { readonly events: readonly Record<string, unknown>[] } | { readonly problems: readonly InputProblem[] } {
  const single = !Array.isArray(body);
  const items: readonly unknown[] = Array.isArray(body) ? body : [body];
  if (body === undefined || body === null)
    return { problems: [{ name: 'body', reason: 'is empty: send one event or an array of events' }] };
  if (!single && items.length === 0)
    return { problems: [{ name: 'body', reason: 'is an empty array: send at least one event' }] };
  if (items.length > MAX_EVENTS_PER_REQUEST) {
    return {
      problems: [
        { name: 'body', reason: `holds ${items.length} events; at most ${MAX_EVENTS_PER_REQUEST} per request` },
      ],
    };
  }
  const validate = eventValidator();
  const problems: InputProblem[] = [];
  items.forEach((item, index) => {
    const at = single ? 'body' : `body[${index}]`;
    if (typeof item !== 'object' || item === null || Array.isArray(item)) {
      problems.push({ name: at, reason: 'must be an event object' });
      return;
    }
    if (validate(item)) {
      // The published event must also be the contracts' platform event (schemas/platform-event.schema.json),
      // which is stricter than ajv-formats on the timestamp (no leap second, upper-case T and Z, an
      // offset with a colon) and refuses U+0000, which its consumers cannot store.
      const contract = contractEventSchema.safeParse(item);
      // A platform event from before 1971 or after 9989 would be dead-lettered by stream_ingest
      // (an instant outside 1970-9999 UTC has no lake day): refused here instead of accepted.
      if (contract.success && !lakeTimestampPattern().test(contract.data.timestamp)) {
        problems.push({ name: `${at}.timestamp`, reason: `must be ${LAKE_YEARS}` });
      }
      for (const issue of contract.success ? [] : contract.error.issues) {
        const field = issue.path.map(String).join('.');
        const reason =
          field === 'timestamp'
            ? 'must be an ISO-8601 date-time with a time zone (2026-01-15T10:00:00Z)'
            : issue.message;
        problems.push({ name: field === '' ? at : `${at}.${field}`, reason });
      }
      return;
    }
    for (const error of validate.errors ?? []) {
      const field = fieldOf(error);
      problems.push({ name: field === '' ? at : `${at}.${field}`, reason: reasonOf(error) });
    }
  });
  if (problems.length > 0) return { problems };
  return { events: items as readonly Record<string, unknown>[] };
}
