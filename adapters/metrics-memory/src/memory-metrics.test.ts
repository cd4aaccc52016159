import { readFile } from 'node:fs/promises';
import { expect } from 'chai';
import { PlatformError, isPlatformError, timed } from '@platform-host/contracts';
import type { AdapterConfig, AdapterDeps } from '@platform-host/contracts';
import { adapterManifestSchema } from '@platform-host/contracts/manifest-schemas';
import { describeMetricsConformance } from '@platform-host/test-kit';
import adapter, { MemoryMetrics } from './index.js';

describeMetricsConformance('metrics-memory', { create: async () => new MemoryMetrics() });

function depsWith(values: Record<string, string>): AdapterDeps {
  const config: AdapterConfig = {
    get: (key) => values[key],
    require: (key) => values[key] ?? '',
    integer: (key, fallback) => (values[key] === undefined ? fallback : Number.parseInt(values[key], 10)),
  };
  return { flag: 'memory', config, secrets: undefined, logger: undefined, environment: {} };
}

describe('MemoryMetrics', function () {
  let metrics: MemoryMetrics;
  beforeEach(function () {
    metrics = new MemoryMetrics();
  });

  describe('counters', function () {
    it('adds increments per name and tag set, defaulting to 1, whatever the tag order', function () {
      metrics.counter('mq.messages_processed', undefined, { topic: 'orders', outcome: 'ok' });
      metrics.counter('mq.messages_processed', 4, { outcome: 'ok', topic: 'orders' });
      metrics.counter('mq.messages_processed', 2, { topic: 'payments', outcome: 'ok' });
      expect(metrics.counterValue('mq.messages_processed', { topic: 'orders', outcome: 'ok' })).to.equal(5);
      expect(metrics.counterValue('mq.messages_processed', { topic: 'payments', outcome: 'ok' })).to.equal(2);
      expect(metrics.counterTotal('mq.messages_processed')).to.equal(7);
    });

    it('keeps untagged and tagged series apart and reports 0 for a counter never incremented', function () {
      metrics.counter('jobs');
      metrics.counter('jobs', 1, { kind: 'etl' });
      expect(metrics.counterValue('jobs')).to.equal(1);
      expect(metrics.counterValue('jobs', { kind: 'other' })).to.equal(0);
      expect(metrics.counterValue('never')).to.equal(0);
    });

    for (const invalid of [-1, -0.001, Number.NaN, Number.POSITIVE_INFINITY]) {
      it(`refuses an increment of ${invalid} with a RangeError naming the counter, and records nothing`, function () {
        metrics.counter('rows_total', 3);
        expect(() => metrics.counter('rows_total', invalid)).to.throw(RangeError, /Counter "rows_total".*>= 0/);
        expect(metrics.counterValue('rows_total')).to.equal(3);
      });
    }
  });

  describe('gauges', function () {
    it('keeps the last value per tag set and reports undefined for a gauge never set', function () {
      metrics.gauge('cache.hit_rate', 0.5, { cache: 'redis' });
      metrics.gauge('cache.hit_rate', -2, { cache: 'redis' });
      metrics.gauge('cache.hit_rate', 0.9, { cache: 'memory' });
      expect(metrics.gaugeValue('cache.hit_rate', { cache: 'redis' })).to.equal(-2);
      expect(metrics.gaugeValue('cache.hit_rate', { cache: 'memory' })).to.equal(0.9);
      expect(metrics.gaugeValue('cache.hit_rate')).to.equal(undefined);
    });

    it('refuses a value that is not a finite number', function () {
      expect(() => metrics.gauge('depth', Number.NaN)).to.throw(RangeError, /Gauge "depth"/);
      expect(metrics.gaugeValue('depth')).to.equal(undefined);
    });
  });

  describe('histograms', function () {
    it('keeps every observation in order with count, sum, min and max', function () {
      for (const value of [5, 1, 9]) metrics.histogram('db.query_duration_ms', value, { table: 'events' });
      expect(metrics.histogramValues('db.query_duration_ms', { table: 'events' })).to.deep.equal([5, 1, 9]);
      expect(metrics.snapshot().histograms).to.deep.equal([
        {
          name: 'db.query_duration_ms',
          tags: { table: 'events' },
          count: 3,
          sum: 15,
          min: 1,
          max: 9,
          values: [5, 1, 9],
        },
      ]);
      expect(metrics.histogramValues('db.query_duration_ms')).to.deep.equal([]);
    });

    it('keeps only the latest maxObservations values while count, sum, min and max cover all', function () {
      const bounded = new MemoryMetrics({ maxObservations: 3 });
      for (const value of [1, 2, 3, 4, 5]) bounded.histogram('latency', value);
      expect(bounded.histogramValues('latency')).to.deep.equal([3, 4, 5]);
      expect(bounded.snapshot().histograms[0]).to.deep.include({ count: 5, sum: 15, min: 1, max: 5 });
    });

    it('refuses a value that is not a finite number', function () {
      expect(() => metrics.histogram('latency', Number.POSITIVE_INFINITY)).to.throw(RangeError, /Histogram "latency"/);
      expect(metrics.snapshot().histograms).to.deep.equal([]);
    });
  });

  describe('timers', function () {
    it('records the elapsed milliseconds into the histogram once, however often stop() is called', async function () {
      const timer = metrics.timer('module.startup_time_ms', { module: 'batch_etl' });
      await new Promise((resolve) => setImmediate(resolve));
      const elapsed = timer.stop();
      expect(timer.stop()).to.equal(elapsed);
      expect(metrics.histogramValues('module.startup_time_ms', { module: 'batch_etl' })).to.deep.equal([elapsed]);
    });

    it('records the duration of work that throws, through timed()', async function () {
      const failure = timed(metrics, 'job_ms', async () => {
        throw new PlatformError('PH_ERR_MODULE_FAILED', 'job failed');
      });
      let caught: unknown;
      await failure.catch((error: unknown) => (caught = error));
      expect(isPlatformError(caught)).to.equal(true);
      expect(metrics.histogramValues('job_ms')).to.have.lengthOf(1);
    });
  });

  it('refuses an empty metric name for every kind of metric', function () {
    expect(() => metrics.counter('')).to.throw(RangeError, /non-empty/);
    expect(() => metrics.gauge(' ', 1)).to.throw(RangeError, /non-empty/);
    expect(() => metrics.histogram('', 1)).to.throw(RangeError, /non-empty/);
    expect(() => metrics.timer('')).to.throw(RangeError, /non-empty/);
  });

  it('lists every series in the snapshot sorted by name, and forgets them on reset()', function () {
    metrics.counter('b_total', 2);
    metrics.counter('a_total', 1, { region: 'eu' });
    metrics.gauge('depth', 4);
    expect(metrics.snapshot()).to.deep.equal({
      counters: [
        { name: 'a_total', tags: { region: 'eu' }, value: 1 },
        { name: 'b_total', tags: {}, value: 2 },
      ],
      gauges: [{ name: 'depth', tags: {}, value: 4 }],
      histograms: [],
    });
    metrics.reset();
    expect(metrics.snapshot()).to.deep.equal({ counters: [], gauges: [], histograms: [] });
  });

  it('keeps its own copy of the tags it was given', function () {
    const tags: Record<string, string> = { topic: 'orders' };
    metrics.counter('sent', 1, tags);
    tags['topic'] = 'changed';
    expect(metrics.snapshot().counters[0]!.tags).to.deep.equal({ topic: 'orders' });
  });
});

