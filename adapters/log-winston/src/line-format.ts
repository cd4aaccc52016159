import { isSerializedError } from './log-record.js';
import type { LogRecord, SerializedError } from './log-record.js';

/** The two output formats: `json` for log aggregators, `pretty` for people. */
export type LineFormat = 'json' | 'pretty';

/**
 * One JSON object (seed 11.1): `timestamp`, `level` (upper case), `module`, `correlation_id` (only
 * when there is one), `message`, and `context` (only when there are fields).
 */
export function formatJsonLine(record: LogRecord): string {
  const entry: Record<string, unknown> = {
    timestamp: record.timestamp,
    level: record.level.toUpperCase(),
    module: record.module,
  };
  if (record.correlationId !== undefined) entry['correlation_id'] = record.correlationId;
  entry['message'] = record.message;
  if (Object.keys(record.context).length > 0) entry['context'] = record.context;
  return JSON.stringify(entry);
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
