import type { Database } from '@platform-host/contracts';
import type { CheckResult, Outcome } from './evaluate.js';

/** The history table (module migration 001). */
export const HISTORY_TABLE = 'dq_check_results';

/** The latest earlier result of a check (same table, same name). */
export interface PreviousResult {
  readonly runId: string;
  readonly observed: number | null;
  readonly outcome: Outcome;
  readonly finishedAt: string;
}

/** `table`, NUL, `check name`: the identity of a check across runs. */
export function historyKey(table: string, checkName: string): string {
  return `${table}\u0000${checkName}`;
}

/**
 * The newest earlier result of each check, one query (an index lookup per check). Read before this
 * run's rows are appended.
 */
export async function readPreviousResults(
  db: Database,
  results: readonly CheckResult[],
): Promise<Map<string, PreviousResult>> {
  const keys = results.map((result) => ({ table_name: result.table, check_name: result.check.name }));
  const rows = await db.fetchAll(
    `SELECT k.table_name, k.check_name, r.run_id::text AS run_id, r.observed_value, r.outcome, r.finished_at
       FROM jsonb_to_recordset($1::jsonb) AS k(table_name text, check_name text)
       JOIN LATERAL (
         SELECT run_id, observed_value, outcome, finished_at FROM ${HISTORY_TABLE} d
          WHERE d.table_name = k.table_name AND d.check_name = k.check_name
          ORDER BY d.finished_at DESC LIMIT 1
       ) r ON true`,
    [JSON.stringify(keys)],
  );
  const previous = new Map<string, PreviousResult>();
  for (const row of rows) {
    const finished = row.finished_at;
    previous.set(historyKey(String(row.table_name), String(row.check_name)), {
      runId: String(row.run_id),
      observed: row.observed_value === null ? null : Number(row.observed_value),
      outcome: String(row.outcome) as Outcome,
      finishedAt: finished instanceof Date ? finished.toISOString() : String(finished),
    });
  }
  return previous;
}

/** Appends one row per check of this run to the history, in one statement (one transaction). */
export async function appendHistory(db: Database, runId: string, results: readonly CheckResult[]): Promise<number> {
  if (results.length === 0) return 0;
  const rows = results.map((result) => ({
    run_id: runId,
    check_name: result.check.name,
    table_name: result.table,
    column_name: result.check.columns.length === 0 ? null : result.check.columns.map((c) => c.display).join(', '),
    check_type: result.check.type,
    observed_value: result.observed !== null && Number.isFinite(result.observed) ? result.observed : null,
    warn_threshold: result.check.warn?.text ?? null,
    fail_threshold: result.check.fail?.text ?? null,
    outcome: result.outcome,
    message: result.message === '' ? null : result.message,
    samples: result.samples,
    started_at: result.startedAt.toISOString(),
    finished_at: result.finishedAt.toISOString(),
  }));
  const columns =
    'run_id, check_name, table_name, column_name, check_type, observed_value, warn_threshold, fail_threshold, ' +
    'outcome, message, samples, started_at, finished_at';
  return db.execute(
    `INSERT INTO ${HISTORY_TABLE} (${columns})
     SELECT ${columns} FROM jsonb_to_recordset($1::jsonb) AS r(
       run_id uuid, check_name text, table_name text, column_name text, check_type text,
       observed_value double precision, warn_threshold text, fail_threshold text, outcome text,
       message text, samples jsonb, started_at timestamptz, finished_at timestamptz)`,
    [JSON.stringify(rows)],
  );
}
