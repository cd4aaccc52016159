import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { useRealService } from '@platform-host/test-kit';
import { cliEnv, platformHost, type CliRun } from './support/cli.js';
import { freshDatabase, psql } from './support/psql.js';

/** The JSON report of data_quality, as far as these tests read it. */
interface Report {
  readonly run_id: string;
  readonly exit_code: number;
  readonly summary: Record<string, number>;
  readonly checks: readonly {
    readonly name: string;
    readonly table: string;
    readonly observed: number | null;
    readonly outcome: string;
    readonly message: string;
    readonly samples: readonly Record<string, unknown>[];
    readonly previous: { readonly observed: number | null } | null;
    readonly change: number | null;
  }[];
}

/**
 * data_quality through the real CLI on a real PostgreSQL, each test in a database of its own:
 * a table with known defects (exact null rate, known duplicates, a known age, failing custom SQL)
 * and a metric_rollups table of the fixed shape; results checked in the report and, with psql, in
 * dq_check_results.
 */
describe('data_quality end to end through the CLI (real PostgreSQL)', function () {
  this.timeout(180_000);
  const postgres = useRealService('postgres');
  let database: { url: string; drop(): void };
  let folder: string;

  beforeEach(() => {
    database = freshDatabase(postgres().DB_POSTGRES_URL ?? '', 'it_dq');
    folder = mkdtempSync(join(tmpdir(), 'dq-e2e-'));
    // 200 rows: source NULL in 10 (5 %), dedup_key of ids 191-200 repeats 1-10, newest row 2 days
    // old, 4 rows dated in the future.
    psql(
      database.url,
      `CREATE TABLE cleaned_events (id BIGSERIAL PRIMARY KEY, event_type VARCHAR(255) NOT NULL, payload JSONB NOT NULL,
         source VARCHAR(255), event_date DATE NOT NULL, created_at TIMESTAMPTZ NOT NULL, dedup_key CHAR(64) NOT NULL);
       INSERT INTO cleaned_events (event_type, payload, source, event_date, created_at, dedup_key)
       SELECT 'page_view', jsonb_build_object('seq', i), CASE WHEN i % 20 = 0 THEN NULL ELSE 'web' END,
              CASE WHEN i <= 4 THEN current_date + 1 ELSE current_date - 1 END,
              now() - interval '2 days' - (i || ' seconds')::interval,
              md5((CASE WHEN i > 190 THEN i - 190 ELSE i END)::text) || md5('x')
         FROM generate_series(1, 200) AS i;
       CREATE TABLE metric_rollups (window_seconds integer NOT NULL, window_start timestamptz NOT NULL,
         dimensions jsonb NOT NULL, event_count bigint NOT NULL, value_count bigint NOT NULL,
         value_sum double precision, value_min double precision, value_max double precision,
         value_avg double precision, closed_at timestamptz, updated_at timestamptz NOT NULL,
         PRIMARY KEY (window_seconds, window_start, dimensions));
       INSERT INTO metric_rollups VALUES
         (60, now() - interval '2 minutes', '{"event_type":"page_view"}', 10, 10, 100, 2, 20, 10, now(), now()),
         (60, now() - interval '1 minute', '{"event_type":"page_view"}', 5, 5, 50, 5, 15, 10, NULL, now());`,
    );
  });
  afterEach(() => {
    database.drop();
    rmSync(folder, { recursive: true, force: true });
  });

  function checksFile(source: string): string {
    const path = join(folder, 'checks.yml');
    writeFileSync(path, source);
    return path;
  }

  const DEFECT_CHECKS = `checks:
  - table: cleaned_events
    checks:
      - row_count: { fail: "< 1" }
      - missing_percent(source): { warn: "> 1", fail: "> 4" }
      - duplicate_count(dedup_key): { fail: "> 0" }
      - freshness(created_at): { warn: "> 1d", fail: "> 7d" }
      - sql:
          name: no_future_events
          query: "select count(*) from cleaned_events where event_date > current_date"
          fail: "> 0"
          samples: "select id, event_date from cleaned_events where event_date > current_date order by id"
  - table: metric_rollups
    checks:
      - min(value_min): { fail: "< 0" }
      - avg(value_avg): { warn: "not between 1 and 500" }
      - max(event_count): { fail: "> 1000000" }
`;

  function run(args: readonly string[]): Promise<CliRun> {
    return platformHost(
      ['run', 'data_quality', '--db', 'postgres', '--env', 'test', '--log', 'json', ...args],
      cliEnv({ DB_POSTGRES_URL: database.url, PLATFORM_HEALTH_FILE: join(folder, 'status.json') }),
    );
  }

  function history(): string {
    return psql(
      database.url,
      `SELECT check_name, table_name, coalesce(observed_value::text, '-'), outcome FROM dq_check_results
        ORDER BY finished_at, table_name, check_name`,
    );
  }

  it('exits 1 with the text report, the JSON report and the history of two runs with the change', async () => {
    const path = checksFile(DEFECT_CHECKS);
    const first = await run(['--checks', path]);
    expect(first.code, first.stderr + first.stdout).to.equal(1);
    expect(first.stdout).to.match(
      /cleaned_events\s+missing_percent\(source\)\s+5\s+warn > 1; fail > 4\s+FAIL\s+\(first run\)/,
    );
    expect(first.stdout).to.match(/cleaned_events\s+duplicate_count\(dedup_key\)\s+10\s+fail > 0\s+FAIL/);
    expect(first.stdout).to.match(
      /cleaned_events\s+freshness\(created_at\)\s+2d(?: \d+[hms])?\s+warn > 1d; fail > 7d\s+WARN/,
    );
    expect(first.stdout).to.match(/metric_rollups\s+avg\(value_avg\)\s+10\s+warn not between 1 and 500\s+PASS/);
    expect(first.stdout).to.include('8 checks: 4 pass, 1 warn, 3 fail, 0 error; exit 1 (a check failed)');

    psql(database.url, 'DELETE FROM cleaned_events WHERE id IN (20, 40)');
    const reportPath = join(folder, 'report.json');
    const second = await run(['--checks', path, '--output', 'json', '--report', reportPath, '--sample-size', '2']);
    expect(second.code, second.stderr).to.equal(1);
    const report = JSON.parse(readFileSync(reportPath, 'utf8')) as Report;
    expect(second.stdout).to.include(`"run_id": "${report.run_id}"`);
    const checks = Object.fromEntries(report.checks.map((entry) => [`${entry.table} ${entry.name}`, entry]));
    expect(checks['cleaned_events row_count']).to.deep.include({ observed: 198, change: -2, outcome: 'pass' });
    expect(checks['cleaned_events row_count']?.previous).to.deep.include({ observed: 200 });
    expect(checks['cleaned_events missing_percent(source)']?.observed).to.be.closeTo((8 * 100) / 198, 1e-9);
    expect(checks['cleaned_events no_future_events']).to.deep.include({ observed: 4, outcome: 'fail' });
    expect(checks['cleaned_events no_future_events']?.samples.map((row) => Number(row.id))).to.deep.equal([1, 2]);
    expect(checks['cleaned_events duplicate_count(dedup_key)']?.samples).to.have.length(2);
    expect(checks['cleaned_events freshness(created_at)']?.observed).to.be.within(2 * 86400, 2 * 86400 + 300);

    const rows = history().split('\n');
    expect(rows).to.have.length(16);
    expect(psql(database.url, 'SELECT count(DISTINCT run_id) FROM dq_check_results')).to.equal('2');
    expect(
      psql(
        database.url,
        `SELECT string_agg(observed_value::text, ',' ORDER BY finished_at) FROM dq_check_results
          WHERE table_name = 'cleaned_events' AND check_name = 'row_count'`,
      ),
    ).to.equal('200,198');
    expect(
      psql(
        database.url,
        `SELECT jsonb_array_length(samples), fail_threshold, column_name FROM dq_check_results
          WHERE run_id = '${report.run_id}' AND check_name = 'duplicate_count(dedup_key)'`,
      ),
    ).to.equal('2|> 0|dedup_key');
  });

  it('exits 0 when every check passes (warnings allowed) and 1 for the warning with --fail-on warn', async () => {
    const path = checksFile(
      'checks:\n  - table: cleaned_events\n    checks:\n      - row_count: { fail: "< 1" }\n      - freshness(created_at): { warn: "> 1d" }\n',
    );
    const passed = await run(['--checks', path]);
    expect(passed.code, passed.stderr + passed.stdout).to.equal(0);
    expect(passed.stdout).to.include('2 checks: 1 pass, 1 warn, 0 fail, 0 error; exit 0 (every check passed)');
    expect((await run(['--checks', path, '--fail-on', 'warn'])).code).to.equal(1);
  });

  it('exits 2 for a bad checks file, listing every problem with file and line, and runs nothing', async () => {
    const path = checksFile(
      'checks:\n  - table: cleaned_events\n    checks:\n      - row_cnt: { fail: "< 1" }\n      - freshness(created_at): { fail: "> 7" }\n      - max(payload, source): { fail: "> 1" }\n',
    );
    const bad = await run(['--checks', path]);
    expect(bad.code, bad.stdout).to.equal(2);
    expect(bad.stderr).to.include(`${path}:4:9: unknown check type "row_cnt" in "row_cnt": use one of row_count,`);
    expect(bad.stderr).to.include(
      `${path}:5:40: freshness(created_at).fail: "> 7": freshness thresholds are durations`,
    );
    expect(bad.stderr).to.include(`${path}:6:9: max takes one column, "max(payload, source)" names 2`);
    expect(psql(database.url, 'SELECT count(*) FROM dq_check_results')).to.equal('0');
    const unknown = await run(['--checks', path, '--output', 'xml']);
    expect(unknown.code).to.equal(2);
    expect(unknown.stderr).to.include('PH_ERR_ARGS_INVALID').and.include('--output');
  });

  it('exits 3 when the database cannot be reached at startup (module.json exit_codes.unavailable), never naming the password', async () => {
    const unreachable = await platformHost(
      [
        'run',
        'data_quality',
        '--db',
        'postgres',
        '--env',
        'test',
        '--log',
        'json',
        '--checks',
        checksFile(DEFECT_CHECKS),
      ],
      cliEnv({
        DB_POSTGRES_URL: 'postgresql://dq:not-this-password@127.0.0.1:1/nowhere',
        PLATFORM_HEALTH_FILE: join(folder, 'status.json'),
      }),
    );
    const output = unreachable.stdout + unreachable.stderr;
    expect(unreachable.code, output).to.equal(3);
    expect(output).to.contain('PH_ERR_CONNECT').and.contain('127.0.0.1:1').and.not.contain('not-this-password');
    expect(output, 'run() is never called: no report').to.not.match(/exit [0-3] \(/);
  });

  it('exits 3 for a missing table, keeping the history of what it could evaluate', async () => {
    psql(database.url, 'DROP TABLE metric_rollups');
    const missing = await run(['--checks', checksFile(DEFECT_CHECKS), '--table', 'metric_rollups']);
    expect(missing.code, missing.stderr + missing.stdout).to.equal(3);
    expect(missing.stdout).to.include(
      'ERROR metric_rollups 3 checks (min(value_min), avg(value_avg), max(event_count)): table metric_rollups does not exist (or is not visible on the search_path)',
    );
    expect(missing.stdout).to.include('exit 3 (a check could not be evaluated)');
    expect(history()).to.equal(
      [
        'avg(value_avg)|metric_rollups|-|error',
        'max(event_count)|metric_rollups|-|error',
        'min(value_min)|metric_rollups|-|error',
      ].join('\n'),
    );
  });
});

/**
 * The same CLI on file-backed PGlite (`--db pglite`): the history survives the process, so a second
 * run sees the first one's rows and its previous result. The checks watch the history table itself,
 * the one table such a fresh database has.
 */
describe('data_quality through the CLI on file-backed PGlite (--db pglite)', function () {
  this.timeout(180_000);
  let folder: string;
  before(() => {
    folder = mkdtempSync(join(tmpdir(), 'dq-pglite-'));
  });
  after(() => rmSync(folder, { recursive: true, force: true }));

  it('keeps the history across runs and shows the change in the second report', async () => {
    const path = join(folder, 'checks.yml');
    writeFileSync(
      path,
      'checks:\n  - table: dq_check_results\n    checks:\n      - row_count: { name: history_rows, warn: "> 0" }\n',
    );
    const env = cliEnv({ DB_PGLITE_DIR: join(folder, 'pglite'), PLATFORM_HEALTH_FILE: join(folder, 'status.json') });
    const args = ['run', 'data_quality', '--db', 'pglite', '--env', 'test', '--log', 'json', '--checks', path];
    const first = await platformHost(args, env);
    expect(first.code, first.stderr + first.stdout).to.equal(0);
    expect(first.stdout).to.match(/dq_check_results\s+history_rows\s+0\s+warn > 0\s+PASS\s+\(first run\)/);
    const second = await platformHost([...args, '--fail-on', 'warn'], env);
    expect(second.code, second.stderr + second.stdout).to.equal(1);
    expect(second.stdout).to.match(/dq_check_results\s+history_rows\s+1\s+warn > 0\s+WARN\s+0 \(\+1\)/);
  });
});
