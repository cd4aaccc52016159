#!/usr/bin/env node
// batch_etl benchmark (issue 3). Generates N raw events into a local partition (about 5% invalid,
// 10% duplicates, payloads of 100 B to 4 kB), runs `platform-host run batch_etl --db postgres
// --fs local` as a subprocess against a real PostgreSQL, measuring wall time and peak RSS, then
// loads the same cleaned rows with `psql \copy` into an identical table (same columns, indexes and
// unique dedup index), and prints events/s of both, their ratio and batch_etl's peak RSS.
// Goals: ratio >= 0.8 at N = 1,000,000; peak RSS <= 256 MB; peak RSS at 2,000,000 within 10% of
// the one at 200,000 (run it at both sizes).
//
//   eval "$(deploy/native/postgres.sh start)"     # prints DB_POSTGRES_URL
//   npm run build && npm run bench:batch-etl -- --events 1000000 [--batch-size 500] [--keep] [--no-autovacuum]
import { Buffer } from 'node:buffer';
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clearInterval, setInterval } from 'node:timers';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('..', import.meta.url));
const cli = join(repo, 'host', 'runtime', 'bin', 'platform-host.js');

function option(name, fallback) {
  const index = process.argv.indexOf(`--${name}`);
  if (index === -1) return fallback;
  return process.argv[index + 1] ?? fallback;
}
const events = Number(option('events', '200000'));
const batchSize = option('batch-size', undefined);
const keep = process.argv.includes('--keep');
// Both target tables without autovacuum: the batched load commits often, so autovacuum visits its
// table during the run, while psql's single COPY commits at the end. For analysis, not the default.
const noAutovacuum = process.argv.includes('--no-autovacuum');
const baseUrl = process.env.DB_POSTGRES_URL;
if (!Number.isSafeInteger(events) || events < 1) {
  console.error('--events must be a positive integer');
  process.exit(2);
}
if (!baseUrl) {
  console.error(
    'DB_POSTGRES_URL is not set. Start a throwaway server first: eval "$(deploy/native/postgres.sh start)"',
  );
  process.exit(2);
}
if (!existsSync(join(repo, 'plugins', 'batch-etl', 'dist', 'index.js'))) {
  console.error(
    'Build first: npx tsc -b plugins/batch-etl migrations host/runtime adapters/postgres adapters/fs-local adapters/log-winston',
  );
  process.exit(2);
}

const DATE = '2026-01-15';
const EVENTS_PER_FILE = 100_000;
const COLUMNS = 'event_type, payload, source, event_date, created_at, dedup_key';

// ---------------------------------------------------------------- data generation (deterministic)
let seed = 0x9e3779b9;
function random() {
  // xorshift32
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) / 4294967296;
}
const pick = (list) => list[Math.floor(random() * list.length)];
const TYPES = [
  'page_view',
  'page_view',
  'page_view',
  'click',
  'click',
  'add_to_cart',
  'purchase',
  'search',
  'signup',
  'logout',
];
const SOURCES = ['web', 'web', 'mobile', 'api'];
const WORDS =
  'alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu'.split(
    ' ',
  );
const BROWSERS = ['firefox', 'chrome', 'safari', 'edge'];
const hex = (length) => {
  let text = '';
  while (text.length < length)
    text += Math.floor(random() * 4294967296)
      .toString(16)
      .padStart(8, '0');
  return text.slice(0, length);
};

