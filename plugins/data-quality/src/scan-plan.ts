import type { CheckSpec, TableChecks } from './checks-file.js';
import { quoteLiteral, trimStatement, type SqlName } from './sql-text.js';

/**
 * Every statement here binds at least one parameter: both PostgreSQL adapters then use the extended
 * protocol, which runs exactly one statement, so SQL from the checks file (a filter, a custom
 * query) cannot append a second one (`...; COMMIT; DELETE ...`) to escape the read-only transaction.
 */

/** One metric of the table scan: an aggregate expression, shared by every check that needs it. */
export interface ScanMetric {
  readonly alias: string;
  readonly expression: string;
}

/** The one aggregate query of a table entry (table and filter) for all its column metrics. */
export interface ScanPlan {
  /** `$1` is the run's reference time (freshness is measured against it). */
  readonly sql: string;
  readonly metrics: readonly ScanMetric[];
  /** Alias of the metric each scan check reads, by check name (percentages also read `rows`). */
  readonly metricOf: ReadonlyMap<string, string>;
}

/** Alias of `count(*)` in every scan. */
export const ROWS_ALIAS = 'm0';

function where(filter: string | undefined, ...conditions: string[]): string {
  const all = [...(filter === undefined ? [] : [`(${filter})`]), ...conditions];
  return all.length === 0 ? '' : ` WHERE ${all.join(' AND ')}`;
}

/** The condition a valid value of an invalid_* check meets (the column is known not to be NULL). */
export function validCondition(check: CheckSpec, column: SqlName): string {
  if (check.validRegex !== undefined) return `${column.sql}::text ~ ${quoteLiteral(check.validRegex)}`;
  return `${column.sql}::text IN (${(check.validValues ?? []).map(quoteLiteral).join(', ')})`;
}

/** The aggregate expression measuring a scan check, or `undefined` for `row_count` (the rows metric). */
export function metricExpression(check: CheckSpec): string | undefined {
  const column = check.columns[0];
  if (check.type === 'row_count' || column === undefined) return undefined;
  switch (check.type) {
    case 'missing_count':
    case 'missing_percent':
      return `(count(*) FILTER (WHERE ${column.sql} IS NULL))::float8`;
    case 'invalid_count':
    case 'invalid_percent':
      return `(count(*) FILTER (WHERE ${column.sql} IS NOT NULL AND NOT (${validCondition(check, column)})))::float8`;
    case 'freshness':
      return `extract(epoch FROM ($1::timestamptz - max(${column.sql})::timestamptz))::float8`;
    case 'min':
    case 'max':
    case 'avg':
      return `(${check.type}(${column.sql}))::float8`;
    default:
      return undefined;
  }
}

/** Builds the one scan of `entry` for `checks` (its scan checks that can be evaluated). */
export function planScan(entry: TableChecks, checks: readonly CheckSpec[]): ScanPlan {
  const metrics: ScanMetric[] = [{ alias: ROWS_ALIAS, expression: 'count(*)::float8' }];
  const byExpression = new Map<string, string>([['count(*)::float8', ROWS_ALIAS]]);
  const metricOf = new Map<string, string>();
  for (const check of checks) {
    const expression = metricExpression(check) ?? 'count(*)::float8';
    let alias = byExpression.get(expression);
    if (alias === undefined) {
      alias = `m${metrics.length}`;
      metrics.push({ alias, expression });
      byExpression.set(expression, alias);
    }
    metricOf.set(check.name, alias);
  }
  const select = metrics.map((metric) => `${metric.expression} AS ${metric.alias}`).join(', ');
  return {
    sql: `SELECT ${select}, $1::timestamptz AS measured_at FROM ${entry.table.sql}${where(entry.filter)}`,
    metrics,
    metricOf,
  };
}

/** The duplicate measurement of `columns`: rows in scope and rows beyond the first of each combination. */
export function duplicatesSql(entry: TableChecks, columns: readonly SqlName[]): string {
  const list = columns.map((column) => column.sql).join(', ');
  return (
    'SELECT coalesce(sum(n), 0)::float8 AS rows, coalesce(sum(n - 1), 0)::float8 AS duplicates, ' +
    `$1::timestamptz AS measured_at FROM (SELECT count(*) AS n FROM ${entry.table.sql}${where(entry.filter)} ` +
    `GROUP BY ${list}) AS dq_groups`
  );
}

/** A custom SQL check's query, wrapped so it is one read-only SELECT; `$1` limits the rows (2). */
export function customSql(query: string): string {
  return `SELECT * FROM (${trimStatement(query)}) AS dq_custom LIMIT $1`;
}

/** The failed rows of a failing check, at most `$1`; `undefined` for checks without rows to show. */
export function samplesSql(entry: TableChecks, check: CheckSpec): string | undefined {
  const column = check.columns[0];
  const from = `FROM ${entry.table.sql}`;
  switch (check.type) {
    case 'missing_count':
    case 'missing_percent':
      return column && `SELECT * ${from}${where(entry.filter, `${column.sql} IS NULL`)} LIMIT $1`;
    case 'invalid_count':
    case 'invalid_percent':
      return (
        column &&
        `SELECT * ${from}${where(entry.filter, `${column.sql} IS NOT NULL`, `NOT (${validCondition(check, column)})`)} LIMIT $1`
      );
    case 'duplicate_count':
    case 'duplicate_percent': {
      const list = check.columns.map((item) => item.sql).join(', ');
      return `SELECT ${list}, count(*)::float8 AS occurrences ${from}${where(entry.filter)} GROUP BY ${list} HAVING count(*) > 1 ORDER BY count(*) DESC LIMIT $1`;
    }
    case 'sql':
      return check.samplesQuery === undefined
        ? undefined
        : `SELECT * FROM (${trimStatement(check.samplesQuery)}) AS dq_samples LIMIT $1`;
    default:
      return undefined;
  }
}
