import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import { makeEvents, useRealService } from '@platform-host/test-kit';
import { batchEtlCliArgs, batchEtlCliEnv } from './support/batch-etl.js';
import { CLI, platformHost, REPO_ROOT, type CliRun } from './support/cli.js';
import { freshDatabase, psql } from './support/psql.js';

const DATE = '2026-01-15';

interface Summary {
  raw: number;
  valid: number;
  invalid: number;
  invalid_by_reason: Record<string, number>;
  duplicates: number;
  unique: number;
  inserted: number;
  already_present: number;
}

/** The `Batch ETL complete` summary of a `--log json` run. */
function summary(run: CliRun): Summary {
  for (const line of run.stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    const entry = JSON.parse(line) as { message?: string; context?: Summary };
    if (entry.message === 'Batch ETL complete' && entry.context) return entry.context;
  }
  throw new Error(`no summary in the output:\n${run.stdout.slice(-2000)}\n${run.stderr.slice(-2000)}`);
}

/** Log entries of a `--log json` run with `message`. */
function logged(run: CliRun, message: string): Array<Record<string, unknown>> {
  return run.stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { message?: string; context?: Record<string, unknown> })
    .filter((entry) => entry.message === message)
    .map((entry) => entry.context ?? {});
}

/** Issue 16 rule 10: the counters of a summary reconcile. */
function expectAddsUp(report: Summary): void {
  const byReason = Object.values(report.invalid_by_reason).reduce((sum, count) => sum + count, 0);
  expect(report.raw, 'raw = valid + invalid').to.equal(report.valid + report.invalid);
  expect(report.invalid, 'invalid = sum by reason').to.equal(byReason);
  expect(report.valid, 'valid = unique + duplicates').to.equal(report.unique + report.duplicates);
  expect(report.unique, 'unique = inserted + already_present').to.equal(report.inserted + report.already_present);
}

/** Valid lines with `poison` inserted in the middle. */
function linesWithPoison(events: readonly unknown[], poison: readonly string[] = []): string {
  const lines = events.map((event) => JSON.stringify(event));
  lines.splice(Math.floor(lines.length / 2), 0, ...poison);
  return `${lines.join('\n')}\n`;
}

/**
 * Issue 16, rules 1, 2 and 10 at record level, through the real CLI against a real PostgreSQL:
 * one bad record never stops a run, memory is bounded by bytes, reports add up (also on reruns
 * and after kill -9).
 */
