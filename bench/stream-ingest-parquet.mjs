#!/usr/bin/env node
// stream_ingest parquet writer benchmark (issue 12): rows/s of our writer (parquet-wasm from an Arrow table, as the
// service encodes a lake file: the nine fixed columns, snappy) against DuckDB `COPY ... TO
// 'x.parquet'` on the same rows (loaded into a DuckDB table first, not timed), same run, median of
// --rounds rounds each. Goal: ratio >= 0.25.
//
//   npm run build && pip install duckdb && node bench/stream-ingest-parquet.mjs [--rows 200000] [--rounds 5]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeRecords } from '@platform-host/module-stream-ingest';

const option = (name, fallback) => {
  const index = process.argv.indexOf(`--${name}`);
  return index === -1 ? fallback : Number(process.argv[index + 1]);
};
const rows = option('rows', 200_000);
const rounds = option('rounds', 5);
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const format = (n) => Math.round(n).toLocaleString('en-US');

const base = Date.parse('2026-01-15T00:00:00Z');
const ingestedAt = Date.now();
const records = Array.from({ length: rows }, (_, i) => ({
  event_id: `evt-${i.toString(36)}-${(i * 7919) % 100003}`,
  event_type: ['page_view', 'click', 'purchase', 'signup'][i % 4],
  source: ['web', 'ios', 'android'][i % 3],
  timestamp: base + i * 37,
  payload: JSON.stringify({ user_id: `u${i % 5000}`, value: (i % 1000) / 10, page: `/p/${i % 97}` }),
  _topic: 'events',
  _partition: i % 6,
  _offset: BigInt(i),
  _ingested_at: ingestedAt,
}));

const dir = mkdtempSync(join(tmpdir(), 'bench-parquet-'));
try {
  // The same rows for DuckDB, as CSV with typed columns cast on load.
  const csvPath = join(dir, 'rows.csv');
  writeFileSync(csvPath, encodeRecords(records, 'csv'));
  const ours = [];
  let ourBytes = 0;
  for (let round = 0; round < rounds; round += 1) {
    const started = process.hrtime.bigint();
    const bytes = encodeRecords(records, 'parquet');
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    writeFileSync(join(dir, 'ours.parquet'), bytes);
    ourBytes = bytes.byteLength;
    ours.push(rows / seconds);
  }
  const script = `
import duckdb, json, sys, time
csv, out, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
con = duckdb.connect()
con.execute("SET threads TO 1")
con.execute(f"""CREATE TABLE t AS SELECT event_id::VARCHAR event_id, event_type::VARCHAR event_type, source::VARCHAR source,
  "timestamp"::TIMESTAMPTZ "timestamp", payload::VARCHAR payload, _topic::VARCHAR _topic, _partition::INTEGER _partition,
  _offset::BIGINT _offset, _ingested_at::TIMESTAMPTZ _ingested_at FROM read_csv('{csv}', header=true, all_varchar=true)""")
n = con.execute("SELECT count(*) FROM t").fetchone()[0]
rates = []
for _ in range(rounds):
    start = time.perf_counter()
    con.execute(f"COPY t TO '{out}' (FORMAT parquet, COMPRESSION snappy)")
    rates.append(n / (time.perf_counter() - start))
check = con.execute(f"SELECT count(*), count(DISTINCT _offset) FROM '{sys.argv[4]}'").fetchone()
print(json.dumps({"rates": rates, "rows": n, "ours_read_back": check}))
`;
  const result = spawnSync(
    'python3',
    ['-c', script, csvPath, join(dir, 'duckdb.parquet'), String(rounds), join(dir, 'ours.parquet')],
    { encoding: 'utf8' },
  );
  if (result.status !== 0) throw new Error(`duckdb failed (pip install duckdb): ${result.stderr}`);
  const duck = JSON.parse(result.stdout);
  if (duck.rows !== rows || duck.ours_read_back[0] !== rows || duck.ours_read_back[1] !== rows) {
    throw new Error(`row counts differ: ${result.stdout}`);
  }
  const oursMedian = median(ours);
  const duckMedian = median(duck.rates);
  console.log(`parquet writer, ${format(rows)} rows x ${rounds} rounds (DuckDB single-threaded: SET threads TO 1)`);
  console.log(`  ours (parquet-wasm):     ${format(oursMedian)} rows/s  (${format(ourBytes)} bytes)`);
  console.log(
    `  DuckDB COPY TO parquet:  ${format(duckMedian)} rows/s  (${format(statSync(join(dir, 'duckdb.parquet')).size)} bytes)`,
  );
  console.log(
    `  ratio ours/DuckDB: ${(oursMedian / duckMedian).toFixed(3)} (goal >= 0.25); DuckDB read our file back: ${duck.ours_read_back[0]} rows`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
