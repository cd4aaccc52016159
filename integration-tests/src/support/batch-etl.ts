import { join } from 'node:path';
import { cliEnv, platformHost, type CliRun } from './cli.js';

/** One `--log json` line of a CLI run. */
export interface LogLine {
  readonly message: string;
  readonly context?: Record<string, unknown>;
}

/** The JSON log lines of a `--log json` run, in order. */
export function logLines(run: CliRun): LogLine[] {
  return run.stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as LogLine);
}

/** The context of the `Batch ETL complete` summary, or `{}` when the run printed none. */
export function batchEtlSummary(run: CliRun): Record<string, unknown> {
  return logLines(run).find((line) => line.message === 'Batch ETL complete')?.context ?? {};
}

/**
 * Runs batch_etl through the real CLI on real PostgreSQL (`databaseUrl`) and local files under
 * `lake`, as in production: `--db postgres --fs local --env test --log json`, partition
 * `raw/events/<date>`, plus `extra` module arguments.
 */
export function runBatchEtlCli(
  databaseUrl: string,
  lake: string,
  extra: readonly string[] = [],
  options: { readonly date?: string; readonly timeoutMs?: number } = {},
): Promise<CliRun> {
  return platformHost(batchEtlCliArgs(extra, options.date), batchEtlCliEnv(databaseUrl, lake), options.timeoutMs);
}

/** The environment of {@link runBatchEtlCli}: the database, the lake root and a status file in it. */
export function batchEtlCliEnv(databaseUrl: string, lake: string): NodeJS.ProcessEnv {
  return cliEnv({ DB_POSTGRES_URL: databaseUrl, FS_LOCAL_ROOT: lake, PLATFORM_HEALTH_FILE: join(lake, 'status.json') });
}

/** The command line of {@link runBatchEtlCli}, for tests that spawn the CLI themselves. */
export function batchEtlCliArgs(extra: readonly string[] = [], date = '2026-01-15'): string[] {
  return [
    'run',
    'batch_etl',
    '--db',
    'postgres',
    '--fs',
    'local',
    '--env',
    'test',
    '--log',
    'json',
    '--date',
    date,
    '--source-path',
    'raw/events',
    ...extra,
  ];
}
