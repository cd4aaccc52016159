import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import type { Database, Row } from '@platform-host/contracts';
import { moduleConfigForTest, startModuleForTest, type StartedModule } from '@platform-host/test-kit';
import { runDataQuality, type DataQualityContext, type DataQualityOutcome } from './main.js';
import type { CheckReport, DataQualityReport } from './report.js';
import { createDefectTable, defectChecks } from './defects.test-support.js';

const MODULE_DIR = fileURLToPath(new URL('..', import.meta.url));

/** `db` with every statement's SQL recorded (transactions pass through). */
function countingDatabase(db: Database, statements: string[]): Database {
  return new Proxy(db, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      if (property === 'fetchAll' || property === 'fetchOne' || property === 'execute')
        return (sql: string, params?: unknown[]) => {
          statements.push(sql);
          return (value as (sql: string, params?: unknown[]) => unknown).call(target, sql, params);
        };
      return (value as (...args: unknown[]) => unknown).bind(target);
    },
  });
}

describe('data_quality on PGlite (--db memory)', function () {
  this.timeout(120_000);
  let started: StartedModule;
  let folder: string;
  let table: string;

  before(async () => {
    started = await startModuleForTest({ moduleDir: MODULE_DIR, args: ['--checks', 'unused.yml'] });
    folder = mkdtempSync(join(tmpdir(), 'dq-test-'));
  });
  after(async () => {
    await started?.close();
    rmSync(folder, { recursive: true, force: true });
  });
  beforeEach(async () => {
    table = `dq_defects_${randomBytes(4).toString('hex')}`;
    await createDefectTable(started.ctx.db, table);
  });
  afterEach(async () => {
    await started.ctx.db.execute(`DROP TABLE IF EXISTS ${table}`);
  });

  function db(): Database {
    return started.ctx.db;
  }

  /** Runs data_quality with `source` as the checks file and `args` as further module arguments. */
  async function check(
    source: string,
    args: string[] = [],
    database?: Database,
  ): Promise<DataQualityOutcome & { out: string; err: string }> {
    const path = join(folder, `checks-${randomBytes(3).toString('hex')}.yml`);
    writeFileSync(path, source);
    const ctx = {
      ...started.ctx,
      config: moduleConfigForTest(MODULE_DIR, ['--checks', path, ...args]),
    } as unknown as DataQualityContext;
    let out = '';
    let err = '';
    const outcome = await runDataQuality(ctx, {
      write: (text) => (out += text),
      writeError: (text) => (err += text),
      ...(database ? { db: database } : {}),
    });
    return { ...outcome, out, err };
  }

  function byName(report: DataQualityReport | undefined): Record<string, CheckReport> {
    return Object.fromEntries((report?.checks ?? []).map((entry) => [entry.name, entry]));
  }

  it('measures each defect exactly and judges it by its thresholds and severity: exit 1', async () => {
    const run = await check(defectChecks(table));
    expect(run.exitCode, run.out).to.equal(1);
    const checks = byName(run.report);
    const observed = Object.fromEntries(Object.entries(checks).map(([name, entry]) => [name, entry.observed]));
    const freshness = observed['freshness(created_at)'] ?? 0;
    delete observed['freshness(created_at)'];
    expect(observed).to.deep.equal({
      row_count: 100,
      'missing_percent(source)': 7,
      'missing_count(source)': 7,
      'missing_count(payload)': 0,
      'duplicate_count(dedup_key)': 10,
      'duplicate_percent(dedup_key)': 10,
      'invalid_count(event_type)': 3,
      'invalid_percent(source)': 2,
      'min(amount)': 1,
      'max(amount)': 100,
      'avg(amount)': 50.5,
      no_future_events: 2,
    });
    // Newest row: 3 days before the insert, a few seconds before the run.
    expect(freshness).to.be.within(3 * 86400, 3 * 86400 + 120);
    const outcomes = Object.fromEntries(Object.entries(checks).map(([name, entry]) => [name, entry.outcome]));
    expect(outcomes).to.deep.equal({
      row_count: 'pass',
      'missing_percent(source)': 'fail',
      'missing_count(source)': 'warn',
      'missing_count(payload)': 'pass',
      'duplicate_count(dedup_key)': 'fail',
      'duplicate_percent(dedup_key)': 'warn',
      'freshness(created_at)': 'warn',
      'invalid_count(event_type)': 'fail',
      'invalid_percent(source)': 'warn',
      'min(amount)': 'pass',
      'max(amount)': 'warn',
      'avg(amount)': 'pass',
      no_future_events: 'fail',
    });
    expect(run.report?.summary).to.deep.equal({ pass: 4, warn: 5, fail: 4, error: 0, total: 13 });
    expect(checks['missing_percent(source)']?.message).to.equal('observed 7 meets the fail threshold "> 5"');
    expect(checks['max(amount)']?.message).to.equal('observed 100 meets the fail threshold "> 99"');
  });

  it('keeps failed-row samples up to --sample-size for failing and warning checks only', async () => {
    const run = await check(defectChecks(table), ['--sample-size', '3']);
    const checks = byName(run.report);
    const ids = (samples: readonly Row[] | undefined): unknown[] => (samples ?? []).map((row) => Number(row.id));
    expect(checks['missing_percent(source)']?.samples).to.have.length(3);
    expect(checks['missing_percent(source)']?.samples.every((row) => row.source === null)).to.equal(true);
    expect(checks['invalid_count(event_type)']?.samples.map((row) => row.event_type)).to.deep.equal([
      'Bad-Type',
      'Bad-Type',
      'Bad-Type',
    ]);
    expect(checks['invalid_percent(source)']?.samples.map((row) => row.source)).to.deep.equal(['fax', 'fax']);
    expect(checks['duplicate_count(dedup_key)']?.samples).to.have.length(3);
    expect(checks['duplicate_count(dedup_key)']?.samples[0]).to.include({ occurrences: 2 });
    expect(ids(checks.no_future_events?.samples)).to.deep.equal([99, 100]);
    expect(checks.row_count?.samples).to.deep.equal([]);
    expect(checks['missing_count(payload)']?.samples).to.deep.equal([]);
    const none = await check(defectChecks(table), ['--sample-size', '0']);
    expect(byName(none.report)['missing_percent(source)']?.samples).to.deep.equal([]);
  });

  it('exits 0 when every check passes, also with warnings, and 1 for warnings with --fail-on warn', async () => {
    const passing = await check(`checks:\n  - table: ${table}\n    checks:\n      - row_count: { fail: "< 1" }\n`);
    expect(passing.exitCode, passing.out).to.equal(0);
    const warning = `checks:\n  - table: ${table}\n    checks:\n      - missing_count(source): { warn: "> 0" }\n`;
    expect((await check(warning)).exitCode).to.equal(0);
    expect((await check(warning, ['--fail-on', 'warn'])).exitCode).to.equal(1);
  });

  it('applies the filter to every check of the table', async () => {
    const run = await check(
      `checks:\n  - table: ${table}\n    filter: "id > 50"\n    checks:\n      - row_count: { fail: "< 1" }\n      - missing_count(source): { fail: "> 0" }\n      - duplicate_count(dedup_key): { fail: "> 0" }\n      - min(amount): { fail: "< 0" }\n`,
    );
    const observed = (run.report?.checks ?? []).map((entry) => entry.observed);
    expect(observed).to.deep.equal([50, 0, 0, 51]);
    expect(run.exitCode).to.equal(0);
  });

  it('exits 2 listing every problem of the checks file with its line, and touches nothing', async () => {
    const statements: string[] = [];
    const run = await check(
      `checks:\n  - table: ${table}\n    checks:\n      - row_count: { fail: "few" }\n      - freshness(created_at): { fail: "> 7" }\n`,
      [],
      countingDatabase(db(), statements),
    );
    expect(run.exitCode).to.equal(2);
    expect(run.report).to.equal(undefined);
    expect(run.problems).to.have.length(2);
    expect(run.problems[0]).to.match(/checks-[0-9a-f]+\.yml:4:28: row_count\.fail: "few" is not a threshold/);
    expect(run.problems[1]).to.match(/:5:40: freshness\(created_at\)\.fail: "> 7": freshness thresholds are durations/);
    expect(run.err)
      .to.include('nothing was checked')
      .and.include(run.problems[1] ?? '-');
    expect(statements).to.deep.equal([]);
  });

  it('exits 2 for a missing checks file, a --table without checks and a --report folder that does not exist', async () => {
    const ctx = (args: string[]): DataQualityContext => ({
      ...started.ctx,
      config: moduleConfigForTest(MODULE_DIR, args),
    });
    const quiet = { write: () => undefined, writeError: () => undefined };
    const missing = await runDataQuality(ctx(['--checks', join(folder, 'nope.yml')]), quiet);
    expect(missing.exitCode).to.equal(2);
    expect(missing.problems[0]).to.match(/^--checks .*nope\.yml: no such file$/);
    const other = await check(defectChecks(table), [
      '--table',
      'metric_rollups',
      '--report',
      join(folder, 'no', 'r.json'),
    ]);
    expect(other.exitCode).to.equal(2);
    expect(other.problems).to.have.length(2);
    expect(other.problems[0]).to.equal(
      `--report ${join(folder, 'no', 'r.json')}: the folder ${join(folder, 'no')} does not exist`,
    );
    expect(other.problems[1]).to.match(
      new RegExp(
        `^--table metric_rollups: the checks file \\S+\\.yml has no checks for this table \\(it has: ${table}\\)$`,
      ),
    );
  });

  it('exits 3 for a missing table, a missing column and a failing query, still evaluating the rest', async () => {
    const run = await check(
      `checks:
  - table: ${table}
    checks:
      - row_count: { fail: "< 1" }
      - missing_count(no_such_column): { fail: "> 0" }
      - avg(source): { fail: "> 0" }
      - sql: { name: broken, query: "select count(*) from ${table} where nonsense", fail: "> 0" }
  - table: no_such_table_${table}
    checks:
      - row_count: { fail: "< 1" }
`,
    );
    expect(run.exitCode).to.equal(3);
    const checks = (run.report?.checks ?? []).map((entry) => [entry.name, entry.outcome, entry.message]);
    expect(checks[0]).to.deep.equal(['row_count', 'pass', '']);
    expect(checks[1]).to.deep.equal([
      'missing_count(no_such_column)',
      'error',
      `column no_such_column does not exist in table ${table}`,
    ]);
    expect(checks[2]).to.deep.equal(['avg(source)', 'error', `avg needs a numeric column; ${table}.source is text`]);
    expect(checks[3]?.[1]).to.equal('error');
    expect(checks[3]?.[2]).to.match(/^query failed: .*column "nonsense" does not exist/);
    expect(checks[4]).to.deep.equal([
      'row_count',
      'error',
      `table no_such_table_${table} does not exist (or is not visible on the search_path)`,
    ]);
    expect(run.out).to.include('exit 3 (a check could not be evaluated)');
  });

  it('exits 3, not 1, when a run both failed a check and could not evaluate another', async () => {
    const run = await check(
      `checks:\n  - table: ${table}\n    checks:\n      - row_count: { fail: "> 1" }\n      - max(nothing): { fail: "> 1" }\n`,
    );
    expect(run.report?.summary).to.include({ fail: 1, error: 1 });
    expect(run.exitCode).to.equal(3);
  });

  it('runs one aggregate scan per table; only duplicate and sql checks add a query of their own', async () => {
    const statements: string[] = [];
    const run = await check(
      `checks:
  - table: ${table}
    checks:
      - row_count: { fail: "< 1" }
      - missing_count(payload): { fail: "> 0" }
      - missing_percent(payload): { fail: "> 0" }
      - invalid_count(event_type): { valid_regex: "^[A-Za-z_-]+$", fail: "> 0" }
      - freshness(created_at): { fail: "> 30d" }
      - min(amount): { fail: "< 0" }
      - max(amount): { fail: "> 1000" }
      - avg(amount): { fail: "> 1000" }
      - duplicate_count(id): { fail: "> 0" }
      - duplicate_percent(id): { fail: "> 0" }
      - duplicate_count(id, dedup_key): { fail: "> 0" }
      - sql: { name: positive, query: "select count(*) from ${table} where amount < 0", fail: "> 0" }
`,
      [],
      countingDatabase(db(), statements),
    );
    expect(run.exitCode, run.out).to.equal(0);
    const onTable = statements.filter((sql) => sql.includes(table));
    // The scan (8 column checks), one duplicates query per column set (2), the sql check (1).
    expect(onTable).to.have.length(4);
    expect(onTable.filter((sql) => sql.includes('count(*)::float8 AS m0'))).to.have.length(1);
    expect(run.report?.scans).to.deep.equal([
      { table, filter: null, queries: 4, scan_ms: run.report?.scans[0]?.scan_ms ?? -1 },
    ]);
    // Every query on the table ran in a read-only transaction.
    expect(statements.filter((sql) => sql === 'SET TRANSACTION READ ONLY').length).to.be.at.least(onTable.length);
  });

  it('cannot write: custom SQL and filters run in read-only transactions, one statement each', async () => {
    await db().execute(`CREATE SEQUENCE ${table}_seq`);
    try {
      const run = await check(
        `checks:
  - table: ${table}
    checks:
      - sql: { name: writes, query: "select nextval('${table}_seq')", fail: "> 0" }
  - table: ${table}
    filter: "true) IS NOT NULL; DELETE FROM ${table}; SELECT (1"
    checks:
      - row_count: { name: sneaky, fail: "< 1" }
`,
      );
      expect(run.exitCode).to.equal(3);
      const messages = (run.report?.checks ?? []).map((entry) => entry.message);
      expect(messages[0]).to.match(/read-only transaction/);
      expect(messages[1]).to.match(/^scan of .* failed: /);
      expect(await db().fetchOne(`SELECT count(*)::int AS n FROM ${table}`)).to.deep.equal({ n: 100 });
      expect(await db().fetchOne(`SELECT last_value::int AS v, is_called FROM ${table}_seq`)).to.deep.equal({
        v: 1,
        is_called: false,
      });
    } finally {
      await db().execute(`DROP SEQUENCE IF EXISTS ${table}_seq`);
    }
  });

  it('appends every run to dq_check_results and shows the change against the previous run', async () => {
    const checks = `checks:\n  - table: ${table}\n    checks:\n      - row_count: { fail: "< 1" }\n      - missing_count(source): { warn: "> 0" }\n      - avg(nothing_here): { fail: "> 0" }\n`;
    const reportPath = join(folder, 'report.json');
    const first = await check(checks);
    await db().execute(`DELETE FROM ${table} WHERE id > 90 OR id <= 2`);
    const second = await check(checks, ['--report', reportPath]);
    const rows = await db().fetchAll(
      `SELECT run_id::text AS run_id, check_name, table_name, column_name, check_type, observed_value, warn_threshold,
              fail_threshold, outcome, message, samples, started_at <= finished_at AS ordered
         FROM dq_check_results WHERE table_name = $1 ORDER BY finished_at, check_name`,
      [table],
    );
    expect(rows).to.have.length(6);
    expect(rows.map((row) => row.run_id)).to.deep.equal([
      ...Array<string | undefined>(3).fill(first.report?.run_id),
      ...Array<string | undefined>(3).fill(second.report?.run_id),
    ]);
    const pick = (row: Row | undefined) => ({
      check_name: row?.check_name,
      column_name: row?.column_name,
      check_type: row?.check_type,
      observed_value: row?.observed_value,
      warn_threshold: row?.warn_threshold,
      fail_threshold: row?.fail_threshold,
      outcome: row?.outcome,
      ordered: row?.ordered,
    });
    const second3 = rows.slice(3).sort((a, b) => String(a.check_name).localeCompare(String(b.check_name)));
    expect(second3.map(pick)).to.deep.equal([
      {
        check_name: 'avg(nothing_here)',
        column_name: 'nothing_here',
        check_type: 'avg',
        observed_value: null,
        warn_threshold: null,
        fail_threshold: '> 0',
        outcome: 'error',
        ordered: true,
      },
      {
        check_name: 'missing_count(source)',
        column_name: 'source',
        check_type: 'missing_count',
        observed_value: 5,
        warn_threshold: '> 0',
        fail_threshold: null,
        outcome: 'warn',
        ordered: true,
      },
      {
        check_name: 'row_count',
        column_name: null,
        check_type: 'row_count',
        observed_value: 88,
        warn_threshold: null,
        fail_threshold: '< 1',
        outcome: 'pass',
        ordered: true,
      },
    ]);
    const missing = second3[1];
    expect(missing?.message).to.equal('observed 5 meets the warn threshold "> 0"');
    expect((missing?.samples as unknown[]).length).to.equal(5);
    const changes = byName(second.report);
    expect(changes.row_count?.previous).to.include({ observed: 100, outcome: 'pass', run_id: first.report?.run_id });
    expect(changes.row_count?.change).to.equal(-12);
    expect(changes['missing_count(source)']?.change).to.equal(-2);
    expect(second.out).to.match(/row_count\s+88\s+fail < 1\s+PASS\s+100 \(-12\)/);
    expect(second.out).to.match(/missing_count\(source\)\s+5\s+warn > 0\s+WARN\s+7 \(-2\)/);
    expect(first.out).to.match(/row_count\s+100\s+fail < 1\s+PASS\s+\(first run\)/);
    const written = JSON.parse(readFileSync(reportPath, 'utf8')) as DataQualityReport;
    expect(written.run_id).to.equal(second.report?.run_id);
    expect(written.checks.map((entry) => entry.change)).to.deep.equal([-12, -2, null]);
  });

  it('prints the JSON report with --output json: run id, timings, thresholds, outcomes, samples', async () => {
    const run = await check(defectChecks(table), ['--output', 'json', '--sample-size', '1']);
    const printed = JSON.parse(run.out) as DataQualityReport;
    expect(printed).to.deep.equal(run.report);
    expect(printed.run_id).to.match(/^[0-9a-f-]{36}$/);
    expect(printed.exit_code).to.equal(1);
    const missing = byName(printed)['missing_percent(source)'];
    expect(missing).to.deep.include({
      table,
      column: 'source',
      type: 'missing_percent',
      observed: 7,
      thresholds: { warn: '> 1', fail: '> 5' },
      outcome: 'fail',
    });
    expect(missing?.samples).to.have.length(1);
    expect(printed.duration_ms).to.be.a('number');
  });

  it('exits 3 when the database is down: every check is an error and the history cannot be written', async () => {
    const other = await startModuleForTest({ moduleDir: MODULE_DIR, args: ['--checks', 'unused.yml'] });
    const down = other.ctx.db;
    await other.close();
    const run = await check(defectChecks(table), [], down);
    expect(run.exitCode).to.equal(3);
    expect(run.report?.summary).to.include({ error: 13, total: 13 });
    expect(run.report?.checks[0]?.message).to.match(/^cannot read the database catalog: /);
    expect(run.report?.history.written).to.equal(false);
    expect(run.out).to.include('HISTORY NOT WRITTEN: ');
  });

  it('counts checks by outcome and times each scan in its metrics', async () => {
    await check(defectChecks(table));
    const metrics = started.ctx.metrics as unknown as {
      value(name: string, labels: Record<string, string>): number | undefined;
      histogramData(name: string, labels: Record<string, string>): { count: number } | undefined;
    };
    expect(metrics.value('data_quality_checks_total', { table, outcome: 'fail' })).to.equal(4);
    expect(metrics.value('data_quality_checks_total', { table, outcome: 'warn' })).to.equal(5);
    expect(metrics.value('data_quality_checks_total', { table, outcome: 'pass' })).to.equal(4);
    expect(metrics.histogramData('data_quality_scan_duration_seconds', { table })?.count).to.equal(1);
  });
});