function payloadOf(sequence) {
  const target = 100 + Math.floor(random() * 3900);
  const payload = {
    user_id: `u${Math.floor(random() * 50_000)}`,
    session_id: hex(16),
    seq: sequence,
    ts: new Date(Date.UTC(2026, 0, 15) + Math.floor(random() * 86_400_000)).toISOString(),
  };
  let size = JSON.stringify(payload).length;
  if (size + 60 < target) {
    payload.device = {
      browser: pick(BROWSERS),
      os: pick(['linux', 'macos', 'windows', 'ios', 'android']),
      screen: { w: 1920, h: 1080 },
    };
    payload.url = `/${pick(WORDS)}/${pick(WORDS)}?q=${hex(6)}`;
    size += 130;
  }
  const items = [];
  while (size < target - 70) {
    const item = {
      sku: `sku-${Math.floor(random() * 1e6)}`,
      qty: 1 + Math.floor(random() * 4),
      price: Math.round(random() * 10_000) / 100,
      name: `${pick(WORDS)} ${pick(WORDS)}`,
    };
    items.push(item);
    size += JSON.stringify(item).length + 1;
  }
  if (items.length > 0) payload.items = items;
  return payload;
}

const INVALID_KINDS = [
  'malformed_json',
  'missing_event_type',
  'empty_event_type',
  'payload_not_object',
  'missing_source',
  'payload_malformed_json',
];
function invalidLine(sequence, kind) {
  const event = { event_type: pick(TYPES), payload: { seq: sequence, user_id: 'u1' }, source: pick(SOURCES) };
  switch (kind) {
    case 'malformed_json':
      return JSON.stringify(event).slice(0, 25);
    case 'missing_event_type':
      delete event.event_type;
      break;
    case 'empty_event_type':
      event.event_type = ' ';
      break;
    case 'payload_not_object':
      event.payload = [1, 2, 3];
      break;
    case 'missing_source':
      delete event.source;
      break;
    case 'payload_malformed_json':
      event.payload = '{"seq": ';
      break;
  }
  return JSON.stringify(event);
}

/** The same event with other key order and event-type spelling: the same dedup key. */
function respelled(line) {
  const event = JSON.parse(line);
  const payload = Object.fromEntries(Object.entries(event.payload).reverse());
  return JSON.stringify({ source: event.source, payload, event_type: ` ${event.event_type.toUpperCase()}` });
}

function generate(root) {
  const dir = join(root, 'raw', 'events', DATE);
  mkdirSync(dir, { recursive: true });
  // A sibling partition that must not be read.
  mkdirSync(join(root, 'raw', 'events', `${DATE}-backup`), { recursive: true });
  const backup = openSync(join(root, 'raw', 'events', `${DATE}-backup`, 'part-0.jsonl'), 'w');
  writeSync(backup, `${JSON.stringify({ event_type: 'backup', payload: { a: 1 }, source: 'web' })}\n`);
  closeSync(backup);
  const recent = [];
  const counts = { raw: 0, invalid: 0, duplicates: 0, bytes: 0, files: 0 };
  let fd;
  let buffer = '';
  for (let index = 0; index < events; index += 1) {
    if (index % EVENTS_PER_FILE === 0) {
      if (fd !== undefined) {
        writeSync(fd, buffer);
        closeSync(fd);
        buffer = '';
      }
      fd = openSync(join(dir, `part-${String(counts.files).padStart(5, '0')}.jsonl`), 'w');
      counts.files += 1;
    }
    const roll = random();
    let line;
    if (roll < 0.05) {
      line = invalidLine(index, INVALID_KINDS[index % INVALID_KINDS.length]);
      counts.invalid += 1;
    } else if (roll < 0.15 && recent.length > 0) {
      const original = recent[Math.floor(random() * recent.length)];
      line = random() < 0.7 ? original : respelled(original);
      counts.duplicates += 1;
    } else {
      line = JSON.stringify({ event_type: pick(TYPES), payload: payloadOf(index), source: pick(SOURCES) });
      if (recent.length < 20_000) recent.push(line);
      else recent[Math.floor(random() * recent.length)] = line;
    }
    counts.raw += 1;
    buffer += `${line}\n`;
    if (buffer.length > 4_000_000) {
      counts.bytes += Buffer.byteLength(buffer);
      writeSync(fd, buffer);
      buffer = '';
    }
  }
  counts.bytes += Buffer.byteLength(buffer);
  writeSync(fd, buffer);
  closeSync(fd);
  return counts;
}

