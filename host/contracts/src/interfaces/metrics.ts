import { PlatformError } from '../errors.js';

/**
 * Label values of one time series, keyed by the instrument's declared label names. Keep
 * cardinality bounded (no user ids, no raw paths).
 */
export type LabelValues<L extends string> = { readonly [K in L]: string };

/**
 * Base units (DESIGN.md decision 13): a metric measured in one of them ends in `_<unit>` before any
 * `_total`. Durations are seconds, sizes bytes, fractions ratio (0..1).
 */
export const METRIC_UNITS = ['seconds', 'bytes', 'ratio', 'rows', 'messages', 'events', 'requests'] as const;
export type MetricUnit = (typeof METRIC_UNITS)[number];

/** What declares one instrument. Declaring the same name again with the same options returns it. */
export interface InstrumentOptions<L extends string> {
  /**
   * Prometheus-style name: `[a-zA-Z_:][a-zA-Z0-9_:]*`, with the unit as suffix when it has one;
   * counters end in `_total` (`platform_messages_processed_total`).
   */
  readonly name: string;
  /** One sentence: what is counted or measured. */
  readonly help: string;
  /** The label names every observation must give values for, no more and no fewer. Default none. */
  readonly labelNames?: readonly L[];
  readonly unit?: MetricUnit;
}

/** Options of a histogram. */
export interface HistogramOptions<L extends string> extends InstrumentOptions<L> {
  /** Upper bounds, strictly increasing, finite. Default {@link DEFAULT_DURATION_BUCKETS}. */
  readonly buckets?: readonly number[];
}

/** Bucket bounds for durations in seconds, 1 ms to 60 s. */
export const DEFAULT_DURATION_BUCKETS: readonly number[] = Object.freeze([
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
]);

/** A monotonically increasing count. */
export interface Counter<L extends string = never> {
  /** Adds `value` (default 1; finite and >= 0, else `PH_ERR_METRIC_INVALID`). */
  inc(labels: LabelValues<L>, value?: number): void;
}

/** A value that goes up and down. */
export interface Gauge<L extends string = never> {
  set(labels: LabelValues<L>, value: number): void;
  inc(labels: LabelValues<L>, value?: number): void;
  dec(labels: LabelValues<L>, value?: number): void;
}

/** A distribution of observations in declared buckets. */
export interface Histogram<L extends string = never> {
  /** Records one observation (finite, else `PH_ERR_METRIC_INVALID`). */
  observe(labels: LabelValues<L>, value: number): void;
  /** Starts a timer; calling the result records the elapsed seconds once and returns them. */
  startTimer(labels: LabelValues<L>): () => number;
}

/**
 * Metrics (seed 5.2.6, 11.2) through declared instruments. An instrument is declared once with its
 * name, help, label names and (histograms) buckets, then used with label values. Every adapter —
 * the in-memory one included — throws `PH_ERR_METRIC_INVALID` for an invalid name, a name declared
 * again with other options or as another kind, and observations whose label names differ from the
 * declared ones: tests on the memory adapter catch what Prometheus would reject.
 */
