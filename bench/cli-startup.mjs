#!/usr/bin/env node
// CLI startup benchmark (issue 2): `platform-host plugins list` with 50 extra plugin folders and
// `platform-host run <module> --help`, each against `node -e 0` measured in the same run, interleaved,
// median of N runs (default 10). Goal: each at most 3x `node -e 0`.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('..', import.meta.url));
const cli = join(repo, 'host', 'runtime', 'bin', 'platform-host.js');
const runs = Number(process.argv[process.argv.indexOf('--runs') + 1]) || 10;

const extra = mkdtempSync(join(tmpdir(), 'bench-plugins-'));
for (let i = 0; i < 50; i += 1) {
  const dir = join(extra, `plugin-${String(i).padStart(2, '0')}`);
  mkdirSync(dir);
  if (i % 2 === 0) {
    writeFileSync(
      join(dir, 'module.json'),
      JSON.stringify({
        name: `bench_module_${i}`,
        display_name: `Bench module ${i}`,
        description: 'A module folder for the startup benchmark.',
        type: 'job',
        version: '1.0.0',
        host_api: '^2.0.0',
        entry: './main.js',
        dependencies: { interfaces: ['database', 'logging'], modules: [] },
        args: [
          { name: 'date', description: 'Date.', required: true, type: 'string' },
          { name: 'batch-size', description: 'Rows.', type: 'integer', default: 500 },
        ],
      }),
    );
  } else {
    writeFileSync(
      join(dir, 'platform-adapter.json'),
      JSON.stringify({
        name: `bench-adapter-${i}`,
        version: '1.0.0',
        description: 'An adapter folder for the startup benchmark.',
        interface: 'cache',
        flags: [`bench-${i}`],
        host_api: '^2.0.0',
        entry: './index.js',
        config: [{ env: `BENCH_${i}_URL`, description: 'URL.', required: false }],
      }),
    );
  }
  writeFileSync(
    join(dir, i % 2 === 0 ? 'main.js' : 'index.js'),
    'throw new Error("benchmark plugins are never imported");\n',
  );
}
const env = { ...process.env, PLATFORM_PLUGIN_PATH: extra };

function time(args) {
  const start = process.hrtime.bigint();
  const result = spawnSync(process.execPath, args, { cwd: repo, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (result.status !== 0) throw new Error(`${args.join(' ')} exited ${result.status}: ${result.stderr}`);
  return ms;
}
const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

const cases = {
  'node -e 0': ['-e', '0'],
  'plugins list (50 extra plugins)': [cli, 'plugins', 'list'],
  'run bench_module_0 --help': [cli, 'run', 'bench_module_0', '--help'],
};
time(cases['plugins list (50 extra plugins)']); // warm the manifest cache, as any second invocation has it
const samples = Object.fromEntries(Object.keys(cases).map((name) => [name, []]));
for (let i = 0; i < runs; i += 1) for (const [name, args] of Object.entries(cases)) samples[name].push(time(args));
rmSync(extra, { recursive: true, force: true });

const baseline = median(samples['node -e 0']);
console.log(`CLI startup, median of ${runs} interleaved runs (goal: ratio <= 3.00)`);
for (const [name, values] of Object.entries(samples)) {
  const value = median(values);
  console.log(`${name.padEnd(34)} ${value.toFixed(1).padStart(7)} ms   ratio ${(value / baseline).toFixed(2)}`);
}
