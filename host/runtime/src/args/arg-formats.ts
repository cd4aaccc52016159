import type { ArgFormat } from '@platform-host/contracts';

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/**
 * A duration such as `500ms`, `30s`, `1.5h` or `7d` in milliseconds, or `undefined` when `text` is
 * not one (a bare number has no unit and is refused: `--window 60` is ambiguous).
 */
export function parseDurationMs(text: string): number | undefined {
  const match = DURATION.exec(text.trim());
  if (!match) return undefined;
  const ms = Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
  return Number.isFinite(ms) ? ms : undefined;
}

/** True for a calendar date `YYYY-MM-DD` that exists (no 2026-02-30, no 2025-02-29). */
export function isCalendarDate(text: string): boolean {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (!match) return false;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const date = new Date(Date.UTC(year, month - 1, day));
  return date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}

/** True for an ISO-8601 timestamp with a time zone (`Z` or `±hh:mm`) whose date part exists. */
export function isDateTime(text: string): boolean {
  const match = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})$/i.exec(text);
  if (!match || !isCalendarDate(match[1] ?? '')) return false;
  const [hour, minute, second] = [Number(match[2]), Number(match[3]), Number(match[4] ?? 0)];
  return hour < 24 && minute < 60 && second < 60;
}

/** Why `value` does not have `format`, or `undefined` when it has. */
export function formatProblem(format: ArgFormat, value: string): string | undefined {
  switch (format) {
    case 'date':
      return isCalendarDate(value) ? undefined : 'must be a calendar date YYYY-MM-DD that exists';
    case 'date-time':
      return isDateTime(value) ? undefined : 'must be an ISO-8601 timestamp with a time zone (Z or +hh:mm)';
    case 'relative-path':
      return relativePathProblem(value);
    case 'duration': {
      const ms = parseDurationMs(value);
      if (ms === undefined) return 'must be a duration: a number with a unit ms, s, m, h or d (e.g. 500ms, 30s, 5m)';
      return ms > 0 ? undefined : 'must be a duration greater than zero';
    }
  }
}

/** Why `value` is not a path inside a root (relative, `/`-separated, no `..`), or `undefined`. */
function relativePathProblem(value: string): string | undefined {
  if (value.includes('\0')) return 'must be a relative path without NUL characters';
  if (value.startsWith('/') || /^[A-Za-z]:/.test(value)) return 'must be a relative path (not absolute)';
  if (value.includes('\\')) return 'must use / as separator';
  if (value.split('/').includes('..')) return 'must stay inside the root (no .. segments)';
  return undefined;
}
