/**
 * Benchmark of PostgresDatabase.bulkInsert: COPY against the batched-INSERT fallback, measured side
 * by side in one run on the same server.
 *
 *   DB_POSTGRES_URL=postgres://... node adapters/postgres/dist/bulk-insert.bench.js [rows] [repeats]
 *
 * Prints, per path and conflict mode, the median time over the repeats, rows per second, and the
 * ratio of the fallback's time to COPY's.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Row } from '@platform-host/contracts';
import { PostgresDatabase } from './postgres-database.js';

const url = process.env.DB_POSTGRES_URL || process.env.PLATFORM_TEST_POSTGRES_URL;
if (url === undefined || url === '') {
  console.error('Set DB_POSTGRES_URL (deploy/native/postgres.sh start prints one).');
  process.exit(2);
}
const rowCount = Number(process.argv[2] ?? 100_000);
const repeats = Number(process.argv[3] ?? 3);

function makeRows(count: number): Row[] {
  return Array.from({ length: count }, (_, id) => ({
    id,
    name: `event-${id}\twith tab`,
    payload: { user: id % 1000, kind: id % 2 === 0 ? 'click' : 'view', props: { path: `/page/${id % 50}`, ok: true } },
    tags: ['a', `t${id % 10}`],
    created_at: new Date(Date.UTC(2026, 0, 15, 0, 0, id % 86_400)),
    score: id / 7,
    note: id % 5 === 0 ? null : 'note',
  }));
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

async function measure(db: PostgresDatabase, rows: readonly Row[], onConflict: 'error' | 'ignore'): Promise<number> {
  const times: number[] = [];
  for (let run = 0; run < repeats; run += 1) {
    const table = `ph_bench_${randomBytes(4).toString('hex')}`;
    await db.execute(
      `CREATE TABLE ${table} (id bigint PRIMARY KEY, name text, payload jsonb, tags text[], created_at timestamptz, score double precision, note text)`,
    );
    try {
      const started = performance.now();
      const inserted = await db.bulkInsert(table, rows, { onConflict });
      times.push(performance.now() - started);
      if (inserted !== rows.length) throw new Error(`expected ${rows.length} rows inserted, got ${inserted}`);
    } finally {
      await db.execute(`DROP TABLE ${table}`);
    }
  }
  return median(times);
}

const rows = makeRows(rowCount);
const viaCopy = new PostgresDatabase({ url, poolMin: 1 });
const viaInsert = new PostgresDatabase({ url, poolMin: 1, useCopy: false });
await viaCopy.connect();
await viaInsert.connect();
try {
  console.log(
    `bulkInsert of ${rowCount} rows (7 columns: bigint, text, jsonb, text[], timestamptz, float8, text), median of ${repeats} runs`,
  );
  for (const onConflict of ['error', 'ignore'] as const) {
    const copyMs = await measure(viaCopy, rows, onConflict);
    const insertMs = await measure(viaInsert, rows, onConflict);
    const rate = (ms: number): string => `${Math.round(rowCount / (ms / 1000)).toLocaleString('en-US')} rows/s`;
    console.log(`onConflict=${onConflict.padEnd(6)} COPY   ${copyMs.toFixed(0).padStart(6)} ms  ${rate(copyMs)}`);
    console.log(
      `onConflict=${onConflict.padEnd(6)} INSERT ${insertMs.toFixed(0).padStart(6)} ms  ${rate(insertMs)}  (fallback / COPY = ${(insertMs / copyMs).toFixed(2)}x)`,
    );
  }
} finally {
  await viaCopy.disconnect();
  await viaInsert.disconnect();
}
