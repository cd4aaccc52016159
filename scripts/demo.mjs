#!/usr/bin/env node
// `make demo`: shows the platform working on embedded defaults. Lists the discovered plugins, writes
// a sample raw partition (JSON Lines, with some invalid and duplicate events) under .data/lake, and
// runs batch_etl on it with a file-backed PGlite database and the local file system.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('..', import.meta.url));
const cli = join(repo, 'host', 'runtime', 'bin', 'platform-host.js');
const date = '2026-01-15';

function platformHost(...args) {
  console.log(`\n$ platform-host ${args.join(' ')}`);
  const result = spawnSync(process.execPath, [cli, ...args], { cwd: repo, stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

function samplePartition() {
  const dir = join(repo, '.data', 'lake', 'raw', 'events', date);
  mkdirSync(dir, { recursive: true });
  const types = ['page_view', 'click', 'purchase', 'signup'];
  const lines = [];
  for (let i = 0; i < 1000; i += 1) {
    const type = types[i % types.length];
    const payload = {
      user_id: `u${i % 97}`,
      session: `s${Math.floor(i / 7)}`,
      url: `/products/${i % 50}`,
      ...(type === 'purchase' ? { amount: (i % 40) + 0.99 } : {}),
    };
    lines.push(
      JSON.stringify({
        event_type: i % 10 === 0 ? ` ${type.toUpperCase()} ` : type,
        payload,
        source: i % 3 === 0 ? 'mobile' : 'web',
      }),
    );
    if (i % 10 === 1) lines.push(lines.at(-1)); // a duplicate
    if (i % 20 === 2) lines.push(JSON.stringify({ event_type: '', payload, source: 'web' })); // invalid: empty type
    if (i % 50 === 3) lines.push('{"event_type": "click", "payload": '); // malformed line
  }
  writeFileSync(join(dir, 'events-0001.jsonl'), `${lines.join('\n')}\n`);
  console.log(`\nwrote ${lines.length} raw lines to .data/lake/raw/events/${date}/events-0001.jsonl`);
}

platformHost('plugins', 'list');
samplePartition();
platformHost(
  'run',
  'batch_etl',
  '--db',
  'pglite',
  '--fs',
  'local',
  '--env',
  'local',
  '--date',
  date,
  '--source-path',
  'raw/events',
);
console.log('\nDone. Run `make demo` again: the job is idempotent, so the second run inserts nothing new.');
