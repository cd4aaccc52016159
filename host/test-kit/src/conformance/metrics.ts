import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { isPlatformError, timed } from '@platform-host/contracts';
import type { InstrumentKind, Metrics } from '@platform-host/contracts';
import type { ConformanceSubject } from './subject.js';

export type { ConformanceSubject } from './subject.js';

/** Label values of one series as read back from an adapter. */
export type SnapshotLabels = Readonly<Record<string, string>>;

/** One counter or gauge series. */
export interface ScalarSeriesSnapshot {
  readonly labels: SnapshotLabels;
  readonly value: number;
}

/**
 * One histogram series: `count` and `sum` of every observation, `buckets` the declared upper bounds
 * with cumulative counts (observations `<= le`), without `+Inf` (that is `count`).
 */
export interface HistogramSeriesSnapshot {
  readonly labels: SnapshotLabels;
  readonly count: number;
  readonly sum: number;
  readonly buckets: ReadonlyArray<{ readonly le: number; readonly count: number }>;
}

/** One declared instrument and the series it has recorded. */
export type MetricFamilySnapshot =
  | {
      readonly kind: Exclude<InstrumentKind, 'histogram'>;
      readonly name: string;
      readonly help: string;
      readonly series: readonly ScalarSeriesSnapshot[];
    }
  | {
      readonly kind: 'histogram';
      readonly name: string;
      readonly help: string;
      readonly series: readonly HistogramSeriesSnapshot[];
    };

/**
 * What a metrics adapter has recorded, as its conformance suite reads it back: for the memory
 * adapter its `families()`, for a Prometheus adapter its parsed exposition, for a push adapter
 * what its test server received.
 */
export interface MetricSnapshot {
  readonly families: readonly MetricFamilySnapshot[];
}

/**
 * How {@link describeMetricsConformance} reads values back. An adapter that records values gives
 * `read`; one that discards everything by design (noop) says `recordsNothing: true` and runs only
 * the validation cases. There is no third option: an adapter whose reader sees nothing fails.
 */
export type MetricsConformanceOptions<M extends Metrics> =
  { readonly read: (metrics: M) => Promise<MetricSnapshot> } | { readonly recordsNothing: true };

function sameLabels(a: SnapshotLabels, b: SnapshotLabels): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((key) => a[key] === b[key]);
}

/** The family called `name` in a snapshot, or `undefined`. */
export function findFamily(snapshot: MetricSnapshot, name: string): MetricFamilySnapshot | undefined {
  return snapshot.families.find((family) => family.name === name);
}

/** The value of a counter or gauge series with exactly `labels`, or `undefined` when absent. */
export function seriesValue(snapshot: MetricSnapshot, name: string, labels: SnapshotLabels = {}): number | undefined {
  const family = findFamily(snapshot, name);
  if (family === undefined || family.kind === 'histogram') return undefined;
  return family.series.find((series) => sameLabels(series.labels, labels))?.value;
}

/** The histogram series with exactly `labels`, or `undefined` when absent. */
export function histogramSeries(
  snapshot: MetricSnapshot,
  name: string,
  labels: SnapshotLabels = {},
): HistogramSeriesSnapshot | undefined {
  const family = findFamily(snapshot, name);
  if (family?.kind !== 'histogram') return undefined;
  return family.series.find((series) => sameLabels(series.labels, labels));
}

/** Runs `work` and returns the code of the PlatformError it threw (fails the test when it does not throw). */
function codeThrownBy(work: () => unknown): string {
  try {
    work();
  } catch (error) {
    expect(isPlatformError(error), String(error)).to.equal(true);
    return (error as { code: string }).code;
  }
  return expect.fail('expected a PlatformError');
}

const INVALID = 'PH_ERR_METRIC_INVALID';

/**
 * Declares the conformance suite of the Metrics 2.0 contract (declared instruments). Every adapter
 * must refuse what Prometheus would refuse — invalid names, a name declared again with other
 * options or as another kind, observations with another label set, counters that go down, values
 * that are not finite — and, unless it declares `recordsNothing`, record exactly what it was
 * given, as read back through `options.read`: counters add, gauges set/inc/dec, histograms count,
 * sum and fill cumulative buckets, label sets stay separate, refused observations leave no trace.
 * Metric names are unique per test, so a shared backend is not confused by reruns.
 */