export interface Metrics {
  counter<L extends string = never>(options: InstrumentOptions<L>): Counter<L>;
  gauge<L extends string = never>(options: InstrumentOptions<L>): Gauge<L>;
  histogram<L extends string = never>(options: HistogramOptions<L>): Histogram<L>;
  /** Pushes or writes out anything buffered; called by the host at shutdown. */
  flush(): Promise<void>;
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** The kinds of instrument, as reported by {@link validateInstrument}. */
export type InstrumentKind = 'counter' | 'gauge' | 'histogram';

/**
 * Checks an instrument declaration against the naming rules every adapter enforces and returns the
 * normalized label names and buckets. Throws `PH_ERR_METRIC_INVALID` naming the metric and the rule.
 */
export function validateInstrument(
  kind: InstrumentKind,
  options: HistogramOptions<string>,
): { labelNames: readonly string[]; buckets: readonly number[] | undefined } {
  const { name } = options;
  const fail = (problem: string): never => {
    throw new PlatformError('PH_ERR_METRIC_INVALID', `Metric ${JSON.stringify(name)}: ${problem}`, {
      hint: 'Metric names follow Prometheus conventions: snake_case, base unit as suffix, counters end in _total.',
    });
  };
  if (typeof name !== 'string' || !METRIC_NAME.test(name)) fail('the name must match [a-zA-Z_:][a-zA-Z0-9_:]*');
  if (name.startsWith('__')) fail('names starting with "__" are reserved');
  if (typeof options.help !== 'string' || options.help.trim() === '') fail('help text is required');
  if (kind === 'counter' && !name.endsWith('_total')) fail('a counter name must end in _total');
  if (kind !== 'counter' && name.endsWith('_total')) fail(`a ${kind} name must not end in _total`);
  if (options.unit !== undefined) {
    if (!(METRIC_UNITS as readonly string[]).includes(options.unit)) fail(`unknown unit "${options.unit}"`);
    const base = kind === 'counter' ? name.slice(0, -'_total'.length) : name;
    if (!base.endsWith(`_${options.unit}`)) fail(`a metric in ${options.unit} must end in _${options.unit}`);
  }
  const labelNames = [...(options.labelNames ?? [])];
  const seen = new Set<string>();
  for (const label of labelNames) {
    if (!LABEL_NAME.test(label) || label.startsWith('__')) fail(`label name ${JSON.stringify(label)} is not allowed`);
    if (kind === 'histogram' && label === 'le') fail('a histogram cannot have a label named "le"');
    if (seen.has(label)) fail(`label ${label} is declared twice`);
    seen.add(label);
  }
  if (kind !== 'histogram') return { labelNames, buckets: undefined };
  const buckets = [...(options.buckets ?? DEFAULT_DURATION_BUCKETS)];
  if (buckets.length === 0) fail('a histogram needs at least one bucket');
  buckets.forEach((bound, index) => {
    if (!Number.isFinite(bound)) fail('bucket bounds must be finite numbers');
    if (index > 0 && bound <= (buckets[index - 1] ?? -Infinity)) fail('bucket bounds must increase strictly');
  });
  return { labelNames, buckets };
}

/** A validated declaration, as an adapter keeps it to compare later declarations of the same name. */
export interface InstrumentDeclaration {
  readonly kind: InstrumentKind;
  readonly name: string;
  readonly help: string;
  readonly unit: MetricUnit | undefined;
  readonly labelNames: readonly string[];
  /** The bucket bounds of a histogram; `undefined` for counters and gauges. */
  readonly buckets: readonly number[] | undefined;
}

/**
 * Validates a declaration ({@link validateInstrument}) and compares it with `existing`, the
 * declaration already registered under the same name in this adapter (if any). Returns `existing`
 * when both are the same instrument (kind, help, unit, label names in any order, buckets), the new
 * declaration when there was none, and throws `PH_ERR_METRIC_INVALID` naming the difference
 * otherwise — so every adapter accepts and refuses redeclarations alike.
 */
export function resolveDeclaration(
  kind: InstrumentKind,
  options: HistogramOptions<string>,
  existing: InstrumentDeclaration | undefined,
): InstrumentDeclaration {
  const { labelNames, buckets } = validateInstrument(kind, options);
  const declared: InstrumentDeclaration = Object.freeze({
    kind,
    name: options.name,
    help: options.help,
    unit: options.unit,
    labelNames: Object.freeze(labelNames),
    buckets: buckets === undefined ? undefined : Object.freeze(buckets),
  });
  if (existing === undefined) return declared;
  const sameLabels =
    existing.labelNames.length === labelNames.length &&
    labelNames.every((label) => existing.labelNames.includes(label));
  const sameBuckets =
    (existing.buckets ?? []).length === (buckets ?? []).length &&
    (buckets ?? []).every((bound, index) => existing.buckets?.[index] === bound);
  const differences = [
    existing.kind === kind ? '' : `it is a ${existing.kind}, not a ${kind}`,
    existing.help === options.help ? '' : 'the help text differs',
    existing.unit === options.unit ? '' : 'the unit differs',
    sameLabels ? '' : `the label names differ (declared: ${existing.labelNames.join(', ') || 'none'})`,
    sameBuckets ? '' : 'the buckets differ',
  ].filter(Boolean);
  if (differences.length === 0) return existing;
  throw new PlatformError(
    'PH_ERR_METRIC_INVALID',
    `Metric ${options.name} is already declared differently: ${differences.join('; ')}`,
    { hint: 'Declare each metric once (for instance in one module file) and reuse the instrument.' },
  );
}

/**
 * Frozen label objects found valid, with the declared label names (by identity) they were checked
 * against. A frozen object cannot change, so checking it again against the same names would give
 * the same answer: callers that record with one frozen label set per series (the host's queue and
 * database metrics, per message or per query) pay for the check once.
 */
const validFrozenLabels = new WeakMap<object, readonly string[]>();

/**
 * Checks label values given to an instrument against its declared label names: exactly those
 * names, each a string. Throws `PH_ERR_METRIC_INVALID` naming the metric and the difference. A
 * frozen label object already found valid for the same `labelNames` array is not checked again.
 */
export function validateLabels(name: string, labelNames: readonly string[], labels: unknown): void {
  if (typeof labels === 'object' && labels !== null && validFrozenLabels.get(labels) === labelNames) return;
  checkLabels(name, labelNames, labels);
  if (typeof labels === 'object' && labels !== null && Object.isFrozen(labels)) {
    validFrozenLabels.set(labels, labelNames);
  }
}

function checkLabels(name: string, labelNames: readonly string[], labels: unknown): void {
  const given = labels === undefined || labels === null ? {} : labels;
  if (typeof given !== 'object') {
    throw new PlatformError('PH_ERR_METRIC_INVALID', `Metric ${name}: labels must be an object of strings`);
  }
  // Fast path, run on every observation: exactly the declared names, each a string, without
  // allocating. Anything else falls through to the checks below, which name the difference.
  // (Declared label names are unique, so as many own keys, each declared, means the same set.)
  const record = given as Record<string, unknown>;
  let matching = 0;
  for (const key in record) {
    if (!Object.hasOwn(record, key)) continue;
    if (typeof record[key] !== 'string' || !labelNames.includes(key)) {
      matching = -1;
      break;
    }
    matching += 1;
  }
  if (matching === labelNames.length) return;
  const keys = Object.keys(given);
  const missing = labelNames.filter((label) => !keys.includes(label));
  const extra = keys.filter((key) => !labelNames.includes(key));
  if (missing.length > 0 || extra.length > 0) {
    const parts = [
      missing.length > 0 ? `missing ${missing.join(', ')}` : '',
      extra.length > 0 ? `not declared ${extra.join(', ')}` : '',
    ].filter(Boolean);
    throw new PlatformError(
      'PH_ERR_METRIC_INVALID',
      `Metric ${name}: label set differs from the declared one (${labelNames.join(', ') || 'none'}): ${parts.join('; ')}`,
    );
  }
  for (const [key, value] of Object.entries(given as Record<string, unknown>)) {
    if (typeof value !== 'string') {
      throw new PlatformError('PH_ERR_METRIC_INVALID', `Metric ${name}: label ${key} must be a string`);
    }
  }
}

/** Checks an observed value: finite, and for counters not negative. */
export function validateObservation(name: string, value: number, kind: InstrumentKind): void {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new PlatformError('PH_ERR_METRIC_INVALID', `Metric ${name}: value ${String(value)} is not a finite number`);
  }
  if (kind === 'counter' && value < 0) {
    throw new PlatformError('PH_ERR_METRIC_INVALID', `Metric ${name}: a counter cannot decrease (got ${value})`);
  }
}

/** Times `work` into `histogram` (seconds), also when it throws. */
export async function timed<T, L extends string>(
  histogram: Histogram<L>,
  labels: LabelValues<L>,
  work: () => Promise<T>,
): Promise<T> {
  const stop = histogram.startTimer(labels);
  try {
    return await work();
  } finally {
    stop();
  }
}
