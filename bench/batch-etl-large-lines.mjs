#!/usr/bin/env node
// Memory with large lines (issue 16, rule 2): one file of N valid events of about 7.5 MB each
// (each under the 8 MB line limit), loaded by `platform-host run batch_etl --db postgres --fs
// local` with the default --batch-size and --batch-bytes, as a subprocess under GNU time. Prints
// the rows loaded, wall time and the job's peak RSS (the figure in the README). Asserts nothing
// about time; exits 1 if not every event was loaded.
//
//   eval "$(deploy/native/postgres.sh start)"     # prints DB_POSTGRES_URL
//   npm run build && node bench/batch-etl-large-lines.mjs [--events 30] [--mb 7.5] [--batch-bytes N]
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('..', import.meta.url));
const cli = join(repo, 'host', 'runtime', 'bin', 'platform-host.js');
function option(name, fallback) {
  const index = process.argv.indexOf(`--${name}`);
  return index === -1 ? fallback : (process.argv[index + 1] ?? fallback);
}
const events = Number(option('events', '30'));
const megabytes = Number(option('mb', '7.5'));
const batchBytes = option('batch-bytes', undefined);
const baseUrl = process.env.DB_POSTGRES_URL;
if (!baseUrl) {
  console.error(
    'DB_POSTGRES_URL is not set. Start a throwaway server first: eval "$(deploy/native/postgres.sh start)"',
  );
  process.exit(2);
}
const DATE = '2026-01-15';
const psql = (url, sql) =>
  execFileSync('psql', ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', url, '-c', sql], { encoding: 'utf8' }).trim();

/** One event line of about `megabytes` MB: many small fields, as a large real payload would have. */
function eventLine(sequence) {
  const fields = [];
  let length = 0;
  for (let index = 0; length < megabytes * 1024 * 1024 - 200; index += 1) {
    const field = `"k${index}":"${randomBytes(24).toString('hex')}"`;
    fields.push(field);
    length += field.length + 1;
  }
  return `{"event_type":"large","source":"bench","payload":{"seq":${sequence},${fields.join(',')}}}\n`;
}

const work = mkdtempSync(join(tmpdir(), 'bench-batch-etl-large-'));
const database = `bench_large_${randomBytes(4).toString('hex')}`;
const url = new URL(baseUrl);
url.pathname = `/${database}`;
try {
  const partition = join(work, 'lake', 'raw', 'events', DATE);
  mkdirSync(partition, { recursive: true });
  const fd = openSync(join(partition, 'large.jsonl'), 'w');
  let bytes = 0;
  for (let sequence = 0; sequence < events; sequence += 1) bytes += writeSync(fd, eventLine(sequence));
  closeSync(fd);
  console.log(`generated 1 file, ${events} events, ${(bytes / 1024 / 1024).toFixed(1)} MB`);
  psql(baseUrl, `CREATE DATABASE ${database}`);
  const env = {
    ...process.env,
    DB_POSTGRES_URL: url.toString(),
    FS_LOCAL_ROOT: join(work, 'lake'),
    PLATFORM_ENV: 'local',
    PLATFORM_HEALTH_FILE: join(work, 'health.json'),
  };
  execFileSync(process.execPath, [cli, 'migrate', 'up', '--db', 'postgres', '--env', 'local'], {
    env,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const args = ['run', 'batch_etl', '--db', 'postgres', '--fs', 'local', '--env', 'local', '--log', 'json'];
  args.push('--date', DATE, '--source-path', 'raw/events');
  if (batchBytes !== undefined) args.push('--batch-bytes', batchBytes);
  const gnuTime = existsSync('/usr/bin/time');
  const command = gnuTime ? '/usr/bin/time' : process.execPath;
  const commandArgs = gnuTime ? ['-f', '__PEAK_RSS_KB__=%M', process.execPath, cli, ...args] : [cli, ...args];
  const started = performance.now();
  const result = await new Promise((resolve, reject) => {
    const child = spawn(command, commandArgs, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
  const seconds = (performance.now() - started) / 1000;
  const peak = /__PEAK_RSS_KB__=(\d+)/.exec(result.stderr);
  const rows = Number(psql(url.toString(), 'SELECT count(*) FROM cleaned_events'));
  console.log(
    `batch_etl exit ${result.code}: ${rows} of ${events} rows loaded in ${seconds.toFixed(1)} s, ` +
      `peak RSS ${peak ? `${(Number(peak[1]) / 1024).toFixed(1)} MB` : 'unknown (no GNU time)'}` +
      ` (--batch-bytes ${batchBytes ?? 'default'})`,
  );
  if (result.code !== 0 || rows !== events) {
    console.error(result.stdout.split('\n').slice(-10).join('\n'), result.stderr);
    process.exitCode = 1;
  }
} finally {
  try {
    psql(baseUrl, `DROP DATABASE IF EXISTS ${database}`);
  } catch {
    // best effort
  }
  rmSync(work, { recursive: true, force: true });
}
