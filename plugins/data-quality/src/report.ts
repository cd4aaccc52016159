import type { Row } from '@platform-host/contracts';
import type { CheckResult, Outcome, ScanTiming } from './evaluate.js';
import { historyKey, type PreviousResult } from './history.js';
import { formatDuration } from './thresholds.js';

/** Exit codes of data_quality (issue 14). */
export const DQ_EXIT = {
  /** Every check passed (warnings allowed unless --fail-on warn). */
  PASSED: 0,
  /** At least one check failed (or warned, with --fail-on warn). */
  FAILED: 1,
  /** The checks file or the arguments are invalid: nothing ran. */
  INVALID: 2,
  /** A check could not be evaluated (missing table or column, query error, database down), or the history was not written. */
  NOT_EVALUATED: 3,
} as const;

/** One check in the JSON report. */
export interface CheckReport {
  readonly name: string;
  readonly table: string;
  readonly filter: string | null;
  /** The column, or the columns joined by ", " (duplicates); null for row_count and sql. */
  readonly column: string | null;
  readonly type: string;
  readonly observed: number | null;
  /** `observed` as the text report shows it (durations for freshness). */
  readonly observed_text: string;
  readonly thresholds: { readonly warn: string | null; readonly fail: string | null };
  readonly severity: 'fail' | 'warn';
  readonly outcome: Outcome;
  readonly message: string;
  readonly samples: readonly Row[];
  readonly previous: {
    readonly run_id: string;
    readonly observed: number | null;
    readonly outcome: Outcome;
    readonly finished_at: string;
  } | null;
  /** observed - previous observed, when both are numbers. */
  readonly change: number | null;
  readonly started_at: string;
  readonly finished_at: string;
  readonly duration_ms: number;
  /** Line of the check in the checks file. */
  readonly line: number;
}

/** The JSON report (`--output json`, `--report`). */
export interface DataQualityReport {
  readonly run_id: string;
  readonly checks_file: string;
  readonly started_at: string;
  readonly finished_at: string;
  readonly duration_ms: number;
  readonly exit_code: number;
  readonly fail_on: 'fail' | 'warn';
  readonly summary: Readonly<Record<Outcome, number>> & { readonly total: number };
  readonly history: { readonly written: boolean; readonly error: string | null };
  readonly scans: readonly {
    readonly table: string;
    readonly filter: string | null;
    readonly queries: number;
    readonly scan_ms: number | null;
  }[];
  readonly checks: readonly CheckReport[];
}

function milliseconds(seconds: number): number {
  return Math.round(seconds * 1000 * 10) / 10;
}

/** A number as the report shows it: integers whole, others to 6 significant digits. */
export function formatNumber(value: number): string {
  return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(6)));
}

function observedText(result: CheckResult): string {
  if (result.observed === null) return result.outcome === 'error' ? 'error' : '-';
  return result.check.type === 'freshness' ? formatDuration(result.observed) : formatNumber(result.observed);
}

/** The exit code of a run: 3 beats 1 (an incomplete run must be rerun, whatever else it found). */
export function exitCodeOf(results: readonly CheckResult[], failOn: 'fail' | 'warn', historyWritten: boolean): number {
  if (!historyWritten || results.some((result) => result.outcome === 'error')) return DQ_EXIT.NOT_EVALUATED;
  if (results.some((result) => result.outcome === 'fail' || (failOn === 'warn' && result.outcome === 'warn')))
    return DQ_EXIT.FAILED;
  return DQ_EXIT.PASSED;
}

