import { performance } from 'node:perf_hooks';
import { expect } from 'chai';
import { memoryMetrics } from '../test-support/memory-metrics.js';
import { MODULE_STARTUP_DURATION, MODULE_UPTIME, recordModuleStartup, startModuleUptime } from './module-metrics.js';

describe('module metrics', function () {
  const labels = { module: 'batch_etl', env: 'prod' };

  it('records the startup duration given by the host, in seconds', async function () {
    const metrics = await memoryMetrics();
    recordModuleStartup({ metrics, ...labels }, 0.25);
    expect(metrics.value(MODULE_STARTUP_DURATION, labels)).to.equal(0.25);
  });

  it('sets uptime at once and moves it forward on update(), counting from `since`', async function () {
    const metrics = await memoryMetrics();
    const uptime = startModuleUptime({ metrics, ...labels }, { since: performance.now() - 5000 });
    try {
      const first = metrics.value(MODULE_UPTIME, labels) ?? 0;
      expect(first).to.be.at.least(5).and.below(60);
      await new Promise((resolve) => setTimeout(resolve, 5));
      uptime.update();
      expect(metrics.value(MODULE_UPTIME, labels)).to.be.above(first);
    } finally {
      uptime.stop();
      uptime.stop();
    }
  });
});
