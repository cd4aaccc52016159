#!/usr/bin/env node
// Cost of verifying a .jsonl.gz before parsing it (issue 16, rule 3). batch_etl decompresses every
// .gz file once to nowhere (zlib checks CRC-32 and ISIZE) before it parses the file in a second
// pass. This measures, side by side in one process on the same file: the verification pass alone,
// and a whole batch_etl run of the partition (which includes it), against a real PostgreSQL with
// local files; it prints medians and the share of the run the verification takes.
//
//   eval "$(deploy/native/postgres.sh start)"     # prints DB_POSTGRES_URL
// With --files N the lines are split over N files: the verification of file i + 1 overlaps with
// the parsing of file i, so only the first one's is wall time.
//
//   npx tsc -b && node bench/gzip-verification.mjs [--lines 20000] [--payload-bytes 60] [--files 1] [--runs 5]
import { Buffer } from 'node:buffer';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const repo = fileURLToPath(new URL('..', import.meta.url));
const option = (name, fallback) => {
  const index = process.argv.indexOf(`--${name}`);
  return index === -1 ? fallback : Number(process.argv[index + 1]);
};
const lines = option('lines', 20_000);
const payloadBytes = option('payload-bytes', 60);
const runs = option('runs', 5);
const fileCount = option('files', 1);
const baseUrl = process.env.DB_POSTGRES_URL;
if (!baseUrl) {
  console.error(
    'DB_POSTGRES_URL is not set. Start a throwaway server first: eval "$(deploy/native/postgres.sh start)"',
  );
  process.exit(2);
}

const { startModuleForTest, moduleConfigForTest } = await import(join(repo, 'host/test-kit/dist/index.js'));
const { runBatchEtl } = await import(join(repo, 'plugins/batch-etl/dist/main.js'));
const { verifyGzipFile } = await import(join(repo, 'plugins/batch-etl/dist/partition-reader.js'));

const DATE = '2026-01-15';
const MODULE_DIR = join(repo, 'plugins/batch-etl');
// Payload text of random hex: compresses about 2:1, more work per byte for zlib than typical JSON.
const filler = () => randomBytes(Math.max(0, Math.ceil((payloadBytes - 40) / 2))).toString('hex');
const text = Array.from(
  { length: lines },
  (_unused, seq) =>
    `${JSON.stringify({ event_type: 'page_view', source: 'web', payload: { seq, user_id: `u${seq % 977}`, note: filler() } })}\n`,
).join('');
const lake = mkdtempSync(join(tmpdir(), 'bench-gzip-verify-'));
mkdirSync(join(lake, 'raw/events', DATE), { recursive: true });
const allLines = text.split(/(?<=\n)/);
const files = [];
let gzippedBytes = 0;
for (let index = 0; index < fileCount; index += 1) {
  const part = allLines.slice(Math.floor((index * lines) / fileCount), Math.floor(((index + 1) * lines) / fileCount));
  const file = `raw/events/${DATE}/part-${index}.jsonl.gz`;
  const gzip = gzipSync(Buffer.from(part.join('')));
  gzippedBytes += gzip.length;
  writeFileSync(join(lake, file), gzip);
  files.push(file);
}

const database = `bench_gzip_${randomBytes(4).toString('hex')}`;
const psql = (url, sql) => execFileSync('psql', [url, '-X', '-A', '-t', '-q', '-c', sql], { encoding: 'utf8' }).trim();
psql(baseUrl, `CREATE DATABASE ${database}`);
const url = new URL(baseUrl);
url.pathname = `/${database}`;

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
try {
  const started = await startModuleForTest({
    moduleDir: MODULE_DIR,
    args: ['--date', DATE, '--source-path', 'raw/events'],
    flags: { db: 'postgres', fs: 'local', log: 'memory' },
    env: { DB_POSTGRES_URL: url.toString(), FS_LOCAL_ROOT: lake },
  });
  const { ctx } = started;
  const config = moduleConfigForTest(MODULE_DIR, ['--date', DATE, '--source-path', 'raw/events']);
  const verifyMs = [];
  const runMs = [];
  for (let run = 0; run < runs; run += 1) {
    let start = performance.now();
    for (const file of files) await verifyGzipFile(ctx.fs, file);
    verifyMs.push(performance.now() - start);
    await ctx.db.execute('TRUNCATE cleaned_events');
    start = performance.now();
    const { exitCode, report } = await runBatchEtl({ ...ctx, config });
    runMs.push(performance.now() - start);
    if (exitCode !== 0 || report.inserted !== lines)
      throw new Error(`run ${run}: exit ${exitCode}, ${report.inserted} rows`);
  }
  await started.close();
  const verify = median(verifyMs);
  const whole = median(runMs);
  console.log(
    `${lines} lines in ${fileCount} file(s), ${text.length} bytes (${gzippedBytes} gzipped), ${runs} runs, medians:` +
      ` verification of every file one after the other ${verify.toFixed(1)} ms, whole run ${whole.toFixed(1)} ms (${Math.round(lines / (whole / 1000))} lines/s);` +
      ` verification = ${((100 * verify) / whole).toFixed(1)}% of the run`,
  );
} finally {
  psql(baseUrl, `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  rmSync(lake, { recursive: true, force: true });
}
