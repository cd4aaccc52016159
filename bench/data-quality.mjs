#!/usr/bin/env node
// data_quality benchmark (issue 14): the default checks file (plugins/data-quality/checks/default.yml)
// over a cleaned_events of N rows (default 1,000,000; batch_etl's columns and indexes) and a
// metric_rollups of N/100 rows, in a private database created on the server of DB_POSTGRES_URL and
// dropped at the end. "ours" is one data_quality run in this process through the postgres adapter
// (catalog lookup, one aggregate scan per table, the duplicates and sql queries, samples of what
// fails, the previous results and the history insert, each query in a read-only transaction);
// "psql" is one psql process running the same measurement statements (captured from our first run,
// parameters written as literals), without history. Rounds alternate which goes first; medians
// and their ratio are printed. Goal: ours <= 1.3 x psql.
//
//   npm run build && DB_POSTGRES_URL=postgresql://postgres@127.0.0.1:55432/platform \
//     node bench/data-quality.mjs [--rows 1000000] [--rounds 5]
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PostgresDatabase } from '@platform-host/adapter-postgres';
import { MemoryMetrics } from '@platform-host/adapter-metrics-memory';
import { moduleConfigForTest } from '@platform-host/test-kit';
import { runDataQuality } from '@platform-host/module-data-quality';
import { up as createHistoryTable } from '../plugins/data-quality/dist/migrations/postgresql/001_create_dq_check_results_table.js';

const option = (name, fallback) => {
  const index = process.argv.indexOf(`--${name}`);
  return index === -1 ? fallback : Number(process.argv[index + 1]);
};
const rows = option('rows', 1_000_000);
const rounds = option('rounds', 5);
const adminUrl = process.env.DB_POSTGRES_URL;
if (!adminUrl) {
  console.error('Set DB_POSTGRES_URL (eval "$(deploy/native/postgres.sh start)" prints it).');
  process.exit(2);
}
if (!Number.isSafeInteger(rows) || rows < 1 || !Number.isSafeInteger(rounds) || rounds < 1) {
  console.error('--rows and --rounds must be positive integers');
  process.exit(2);
}
const moduleDir = fileURLToPath(new URL('../plugins/data-quality/', import.meta.url));
const checksPath = join(moduleDir, 'checks', 'default.yml');

