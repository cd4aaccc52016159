import type { Database, Row, SqlParam } from '@platform-host/contracts';
import { ProblemError } from './problem.js';

/**
 * The queries behind the GET endpoints. Every value reaches SQL as a bound parameter; the SQL
 * text is assembled only from the fixed fragments below. Pages are read by keyset (`WHERE key >
 * last key ORDER BY key LIMIT n + 1`), never OFFSET: the cost of a page does not grow with its
 * depth, and rows inserted meanwhile neither shift nor repeat rows.
 */

/** SQLSTATE of "relation does not exist". */
const UNDEFINED_TABLE = '42P01';

/** One page of rows; `more` when a row beyond the page exists. */
export interface Page<T> {
  readonly items: readonly T[];
  readonly more: boolean;
}

function sqlStateOf(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const direct = (error as { sqlState?: unknown }).sqlState;
  if (typeof direct === 'string') return direct;
  const cause = (error as { cause?: unknown }).cause;
  if (typeof cause === 'object' && cause !== null) {
    const fromCause = (cause as { sqlState?: unknown; code?: unknown }).sqlState ?? (cause as { code?: unknown }).code;
    if (typeof fromCause === 'string') return fromCause;
  }
  return undefined;
}

/** Runs a query on `table`; a table that does not exist yet is a 404 problem naming it and its owner. */
async function query<T extends Row>(
  db: Database,
  table: string,
  owner: string,
  sql: string,
  params: SqlParam[],
): Promise<T[]> {
  try {
    return await db.fetchAll<T>(sql, params);
  } catch (error) {
    if (sqlStateOf(error) === UNDEFINED_TABLE) {
      throw new ProblemError(
        'table_missing',
        `The table ${table} does not exist yet: it is created by the module ${owner} (run its migrations, or run it once)`,
      );
    }
    throw error;
  }
}

/** Builds `WHERE a AND b` from fragments whose `$?` placeholders are numbered in order. */
class Conditions {
  readonly params: SqlParam[] = [];
  private readonly parts: string[] = [];

  add(fragment: string, ...values: SqlParam[]): void {
    let text = fragment;
    for (const value of values) {
      this.params.push(value);
      text = text.replace('$?', `$${this.params.length}`);
    }
    this.parts.push(text);
  }

  /** The next placeholder for a trailing parameter (LIMIT). */
  bind(value: SqlParam): string {
    this.params.push(value);
    return `$${this.params.length}`;
  }

  get where(): string {
    return this.parts.length === 0 ? '' : `WHERE ${this.parts.join(' AND ')}`;
  }
}

const iso = (value: unknown): string | null =>
  value instanceof Date ? value.toISOString() : typeof value === 'string' ? value : null;
const integer = (value: unknown): number | string =>
  typeof value === 'bigint'
    ? value <= BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(value)
      : value.toString()
    : (value as number);

/** Filters of `GET /v1/events`. Dates are `YYYY-MM-DD`, inclusive. */
export interface EventFilters {
  readonly eventType?: string | undefined;
  readonly source?: string | undefined;
  readonly date?: string | undefined;
  readonly from?: string | undefined;
  readonly to?: string | undefined;
}

/** One row of `cleaned_events` as the API shows it. */
export interface EventItem {
  readonly id: number | string;
  readonly event_type: string;
  readonly source: string;
  readonly event_date: string;
  readonly payload: unknown;
  readonly created_at: string | null;
}

const EVENT_COLUMNS = `id, event_type, source, to_char(event_date, 'YYYY-MM-DD') AS event_date, payload, created_at`;

function eventItem(row: Row): EventItem {
  return {
    id: integer(row.id),
    event_type: String(row.event_type),
    source: String(row.source),
    event_date: String(row.event_date),
    payload: row.payload,
    created_at: iso(row.created_at),
  };
}

/** A page of `cleaned_events` ordered by id, after `afterId`. */
export async function listEvents(
  db: Database,
  filters: EventFilters,
  afterId: number | undefined,
  limit: number,
): Promise<Page<EventItem>> {
  const where = new Conditions();
  if (afterId !== undefined) where.add('id > $?', afterId);
  if (filters.eventType !== undefined) where.add('event_type = $?', filters.eventType);
  if (filters.source !== undefined) where.add('source = $?', filters.source);
  if (filters.date !== undefined) where.add('event_date = $?::date', filters.date);
  if (filters.from !== undefined) where.add('event_date >= $?::date', filters.from);
  if (filters.to !== undefined) where.add('event_date <= $?::date', filters.to);
  const limitParam = where.bind(limit + 1);
  const rows = await query(
    db,
    'cleaned_events',
    'batch_etl',
    `SELECT ${EVENT_COLUMNS} FROM cleaned_events ${where.where} ORDER BY id LIMIT ${limitParam}`,
    where.params,
  );
  return { items: rows.slice(0, limit).map(eventItem), more: rows.length > limit };
}

