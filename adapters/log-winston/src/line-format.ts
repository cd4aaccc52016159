import { isSerializedError } from './log-record.js';
import type { LogRecord, SerializedError } from './log-record.js';

/** The two output formats: `json` for log aggregators, `pretty` for people. */
export type LineFormat = 'json' | 'pretty';

/**
 * One JSON object (seed 11.1): `timestamp`, `level` (upper case), `module`, `correlation_id` (only
 * when there is one), `message`, and `context` (only when there are fields).
 */
export function formatJsonLine(record: LogRecord): string {
  return jsonLine(
    record.timestamp,
    record.level,
    JSON.stringify(record.module),
    record.correlationId,
    record.message,
    record.context,
  );
}

/** `"level":"INFO"` and the others: the constant part of a line for each level. */
const LEVEL_JSON = { debug: '"DEBUG"', info: '"INFO"', warn: '"WARN"', error: '"ERROR"' } as const;

/**
 * The line {@link formatJsonLine} writes, byte for byte the same as `JSON.stringify` of the entry
 * object, assembled from its parts: the fixed fields are strings (the timestamp an ISO string that
 * needs no escaping, the module already in its JSON form because a logger's module never changes),
 * so only the correlation id, the message and the context go through `JSON.stringify`. Measured
 * against building the entry object and stringifying it (`bench/log-line.mjs`); a schema serializer
 * such as fast-json-stringify does not help here, as the context's fields are free-form and the
 * fixed fields are strings either way.
 */
export function jsonLine(
  timestamp: string,
  level: keyof typeof LEVEL_JSON,
  moduleJson: string,
  correlationId: string | undefined,
  message: string,
  context: Readonly<Record<string, unknown>>,
): string {
  let line = `{"timestamp":"${timestamp}","level":${LEVEL_JSON[level]},"module":${moduleJson}`;
  if (correlationId !== undefined) line += `,"correlation_id":${JSON.stringify(correlationId)}`;
  line += `,"message":${JSON.stringify(message)}`;
  if (hasKeys(context)) line += `,"context":${JSON.stringify(context)}`;
  return `${line}}`;
}

function hasKeys(object: object): boolean {
  for (const key in object) if (Object.hasOwn(object, key)) return true;
  return false;
}

const ANSI = {
  reset: '\u001b[0m',
  dim: '\u001b[2m',
  red: '\u001b[31m',
  green: '\u001b[32m',
  yellow: '\u001b[33m',
  blue: '\u001b[34m',
  cyan: '\u001b[36m',
} as const;

const LEVEL_COLORS = { debug: ANSI.blue, info: ANSI.green, warn: ANSI.yellow, error: ANSI.red } as const;

/**
 * A human-readable line: `timestamp LEVEL [module] message key=value ... correlation_id=...`,
 * followed by indented stack lines of logged errors (present at debug level only).
 * With `colors`, the level, module and keys are colorized with ANSI escapes.
 */
export function formatPrettyLine(record: LogRecord, colors: boolean): string {
  const paint = (color: string, text: string): string => (colors ? `${color}${text}${ANSI.reset}` : text);
  const parts = [
    paint(ANSI.dim, record.timestamp),
    paint(LEVEL_COLORS[record.level], record.level.toUpperCase().padEnd(5)),
    paint(ANSI.cyan, `[${record.module}]`),
    record.message,
  ];
  const stacks: string[] = [];
  for (const [key, value] of Object.entries(record.context)) {
    if (value === undefined) continue;
    parts.push(`${paint(ANSI.dim, `${key}=`)}${prettyValue(value)}`);
    if (isSerializedError(value)) stacks.push(...stackFrames(value));
  }
  if (record.correlationId !== undefined)
    parts.push(`${paint(ANSI.dim, 'correlation_id=')}${prettyValue(record.correlationId)}`);
  return [parts.join(' '), ...stacks.map((frame) => `    ${frame}`)].join('\n');
}

function prettyValue(value: unknown): string {
  if (isSerializedError(value)) return quoteIfNeeded(`${value.name}: ${value.message}`);
  if (typeof value === 'string') return quoteIfNeeded(value);
  return JSON.stringify(value) ?? String(value);
}

function quoteIfNeeded(text: string): string {
  return text.length > 0 && /^[^\s"=\\]+$/u.test(text) ? text : JSON.stringify(text);
}

/** The `at ...` lines of a serialized error's stack (the first line repeats name and message). */
function stackFrames(error: SerializedError): string[] {
  if (error.stack === undefined) return [];
  return error.stack
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.startsWith('at '));
}