// ---------------------------------------------------------------- helpers
function psql(url, args, options = {}) {
  return execFileSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', url, ...args], { encoding: 'utf8', ...options });
}

/** Runs a command, returning wall seconds, peak RSS (kB, from GNU time when present) and stdout. */
function measure(command, args, env) {
  return new Promise((resolve, reject) => {
    const gnuTime = existsSync('/usr/bin/time');
    const child = gnuTime
      ? spawn('/usr/bin/time', ['-f', '__PEAK_RSS_KB__=%M', command, ...args], {
          env,
          stdio: ['ignore', 'pipe', 'pipe'],
        })
      : spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let sampledPeak = 0;
    const sampler = setInterval(() => {
      // Without GNU time: the kernel's high-water mark of the process, sampled.
      try {
        const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
        const match = /VmHWM:\s+(\d+)/.exec(status);
        if (match) sampledPeak = Math.max(sampledPeak, Number(match[1]));
      } catch {
        // exited
      }
    }, 100);
    const started = performance.now();
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      clearInterval(sampler);
      const seconds = (performance.now() - started) / 1000;
      const match = /__PEAK_RSS_KB__=(\d+)/.exec(stderr);
      resolve({
        code,
        seconds,
        peakRssKb: match ? Number(match[1]) : sampledPeak,
        stdout,
        stderr: stderr.replace(/__PEAK_RSS_KB__=\d+\n?/, ''),
      });
    });
  });
}

const mb = (bytes) => (bytes / 1024 / 1024).toFixed(1);
const rate = (count, seconds) => Math.round(count / seconds).toLocaleString('en-US');

// ---------------------------------------------------------------- run
const database = `bench_batch_etl_${randomBytes(4).toString('hex')}`;
const url = new URL(baseUrl);
url.pathname = `/${database}`;
const benchUrl = url.toString();
const work = mkdtempSync(join(tmpdir(), 'bench-batch-etl-'));
const root = join(work, 'lake');