/** One row of `cleaned_events` by id, or `undefined`. */
export async function getEvent(db: Database, id: number): Promise<EventItem | undefined> {
  const rows = await query(
    db,
    'cleaned_events',
    'batch_etl',
    `SELECT ${EVENT_COLUMNS} FROM cleaned_events WHERE id = $1`,
    [id],
  );
  return rows[0] === undefined ? undefined : eventItem(rows[0]);
}

/** Filters of `GET /v1/rollups`: the window length, dimension values, and a `window_start` range. */
export interface RollupFilters {
  readonly windowSeconds: number;
  /** Dimension name to value; rows whose `dimensions` contain all of them. */
  readonly dimensions: Readonly<Record<string, string>>;
  /** Inclusive lower bound of `window_start` (ISO-8601). */
  readonly from?: string | undefined;
  /** Exclusive upper bound of `window_start` (ISO-8601). */
  readonly to?: string | undefined;
}

/** The keyset position of a rollup row: its `window_start` text and its `dimensions` JSON text. */
export type RollupPosition = readonly [string, string];

/** One row of `metric_rollups`. */
export interface RollupItem {
  readonly window_seconds: number;
  readonly window_start: string;
  readonly dimensions: unknown;
  readonly event_count: number | string;
  readonly value_count: number | string;
  readonly value_sum: number | null;
  readonly value_min: number | null;
  readonly value_max: number | null;
  readonly value_avg: number | null;
  readonly closed_at: string | null;
  readonly updated_at: string | null;
}

const UTC_MICROS = `'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'`;
const nullableNumber = (value: unknown): number | null =>
  value === null || value === undefined ? null : Number(value);

/** A page of `metric_rollups` ordered by (window_start, dimensions). */
export async function listRollups(
  db: Database,
  filters: RollupFilters,
  after: RollupPosition | undefined,
  limit: number,
): Promise<{ readonly page: Page<RollupItem>; readonly last: RollupPosition | undefined }> {
  const where = new Conditions();
  where.add('window_seconds = $?', filters.windowSeconds);
  if (Object.keys(filters.dimensions).length > 0)
    where.add('dimensions @> $?::jsonb', JSON.stringify(filters.dimensions));
  if (filters.from !== undefined) where.add('window_start >= $?::timestamptz', filters.from);
  if (filters.to !== undefined) where.add('window_start < $?::timestamptz', filters.to);
  if (after !== undefined) where.add('(window_start, dimensions) > ($?::timestamptz, $?::jsonb)', after[0], after[1]);
  const limitParam = where.bind(limit + 1);
  const rows = await query(
    db,
    'metric_rollups',
    'metric_aggregator',
    `SELECT window_seconds, to_char(window_start AT TIME ZONE 'UTC', ${UTC_MICROS}) AS window_start,
       dimensions, dimensions::text AS dimensions_key, event_count, value_count, value_sum, value_min, value_max,
       value_avg, closed_at, updated_at
     FROM metric_rollups ${where.where} ORDER BY window_start, dimensions LIMIT ${limitParam}`,
    where.params,
  );
  const shown = rows.slice(0, limit);
  const lastRow = shown.at(-1);
  return {
    page: {
      more: rows.length > limit,
      items: shown.map((row) => ({
        window_seconds: Number(row.window_seconds),
        window_start: String(row.window_start),
        dimensions: row.dimensions,
        event_count: integer(row.event_count),
        value_count: integer(row.value_count),
        value_sum: nullableNumber(row.value_sum),
        value_min: nullableNumber(row.value_min),
        value_max: nullableNumber(row.value_max),
        value_avg: nullableNumber(row.value_avg),
        closed_at: iso(row.closed_at),
        updated_at: iso(row.updated_at),
      })),
    },
    last: lastRow === undefined ? undefined : [String(lastRow.window_start), String(lastRow.dimensions_key)],
  };
}

