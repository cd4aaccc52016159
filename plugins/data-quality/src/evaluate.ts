import type { Database, Row, SqlParam } from '@platform-host/contracts';
import type { CheckSpec, ChecksFile, TableChecks } from './checks-file.js';
import { customSql, duplicatesSql, planScan, ROWS_ALIAS, samplesSql } from './scan-plan.js';
import { formatDuration, thresholdMet } from './thresholds.js';

/** The outcome of one check. `error`: it could not be evaluated (the run exits 3). */
export type Outcome = 'pass' | 'warn' | 'fail' | 'error';

/** What one check measured and concluded. */
export interface CheckResult {
  readonly check: CheckSpec;
  readonly table: string;
  readonly filter: string | undefined;
  /** `null` when it could not be evaluated or there was nothing to measure (min of no rows). */
  readonly observed: number | null;
  readonly outcome: Outcome;
  readonly message: string;
  /** Failed rows (at most --sample-size), for failing and warning checks. */
  readonly samples: readonly Row[];
  readonly startedAt: Date;
  readonly finishedAt: Date;
}

/** The timing of one table entry's scan, for the report and the scan duration metric. */
export interface ScanTiming {
  readonly table: string;
  readonly filter: string | undefined;
  /** Statements that read the table: the scan, duplicate and custom queries, samples. */
  readonly queries: number;
  /** Duration of the one aggregate scan, `undefined` when the entry has no scan checks or it failed. */
  readonly scanSeconds: number | undefined;
}

export interface EvaluationOptions {
  readonly sampleSize: number;
  /** Freshness is measured against this instant (the run's start). */
  readonly referenceTime: Date;
  /** Called after each scan with its duration. */
  readonly onScan?: (table: string, seconds: number) => void;
}

interface ColumnInfo {
  readonly type: string;
  /** pg_type.typcategory: N numeric, D date/time, S string, ... */
  readonly category: string;
}

/** Runs `sql` in its own read-only transaction, so no check can write. */
async function readOnly(db: Database, sql: string, params: readonly SqlParam[]): Promise<Row[]> {
  return db.transaction(async () => {
    await db.execute('SET TRANSACTION READ ONLY');
    return db.fetchAll(sql, params);
  });
}

function errorText(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split('\n')[0] ?? text;
}

function numberOf(value: unknown): number | null | undefined {
  if (value === null || value === undefined) return null;
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) return Number(value);
  return undefined;
}

/** Values of a sample row made JSON-safe (bigint as text, dates as ISO strings, bytes as hex). */
function jsonRow(row: Row): Row {
  return JSON.parse(
    JSON.stringify(row, (_key, value: unknown) => {
      if (typeof value === 'bigint') return value.toString();
      if (value instanceof Uint8Array) return `\\x${Buffer.from(value).toString('hex')}`;
      return value;
    }),
  ) as Row;
}

function formatObserved(check: CheckSpec, value: number): string {
  if (check.type === 'freshness') return formatDuration(value);
  return String(Number.isInteger(value) ? value : Number(value.toPrecision(6)));
}

/** The outcome of a measured value against the check's thresholds and severity. */
export function judge(check: CheckSpec, observed: number | null): { outcome: Outcome; message: string } {
  if (observed === null) {
    if (check.type !== 'freshness')
      return { outcome: 'pass', message: 'no non-null values in scope: nothing to compare' };
    const outcome = check.fail ? 'fail' : 'warn';
    return {
      outcome: outcome === 'fail' && check.severity === 'warn' ? 'warn' : outcome,
      message: `no non-null ${check.columns[0]?.display ?? 'value'} in scope: no data, so not fresh`,
    };
  }
  const shown = formatObserved(check, observed);
  if (check.fail && thresholdMet(check.fail, observed)) {
    const outcome = check.severity === 'warn' ? 'warn' : 'fail';
    return { outcome, message: `observed ${shown} meets the fail threshold "${check.fail.text}"` };
  }
  if (check.warn && thresholdMet(check.warn, observed))
    return { outcome: 'warn', message: `observed ${shown} meets the warn threshold "${check.warn.text}"` };
  return { outcome: 'pass', message: '' };
}

/** What a check needs of its column, or why the column does not do. */
function columnProblem(check: CheckSpec, table: string, columns: ReadonlyMap<string, ColumnInfo>): string | undefined {
  for (const column of check.columns) {
    const info = columns.get(column.display);
    if (!info) return `column ${column.display} does not exist in table ${table}`;
    if ((check.type === 'min' || check.type === 'max' || check.type === 'avg') && info.category !== 'N')
      return `${check.type} needs a numeric column; ${table}.${column.display} is ${info.type}`;
    if (check.type === 'freshness' && info.category !== 'D')
      return `freshness needs a date or timestamp column; ${table}.${column.display} is ${info.type}`;
  }
  return undefined;
}

