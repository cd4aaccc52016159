import { expect } from 'chai';
import { parseUtcIsoTimestamp } from './utc-timestamp.js';

describe('parseUtcIsoTimestamp', function () {
  it('reads both toISOString shapes to the value Date.parse gives', function () {
    for (let i = 0; i < 2000; i += 1) {
      // Spread over the years 100 to 9999, milliseconds included.
      const ms = Date.UTC(100, 0, 1) + Math.floor(Math.random() * (Date.UTC(9999, 11, 31) - Date.UTC(100, 0, 1)));
      const full = new Date(ms).toISOString();
      const seconds = full.replace(/\.\d{3}Z$/, 'Z');
      expect(parseUtcIsoTimestamp(full), full).to.equal(Date.parse(full));
      expect(parseUtcIsoTimestamp(seconds), seconds).to.equal(Date.parse(seconds));
    }
  });

  it('answers undefined for a day or time that does not exist in this shape', function () {
    for (const text of [
      '2026-02-29T00:00:00Z',
      '2026-02-30T10:00:00.000Z',
      '2026-13-01T00:00:00Z',
      '2026-00-10T00:00:00Z',
      '2026-04-31T00:00:00Z',
      '2026-01-01T24:00:00Z',
      '2026-01-01T23:60:00Z',
      '2026-01-01T23:59:60.000Z',
    ]) {
      expect(parseUtcIsoTimestamp(text), text).to.equal(undefined);
    }
    expect(parseUtcIsoTimestamp('2024-02-29T00:00:00Z'), 'a leap day').to.equal(Date.UTC(2024, 1, 29));
  });

  it('answers null for other shapes and years below 100, left to a general parser', function () {
    for (const text of [
      '2026-01-15T10:00:00+02:00',
      '2026-01-15T10:00:00.250000Z',
      '2026-01-15T10:00:00z',
      '2026-01-15 10:00:00Z',
      '2026-01-15T10:00Z',
      '0050-01-15T10:00:00Z',
      '2O26-01-15T10:00:00Z',
      '',
    ]) {
      expect(parseUtcIsoTimestamp(text), text).to.equal(null);
    }
  });
});