describe('batch_etl records through the CLI (real PostgreSQL, local files)', function () {
  this.timeout(300_000);
  const postgres = useRealService('postgres');
  let database: { url: string; drop(): void };
  let lake: string;
  let partition: string;

  beforeEach(async () => {
    database = freshDatabase(postgres().DB_POSTGRES_URL ?? '', 'it_etl_records');
    lake = mkdtempSync(join(tmpdir(), 'etl-records-'));
    partition = join(lake, 'raw', 'events', DATE);
    mkdirSync(partition, { recursive: true });
    const migrated = await platformHost(['migrate', 'up', '--db', 'postgres', '--env', 'test'], env());
    expect(migrated.code, migrated.stderr + migrated.stdout).to.equal(0);
  });
  afterEach(() => {
    database.drop();
    rmSync(lake, { recursive: true, force: true });
  });

  const env = (): NodeJS.ProcessEnv => batchEtlCliEnv(database.url, lake);
  const runArgs = (extra: readonly string[]): string[] => batchEtlCliArgs(extra, DATE);
  const run = (extra: readonly string[] = []): Promise<CliRun> => platformHost(runArgs(extra), env(), 240_000);
  const count = (where = 'true'): number =>
    Number(psql(database.url, `SELECT count(*) FROM cleaned_events WHERE ${where}`));

  it('rule 1: each poison line in the middle of file 4 of 8 is counted invalid; every valid row lands', async () => {
    psql(database.url, `ALTER TABLE cleaned_events ADD CONSTRAINT no_poison CHECK (payload->>'poison' IS NULL)`);
    const poison = [
      `{"event_type":"deep","source":"s","payload":${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}}`,
      '{"event_type":"big","source":"s","payload":{"v": 1e200000}}',
      JSON.stringify({ event_type: 'İ'.repeat(200), source: 's', payload: {} }),
      JSON.stringify({ event_type: 'e', source: 's', payload: { poison: 'the database refuses it' } }),
    ];
    const events = makeEvents(8 * 1000);
    for (let file = 0; file < 8; file += 1)
      writeFileSync(
        join(partition, `part-${file}.jsonl`),
        linesWithPoison(events.slice(file * 1000, (file + 1) * 1000), file === 3 ? poison : []),
      );
    const result = await run();
    expect(result.code, result.stderr).to.equal(0);
    const report = summary(result);
    expectAddsUp(report);
    expect(report).to.deep.include({ raw: 8004, valid: 8000, invalid: 4, inserted: 8000, already_present: 0 });
    expect(report.invalid_by_reason).to.deep.equal({
      too_deep: 1,
      number_out_of_range: 1,
      event_type_too_long: 1,
      db_rejected: 1,
    });
    expect(count()).to.equal(8000);
    const skipped = logged(result, 'Invalid event skipped').map(
      (entry) => `${String(entry.file)}:${String(entry.line)} ${String(entry.reason)}`,
    );
    const file4 = `raw/events/${DATE}/part-3.jsonl`;
    expect(skipped).to.have.members([
      `${file4}:501 too_deep`,
      `${file4}:502 number_out_of_range`,
      `${file4}:503 event_type_too_long`,
      `${file4}:504 db_rejected`,
    ]);
    const rejected = logged(result, 'Invalid event skipped').find((entry) => entry.reason === 'db_rejected');
    expect(String(rejected?.error)).to.match(/violates check constraint .*\(SQLSTATE 23514\)$/);
    console.log(`      rule 1: ${JSON.stringify(report)}; rows in table ${count()}`);
  });

  it('rule 2: 30 events of 7.5 MB in one file all load with the default batch size', async () => {
    const blob = 'x'.repeat(7.5 * 1024 * 1024 - 200);
    const lines = Array.from(
      { length: 30 },
      (_unused, seq) => `{"event_type":"large","source":"s","payload":{"seq":${seq},"blob":"${blob}"}}\n`,
    );
    writeFileSync(join(partition, 'large.jsonl'), lines.join(''));
    const result = await run();
    expect(result.code, result.stderr + result.stdout.slice(-3000)).to.equal(0);
    const report = summary(result);
    expectAddsUp(report);
    expect(report).to.deep.include({ raw: 30, valid: 30, inserted: 30 });
    expect(count()).to.equal(30);
  });

  it('rule 10: a rerun over a complete table reports already_present = rows of the partition in the table', async () => {
    // 3,000 events repeated after 100,000 others: farther apart than the 50,000 to 100,000 events
    // remembered in memory, so the database finds the repeats, in later batches.
    const repeated = makeEvents(3000, { eventType: 'repeated' });
    writeFileSync(join(partition, 'a.jsonl'), linesWithPoison(repeated));
    writeFileSync(join(partition, 'm.jsonl'), linesWithPoison(makeEvents(100_000)));
    writeFileSync(join(partition, 'z.jsonl'), linesWithPoison([...repeated].reverse()));
    const first = summary(await run());
    expectAddsUp(first);
    expect(first).to.deep.include({ raw: 106_000, unique: 103_000, duplicates: 3000, inserted: 103_000 });
    const rerun = summary(await run());
    expectAddsUp(rerun);
    const stored = count(`event_date = DATE '${DATE}'`);
    expect(rerun).to.deep.include({ raw: 106_000, unique: 103_000, duplicates: 3000, inserted: 0 });
    expect(rerun.already_present).to.equal(stored);
    expect(stored).to.equal(103_000);
    console.log(`      rule 10 rerun: ${JSON.stringify(rerun)}; rows in table ${stored}`);
  });

  it('rule 10: after kill -9 midway, a rerun reports identities that add up and completes the table', async () => {
    const events = makeEvents(40_000, { payload: { pad: 'p'.repeat(500) } });
    for (let file = 0; file < 8; file += 1)
      writeFileSync(
        join(partition, `part-${file}.jsonl`),
        // Each file repeats the first 100 events of the previous one: duplicates across files.
        linesWithPoison([
          ...events.slice(file * 5000, (file + 1) * 5000),
          ...events.slice(Math.max(0, file - 1) * 5000, Math.max(0, file - 1) * 5000 + 100),
        ]),
      );
    const child = spawn(process.execPath, [CLI, ...runArgs(['--batch-size', '200'])], {
      cwd: REPO_ROOT,
      env: env(),
      stdio: 'ignore',
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      child.on('exit', (_code, signal) => resolve(signal)),
    );
    let before = 0;
    for (let attempt = 0; attempt < 600 && before < 2000; attempt += 1) {
      await sleep(50);
      before = count();
    }
    child.kill('SIGKILL');
    expect(await exited).to.equal('SIGKILL');
    before = count();
    expect(before, 'rows committed before the kill').to.be.within(1, 39_999);

    const rerun = summary(await run(['--batch-size', '200']));
    expectAddsUp(rerun);
    expect(rerun).to.deep.include({ raw: 40_800, valid: 40_800, unique: 40_000, duplicates: 800 });
    expect(rerun.already_present, 'rows the killed run committed').to.equal(before);
    expect(rerun.inserted).to.equal(40_000 - before);
    expect(count()).to.equal(40_000);
    expect(Number(psql(database.url, 'SELECT count(DISTINCT dedup_key) FROM cleaned_events'))).to.equal(40_000);
    console.log(
      `      rule 10 kill -9: ${before} rows before the kill; rerun ${JSON.stringify(rerun)}; rows ${count()}`,
    );
  });
});