/** Builds the JSON report of a run. */
export function buildReport(input: {
  readonly runId: string;
  readonly checksFile: string;
  readonly startedAt: Date;
  readonly finishedAt: Date;
  readonly failOn: 'fail' | 'warn';
  readonly results: readonly CheckResult[];
  readonly scans: readonly ScanTiming[];
  readonly previous: ReadonlyMap<string, PreviousResult>;
  readonly historyError: string | undefined;
}): DataQualityReport {
  const summary = { pass: 0, warn: 0, fail: 0, error: 0, total: input.results.length };
  for (const result of input.results) summary[result.outcome] += 1;
  const historyWritten = input.historyError === undefined;
  return {
    run_id: input.runId,
    checks_file: input.checksFile,
    started_at: input.startedAt.toISOString(),
    finished_at: input.finishedAt.toISOString(),
    duration_ms: input.finishedAt.getTime() - input.startedAt.getTime(),
    exit_code: exitCodeOf(input.results, input.failOn, historyWritten),
    fail_on: input.failOn,
    summary,
    history: { written: historyWritten, error: input.historyError ?? null },
    scans: input.scans.map((scan) => ({
      table: scan.table,
      filter: scan.filter ?? null,
      queries: scan.queries,
      scan_ms: scan.scanSeconds === undefined ? null : milliseconds(scan.scanSeconds),
    })),
    checks: input.results.map((result) => {
      const previous = input.previous.get(historyKey(result.table, result.check.name));
      return {
        name: result.check.name,
        table: result.table,
        filter: result.filter ?? null,
        column: result.check.columns.length === 0 ? null : result.check.columns.map((c) => c.display).join(', '),
        type: result.check.type,
        observed: result.observed,
        observed_text: observedText(result),
        thresholds: { warn: result.check.warn?.text ?? null, fail: result.check.fail?.text ?? null },
        severity: result.check.severity,
        outcome: result.outcome,
        message: result.message,
        samples: result.samples,
        previous: previous
          ? {
              run_id: previous.runId,
              observed: previous.observed,
              outcome: previous.outcome,
              finished_at: previous.finishedAt,
            }
          : null,
        change:
          previous && previous.observed !== null && result.observed !== null
            ? result.observed - previous.observed
            : null,
        started_at: result.startedAt.toISOString(),
        finished_at: result.finishedAt.toISOString(),
        duration_ms: result.finishedAt.getTime() - result.startedAt.getTime(),
        line: result.check.line,
      };
    }),
  };
}

function previousText(check: CheckReport): string {
  if (!check.previous) return '(first run)';
  const type = check.type;
  const shown =
    check.previous.observed === null
      ? check.previous.outcome
      : type === 'freshness'
        ? formatDuration(check.previous.observed)
        : formatNumber(check.previous.observed);
  if (check.change === null) return shown;
  if (check.change === 0) return `${shown} (same)`;
  const sign = check.change > 0 ? '+' : '-';
  const size = type === 'freshness' ? formatDuration(Math.abs(check.change)) : formatNumber(Math.abs(check.change));
  return `${shown} (${sign}${size})`;
}

function thresholdText(check: CheckReport): string {
  return [
    check.thresholds.warn === null ? '' : `warn ${check.thresholds.warn}`,
    check.thresholds.fail === null ? '' : `fail ${check.thresholds.fail}`,
  ]
    .filter(Boolean)
    .join('; ');
}

function table(rows: readonly (readonly string[])[]): string[] {
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length))) ?? [];
  return rows.map((row) =>
    row
      .map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column] ?? 0)))
      .join('  ')
      .trimEnd(),
  );
}

const EXIT_MEANING: Readonly<Record<number, string>> = {
  0: 'every check passed',
  1: 'a check failed',
  3: 'a check could not be evaluated',
};

function sampleLine(sample: Row): string {
  const text = JSON.stringify(sample);
  return text.length > 200 ? `${text.slice(0, 197)}...` : text;
}

/** The text report: one line per check (check, observed, threshold, outcome, previous), then details. */
export function renderText(report: DataQualityReport): string {
  const lines = [`data_quality run ${report.run_id} (${report.checks_file}), ${report.duration_ms} ms`, ''];
  lines.push(
    ...table([
      ['TABLE', 'CHECK', 'OBSERVED', 'THRESHOLD', 'OUTCOME', 'PREVIOUS'],
      ...report.checks.map((check) => [
        check.table,
        check.name,
        check.observed_text,
        thresholdText(check),
        check.outcome.toUpperCase(),
        previousText(check),
      ]),
    ]),
  );
  const notable = report.checks.filter((check) => check.outcome !== 'pass' || check.message !== '');
  if (notable.length > 0) lines.push('');
  // Errors of one cause (a missing table) are one line naming their checks.
  for (let index = 0; index < notable.length; index += 1) {
    const check = notable[index];
    if (!check) continue;
    const same = [check];
    while (check.outcome === 'error') {
      const next = notable[index + same.length];
      if (!next || next.outcome !== 'error' || next.table !== check.table || next.message !== check.message) break;
      same.push(next);
    }
    index += same.length - 1;
    const names =
      same.length === 1 ? check.name : `${same.length} checks (${same.map((item) => item.name).join(', ')})`;
    lines.push(`${check.outcome.toUpperCase()} ${check.table} ${names}: ${check.message}`);
    for (const sample of check.samples) lines.push(`    ${sampleLine(sample)}`);
  }
  if (report.history.error !== null) lines.push('', `HISTORY NOT WRITTEN: ${report.history.error}`);
  const { summary } = report;
  lines.push(
    '',
    `${summary.total} checks: ${summary.pass} pass, ${summary.warn} warn, ${summary.fail} fail, ${summary.error} error; ` +
      `exit ${report.exit_code} (${EXIT_MEANING[report.exit_code] ?? ''})`,
  );
  return `${lines.join('\n')}\n`;
}