export function describeMetricsConformance<M extends Metrics>(
  adapterName: string,
  subject: ConformanceSubject<M>,
  options: MetricsConformanceOptions<M>,
): void {
  const read = 'read' in options ? options.read : undefined;

  describe(`Metrics conformance: ${adapterName}`, function () {
    let metrics: M;
    let prefix: string;

    beforeEach(async function () {
      metrics = await subject.create();
      prefix = `conformance_${randomUUID().slice(0, 8)}`;
    });

    afterEach(async function () {
      await subject.destroy?.(metrics);
    });

    /** The snapshot, for the cases that need recorded values (skipped for `recordsNothing` adapters). */
    async function snapshot(): Promise<MetricSnapshot> {
      if (read === undefined) throw new Error('unreachable: recording cases are not declared without a reader');
      return read(metrics);
    }

    describe('validation', function () {
      it('refuses a label set other than the declared one, in either direction, and label values that are not strings', function () {
        const counter = metrics.counter({ name: `${prefix}_events_total`, help: 'Events.', labelNames: ['type'] });
        expect(codeThrownBy(() => counter.inc({} as { type: string }))).to.equal(INVALID);
        expect(codeThrownBy(() => counter.inc({ type: 'a', extra: 'b' } as { type: string }))).to.equal(INVALID);
        expect(codeThrownBy(() => counter.inc({ type: 1 } as unknown as { type: string }))).to.equal(INVALID);
        const histogram = metrics.histogram({ name: `${prefix}_wait_seconds`, help: 'Wait.', labelNames: ['step'] });
        expect(codeThrownBy(() => histogram.observe({ stage: 'x' } as unknown as { step: string }, 1))).to.equal(
          INVALID,
        );
        expect(codeThrownBy(() => histogram.startTimer({} as { step: string }))).to.equal(INVALID);
        const gauge = metrics.gauge({ name: `${prefix}_level`, help: 'Level.' });
        expect(codeThrownBy(() => gauge.set({ extra: 'x' }, 1))).to.equal(INVALID);
      });

      it('refuses a counter that goes down and values that are not finite, on every kind of instrument', function () {
        const counter = metrics.counter({ name: `${prefix}_bytes_total`, help: 'Bytes.' });
        expect(codeThrownBy(() => counter.inc({}, -1))).to.equal(INVALID);
        expect(codeThrownBy(() => counter.inc({}, Number.POSITIVE_INFINITY))).to.equal(INVALID);
        const gauge = metrics.gauge({ name: `${prefix}_depth`, help: 'Depth.' });
        expect(codeThrownBy(() => gauge.set({}, Number.NaN))).to.equal(INVALID);
        expect(codeThrownBy(() => gauge.inc({}, Number.NaN))).to.equal(INVALID);
        expect(codeThrownBy(() => gauge.dec({}, Number.NEGATIVE_INFINITY))).to.equal(INVALID);
        const histogram = metrics.histogram({ name: `${prefix}_size_bytes`, help: 'Size.', unit: 'bytes' });
        expect(codeThrownBy(() => histogram.observe({}, Number.NaN))).to.equal(INVALID);
      });

      it('refuses invalid names, help and buckets, and kind suffixes that do not fit', function () {
        const declarations: Array<() => unknown> = [
          () => metrics.counter({ name: `${prefix}-bad_total`, help: 'x' }),
          () => metrics.counter({ name: `${prefix}_count`, help: 'x' }),
          () => metrics.gauge({ name: `${prefix}_things_total`, help: 'x' }),
          () => metrics.counter({ name: `${prefix}_no_help_total`, help: ' ' }),
          () => metrics.gauge({ name: `${prefix}_wait`, help: 'x', unit: 'seconds' }),
          () => metrics.gauge({ name: `${prefix}_labels`, help: 'x', labelNames: ['a', 'a'] }),
          () => metrics.gauge({ name: `${prefix}_labels2`, help: 'x', labelNames: ['bad-label'] }),
          () => metrics.histogram({ name: `${prefix}_le_seconds`, help: 'x', labelNames: ['le'] }),
          () => metrics.histogram({ name: `${prefix}_b1_seconds`, help: 'x', buckets: [1, 0.5] }),
          () => metrics.histogram({ name: `${prefix}_b2_seconds`, help: 'x', buckets: [] }),
          () => metrics.histogram({ name: `${prefix}_b3_seconds`, help: 'x', buckets: [1, Number.POSITIVE_INFINITY] }),
        ];
        declarations.forEach((declare, index) =>
          expect(codeThrownBy(declare), `declaration ${index}`).to.equal(INVALID),
        );
      });

      it('accepts the same declaration again and refuses other labels, help, unit, buckets or kind under the same name', function () {
        const name = `${prefix}_jobs_total`;
        metrics.counter({ name, help: 'Jobs.', labelNames: ['status', 'step'] }).inc({ status: 'ok', step: 'a' });
        metrics.counter({ name, help: 'Jobs.', labelNames: ['step', 'status'] }).inc({ status: 'ok', step: 'a' });
        expect(codeThrownBy(() => metrics.counter({ name, help: 'Jobs.', labelNames: ['status'] }))).to.equal(INVALID);
        expect(
          codeThrownBy(() => metrics.counter({ name, help: 'Other jobs.', labelNames: ['status', 'step'] })),
        ).to.equal(INVALID);
        expect(codeThrownBy(() => metrics.counter({ name, help: 'Jobs.' }))).to.equal(INVALID);

        const durations = `${prefix}_step_duration_seconds`;
        metrics.histogram({ name: durations, help: 'Steps.', buckets: [0.1, 1] });
        metrics.histogram({ name: durations, help: 'Steps.', buckets: [0.1, 1] });
        expect(codeThrownBy(() => metrics.histogram({ name: durations, help: 'Steps.', buckets: [0.1, 2] }))).to.equal(
          INVALID,
        );
        expect(codeThrownBy(() => metrics.histogram({ name: durations, help: 'Steps.' }))).to.equal(INVALID);
        expect(
          codeThrownBy(() =>
            metrics.histogram({ name: durations, help: 'Steps.', buckets: [0.1, 1], unit: 'seconds' }),
          ),
        ).to.equal(INVALID);
        expect(codeThrownBy(() => metrics.gauge({ name: durations, help: 'Steps.' }))).to.equal(INVALID);

        const level = `${prefix}_level`;
        metrics.gauge({ name: level, help: 'Level.' });
        expect(codeThrownBy(() => metrics.histogram({ name: level, help: 'Level.' }))).to.equal(INVALID);
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
        let caught: unknown;
        await timed(histogram, { step: 'b' }, () => Promise.reject(failure)).catch((error: unknown) => {
          caught = error;
        });
        expect(caught).to.equal(failure);
        const stop = histogram.startTimer({ step: 'c' });
        const elapsed = stop();
        expect(elapsed).to.be.a('number').that.is.at.least(0).and.below(60);
      });

      it('flushes without error, also twice', async function () {
        metrics.gauge({ name: `${prefix}_queue_depth`, help: 'Depth.' }).set({}, 3);
        await metrics.flush();
        await metrics.flush();
      });
    });

    if (read === undefined) return;

    describe('recorded values', function () {
      it('adds counter increments per label set: the default of 1, explicit values, zero and fractions', async function () {
        const name = `${prefix}_requests_total`;
        const counter = metrics.counter({ name, help: 'Requests.', labelNames: ['route'] });
        counter.inc({ route: '/a' });
        counter.inc({ route: '/a' }, 2.5);
        counter.inc({ route: '/b' }, 0);
        counter.inc({ route: '/c' }, 4);
        const seen = await snapshot();
        expect(seriesValue(seen, name, { route: '/a' })).to.equal(3.5);
        expect(seriesValue(seen, name, { route: '/b' })).to.equal(0);
        expect(seriesValue(seen, name, { route: '/c' })).to.equal(4);
        expect(findFamily(seen, name)).to.deep.include({ kind: 'counter', help: 'Requests.' });
      });

      it('keeps series with the same label values apart from others, for multi-label instruments', async function () {
        const name = `${prefix}_rows_total`;
        const counter = metrics.counter({ name, help: 'Rows.', labelNames: ['table', 'outcome'] });
        counter.inc({ table: 'events', outcome: 'ok' }, 2);
        counter.inc({ outcome: 'ok', table: 'events' }, 3);
        counter.inc({ table: 'events', outcome: 'error' });
        counter.inc({ table: 'orders', outcome: 'ok' });
        const seen = await snapshot();
        expect(seriesValue(seen, name, { table: 'events', outcome: 'ok' })).to.equal(5);
        expect(seriesValue(seen, name, { table: 'events', outcome: 'error' })).to.equal(1);
        expect(seriesValue(seen, name, { table: 'orders', outcome: 'ok' })).to.equal(1);
        expect(seriesValue(seen, name, { table: 'orders', outcome: 'error' })).to.equal(undefined);
      });

      it('sets, increments and decrements gauges per label set, negative values included', async function () {
        const name = `${prefix}_in_flight`;
        const gauge = metrics.gauge({ name, help: 'In flight.', labelNames: ['pool'] });
        gauge.set({ pool: 'a' }, 5);
        gauge.inc({ pool: 'a' });
        gauge.inc({ pool: 'a' }, 2);
        gauge.dec({ pool: 'a' });
        gauge.dec({ pool: 'a' }, 0.5);
        gauge.set({ pool: 'b' }, 10);
        gauge.set({ pool: 'b' }, -3);
        gauge.dec({ pool: 'c' }, 2);
        const seen = await snapshot();
        expect(seriesValue(seen, name, { pool: 'a' })).to.equal(6.5);
        expect(seriesValue(seen, name, { pool: 'b' })).to.equal(-3);
        expect(seriesValue(seen, name, { pool: 'c' })).to.equal(-2);
        expect(findFamily(seen, name)).to.deep.include({ kind: 'gauge', help: 'In flight.' });
      });

      it('counts histogram observations into cumulative buckets with their count and sum', async function () {
        const name = `${prefix}_latency_seconds`;
        const histogram = metrics.histogram({ name, help: 'Latency.', labelNames: ['op'], buckets: [0.1, 1, 10] });
        for (const value of [0.05, 0.1, 0.5, 0.5, 5, 50]) histogram.observe({ op: 'read' }, value);
        histogram.observe({ op: 'write' }, 2);
        const seen = await snapshot();
        const readSeries = histogramSeries(seen, name, { op: 'read' });
        expect(readSeries?.count).to.equal(6);
        expect(readSeries?.sum).to.be.closeTo(56.15, 1e-9);
        expect(readSeries?.buckets).to.deep.equal([
          { le: 0.1, count: 2 },
          { le: 1, count: 4 },
          { le: 10, count: 5 },
        ]);
        const writeSeries = histogramSeries(seen, name, { op: 'write' });
        expect(writeSeries).to.deep.include({ count: 1, sum: 2 });
        expect(writeSeries?.buckets).to.deep.equal([
          { le: 0.1, count: 0 },
          { le: 1, count: 0 },
          { le: 10, count: 1 },
        ]);
      });

      it('records a timer once, in seconds, however often it is stopped, and times failing work too', async function () {
        const name = `${prefix}_task_duration_seconds`;
        const histogram = metrics.histogram({ name, help: 'Tasks.', labelNames: ['task'], unit: 'seconds' });
        const stop = histogram.startTimer({ task: 'a' });
        await new Promise((resolve) => setImmediate(resolve));
        const elapsed = stop();
        stop();
        await timed(histogram, { task: 'b' }, () => Promise.reject(new Error('boom'))).catch(() => undefined);
        const seen = await snapshot();
        const series = histogramSeries(seen, name, { task: 'a' });
        expect(series?.count).to.equal(1);
        expect(series?.sum).to.be.closeTo(elapsed, 1e-6);
        expect(histogramSeries(seen, name, { task: 'b' })?.count).to.equal(1);
      });

      it('records through every handle of one instrument declared twice into the same series', async function () {
        const name = `${prefix}_retries_total`;
        metrics.counter({ name, help: 'Retries.', labelNames: ['job'] }).inc({ job: 'x' });
        metrics.counter({ name, help: 'Retries.', labelNames: ['job'] }).inc({ job: 'x' }, 2);
        expect(seriesValue(await snapshot(), name, { job: 'x' })).to.equal(3);
      });

      it('records nothing for a refused observation', async function () {
        const counterName = `${prefix}_sent_total`;
        const counter = metrics.counter({ name: counterName, help: 'Sent.', labelNames: ['topic'] });
        counter.inc({ topic: 'a' }, 2);
        codeThrownBy(() => counter.inc({ topic: 'a' }, -1));
        codeThrownBy(() => counter.inc({ topic: 'b', extra: 'x' } as { topic: string }));
        const gaugeName = `${prefix}_temperature`;
        const gauge = metrics.gauge({ name: gaugeName, help: 'Temperature.' });
        gauge.set({}, 7);
        codeThrownBy(() => gauge.set({}, Number.NaN));
        const histogramName = `${prefix}_payload_bytes`;
        const histogram = metrics.histogram({ name: histogramName, help: 'Payload.', buckets: [10] });
        histogram.observe({}, 1);
        codeThrownBy(() => histogram.observe({}, Number.POSITIVE_INFINITY));
        const seen = await snapshot();
        expect(seriesValue(seen, counterName, { topic: 'a' })).to.equal(2);
        expect(seriesValue(seen, counterName, { topic: 'b', extra: 'x' })).to.equal(undefined);
        expect(seriesValue(seen, counterName, { topic: 'b' })).to.equal(undefined);
        expect(seriesValue(seen, gaugeName)).to.equal(7);
        expect(histogramSeries(seen, histogramName)).to.deep.include({ count: 1, sum: 1 });
      });

      it('keeps recorded values across flush()', async function () {
        const name = `${prefix}_flushed_total`;
        metrics.counter({ name, help: 'Flushed.' }).inc({}, 3);
        await metrics.flush();
        expect(seriesValue(await snapshot(), name)).to.equal(3);
      });
    });
  });
}
