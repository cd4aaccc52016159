import { readFile } from 'node:fs/promises';
import { expect } from 'chai';
import type { AdapterConfig } from '@platform-host/contracts';
import { adapterManifestSchema } from '@platform-host/contracts/manifest-schemas';
import { describeMetricsConformance } from '@platform-host/test-kit';
import adapter, { NoopMetrics } from './index.js';

describeMetricsConformance('metrics-noop', { create: async () => new NoopMetrics() });

describe('NoopMetrics', function () {
  it('returns the same elapsed milliseconds from every stop() of a timer', async function () {
    const timer = new NoopMetrics().timer('job_ms');
    await new Promise((resolve) => setImmediate(resolve));
    const elapsed = timer.stop();
    expect(elapsed).to.be.at.least(0);
    expect(timer.stop()).to.equal(elapsed);
  });

  it('refuses an empty metric name and a counter increment that is not a finite number >= 0', function () {
    const metrics = new NoopMetrics();
    expect(() => metrics.gauge(' ', 1)).to.throw(RangeError, /non-empty/);
    expect(() => metrics.timer('')).to.throw(RangeError, /non-empty/);
    for (const invalid of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => metrics.counter('rows_total', invalid)).to.throw(RangeError, /Counter "rows_total"/);
    }
  });
});

describe('metrics-noop adapter', function () {
  it('has a manifest that matches the adapter manifest schema', async function () {
    const raw: unknown = JSON.parse(await readFile(new URL('../platform-adapter.json', import.meta.url), 'utf8'));
    expect(adapterManifestSchema.parse(raw)).to.deep.include({ interface: 'metrics', flags: ['noop'], config: [] });
  });

  it('creates NoopMetrics', async function () {
    const config: AdapterConfig = { get: () => undefined, require: () => '', integer: (_key, fallback) => fallback };
    expect(
      await adapter.create({ flag: 'noop', config, secrets: undefined, logger: undefined, environment: {} }),
    ).to.be.instanceOf(NoopMetrics);
  });
});