function psql(url, args, input) {
  const result = spawnSync('psql', [url, '-X', '-q', '-v', 'ON_ERROR_STOP=1', ...args], {
    encoding: 'utf8',
    input,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.error) throw new Error(`cannot run psql: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`psql failed: ${result.stderr.trim()}`);
  return result.stdout;
}

const databaseName = `dq_bench_${randomBytes(4).toString('hex')}`;
const url = (() => {
  const parsed = new URL(adminUrl);
  parsed.pathname = `/${databaseName}`;
  return parsed.toString();
})();
const folder = mkdtempSync(join(tmpdir(), 'dq-bench-'));
psql(adminUrl, ['-c', `CREATE DATABASE ${databaseName}`]);
const db = new PostgresDatabase({ url, poolMin: 1, poolMax: 4, statementTimeoutMs: 0 });
try {
  const loadStarted = performance.now();
  psql(url, [
    '-c',
    `CREATE TABLE cleaned_events (id BIGSERIAL PRIMARY KEY, event_type VARCHAR(255) NOT NULL, payload JSONB NOT NULL,
       source VARCHAR(255) NOT NULL, event_date DATE NOT NULL, created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
       dedup_key CHAR(64) NOT NULL)`,
    '-c',
    `INSERT INTO cleaned_events (event_type, payload, source, event_date, created_at, dedup_key)
     SELECT (ARRAY['page_view', 'click', 'purchase', 'signup'])[1 + i % 4],
            jsonb_build_object('seq', i, 'user_id', 'u' || (i % 50000), 'url', '/p/' || (i % 1000)),
            (ARRAY['web', 'mobile', 'api'])[1 + i % 3],
            current_date - (i % 30),
            now() - (i % 86400) * interval '1 second',
            encode(sha256(i::text::bytea), 'hex')
       FROM generate_series(1, ${rows}) AS i`,
    '-c',
    'CREATE UNIQUE INDEX idx_cleaned_events_dedup_key ON cleaned_events (dedup_key)',
    '-c',
    'CREATE INDEX idx_cleaned_events_date ON cleaned_events (event_date)',
    '-c',
    'CREATE INDEX idx_cleaned_events_type ON cleaned_events (event_type, event_date)',
    '-c',
    `CREATE TABLE metric_rollups (window_seconds integer NOT NULL, window_start timestamptz NOT NULL,
       dimensions jsonb NOT NULL, event_count bigint NOT NULL, value_count bigint NOT NULL,
       value_sum double precision, value_min double precision, value_max double precision,
       value_avg double precision, closed_at timestamptz, updated_at timestamptz NOT NULL,
       PRIMARY KEY (window_seconds, window_start, dimensions))`,
    '-c',
    `INSERT INTO metric_rollups
     SELECT 60, now() - i * interval '1 minute', jsonb_build_object('event_type', 'page_view'), 10 + i % 90,
            10 + i % 90, 100, 1 + i % 5, 50, 20 + i % 7, now() - i * interval '1 minute', now()
       FROM generate_series(1, ${Math.max(1, Math.floor(rows / 100))}) AS i`,
    '-c',
    'VACUUM ANALYZE cleaned_events',
    '-c',
    'VACUUM ANALYZE metric_rollups',
  ]);
  console.log(`loaded ${rows} cleaned_events rows in ${((performance.now() - loadStarted) / 1000).toFixed(1)} s`);
  await db.connect();
  await createHistoryTable(db);

  const metrics = new MemoryMetrics();
  const silent = { debug() {}, info() {}, warn() {}, error() {}, child: () => silent, flush: async () => {} };
  const ctx = {
    db,
    log: silent,
    metrics,
    config: moduleConfigForTest(moduleDir, ['--checks', checksPath]),
  };
  let captured = [];
  const capturing = new Proxy(db, {
    get(target, property) {
      const value = Reflect.get(target, property);
      if (typeof value !== 'function') return value;
      if (property === 'fetchAll')
        return (sql, params = []) => {
          captured.push({ sql, params });
          return value.call(target, sql, params);
        };
      return value.bind(target);
    },
  });

  const literal = (value) => {
    if (value instanceof Date) return `'${value.toISOString()}'`;
    if (typeof value === 'number') return String(value);
    return `'${String(value).replace(/'/g, "''")}'`;
  };
  const asPsql = ({ sql, params }) =>
    `${sql.replace(/\$(\d+)/g, (_match, index) => literal(params[Number(index) - 1]))};\n`;

  const runOurs = async (database) => {
    const started = performance.now();
    const outcome = await runDataQuality(ctx, { db: database, write: () => undefined, writeError: () => undefined });
    return { seconds: (performance.now() - started) / 1000, outcome };
  };

  // Warm-up of both, and the statements psql replays: everything but the history queries.
  const first = await runOurs(capturing);
  const measured = captured.filter(({ sql }) => !sql.includes('dq_check_results'));
  const script = join(folder, 'same-queries.sql');
  writeFileSync(script, measured.map(asPsql).join(''));
  const runPsql = () => {
    const started = performance.now();
    psql(url, ['-A', '-t', '-f', script]);
    return (performance.now() - started) / 1000;
  };
  runPsql();

  const ours = [];
  const reference = [];
  for (let round = 0; round < rounds; round += 1) {
    if (round % 2 === 0) {
      ours.push((await runOurs(db)).seconds);
      reference.push(runPsql());
    } else {
      reference.push(runPsql());
      ours.push((await runOurs(db)).seconds);
    }
  }
  // What psql spends on starting and connecting, included in its figure above.
  const connectOnly = [];
  for (let round = 0; round < rounds; round += 1) {
    const started = performance.now();
    psql(url, ['-A', '-t', '-c', 'SELECT 1']);
    connectOnly.push((performance.now() - started) / 1000);
  }
  const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
  const report = first.outcome.report;
  console.log(
    `data_quality, default checks (${report.summary.total} checks on 2 tables: ${report.summary.pass} pass, ` +
      `${report.summary.warn} warn, ${report.summary.fail} fail, ${report.summary.error} error; exit ${first.outcome.exitCode}), ` +
      `cleaned_events ${rows} rows, median of ${rounds} rounds`,
  );
  console.log(
    `  statements: ours ${captured.length} (+ history insert, read-only transactions), psql ${measured.length}`,
  );
  for (const scan of report.scans) console.log(`  ${scan.table}: ${scan.queries} queries, scan ${scan.scan_ms} ms`);
  console.log(
    `  ours (data_quality run) : ${median(ours).toFixed(3)} s   [${ours.map((s) => s.toFixed(3)).join(', ')}]`,
  );
  console.log(
    `  psql (same queries)     : ${median(reference).toFixed(3)} s   [${reference.map((s) => s.toFixed(3)).join(', ')}]`,
  );
  console.log(`  psql start + connect    : ${median(connectOnly).toFixed(3)} s   (included in psql's figure)`);
  console.log(`  ratio ours / psql       : ${(median(ours) / median(reference)).toFixed(2)}  (goal <= 1.30)`);
} finally {
  await db.disconnect();
  psql(adminUrl, ['-c', `DROP DATABASE IF EXISTS ${databaseName} WITH (FORCE)`]);
  rmSync(folder, { recursive: true, force: true });
}