try {
  console.log(
    `batch_etl benchmark: ${events.toLocaleString('en-US')} events, node ${process.version}${noAutovacuum ? ', autovacuum off on both tables' : ''}`,
  );
  let started = performance.now();
  const generated = generate(root);
  const expectedUnique = generated.raw - generated.invalid - generated.duplicates;
  console.log(
    `generated ${generated.files} files, ${mb(generated.bytes)} MB: ${generated.invalid.toLocaleString('en-US')} invalid, ` +
      `${generated.duplicates.toLocaleString('en-US')} duplicates, ${expectedUnique.toLocaleString('en-US')} unique (${((performance.now() - started) / 1000).toFixed(1)} s)`,
  );

  psql(baseUrl, ['-c', `CREATE DATABASE ${database}`]);
  const env = {
    ...process.env,
    DB_POSTGRES_URL: benchUrl,
    FS_LOCAL_ROOT: root,
    LOG_LEVEL: 'info',
    PLATFORM_ENV: 'local',
    PLATFORM_HEALTH_FILE: join(work, 'batch_etl.health.json'),
  };
  execFileSync(process.execPath, [cli, 'migrate', 'up', '--db', 'postgres', '--env', 'local'], {
    env,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  // The comparison table: same columns, defaults, NOT NULLs and indexes (unique dedup_key included).
  psql(benchUrl, ['-c', 'CREATE TABLE cleaned_events_copy (LIKE cleaned_events INCLUDING ALL)', '-c', 'CHECKPOINT']);
  if (noAutovacuum) {
    psql(benchUrl, [
      '-c',
      'ALTER TABLE cleaned_events SET (autovacuum_enabled = false)',
      '-c',
      'ALTER TABLE cleaned_events_copy SET (autovacuum_enabled = false)',
    ]);
  }

  const runArgs = [
    cli,
    'run',
    'batch_etl',
    '--db',
    'postgres',
    '--fs',
    'local',
    '--log',
    'json',
    '--env',
    'local',
    '--date',
    DATE,
    '--source-path',
    'raw/events',
  ];
  if (batchSize !== undefined) runArgs.push('--batch-size', batchSize);
  const etl = await measure(process.execPath, runArgs, env);
  if (etl.code !== 0) {
    console.error(etl.stdout.split('\n').slice(-20).join('\n'), etl.stderr);
    throw new Error(`batch_etl exited ${etl.code}`);
  }
  const summaryLine = etl.stdout.split('\n').find((line) => line.includes('"Batch ETL complete"'));
  const summary = summaryLine ? JSON.parse(summaryLine).context : {};
  const storedRows = Number(psql(benchUrl, ['-tAc', 'SELECT count(*) FROM cleaned_events']).trim());
  // What was stored, independent of load order and ids: compare it across versions of the job.
  const contentChecksum = psql(benchUrl, [
    '-tAc',
    "SELECT md5(string_agg(md5(dedup_key || ' ' || event_type || ' ' || source || ' ' || event_date || ' ' || payload::text), '' ORDER BY dedup_key)) FROM cleaned_events",
  ]).trim();

  const rowsFile = join(work, 'cleaned_rows.tsv');
  psql(benchUrl, [
    '-c',
    `\\copy (SELECT ${COLUMNS} FROM cleaned_events ORDER BY id) TO '${rowsFile}'`,
    '-c',
    'CHECKPOINT',
  ]);
  started = performance.now();
  const copy = await measure(
    'psql',
    ['-X', '-q', '-v', 'ON_ERROR_STOP=1', benchUrl, '-c', `\\copy cleaned_events_copy (${COLUMNS}) FROM '${rowsFile}'`],
    process.env,
  );
  if (copy.code !== 0) throw new Error(`psql \\copy failed: ${copy.stderr}`);
  const copiedRows = Number(psql(benchUrl, ['-tAc', 'SELECT count(*) FROM cleaned_events_copy']).trim());

  const ratio = copy.seconds / etl.seconds;
  const check = (label, actual, expected) =>
    `${label} ${actual}${actual === expected ? '' : ` (expected ${expected})`}`;
  console.log(
    `batch_etl report: raw ${summary.raw}, ${check('invalid', summary.invalid, generated.invalid)}, ` +
      `${check('duplicates', summary.duplicates, generated.duplicates)}, ${check('inserted', summary.inserted, expectedUnique)}, ` +
      `already_present ${summary.already_present}; rows in table ${storedRows}, content md5 ${contentChecksum}`,
  );
  console.log(
    `batch_etl  (platform-host run, --db postgres --fs local, batch size ${batchSize ?? 'default'}): ${etl.seconds.toFixed(2)} s, ${rate(events, etl.seconds)} events/s, ${rate(storedRows, etl.seconds)} rows/s, peak RSS ${mb(etl.peakRssKb * 1024)} MB`,
  );
  console.log(
    `psql \\copy (the same ${copiedRows.toLocaleString('en-US')} rows, file ${mb(statSync(rowsFile).size)} MB, identical table): ${copy.seconds.toFixed(2)} s, ${rate(events, copy.seconds)} events/s, ${rate(copiedRows, copy.seconds)} rows/s`,
  );
  console.log(`ratio batch_etl / psql \\copy (events/s): ${ratio.toFixed(2)} (goal >= 0.8)`);
  console.log(`peak RSS batch_etl: ${mb(etl.peakRssKb * 1024)} MB (goal <= 256 MB)`);
} finally {
  if (keep) {
    console.log(`kept: data in ${work}, database ${database}`);
  } else {
    try {
      psql(baseUrl, ['-c', `DROP DATABASE IF EXISTS ${database}`], { stdio: ['ignore', 'ignore', 'ignore'] });
    } catch {
      console.error(`could not drop database ${database}`);
    }
    rmSync(work, { recursive: true, force: true });
  }
}
