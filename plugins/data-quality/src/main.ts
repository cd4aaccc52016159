import { randomUUID } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Database, PlatformContext } from '@platform-host/contracts';
import { formatProblem, parseChecksFile, type ChecksFile } from './checks-file.js';
import { evaluateChecks } from './evaluate.js';
import { appendHistory, readPreviousResults, type PreviousResult } from './history.js';
import { buildReport, DQ_EXIT, renderText, type DataQualityReport } from './report.js';
import { tableName, tableNameProblem } from './sql-text.js';

/** The context data_quality runs with. */
export type DataQualityContext = PlatformContext<'database' | 'logging' | 'metrics'>;

/** Where the reports go; tests capture them. */
export interface DataQualityOptions {
  /** Standard output (the report). Default `process.stdout`. */
  readonly write?: (text: string) => void;
  /** Standard error (checks file problems). Default `process.stderr`. */
  readonly writeError?: (text: string) => void;
  /** Used instead of `ctx.db` (tests wrap the database to count its queries). */
  readonly db?: Database;
}

/** Outcome of {@link runDataQuality}. */
export interface DataQualityOutcome {
  /** 0 passed, 1 a check failed, 2 invalid checks file or arguments, 3 a check could not be evaluated. */
  readonly exitCode: number;
  /** `undefined` when nothing ran (exit 2). */
  readonly report?: DataQualityReport;
  /** The problems of an exit 2. */
  readonly problems: readonly string[];
}

interface Settings {
  readonly checksPath: string;
  readonly table: string | undefined;
  readonly output: 'text' | 'json';
  readonly reportPath: string | undefined;
  readonly failOn: 'fail' | 'warn';
  readonly sampleSize: number;
}

function readSettings(ctx: DataQualityContext): Settings {
  const table = ctx.config.get('table');
  const report = ctx.config.get('report');
  return {
    checksPath: ctx.config.string('checks'),
    table: typeof table === 'string' ? table : undefined,
    output: ctx.config.string('output') === 'json' ? 'json' : 'text',
    reportPath: typeof report === 'string' ? report : undefined,
    failOn: ctx.config.string('fail-on') === 'warn' ? 'warn' : 'fail',
    sampleSize: ctx.config.integer('sample-size'),
  };
}

/** Loads the checks file and applies --table; every problem as one line (exit 2). */
function loadChecks(settings: Settings): { checksFile: ChecksFile } | { problems: string[] } {
  const problems: string[] = [];
  if (settings.reportPath !== undefined) {
    const folder = dirname(resolve(settings.reportPath));
    let isFolder: boolean;
    try {
      isFolder = statSync(folder).isDirectory();
    } catch {
      isFolder = false;
    }
    if (!isFolder) problems.push(`--report ${settings.reportPath}: the folder ${folder} does not exist`);
  }
  let source: string;
  try {
    source = readFileSync(resolve(settings.checksPath), 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a folder, not a file' : (error as Error).message;
    return { problems: [...problems, `--checks ${settings.checksPath}: ${reason}`] };
  }
  const parsed = parseChecksFile(settings.checksPath, source);
  if (!parsed.ok) return { problems: [...problems, ...parsed.problems.map(formatProblem)] };
  let { checksFile } = parsed;
  if (settings.table !== undefined) {
    const problem = tableNameProblem(settings.table);
    const wanted = problem ? undefined : tableName(settings.table).display;
    const tables = checksFile.tables.filter((entry) => entry.table.display === wanted);
    if (tables.length === 0) {
      const known = [...new Set(checksFile.tables.map((entry) => entry.table.display))].join(', ');
      problems.push(
        `--table ${settings.table}: ${problem ?? `the checks file ${settings.checksPath} has no checks for this table (it has: ${known})`}`,
      );
    }
    checksFile = { ...checksFile, tables };
  }
  return problems.length > 0 ? { problems } : { checksFile };
}

function errorText(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split('\n')[0] ?? text;
}

/**
 * One run: load and validate the checks file (exit 2 on any problem, nothing run), evaluate every
 * check read-only (one aggregate scan per table entry), read each check's previous result, append
 * this run to `dq_check_results`, record metrics, print the report.
 */
export async function runDataQuality(
  ctx: DataQualityContext,
  options: DataQualityOptions = {},
): Promise<DataQualityOutcome> {
  const write = options.write ?? ((text: string) => void process.stdout.write(text));
  const writeError = options.writeError ?? ((text: string) => void process.stderr.write(text));
  const db = options.db ?? ctx.db;
  const settings = readSettings(ctx);
  const loaded = loadChecks(settings);
  if ('problems' in loaded) {
    writeError(`Invalid data_quality run, nothing was checked:\n${loaded.problems.map((p) => `  ${p}\n`).join('')}`);
    ctx.log.error('Invalid checks file or arguments: nothing was checked', {
      checks: settings.checksPath,
      problems: loaded.problems,
    });
    return { exitCode: DQ_EXIT.INVALID, problems: loaded.problems };
  }
  const { checksFile } = loaded;
  const checkCounter = ctx.metrics.counter<'table' | 'outcome'>({
    name: 'data_quality_checks_total',
    help: 'Checks evaluated by data_quality, by table and outcome.',
    labelNames: ['table', 'outcome'],
  });
  const scanDuration = ctx.metrics.histogram<'table'>({
    name: 'data_quality_scan_duration_seconds',
    help: 'Duration of the one aggregate scan of a table (and filter) by data_quality.',
    labelNames: ['table'],
    unit: 'seconds',
  });
  const runId = randomUUID();
  const startedAt = new Date();
  ctx.log.info('Data quality run starting', {
    run_id: runId,
    checks: settings.checksPath,
    tables: checksFile.tables.length,
    check_count: checksFile.tables.reduce((sum, entry) => sum + entry.checks.length, 0),
  });
  const { results, scans } = await evaluateChecks(db, checksFile, {
    sampleSize: settings.sampleSize,
    referenceTime: startedAt,
    onScan: (table, seconds) => scanDuration.observe({ table }, seconds),
  });
  let previous = new Map<string, PreviousResult>();
  let historyError: string | undefined;
  try {
    previous = await readPreviousResults(db, results);
    await appendHistory(db, runId, results);
  } catch (error) {
    historyError = `${errorText(error)} (apply the module's migrations: platform-host migrate up --module data_quality)`;
    ctx.log.error('Data quality results were not written to the history', { run_id: runId, error });
  }
  for (const result of results) checkCounter.inc({ table: result.table, outcome: result.outcome });
  const report = buildReport({
    runId,
    checksFile: settings.checksPath,
    startedAt,
    finishedAt: new Date(),
    failOn: settings.failOn,
    results,
    scans,
    previous,
    historyError,
  });
  const json = `${JSON.stringify(report, null, 2)}\n`;
  write(settings.output === 'json' ? json : renderText(report));
  let exitCode = report.exit_code;
  if (settings.reportPath !== undefined) {
    try {
      writeFileSync(resolve(settings.reportPath), json);
    } catch (error) {
      ctx.log.error('Cannot write the JSON report', { path: settings.reportPath, error });
      exitCode = DQ_EXIT.NOT_EVALUATED;
    }
  }
  ctx.log.info('Data quality run complete', {
    run_id: runId,
    ...report.summary,
    exit_code: exitCode,
    history_written: historyError === undefined,
  });
  return { exitCode, report, problems: [] };
}

/** The module's `run`: the exit code of {@link runDataQuality}. */
export async function run(ctx: DataQualityContext): Promise<number> {
  return (await runDataQuality(ctx)).exitCode;
}