/** One data_quality run: when it ran and how its checks came out. */
export interface QualityRunSummary {
  readonly run_id: string;
  readonly started_at: string;
  readonly finished_at: string | null;
  readonly checks: number;
  /** Checks by outcome (`pass`, `warn`, `fail`, ... as data_quality records them). */
  readonly outcomes: Readonly<Record<string, number>>;
}

/** Filters of `GET /v1/quality/runs`: a `started_at` range (ISO-8601; from inclusive, to exclusive). */
export interface QualityRunFilters {
  readonly from?: string | undefined;
  readonly to?: string | undefined;
}

/** The keyset position of a run: its `started_at` text (UTC, microseconds) and its id. */
export type RunPosition = readonly [string, string];

function outcomeCounts(list: unknown): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const outcome of Array.isArray(list) ? list : []) {
    const name = String(outcome);
    counts[name] = (counts[name] ?? 0) + 1;
  }
  return counts;
}

/** A page of data_quality runs, newest first (by first `started_at`, then run id). */
export async function listQualityRuns(
  db: Database,
  filters: QualityRunFilters,
  after: RunPosition | undefined,
  limit: number,
): Promise<{ readonly page: Page<QualityRunSummary>; readonly last: RunPosition | undefined }> {
  const inner = new Conditions();
  if (filters.from !== undefined) inner.add('started_at >= $?::timestamptz', filters.from);
  if (filters.to !== undefined) inner.add('started_at < $?::timestamptz', filters.to);
  const outer =
    after === undefined
      ? ''
      : `WHERE (r.started_at, r.run_id) < ($${inner.params.length + 1}::timestamptz, $${inner.params.length + 2})`;
  if (after !== undefined) inner.params.push(after[0], after[1]);
  const limitParam = inner.bind(limit + 1);
  const rows = await query(
    db,
    'dq_check_results',
    'data_quality',
    `SELECT r.run_id, to_char(r.started_at AT TIME ZONE 'UTC', ${UTC_MICROS}) AS started_at, r.finished_at, r.checks, r.outcomes
     FROM (SELECT run_id::text AS run_id, min(started_at) AS started_at, max(finished_at) AS finished_at,
             count(*)::int AS checks, array_agg(outcome::text) AS outcomes
           FROM dq_check_results ${inner.where} GROUP BY run_id) r
     ${outer} ORDER BY r.started_at DESC, r.run_id DESC LIMIT ${limitParam}`,
    inner.params,
  );
  const shown = rows.slice(0, limit);
  const lastRow = shown.at(-1);
  return {
    page: {
      more: rows.length > limit,
      items: shown.map((row) => ({
        run_id: String(row.run_id),
        started_at: String(row.started_at),
        finished_at: iso(row.finished_at),
        checks: Number(row.checks),
        outcomes: outcomeCounts(row.outcomes),
      })),
    },
    last: lastRow === undefined ? undefined : [String(lastRow.started_at), String(lastRow.run_id)],
  };
}

/** Every check result of one data_quality run, or `undefined` when the run is unknown. */
export async function getQualityRun(db: Database, runId: string): Promise<Record<string, unknown> | undefined> {
  const rows = await query(
    db,
    'dq_check_results',
    'data_quality',
    `SELECT run_id::text AS run_id, check_name, table_name, column_name, check_type, observed_value, warn_threshold,
       fail_threshold, outcome, message, samples, started_at, finished_at
     FROM dq_check_results WHERE run_id::text = $1 ORDER BY started_at, check_name, table_name, column_name`,
    [runId],
  );
  if (rows.length === 0) return undefined;
  const results = rows.map((row) => ({
    check_name: row.check_name,
    table_name: row.table_name,
    column_name: row.column_name ?? null,
    check_type: row.check_type,
    observed_value: row.observed_value ?? null,
    warn_threshold: row.warn_threshold ?? null,
    fail_threshold: row.fail_threshold ?? null,
    outcome: row.outcome,
    message: row.message ?? null,
    samples: row.samples ?? null,
    started_at: iso(row.started_at),
    finished_at: iso(row.finished_at),
  }));
  const starts = results.map((result) => result.started_at).filter((value): value is string => value !== null);
  const ends = results.map((result) => result.finished_at).filter((value): value is string => value !== null);
  return {
    run_id: runId,
    started_at: starts.sort()[0] ?? null,
    finished_at: ends.sort().at(-1) ?? null,
    checks: results.length,
    outcomes: outcomeCounts(results.map((result) => result.outcome)),
    results,
  };
}