describe('metrics-memory adapter', function () {
  it('has a manifest that matches the adapter manifest schema', async function () {
    const raw: unknown = JSON.parse(await readFile(new URL('../platform-adapter.json', import.meta.url), 'utf8'));
    const manifest = adapterManifestSchema.parse(raw);
    expect(manifest).to.deep.include({ interface: 'metrics', flags: ['memory'] });
    expect(manifest.config.map((key) => key.env)).to.deep.equal(['METRICS_MEMORY_MAX_OBSERVATIONS']);
  });

  it('creates MemoryMetrics bounded by METRICS_MEMORY_MAX_OBSERVATIONS', async function () {
    const metrics = (await adapter.create(depsWith({ METRICS_MEMORY_MAX_OBSERVATIONS: '2' }))) as MemoryMetrics;
    expect(metrics).to.be.instanceOf(MemoryMetrics);
    for (const value of [1, 2, 3]) metrics.histogram('h', value);
    expect(metrics.histogramValues('h')).to.deep.equal([2, 3]);
  });

  it('refuses METRICS_MEMORY_MAX_OBSERVATIONS below 1 with PH_ERR_CONFIG_INVALID naming the key', async function () {
    let caught: unknown;
    try {
      await adapter.create(depsWith({ METRICS_MEMORY_MAX_OBSERVATIONS: '0' }));
    } catch (error) {
      caught = error;
    }
    expect(isPlatformError(caught) && caught.code).to.equal('PH_ERR_CONFIG_INVALID');
    expect((caught as Error).message).to.include('METRICS_MEMORY_MAX_OBSERVATIONS');
  });
});
