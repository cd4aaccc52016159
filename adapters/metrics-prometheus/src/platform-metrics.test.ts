import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { findFamily, histogramSeries, infraRequired, seriesValue, type MetricSnapshot } from '@platform-host/test-kit';
import { snapshotOfExposition } from './test-support/exposition.js';
import { RecordingGateway } from './test-support/recording-gateway.js';

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CLI = fileURLToPath(new URL('../../../host/runtime/bin/platform-host.js', import.meta.url));
const FIXTURES = fileURLToPath(new URL('../test-fixtures/', import.meta.url));
const MODULE = 'prometheus_probe';
const BASE = { module: MODULE, env: 'test' } as const;

/** The standard platform metrics (README, "Standard platform metrics") with their types. */
const STANDARD_METRICS: ReadonlyArray<readonly [string, 'counter' | 'gauge' | 'histogram']> = [
  ['platform_module_startup_duration_seconds', 'gauge'],
  ['platform_module_uptime_seconds', 'gauge'],
  ['platform_db_query_duration_seconds', 'histogram'],
  ['platform_messages_processed_total', 'counter'],
  ['platform_message_processing_duration_seconds', 'histogram'],
  ['platform_cache_hit_ratio', 'gauge'],
  ['platform_messages_published_total', 'counter'],
  ['platform_cache_requests_total', 'counter'],
];

interface LogLine {
  readonly message?: string;
  readonly context?: { readonly port?: number };
}

/** Runs the real CLI: `platform-host run <fixture> --metrics prometheus ...` on embedded backends. */
class ProbeRun {
  readonly child: ChildProcess;
  readonly lines: LogLine[] = [];
  stderr = '';
  readonly exited: Promise<number | null>;
  #waiters: Array<() => void> = [];

