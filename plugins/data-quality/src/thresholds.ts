/** The comparison of a threshold; the threshold is met (the check warns or fails) when it holds. */
export type ThresholdOperator = '<' | '<=' | '>' | '>=' | '=' | '!=' | 'between' | 'not between';

/** A parsed threshold such as `> 5`, `between 1 and 500` or (freshness) `> 1d`. */
export interface Threshold {
  /** As written in the checks file. */
  readonly text: string;
  readonly operator: ThresholdOperator;
  /** The bound; for durations in seconds. For `between`, the lower bound. */
  readonly value: number;
  /** The upper bound of `between` and `not between`. */
  readonly upper?: number;
}

/** What a threshold compares against: a plain number, or (freshness) a duration with a unit. */
export type ThresholdKind = 'number' | 'duration';

const SECONDS_PER_UNIT: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86400 };
const NUMBER = String.raw`[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?`;
const DURATION = String.raw`\d+(?:\.\d+)?\s*[a-zA-Z]+`;
const OPERAND = `(${DURATION}|${NUMBER})`;
const COMPARISON = new RegExp(String.raw`^\s*(<=|>=|!=|<|>|=)\s*${OPERAND}\s*$`);
const RANGE = new RegExp(String.raw`^\s*(not\s+)?between\s+${OPERAND}\s+and\s+${OPERAND}\s*$`, 'i');

/** The forms a threshold may take, for error messages. */
export const THRESHOLD_FORMS = '< n, <= n, > n, >= n, = n, != n, between a and b, not between a and b';

/** A threshold the checks file gives, refused with the reason (the caller adds where it is). */
export class ThresholdError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ThresholdError';
  }
}

function operand(text: string, kind: ThresholdKind, threshold: string): number {
  const duration = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]+)$/.exec(text);
  if (duration) {
    const unit = duration[2] ?? '';
    const perUnit = SECONDS_PER_UNIT[unit];
    if (kind === 'number')
      throw new ThresholdError(
        `${JSON.stringify(threshold)} has a duration (${text}), but only freshness checks take durations`,
      );
    if (perUnit === undefined)
      throw new ThresholdError(`${JSON.stringify(threshold)}: unknown duration unit "${unit}" (use s, m, h or d)`);
    return Number(duration[1]) * perUnit;
  }
  if (kind === 'duration')
    throw new ThresholdError(
      `${JSON.stringify(threshold)}: freshness thresholds are durations with a unit (s, m, h or d), for example "> 1d"`,
    );
  const value = Number(text);
  if (!Number.isFinite(value)) throw new ThresholdError(`${JSON.stringify(threshold)}: ${text} is not a finite number`);
  return value;
}

/**
 * Parses a threshold of the checks file. Numbers for every check but freshness, whose thresholds
 * are durations (`30s`, `15m`, `6h`, `7d`) converted to seconds. Throws {@link ThresholdError}.
 */
export function parseThreshold(text: string, kind: ThresholdKind): Threshold {
  const comparison = COMPARISON.exec(text);
  if (comparison) {
    const operator = comparison[1] as ThresholdOperator;
    return { text: text.trim(), operator, value: operand(comparison[2] ?? '', kind, text) };
  }
  const range = RANGE.exec(text);
  if (range) {
    const lower = operand(range[2] ?? '', kind, text);
    const upper = operand(range[3] ?? '', kind, text);
    if (lower > upper)
      throw new ThresholdError(
        `${JSON.stringify(text)}: the lower bound ${range[2]} is above the upper bound ${range[3]}`,
      );
    return { text: text.trim(), operator: range[1] ? 'not between' : 'between', value: lower, upper };
  }
  throw new ThresholdError(`${JSON.stringify(text)} is not a threshold: write one of ${THRESHOLD_FORMS}`);
}

/** True when `observed` meets the threshold (so the check warns or fails). Bounds are inclusive. */
export function thresholdMet(threshold: Threshold, observed: number): boolean {
  const { value, upper = value } = threshold;
  switch (threshold.operator) {
    case '<':
      return observed < value;
    case '<=':
      return observed <= value;
    case '>':
      return observed > value;
    case '>=':
      return observed >= value;
    case '=':
      return observed === value;
    case '!=':
      return observed !== value;
    case 'between':
      return observed >= value && observed <= upper;
    case 'not between':
      return observed < value || observed > upper;
  }
}

/** Seconds as the largest units that fit, two of them at most: `3d 4h`, `15m 2s`, `0.5s`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return String(seconds);
  const sign = seconds < 0 ? '-' : '';
  let rest = Math.abs(seconds);
  if (rest < 60) return `${sign}${Number(rest.toFixed(1))}s`;
  const parts: string[] = [];
  for (const [unit, size] of [
    ['d', 86400],
    ['h', 3600],
    ['m', 60],
    ['s', 1],
  ] as const) {
    const whole = Math.floor(rest / size);
    if (whole > 0 || parts.length > 0) {
      if (whole > 0) parts.push(`${whole}${unit}`);
      rest -= whole * size;
    }
    if (parts.length === 2) break;
  }
  return `${sign}${parts.join(' ')}`;
}