const CATALOG_SQL = (count: number): string =>
  'SELECT t.ord, (t.reg IS NOT NULL) AS found, a.attname::text AS column_name, ' +
  'format_type(a.atttypid, a.atttypmod) AS type_name, ty.typcategory::text AS category ' +
  `FROM (VALUES ${Array.from({ length: count }, (_, index) => `(${index}, to_regclass($${index + 1}::text))`).join(', ')}) AS t(ord, reg) ` +
  'LEFT JOIN pg_attribute a ON a.attrelid = t.reg AND a.attnum > 0 AND NOT a.attisdropped ' +
  'LEFT JOIN pg_type ty ON ty.oid = a.atttypid';

/** The columns of each table (by display name), `undefined` for a table that does not exist. One query. */
async function describeTables(
  db: Database,
  tables: readonly TableChecks[],
): Promise<Map<string, ReadonlyMap<string, ColumnInfo> | undefined>> {
  const names = [...new Set(tables.map((entry) => entry.table.sql))];
  const rows = await readOnly(db, CATALOG_SQL(names.length), names);
  const described = new Map<string, Map<string, ColumnInfo> | undefined>();
  names.forEach((name, index) => {
    const own = rows.filter((row) => Number(row.ord) === index);
    if (!own.some((row) => row.found === true)) return described.set(name, undefined);
    const columns = new Map<string, ColumnInfo>();
    for (const row of own)
      if (typeof row.column_name === 'string')
        columns.set(row.column_name, { type: String(row.type_name), category: String(row.category) });
    return described.set(name, columns);
  });
  return described;
}

/** Evaluates one table entry: its scan, its duplicate and custom queries, samples of what failed. */
class EntryEvaluation {
  readonly results = new Map<string, CheckResult>();
  queries = 0;
  scanSeconds: number | undefined;

  constructor(
    private readonly db: Database,
    private readonly entry: TableChecks,
    private readonly options: EvaluationOptions,
  ) {}

  async run(columns: ReadonlyMap<string, ColumnInfo> | undefined): Promise<void> {
    const table = this.entry.table.display;
    const runnable: CheckSpec[] = [];
    for (const check of this.entry.checks) {
      const now = new Date();
      const problem =
        check.type === 'sql'
          ? undefined
          : columns === undefined
            ? `table ${table} does not exist (or is not visible on the search_path)`
            : columnProblem(check, table, columns);
      if (problem) this.#settle(check, null, 'error', problem, [], now, now);
      else runnable.push(check);
    }
    await this.#scan(runnable.filter((check) => !check.type.startsWith('duplicate') && check.type !== 'sql'));
    await this.#duplicates(runnable.filter((check) => check.type.startsWith('duplicate')));
    for (const check of runnable.filter((item) => item.type === 'sql')) await this.#custom(check);
  }