  constructor(module: string, extraEnv: Readonly<Record<string, string>> = {}) {
    const env: NodeJS.ProcessEnv = {};
    for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('PLATFORM_')) env[key] = value;
    Object.assign(env, {
      PLATFORM_ROOT: REPO_ROOT,
      PLATFORM_PLUGIN_PATH: FIXTURES,
      METRICS_PROMETHEUS_PORT: '0',
      METRICS_PROMETHEUS_HOST: '127.0.0.1',
      ...extraEnv,
    });
    const args = [CLI, 'run', module, '--metrics', 'prometheus', '--db', 'memory', '--mq', 'memory'];
    args.push('--cache', 'memory', '--log', 'json', '--env', 'test', '--health-port', '0');
    this.child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let pending = '';
    this.child.stdout?.on('data', (chunk: Buffer) => {
      pending += chunk.toString();
      const complete = pending.split('\n');
      pending = complete.pop() ?? '';
      for (const line of complete) {
        try {
          this.lines.push(JSON.parse(line) as LogLine);
        } catch {
          // not a log line
        }
      }
      for (const wake of this.#waiters.splice(0)) wake();
    });
    this.child.stderr?.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
    this.exited = new Promise((resolve) => this.child.on('close', (code) => resolve(code)));
    void this.exited.then(() => {
      for (const wake of this.#waiters.splice(0)) wake();
    });
  }

  /** The first log line with this message; rejects when the process ends first. */
  async line(message: string): Promise<LogLine> {
    for (;;) {
      const found = this.lines.find((line) => line.message === message);
      if (found) return found;
      if (this.child.exitCode !== null)
        throw new Error(`the run ended (${this.child.exitCode}) before logging "${message}": ${this.stderr}`);
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }
}

/** Python's prometheus_client, or why it cannot be used. */
function pythonParserProblem(): string | undefined {
  const probe = spawnSync('python3', ['-c', 'import prometheus_client.parser'], { encoding: 'utf8' });
  if (probe.error) return `python3 is not available (${probe.error.message})`;
  if (probe.status !== 0) return `python3 cannot import prometheus_client (python3 -m pip install prometheus_client)`;
  return undefined;
}

const PYTHON_PARSE = `
import json, sys
from prometheus_client.parser import text_string_to_metric_families
print(json.dumps([
    {"name": f.name, "type": f.type, "samples": sorted({s.name for s in f.samples}),
     "labels": sorted({k for s in f.samples for k in s.labels})}
    for f in text_string_to_metric_families(sys.stdin.read())
]))
`;

interface PythonFamily {
  readonly name: string;
  readonly type: string;
  readonly samples: readonly string[];
  readonly labels: readonly string[];
}

describe('metrics-prometheus through the host: platform-host run --metrics prometheus', function () {
  this.timeout(60_000);
  let run: ProbeRun;
  let exposition: string;
  let contentType: string | null;
  let snapshot: MetricSnapshot;

  before(async function () {
    run = new ProbeRun(MODULE);
    const serving = await run.line('Serving Prometheus metrics');
    await run.line('probe ready');
    const response = await fetch(`http://127.0.0.1:${serving.context?.port}/metrics`);
    expect(response.status).to.equal(200);
    contentType = response.headers.get('content-type');
    exposition = await response.text();
    snapshot = snapshotOfExposition(exposition);
  });

  after(async function () {
    if (run.child.exitCode === null) run.child.kill('SIGKILL');
    await run.exited;
  });

  it('serves every standard platform metric under its README name and type, labelled with module and env', function () {
    expect(contentType).to.equal('text/plain; version=0.0.4; charset=utf-8');
    for (const [name, kind] of STANDARD_METRICS) {
      expect(findFamily(snapshot, name)?.kind, name).to.equal(kind);
      const series = findFamily(snapshot, name)?.series ?? [];
      expect(series.length, `${name} has a series`).to.be.above(0);
      for (const { labels } of series) expect(labels, name).to.deep.include(BASE);
    }
  });

  it('records what the module did: one message published and acknowledged, a cache hit and a miss, a query', function () {
    const queue = { ...BASE, topic: 'probe', group: 'probe-group', outcome: 'ack' };
    expect(seriesValue(snapshot, 'platform_messages_published_total', { ...BASE, topic: 'probe' })).to.equal(1);
    expect(seriesValue(snapshot, 'platform_messages_processed_total', queue)).to.equal(1);
    expect(histogramSeries(snapshot, 'platform_message_processing_duration_seconds', queue)?.count).to.equal(1);
    expect(seriesValue(snapshot, 'platform_cache_requests_total', { ...BASE, result: 'hit' })).to.equal(1);
    expect(seriesValue(snapshot, 'platform_cache_requests_total', { ...BASE, result: 'miss' })).to.equal(1);
    expect(seriesValue(snapshot, 'platform_cache_hit_ratio', BASE)).to.equal(0.5);
    const queries = histogramSeries(snapshot, 'platform_db_query_duration_seconds', {
      ...BASE,
      operation: 'fetch_all',
      outcome: 'ok',
    });
    expect(queries?.count).to.be.at.least(1);
    expect(queries?.buckets.map((bucket) => bucket.le)).to.deep.equal([
      0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
    ]);
    expect(seriesValue(snapshot, 'platform_module_startup_duration_seconds', BASE)).to.be.above(0);
    expect(findFamily(snapshot, 'process_cpu_seconds_total')?.kind).to.equal('counter');
  });

  it("is read by Python's prometheus_client parser with the standard metrics and their types", function () {
    const problem = pythonParserProblem();
    if (problem !== undefined) {
      if (infraRequired()) throw new Error(`${problem} — required because PLATFORM_TEST_REQUIRE_INFRA=1`);
      this.skip();
    }
    const parsed = spawnSync('python3', ['-c', PYTHON_PARSE], { input: exposition, encoding: 'utf8' });
    expect(parsed.status, parsed.stderr).to.equal(0);
    const families = JSON.parse(parsed.stdout) as PythonFamily[];
    for (const [name, kind] of STANDARD_METRICS) {
      // prometheus_client names a counter family without its _total suffix; the samples keep it.
      const family = families.find((candidate) =>
        kind === 'counter' ? candidate.samples.includes(name) : candidate.name === name,
      );
      expect(family?.type, name).to.equal(kind);
      expect(family?.labels, name).to.include.members(['module', 'env']);
      if (kind === 'histogram')
        expect(family?.samples, name).to.include.members([`${name}_bucket`, `${name}_count`, `${name}_sum`]);
    }
  });

  it('stops serving and exits 0 on SIGTERM', async function () {
    const port = (await run.line('Serving Prometheus metrics')).context?.port;
    run.child.kill('SIGTERM');
    expect(await run.exited, run.stderr).to.equal(0);
    let refused: unknown;
    await fetch(`http://127.0.0.1:${port}/metrics`).catch((error: unknown) => (refused = error));
    expect(refused).to.be.instanceOf(Error);
  });
});

describe('metrics-prometheus through the host: a job pushes to the Pushgateway', function () {
  this.timeout(60_000);

  it('pushes the module and platform metrics once, at shutdown, to /metrics/job/<METRICS_PROMETHEUS_JOB>, and serves nothing', async function () {
    const gateway = new RecordingGateway();
    const url = await gateway.start();
    try {
      const run = new ProbeRun('prometheus_probe_job', {
        METRICS_PROMETHEUS_PUSHGATEWAY_URL: url,
        METRICS_PROMETHEUS_JOB: 'probe_job',
      });
      expect(await run.exited, run.stderr).to.equal(0);
      expect(run.lines.map((line) => line.message)).not.to.include('Serving Prometheus metrics');
      expect(gateway.requests.map((request) => `${request.method} ${request.url}`)).to.deep.equal([
        'PUT /metrics/job/probe_job',
      ]);
      const pushed = snapshotOfExposition(gateway.requests[0]?.body ?? '');
      const labels = { module: 'prometheus_probe_job', env: 'test' };
      expect(seriesValue(pushed, 'probe_rows_total')).to.equal(7);
      expect(seriesValue(pushed, 'platform_module_startup_duration_seconds', labels)).to.be.above(0);
      expect(
        histogramSeries(pushed, 'platform_db_query_duration_seconds', {
          ...labels,
          operation: 'fetch_all',
          outcome: 'ok',
        })?.count,
      ).to.be.at.least(1);
    } finally {
      await gateway.stop();
    }
  });
});
