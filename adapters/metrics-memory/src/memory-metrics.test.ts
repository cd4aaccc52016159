import { readFile } from 'node:fs/promises';
import { expect } from 'chai';
import { isPlatformError } from '@platform-host/contracts';
import type { AdapterConfig } from '@platform-host/contracts';
import { adapterManifestSchema } from '@platform-host/contracts/manifest-schemas';
import { describeMetricsConformance } from '@platform-host/test-kit';
import adapter, { MemoryMetrics } from './index.js';

describeMetricsConformance(
  'metrics-memory',
  { create: async () => new MemoryMetrics() },
  { read: async (metrics) => ({ families: metrics.families() }) },
);

function codeOf(work: () => unknown): string | undefined {
  try {
    work();
  } catch (error) {
    return isPlatformError(error) ? error.code : 'not a PlatformError';
  }
  return undefined;
}

describe('MemoryMetrics read-back', function () {
  let metrics: MemoryMetrics;
  beforeEach(function () {
    metrics = new MemoryMetrics();
  });

  it('answers undefined for a series never observed and for a name never declared', function () {
    metrics.counter({ name: 'jobs_total', help: 'Jobs.', labelNames: ['status'] }).inc({ status: 'ok' });
    expect(metrics.value('jobs_total', { status: 'ok' })).to.equal(1);
    expect(metrics.value('jobs_total', { status: 'failed' })).to.equal(undefined);
    expect(metrics.value('never_declared_total')).to.equal(undefined);
    expect(metrics.histogramData('never_declared_seconds')).to.equal(undefined);
  });

  it('refuses to read with labels other than the declared ones, so a typo in a test does not pass as "absent"', function () {
    metrics.counter({ name: 'jobs_total', help: 'Jobs.', labelNames: ['status'] });
    expect(codeOf(() => metrics.value('jobs_total', { state: 'ok' }))).to.equal('PH_ERR_METRIC_INVALID');
  });

  it('refuses to read a histogram as a value and a counter as a histogram', function () {
    metrics.histogram({ name: 'wait_seconds', help: 'Wait.' }).observe({}, 1);
    metrics.counter({ name: 'jobs_total', help: 'Jobs.' }).inc({});
    expect(() => metrics.value('wait_seconds')).to.throw(TypeError, /histogramData/);
    expect(() => metrics.total('wait_seconds')).to.throw(TypeError, /histogramData/);
    expect(() => metrics.histogramData('jobs_total')).to.throw(TypeError, /value\(\)/);
  });

  it('sums a counter over all its label sets with total()', function () {
    const counter = metrics.counter({ name: 'messages_total', help: 'Messages.', labelNames: ['outcome'] });
    counter.inc({ outcome: 'ack' }, 3);
    counter.inc({ outcome: 'nack' }, 2);
    expect(metrics.total('messages_total')).to.equal(5);
    expect(metrics.total('undeclared_total')).to.equal(0);
  });

  it('reports the default duration buckets of a histogram declared without buckets', function () {
    metrics.histogram({ name: 'query_duration_seconds', help: 'Queries.', unit: 'seconds' }).observe({}, 0.003);
    const data = metrics.histogramData('query_duration_seconds');
    expect(data?.buckets.map((bucket) => bucket.le)).to.deep.equal([
      0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
    ]);
    expect(data?.buckets.slice(0, 4).map((bucket) => bucket.count)).to.deep.equal([0, 0, 1, 1]);
  });

  it('lists declared families sorted by name with their series, declared-but-unused ones included', function () {
    metrics.gauge({ name: 'b_depth', help: 'Depth.', labelNames: ['queue'] }).set({ queue: 'q' }, 4);
    metrics.counter({ name: 'a_total', help: 'A.' });
    metrics.histogram({ name: 'c_seconds', help: 'C.', buckets: [1] }).observe({}, 0.5);
    expect(metrics.families()).to.deep.equal([
      { kind: 'counter', name: 'a_total', help: 'A.', labelNames: [], series: [] },
      {
        kind: 'gauge',
        name: 'b_depth',
        help: 'Depth.',
        labelNames: ['queue'],
        series: [{ labels: { queue: 'q' }, value: 4 }],
      },
      {
        kind: 'histogram',
        name: 'c_seconds',
        help: 'C.',
        labelNames: [],
        bucketBounds: [1],
        series: [{ labels: {}, count: 1, sum: 0.5, buckets: [{ le: 1, count: 1 }] }],
      },
    ]);
  });

  it('forgets values on reset() while instruments already handed out keep recording', function () {
    const counter = metrics.counter({ name: 'sent_total', help: 'Sent.' });
    counter.inc({}, 2);
    metrics.reset();
    expect(metrics.value('sent_total')).to.equal(undefined);
    counter.inc({});
    expect(metrics.value('sent_total')).to.equal(1);
  });

  it('keeps its own copy of the label values it was given', function () {
    const labels = { topic: 'orders' };
    metrics.counter({ name: 'sent_total', help: 'Sent.', labelNames: ['topic'] }).inc(labels);
    labels.topic = 'changed';
    const [family] = metrics.families();
    expect(family?.series).to.deep.equal([{ labels: { topic: 'orders' }, value: 1 }]);
  });
});

describe('metrics-memory adapter', function () {
  it('has a host API 2 manifest that matches the adapter manifest schema', async function () {
    const raw: unknown = JSON.parse(await readFile(new URL('../platform-adapter.json', import.meta.url), 'utf8'));
    const manifest = adapterManifestSchema.parse(raw);
    expect(manifest).to.deep.include({ interface: 'metrics', flags: ['memory'], host_api: '^2.0.0', config: [] });
  });

  it('creates a MemoryMetrics that records what it is given', async function () {
    const config: AdapterConfig = { get: () => undefined, require: () => '', integer: (_key, fallback) => fallback };
    const metrics = await adapter.create({ flag: 'memory', config, environment: {} });
    expect(metrics).to.be.instanceOf(MemoryMetrics);
    metrics.counter({ name: 'created_total', help: 'Created.' }).inc({});
    expect((metrics as MemoryMetrics).value('created_total')).to.equal(1);
  });
});
