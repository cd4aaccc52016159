import type { QueueMessage } from '@platform-host/contracts';
import { queueMessageForTest } from '@platform-host/test-kit';
import { expect } from 'chai';
import fc from 'fast-check';
import { decodeMessage, parseTimestamp, utcDate } from './record.js';

describe('parseTimestamp', function () {
  it('reads toISOString text (its fast path) as Date.parse and the same instant written with a +00:00 zone do', function () {
    let seed = 12345;
    const random = (): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let index = 0; index < 2000; index++) {
      const ms = Math.floor(random() * 253_402_300_799_999);
      const text = new Date(ms).toISOString();
      expect(parseTimestamp(text), text).to.equal(ms);
      expect(parseTimestamp(text.replace('Z', '+00:00')), `${text} as +00:00`).to.equal(ms);
      expect(parseTimestamp(text.toLowerCase()), `${text} in lower case`).to.equal(ms);
    }
  });

  it('refuses days and times that do not exist in the toISOString form too', function () {
    expect(parseTimestamp('2024-02-29T12:00:00.000Z'), 'a leap day').to.equal(Date.UTC(2024, 1, 29, 12));
    expect(parseTimestamp('2000-02-29T00:00:00.000Z'), 'a leap day of a 400th year').to.equal(Date.UTC(2000, 1, 29));
    for (const text of [
      '2026-02-29T00:00:00.000Z',
      '1900-02-29T00:00:00.000Z',
      '2100-02-29T00:00:00.000Z',
      '2026-04-31T00:00:00.000Z',
      '2026-13-01T00:00:00.000Z',
      '2026-00-01T00:00:00.000Z',
      '2026-01-00T00:00:00.000Z',
      '2026-01-15T24:00:00.000Z',
      '2026-01-15T10:60:00.000Z',
      '2026-01-15T10:00:60.000Z',
      '2026-01-15T10:00:0a.000Z',
      '2026-01-15 10:00:00.000Z',
    ])
      expect(parseTimestamp(text), text).to.equal(undefined);
  });
});

describe('decodeMessage', function () {
  it('writes a lone surrogate of event_id, event_type or source as U+FFFD, as UTF-8 encoding does, and keeps pairs', function () {
    const message = (text: string): QueueMessage =>
      queueMessageForTest({
        id: '0:7',
        topic: 'events',
        partition: 0,
        offset: '7',
        value: new TextEncoder().encode(text),
      });
    const decoded = decodeMessage(
      message('{"event_id":"a\\ud800b","event_type":"\\udc00","source":"\\ud83d\\ude00","payload":{}}'),
      0,
    );
    if (!decoded.ok) throw new Error(decoded.error);
    expect(decoded.record.event_id).to.equal('a\uFFFDb');
    expect(decoded.record.event_type).to.equal('\uFFFD');
    expect(decoded.record.source).to.equal('\u{1F600}');
    expect(decoded.record._offset).to.equal(7n);
  });
});

describe('utcDate', function () {
  it('names the UTC day of each instant as toISOString does, days repeated, alternating and at their edges', function () {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 253_402_300_799_999 }), { minLength: 1, maxLength: 20 }),
        (instants) => {
          const edges = instants.flatMap((ms) => [ms, ms - (ms % 86_400_000), ms - (ms % 86_400_000) + 86_399_999, ms]);
          for (const ms of edges) expect(utcDate(ms), String(ms)).to.equal(new Date(ms).toISOString().slice(0, 10));
        },
      ),
      { numRuns: 300, seed: 7 },
    );
  });
});
