import { expect } from 'chai';
import { parseTimestamp } from './record.js';

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
