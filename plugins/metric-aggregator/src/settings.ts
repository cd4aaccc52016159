import type { ModuleConfig } from '@platform-host/contracts';

/** One `--group-by` dimension: its name in `dimensions` and where its value is read. */
export interface Dimension {
  /** The key in the `dimensions` jsonb: `event_type`, `source` or `payload.<field>` as given. */
  readonly name: string;
  /** Path of the value inside the event object. */
  readonly path: readonly string[];
}

/** The validated arguments of a run. */
export interface AggregatorSettings {
  readonly topic: string;
  readonly group: string;
  /** Window sizes in whole seconds, ascending, without duplicates. */
  readonly windowSeconds: readonly number[];
  readonly dimensions: readonly Dimension[];
  /** Path of the value inside the event object (`payload.value` is `['payload', 'value']`). */
  readonly valuePath: readonly string[];
  readonly allowedLatenessMs: number;
  readonly maxClockSkewMs: number;
  readonly flushIntervalMs: number;
  readonly batchSize: number;
}

/**
 * An argument value the module refuses; the message names the argument and what is wrong. The
 * module reports it as a usage error (exit 2).
 */
export class InvalidArgumentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidArgumentError';
  }
}

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
/** The largest window: `window_seconds` is a PostgreSQL integer. */
const MAX_WINDOW_SECONDS = 2_147_483_647;
const PATH_SEGMENT = /^[^.,\s]+$/;

/** Milliseconds of a duration such as `30s`, `1.5h`, `500ms`, or `undefined` when it is not one. */
export function parseDuration(text: string): number | undefined {
  const match = DURATION.exec(text.trim());
  if (!match) return undefined;
  const ms = Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
  return Number.isFinite(ms) ? ms : undefined;
}

/** `--windows`: a comma list of durations of whole seconds, each used once. */
export function parseWindows(text: string): number[] {
  const items = text.split(',').map((item) => item.trim());
  const seconds = new Set<number>();
  for (const item of items) {
    const ms = parseDuration(item);
    if (ms === undefined) {
      throw new InvalidArgumentError(
        `--windows "${text}": "${item}" is not a duration (a number with a unit ms, s, m, h or d, such as 1m or 1h)`,
      );
    }
    if (ms <= 0 || ms % 1000 !== 0 || ms / 1000 > MAX_WINDOW_SECONDS) {
      throw new InvalidArgumentError(
        `--windows "${text}": "${item}" must be a whole number of seconds from 1s to ${MAX_WINDOW_SECONDS}s (window_seconds is an integer)`,
      );
    }
    if (seconds.has(ms / 1000)) throw new InvalidArgumentError(`--windows "${text}": "${item}" is given twice`);
    seconds.add(ms / 1000);
  }
  return [...seconds].sort((a, b) => a - b);
}

function parsePath(argument: string, text: string): string[] {
  const path = text.split('.');
  if (!path.every((segment) => PATH_SEGMENT.test(segment))) {
    throw new InvalidArgumentError(
      `${argument} "${text}" is not a dotted path (names without spaces or commas, separated by single dots)`,
    );
  }
  return path;
}

/** `--group-by`: a comma list of `event_type`, `source` or `payload.<field>`, each used once. */
export function parseGroupBy(text: string): Dimension[] {
  const names = text.split(',').map((item) => item.trim());
  const dimensions: Dimension[] = [];
  for (const name of names) {
    const valid = name === 'event_type' || name === 'source' || (name.startsWith('payload.') && name.length > 8);
    if (!valid) {
      throw new InvalidArgumentError(
        `--group-by "${text}": "${name}" is not a dimension (use event_type, source or payload.<field>)`,
      );
    }
    if (dimensions.some((dimension) => dimension.name === name)) {
      throw new InvalidArgumentError(`--group-by "${text}": "${name}" is given twice`);
    }
    dimensions.push({ name, path: parsePath('--group-by', name) });
  }
  return dimensions;
}

function durationArgument(config: ModuleConfig, name: string): number {
  // The host checked the format ("format": "duration" in module.json); this reads it.
  const ms = config.durationMs(name);
  if (!(ms > 0)) throw new InvalidArgumentError(`--${name} must be a duration greater than zero`);
  return ms;
}

/** Reads and checks the module arguments. Throws {@link InvalidArgumentError}. */
export function readSettings(config: ModuleConfig): AggregatorSettings {
  const flushIntervalMs = durationArgument(config, 'flush-interval');
  return {
    topic: config.string('topic'),
    group: config.string('group'),
    windowSeconds: parseWindows(config.string('windows')),
    dimensions: parseGroupBy(config.string('group-by')),
    valuePath: parsePath('--value-field', config.string('value-field')),
    allowedLatenessMs: durationArgument(config, 'allowed-lateness'),
    maxClockSkewMs: durationArgument(config, 'max-clock-skew'),
    flushIntervalMs,
    batchSize: config.integer('batch-size'),
  };
}
