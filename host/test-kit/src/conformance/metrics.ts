import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { isPlatformError, timed } from '@platform-host/contracts';
import type { Metrics } from '@platform-host/contracts';
import type { ConformanceSubject } from './subject.js';

export type { ConformanceSubject } from './subject.js';

/** Runs `work` and returns the code of the PlatformError it threw (fails the test when it does not throw). */
function codeThrownBy(work: () => void): string {
  try {
    work();
  } catch (error) {
    expect(isPlatformError(error), String(error)).to.equal(true);
    return (error as { code: string }).code;
  }
  return expect.fail('expected an error');
}

/**
 * Declares the conformance suite of the Metrics 2.0 contract (declared instruments). Every adapter
 * must refuse what Prometheus would refuse: invalid names, a name declared twice differently,
 * observations with another label set, counters that go down. Metric names are unique per run, so
 * a shared backend is not confused by reruns.
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

    it('accepts counter increments with the declared labels: the default of 1, explicit values, zero and fractions', function () {
      const counter = metrics.counter({ name: `${prefix}_requests_total`, help: 'Requests.', labelNames: ['route'] });
      counter.inc({ route: '/a' });
      counter.inc({ route: '/a' }, 2.5);
      counter.inc({ route: '/b' }, 0);
    });

    it('refuses a label set other than the declared one, in either direction', function () {
      const counter = metrics.counter({ name: `${prefix}_events_total`, help: 'Events.', labelNames: ['type'] });
      expect(codeThrownBy(() => counter.inc({} as { type: string }))).to.equal('PH_ERR_METRIC_INVALID');
      expect(codeThrownBy(() => counter.inc({ type: 'a', extra: 'b' } as { type: string }))).to.equal(
        'PH_ERR_METRIC_INVALID',
      );
    });

    it('refuses a counter that goes down and values that are not finite', function () {
      const counter = metrics.counter({ name: `${prefix}_bytes_total`, help: 'Bytes.' });
      expect(codeThrownBy(() => counter.inc({}, -1))).to.equal('PH_ERR_METRIC_INVALID');
      const gauge = metrics.gauge({ name: `${prefix}_depth`, help: 'Depth.' });
      expect(codeThrownBy(() => gauge.set({}, Number.NaN))).to.equal('PH_ERR_METRIC_INVALID');
    });

    it('refuses invalid names and a counter without _total', function () {
      expect(codeThrownBy(() => metrics.counter({ name: `${prefix}-bad_total`, help: 'x' }))).to.equal(
        'PH_ERR_METRIC_INVALID',
      );
      expect(codeThrownBy(() => metrics.counter({ name: `${prefix}_count`, help: 'x' }))).to.equal(
        'PH_ERR_METRIC_INVALID',
      );
    });

    it('returns the same instrument for the same declaration and refuses a different one under the same name', function () {
      const name = `${prefix}_jobs_total`;
      metrics.counter({ name, help: 'Jobs.', labelNames: ['status'] }).inc({ status: 'ok' });
      metrics.counter({ name, help: 'Jobs.', labelNames: ['status'] }).inc({ status: 'ok' });
      expect(codeThrownBy(() => metrics.counter({ name, help: 'Jobs.', labelNames: ['other'] }))).to.equal(
        'PH_ERR_METRIC_INVALID',
      );
      expect(codeThrownBy(() => metrics.gauge({ name, help: 'Jobs.', labelNames: ['status'] }))).to.equal(
        'PH_ERR_METRIC_INVALID',
      );
    });

    it('times work into a histogram in seconds, returning its result and passing its error through', async function () {
      const histogram = metrics.histogram({
        name: `${prefix}_work_duration_seconds`,
        help: 'Work.',
        labelNames: ['step'],
        unit: 'seconds',
      });
      expect(await timed(histogram, { step: 'a' }, () => Promise.resolve('done'))).to.equal('done');
      const failure = new Error('boom');
      try {
        await timed(histogram, { step: 'b' }, () => Promise.reject(failure));
        expect.fail('timed() should rethrow');
      } catch (error) {
        expect(error).to.equal(failure);
      }
      const stop = histogram.startTimer({ step: 'c' });
      expect(stop()).to.be.a('number').that.is.at.least(0);
    });

    it('flushes without error, also twice', async function () {
      metrics.gauge({ name: `${prefix}_queue_depth`, help: 'Depth.' }).set({}, 3);
      await metrics.flush();
      await metrics.flush();
    });
  });
}
