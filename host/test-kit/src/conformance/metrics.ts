import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { isPlatformError, timed } from '@platform-host/contracts';
import type { Metrics } from '@platform-host/contracts';
import type { ConformanceSubject } from './subject.js';

export type { ConformanceSubject } from './subject.js';

/** Runs `work` and returns what it threw (fails the test when it does not throw). */
function thrownBy(work: () => void): unknown {
  try {
    work();
  } catch (error) {
    return error;
  }
  expect.fail('expected an error');
}

/**
 * Declares the conformance suite of the Metrics contract. Metric values are not read back (a
 * backend may only export them); the suite checks that every method takes valid input, that timers
 * report elapsed milliseconds, and that a counter refuses to go down. Metric names are unique per
 * run, so a shared backend (a Prometheus registry, a StatsD agent) is not confused by reruns.
 */
export function describeMetricsConformance(adapterName: string, subject: ConformanceSubject<Metrics>): void {
  describe(`Metrics conformance: ${adapterName}`, function () {
    let metrics: Metrics;
    let prefix: string;

    beforeEach(async function () {
      metrics = await subject.create();
      prefix = `conformance_${randomUUID().slice(0, 8)}`;
    });

    afterEach(async function () {
      await subject.destroy?.(metrics);
    });

    it('accepts counter increments: the default of 1, explicit values, zero and fractions', function () {
      metrics.counter(`${prefix}_requests_total`);
      metrics.counter(`${prefix}_requests_total`, 5);
      metrics.counter(`${prefix}_requests_total`, 0);
      metrics.counter(`${prefix}_bytes_total`, 1.5);
    });

    it('accepts gauges set up, down, below zero and to fractions', function () {
      metrics.gauge(`${prefix}_queue_depth`, 10);
      metrics.gauge(`${prefix}_queue_depth`, 3);
      metrics.gauge(`${prefix}_temperature`, -12.5);
      metrics.gauge(`${prefix}_ratio`, 0);
    });

    it('accepts histogram observations, including zero and large values', function () {
      for (const value of [0, 0.25, 12, 1_500, 1e9]) metrics.histogram(`${prefix}_duration_ms`, value);
    });

    it('accepts tags, several values of the same tag keys, and unicode tag values', function () {
      metrics.counter(`${prefix}_messages_processed`, 1, { topic: 'orders', outcome: 'ok' });
      metrics.counter(`${prefix}_messages_processed`, 2, { topic: 'payments', outcome: 'failed' });
      metrics.counter(`${prefix}_messages_processed`, 1, { outcome: 'ok', topic: 'orders' });
      metrics.gauge(`${prefix}_cache_hit_rate`, 0.9, { cache: 'größe-キャッシュ' });
      metrics.histogram(`${prefix}_query_duration_ms`, 4, { table: 'events' });
    });

    it('accepts names with dots, as the platform names its standard metrics', function () {
      metrics.counter(`${prefix}.mq.messages_processed`);
      metrics.gauge(`${prefix}.cache.hit_rate`, 0.5);
      metrics.histogram(`${prefix}.db.query_duration_ms`, 3);
      metrics.timer(`${prefix}.module.startup_time_ms`).stop();
    });

    it('returns the elapsed milliseconds from timer.stop() as a finite number >= 0', async function () {
      const timer = metrics.timer(`${prefix}_job_duration_ms`, { job: 'conformance' });
      await new Promise((resolve) => setImmediate(resolve));
      const elapsed = timer.stop();
      expect(elapsed).to.be.a('number');
      expect(Number.isFinite(elapsed)).to.equal(true);
      expect(elapsed).to.be.at.least(0);
    });

    it('times work with timed(), returning its result and passing its error through', async function () {
      expect(await timed(metrics, `${prefix}_work_ms`, () => Promise.resolve('done'))).to.equal('done');
      const failure = new Error('work failed');
      let caught: unknown;
      try {
        await timed(metrics, `${prefix}_work_ms`, () => Promise.reject(failure));
      } catch (error) {
        caught = error;
      }
      expect(caught).to.equal(failure);
    });

    it('accepts many concurrent reports', async function () {
      await Promise.all(
        Array.from({ length: 50 }, async (_, index) => {
          await new Promise((resolve) => setImmediate(resolve));
          metrics.counter(`${prefix}_concurrent_total`, 1, { worker: String(index % 5) });
          metrics.histogram(`${prefix}_concurrent_ms`, index);
          metrics.timer(`${prefix}_concurrent_timer_ms`).stop();
        }),
      );
    });

    for (const invalid of [-1, Number.NaN]) {
      it(`refuses a counter increment of ${invalid} with a RangeError or PlatformError`, function () {
        const error = thrownBy(() => metrics.counter(`${prefix}_refused_total`, invalid));
        expect(error instanceof RangeError || isPlatformError(error), String(error)).to.equal(true);
        expect((error as Error).message).to.include(`${prefix}_refused_total`);
      });
    }

    it('flushes, with and without anything reported', async function () {
      await metrics.flush();
      metrics.counter(`${prefix}_flushed_total`);
      await metrics.flush();
    });
  });
}
