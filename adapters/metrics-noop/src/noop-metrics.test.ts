import { readFile } from 'node:fs/promises';
import { expect } from 'chai';
import { isPlatformError } from '@platform-host/contracts';
import type { AdapterConfig } from '@platform-host/contracts';
import { adapterManifestSchema } from '@platform-host/contracts/manifest-schemas';
import { describeMetricsConformance } from '@platform-host/test-kit';
import adapter, { NoopMetrics } from './index.js';

describeMetricsConformance('metrics-noop', { create: async () => new NoopMetrics() }, { recordsNothing: true });

describe('NoopMetrics', function () {
  it('returns the same elapsed seconds from every call of a timer', async function () {
    const stop = new NoopMetrics().histogram({ name: 'job_duration_seconds', help: 'Jobs.' }).startTimer({});
    await new Promise((resolve) => setImmediate(resolve));
    const elapsed = stop();
    expect(elapsed).to.be.at.least(0).and.below(60);
    expect(stop()).to.equal(elapsed);
  });

  it('refuses a frozen label set that does not match, also after the same set was valid for another instrument', function () {
    const metrics = new NoopMetrics();
    const byStatus = metrics.counter({ name: 'jobs_total', help: 'Jobs.', labelNames: ['status'] });
    const byState = metrics.counter({ name: 'runs_total', help: 'Runs.', labelNames: ['state'] });
    const labels = Object.freeze({ status: 'ok' });
    const refusal = (record: () => void): string => {
      try {
        record();
      } catch (error) {
        return isPlatformError(error) ? `${error.code}: ${error.message}` : String(error);
      }
      return 'accepted';
    };
    expect(refusal(() => byStatus.inc(labels))).to.equal('accepted');
    expect(refusal(() => byStatus.inc(labels))).to.equal('accepted');
    expect(refusal(() => byState.inc(labels as never))).to.match(/^PH_ERR_METRIC_INVALID: Metric runs_total/);
    expect(refusal(() => byStatus.inc(Object.freeze({ status: 1 }) as never))).to.match(
      /label status must be a string/,
    );
  });

  it('remembers declarations, so a conflicting one is refused even though nothing is recorded', function () {
    const metrics = new NoopMetrics();
    metrics.counter({ name: 'jobs_total', help: 'Jobs.', labelNames: ['status'] });
    let caught: unknown;
    try {
      metrics.counter({ name: 'jobs_total', help: 'Jobs.', labelNames: ['state'] });
    } catch (error) {
      caught = error;
    }
    expect(isPlatformError(caught) && caught.code).to.equal('PH_ERR_METRIC_INVALID');
    expect((caught as Error).message).to.include('jobs_total');
  });
});

describe('metrics-noop adapter', function () {
  it('has a host API 2 manifest that matches the adapter manifest schema', async function () {
    const raw: unknown = JSON.parse(await readFile(new URL('../platform-adapter.json', import.meta.url), 'utf8'));
    expect(adapterManifestSchema.parse(raw)).to.deep.include({
      interface: 'metrics',
      flags: ['noop'],
      host_api: '^2.0.0',
      config: [],
    });
  });

  it('creates NoopMetrics', async function () {
    const config: AdapterConfig = { get: () => undefined, require: () => '', integer: (_key, fallback) => fallback };
    expect(await adapter.create({ flag: 'noop', config, environment: {} })).to.be.instanceOf(NoopMetrics);
  });
});
