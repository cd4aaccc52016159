#!/usr/bin/env node
// Cassandra bulkInsert benchmark (issue 15, item 8): CassandraDatabase.bulkInsert (--db cassandra)
// against the raw cassandra-driver executeConcurrent of the same prepared INSERT over the same rows,
// with the same concurrency and the same client settings (local DC, LOCAL_QUORUM), on the same node,
// in the same run. Each round runs both (alternating which goes first) into a fresh partition range;
// the median rows/s of each and their ratio are printed (goal >= 0.9).
//
//   npm run build && DB_CASSANDRA_HOSTS=127.0.0.1:9042 node bench/cassandra-bulk-insert.mjs \
//     [--rows 20000] [--concurrency 32] [--rounds 5] [--ignore 0|1]
//
// --ignore 1 measures onConflict: 'ignore' (IF NOT EXISTS, a lightweight transaction per row) against
// the raw driver running the same IF NOT EXISTS statement.
import { randomUUID } from 'node:crypto';
import cassandra from 'cassandra-driver';
import { CassandraDatabase } from '@platform-host/adapter-cassandra';

const option = (name, fallback) => {
  const index = process.argv.indexOf(`--${name}`);
  return index === -1 ? fallback : Number(process.argv[index + 1]);
};
const rowCount = option('rows', 20_000);
const concurrency = option('concurrency', 32);
const rounds = option('rounds', 5);
const ignore = option('ignore', 0) === 1;
const hosts = process.env.DB_CASSANDRA_HOSTS;
const keyspace = process.env.DB_CASSANDRA_KEYSPACE ?? 'platform';
if (!hosts) {
  console.error('Set DB_CASSANDRA_HOSTS (deploy/native/infra.sh up cassandra prints it).');
  process.exit(2);
}

const contactPoints = hosts.split(',');
const table = `bench_bulk_${randomUUID().replace(/-/g, '').slice(0, 10)}`;
const db = new CassandraDatabase({ contactPoints, keyspace, bulkConcurrency: concurrency });
const raw = new cassandra.Client({
  contactPoints,
  localDataCenter: 'datacenter1',
  keyspace,
  queryOptions: { consistency: cassandra.types.consistencies.localQuorum },
});
await db.connect();
await raw.connect();
await db.execute(
  `CREATE TABLE ${table} (series int, at timestamp, name text, value double, count bigint, PRIMARY KEY (series, at))`,
);

const columns = ['series', 'at', 'name', 'value', 'count'];
const insert = `INSERT INTO ${table} (${columns.join(', ')}) VALUES (?, ?, ?, ?, ?)${ignore ? ' IF NOT EXISTS' : ''}`;
const start = Date.UTC(2026, 0, 1);
/** The rows of one round: 100 series, `rowCount` points in all, starting at partition `base`. */
function rowsFor(base) {
  return Array.from({ length: rowCount }, (_, index) => ({
    series: base + (index % 100),
    at: new Date(start + index * 1000),
    name: `metric_${index % 100}`,
    value: index * 0.5,
    count: BigInt(index),
  }));
}

let base = 0;
async function ours() {
  const rows = rowsFor((base += 100));
  const started = process.hrtime.bigint();
  const inserted = await db.bulkInsert(table, rows, ignore ? { onConflict: 'ignore' } : {});
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (inserted !== rowCount) throw new Error(`bulkInsert returned ${inserted}, expected ${rowCount}`);
  return rowCount / seconds;
}
async function reference() {
  const rows = rowsFor((base += 100));
  const started = process.hrtime.bigint();
  // The raw driver's own encoding of the same values: bigint columns take a Long.
  const params = rows.map((row) => [
    row.series,
    row.at,
    row.name,
    row.value,
    cassandra.types.Long.fromString(row.count.toString()),
  ]);
  const result = await cassandra.concurrent.executeConcurrent(raw, insert, params, {
    concurrencyLevel: concurrency,
    collectResults: ignore,
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (result.totalExecuted !== rowCount) throw new Error(`executeConcurrent ran ${result.totalExecuted}`);
  return rowCount / seconds;
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const oursRates = [];
const referenceRates = [];
try {
  await ours(); // warm-up: prepares the statement on both clients
  await reference();
  for (let round = 0; round < rounds; round += 1) {
    if (round % 2 === 0) {
      oursRates.push(await ours());
      referenceRates.push(await reference());
    } else {
      referenceRates.push(await reference());
      oursRates.push(await ours());
    }
  }
  const stored = await db.fetchOne(`SELECT count(*) AS n FROM ${table}`);
  if (Number(stored?.n) !== rowCount * (rounds + 1) * 2) throw new Error(`table holds ${stored?.n} rows`);
} finally {
  await db.execute(`DROP TABLE IF EXISTS ${table}`);
  await db.disconnect();
  await raw.shutdown();
}

const format = (rate) => `${Math.round(rate).toLocaleString('en-US')} rows/s`;
console.log(
  `Cassandra bulk insert${ignore ? " (onConflict 'ignore' = IF NOT EXISTS)" : ''}, ${rowCount} rows of 5 columns per round, ${concurrency} in flight, median of ${rounds} rounds`,
);
console.log(`  adapter bulkInsert            : ${format(median(oursRates))}`);
console.log(`  raw driver executeConcurrent  : ${format(median(referenceRates))}`);
console.log(
  `  ratio adapter / raw           : ${(median(oursRates) / median(referenceRates)).toFixed(3)} (goal >= 0.9)`,
);
console.log(`  load average: ${(await import('node:fs')).readFileSync('/proc/loadavg', 'utf8').trim()}`);
