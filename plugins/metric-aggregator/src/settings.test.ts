import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { moduleConfigForTest, runModuleForTest } from '@platform-host/test-kit';
import { parseTimestamp, parseTimestampText } from './event.js';
import { InvalidArgumentError, parseGroupBy, parseWindows, readSettings } from './settings.js';
import { earliestWindowEndMs, windowStartSeconds } from './windows.js';

const MODULE_DIR = fileURLToPath(new URL('..', import.meta.url));

describe('metric_aggregator arguments', function () {
  this.timeout(60_000);

  it('applies the documented defaults', () => {
    const settings = readSettings(moduleConfigForTest(MODULE_DIR, []));
    expect(settings).to.deep.include({
      topic: 'events',
      group: 'metric_aggregator',
      windowSeconds: [60, 3600],
      valuePath: ['payload', 'value'],
      allowedLatenessMs: 300_000,
      maxClockSkewMs: 300_000,
      flushIntervalMs: 1000,
      batchSize: 500,
    });
    expect(settings.dimensions).to.deep.equal([{ name: 'event_type', path: ['event_type'] }]);
  });

  it('reads --windows as whole-second durations, sorted, and refuses others naming the argument', () => {
    expect(parseWindows('1h,30s,1d')).to.deep.equal([30, 3600, 86400]);
    expect(parseWindows('1.5m')).to.deep.equal([90]);
    expect(() => parseWindows('1m,1x')).to.throw(InvalidArgumentError, /--windows "1m,1x": "1x" is not a duration/);
    expect(() => parseWindows('1500ms')).to.throw(InvalidArgumentError, /--windows .*whole number of seconds/);
    expect(() => parseWindows('0s')).to.throw(InvalidArgumentError, /--windows/);
    expect(() => parseWindows('60s,1m')).to.throw(InvalidArgumentError, /"1m" is given twice/);
  });

  it('reads --group-by dimensions and refuses unknown ones', () => {
    expect(parseGroupBy('source,payload.user.id').map((d) => d.path)).to.deep.equal([
      ['source'],
      ['payload', 'user', 'id'],
    ]);
    expect(() => parseGroupBy('event_type,user')).to.throw(
      InvalidArgumentError,
      /--group-by .*"user" is not a dimension/,
    );
    expect(() => parseGroupBy('source,source')).to.throw(InvalidArgumentError, /given twice/);
  });

  for (const [args, named] of [
    [['--windows', '1m,5x'], '--windows'],
    [['--windows', '1500ms'], '--windows'],
    [['--allowed-lateness', 'soon'], '--allowed-lateness'],
    [['--max-clock-skew', '0s'], '--max-clock-skew'],
    [['--flush-interval', '10'], '--flush-interval'],
    [['--group-by', 'user'], '--group-by'],
  ] as const) {
    it(`exits 2 naming ${named} for ${args.join(' ')}`, async () => {
      let exitCode: number | undefined;
      let text: string;
      try {
        const result = await runModuleForTest({ moduleDir: MODULE_DIR, args: [...args], stopAfterStart: true });
        exitCode = result.exitCode;
        text = result.logs.join('\n');
      } catch (error) {
        exitCode = (error as { exitCode?: number }).exitCode;
        text = error instanceof Error ? error.message : String(error);
      }
      expect(exitCode).to.equal(2);
      expect(text).to.include(named);
    });
  }

  it('runs and drains cleanly with exit 0 when shutdown is requested', async () => {
    const { exitCode, logs } = await runModuleForTest({ moduleDir: MODULE_DIR, stopAfterStart: true });
    expect(exitCode).to.equal(0);
    expect(logs.join('\n')).to.include('Metric aggregator stopped');
  });
});

describe('metric_aggregator event time', () => {
  it('parses ISO-8601 timestamps with Z or an offset and refuses days and times that do not exist', () => {
    expect(parseTimestamp('2026-01-15T10:00:00Z')).to.equal(Date.UTC(2026, 0, 15, 10));
    expect(parseTimestamp('2026-01-15T12:00:00.250+02:00')).to.equal(Date.UTC(2026, 0, 15, 10, 0, 0, 250));
    expect(parseTimestamp('2026-01-15T05:30-0430')).to.equal(Date.UTC(2026, 0, 15, 10, 0));
    expect(parseTimestamp('2026-01-15T10:00:00.5Z')).to.equal(Date.UTC(2026, 0, 15, 10, 0, 0, 500));
    expect(parseTimestamp('2026-01-15T10:00:00,25Z')).to.equal(Date.UTC(2026, 0, 15, 10, 0, 0, 250));
    expect(parseTimestamp('2026-01-15T10:00:00.123999999Z')).to.equal(Date.UTC(2026, 0, 15, 10, 0, 0, 123));
    expect(parseTimestamp('2026-01-15T10:00:59.999Z')).to.equal(Date.UTC(2026, 0, 15, 10, 0, 59, 999));
    for (const bad of [
      '2026-02-30T00:00:00Z',
      '2026-01-15T24:00:00Z',
      '2026-01-15T10:00:00',
      '1768471200',
      'yesterday',
    ]) {
      expect(parseTimestamp(bad), bad).to.equal(undefined);
    }
  });

  it('reads the toISOString shapes digit by digit to the same value as the general parser', () => {
    const texts = [
      '2024-02-29T23:59:59.999Z',
      '2000-02-29T00:00:00Z',
      '1900-02-29T00:00:00Z',
      '2023-02-29T00:00:00.000Z',
      '2026-04-31T10:00:00Z',
      '2026-12-31T23:59:59Z',
      '2026-13-01T00:00:00Z',
      '2026-00-10T00:00:00Z',
      '2026-01-00T00:00:00Z',
      '2026-01-15T10:60:00Z',
      '2026-01-15T10:00:60.000Z',
      '0099-01-15T10:00:00Z',
      '0100-03-01T00:00:00.001Z',
      '2026-01-15t10:00:00Z',
      '2026-01-15T10:00:00z',
      '2026-01-15T1a:00:00Z',
      '2026-01-15T10:00:00+0000',
      '2026-01-15T10:00:00.12Z',
    ];
    for (let ms = Date.UTC(1970, 0, 1); ms < Date.UTC(2100, 0, 1); ms += 86_399_937 * 13) {
      texts.push(new Date(ms).toISOString(), new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z'));
    }
    for (const text of texts) expect(parseTimestamp(text), text).to.equal(parseTimestampText(text));
    expect(parseTimestamp('2024-02-29T23:59:59.999Z')).to.equal(Date.UTC(2024, 1, 29, 23, 59, 59, 999));
    expect(parseTimestamp('1900-02-29T00:00:00Z')).to.equal(undefined);
  });

  it('aligns windows to the Unix epoch in UTC', () => {
    const t = Date.UTC(2026, 0, 15, 10, 17, 42, 500);
    expect(windowStartSeconds(t, 60) * 1000).to.equal(Date.UTC(2026, 0, 15, 10, 17));
    expect(windowStartSeconds(t, 3600) * 1000).to.equal(Date.UTC(2026, 0, 15, 10));
    expect(windowStartSeconds(t, 86400) * 1000).to.equal(Date.UTC(2026, 0, 15));
    expect(earliestWindowEndMs(t, [60, 3600])).to.equal(Date.UTC(2026, 0, 15, 10, 18));
    expect(earliestWindowEndMs(Date.UTC(2026, 0, 15, 10, 59, 30), [3600, 90])).to.equal(Date.UTC(2026, 0, 15, 11));
  });
});