  async #query(sql: string, params: readonly SqlParam[]): Promise<Row[]> {
    this.queries += 1;
    return readOnly(this.db, sql, params);
  }

  async #samples(check: CheckSpec): Promise<{ rows: Row[]; problem?: string }> {
    const sql = samplesSql(this.entry, check);
    if (sql === undefined || this.options.sampleSize === 0) return { rows: [] };
    try {
      return { rows: (await this.#query(sql, [this.options.sampleSize])).map(jsonRow) };
    } catch (error) {
      return { rows: [], problem: `samples query failed: ${errorText(error)}` };
    }
  }

  async #conclude(check: CheckSpec, observed: number | null, startedAt: Date, finishedAt: Date): Promise<void> {
    const { outcome, message } = judge(check, observed);
    const samples = outcome === 'fail' || outcome === 'warn' ? await this.#samples(check) : { rows: [] };
    const text = samples.problem ? `${message} (${samples.problem})` : message;
    this.#settle(check, observed, outcome, text, samples.rows, startedAt, finishedAt);
  }

  #settle(
    check: CheckSpec,
    observed: number | null,
    outcome: Outcome,
    message: string,
    samples: readonly Row[],
    startedAt: Date,
    finishedAt: Date,
  ): void {
    this.results.set(check.name, {
      check,
      table: this.entry.table.display,
      filter: this.entry.filter,
      observed,
      outcome,
      message,
      samples,
      startedAt,
      finishedAt,
    });
  }

  async #scan(checks: readonly CheckSpec[]): Promise<void> {
    if (checks.length === 0) return;
    const plan = planScan(this.entry, checks);
    const startedAt = new Date();
    const started = performance.now();
    let row: Row | undefined;
    try {
      row = (await this.#query(plan.sql, [this.options.referenceTime]))[0];
    } catch (error) {
      const finishedAt = new Date();
      for (const check of checks)
        this.#settle(
          check,
          null,
          'error',
          `scan of ${this.entry.table.display} failed: ${errorText(error)}`,
          [],
          startedAt,
          finishedAt,
        );
      return;
    }
    this.scanSeconds = (performance.now() - started) / 1000;
    this.options.onScan?.(this.entry.table.display, this.scanSeconds);
    const finishedAt = new Date();
    const rows = numberOf(row?.[ROWS_ALIAS]) ?? 0;
    for (const check of checks) {
      const value = numberOf(row?.[plan.metricOf.get(check.name) ?? ROWS_ALIAS]) ?? null;
      const percent = check.type === 'missing_percent' || check.type === 'invalid_percent';
      const observed = percent ? (rows === 0 ? 0 : ((value ?? 0) * 100) / rows) : value;
      await this.#conclude(check, observed, startedAt, finishedAt);
    }
  }

  async #duplicates(checks: readonly CheckSpec[]): Promise<void> {
    // One query per column combination, shared by duplicate_count and duplicate_percent.
    const byColumns = new Map<string, CheckSpec[]>();
    for (const check of checks) {
      const key = check.columns.map((column) => column.sql).join(',');
      byColumns.set(key, [...(byColumns.get(key) ?? []), check]);
    }
    for (const group of byColumns.values()) {
      const first = group[0];
      if (!first) continue;
      const startedAt = new Date();
      try {
        const row = (await this.#query(duplicatesSql(this.entry, first.columns), [this.options.referenceTime]))[0];
        const finishedAt = new Date();
        const rows = numberOf(row?.rows) ?? 0;
        const duplicates = numberOf(row?.duplicates) ?? 0;
        for (const check of group) {
          const observed =
            check.type === 'duplicate_percent' ? (rows === 0 ? 0 : (duplicates * 100) / rows) : duplicates;
          await this.#conclude(check, observed, startedAt, finishedAt);
        }
      } catch (error) {
        const finishedAt = new Date();
        for (const check of group)
          this.#settle(check, null, 'error', `duplicates query failed: ${errorText(error)}`, [], startedAt, finishedAt);
      }
    }
  }

  async #custom(check: CheckSpec): Promise<void> {
    const startedAt = new Date();
    let rows: Row[];
    try {
      rows = await this.#query(customSql(check.query ?? ''), [2]);
    } catch (error) {
      this.#settle(check, null, 'error', `query failed: ${errorText(error)}`, [], startedAt, new Date());
      return;
    }
    const finishedAt = new Date();
    const first = rows[0];
    const value = first === undefined ? undefined : Object.values(first)[0];
    const observed = numberOf(value);
    const problem =
      rows.length !== 1
        ? `the query returned ${rows.length === 0 ? 'no row' : 'more than one row'}; it must return one row with the observed number first`
        : observed === null || observed === undefined
          ? `the query's first column is ${value === null ? 'NULL' : JSON.stringify(value)}, not a number`
          : undefined;
    if (problem || observed === null || observed === undefined) {
      this.#settle(check, null, 'error', problem ?? 'no observed value', [], startedAt, finishedAt);
      return;
    }
    await this.#conclude(check, observed, startedAt, finishedAt);
  }
}

/** Evaluates every check of `checksFile`, in file order. Never throws for a database problem. */
export async function evaluateChecks(
  db: Database,
  checksFile: ChecksFile,
  options: EvaluationOptions,
): Promise<{ results: CheckResult[]; scans: ScanTiming[] }> {
  const results: CheckResult[] = [];
  const scans: ScanTiming[] = [];
  let described: Map<string, ReadonlyMap<string, ColumnInfo> | undefined>;
  try {
    described = await describeTables(db, checksFile.tables);
  } catch (error) {
    // The database is down or refuses the catalog: nothing can be evaluated.
    const now = new Date();
    for (const entry of checksFile.tables)
      for (const check of entry.checks)
        results.push({
          check,
          table: entry.table.display,
          filter: entry.filter,
          observed: null,
          outcome: 'error',
          message: `cannot read the database catalog: ${errorText(error)}`,
          samples: [],
          startedAt: now,
          finishedAt: now,
        });
    return { results, scans };
  }
  for (const entry of checksFile.tables) {
    const evaluation = new EntryEvaluation(db, entry, options);
    await evaluation.run(described.get(entry.table.sql));
    for (const check of entry.checks) {
      const result = evaluation.results.get(check.name);
      if (result) results.push(result);
    }
    scans.push({
      table: entry.table.display,
      filter: entry.filter,
      queries: evaluation.queries,
      scanSeconds: evaluation.scanSeconds,
    });
  }
  return { results, scans };
}
