import { expect } from 'chai';
import { formatDuration, parseThreshold, thresholdMet, ThresholdError, THRESHOLD_FORMS } from './thresholds.js';

describe('data_quality thresholds', () => {
  it('parses every comparison form with its bound', () => {
    expect(parseThreshold('< 1', 'number')).to.deep.equal({ text: '< 1', operator: '<', value: 1 });
    expect(parseThreshold('<=2.5', 'number')).to.include({ operator: '<=', value: 2.5 });
    expect(parseThreshold(' > -3 ', 'number')).to.include({ text: '> -3', operator: '>', value: -3 });
    expect(parseThreshold('>= 1e3', 'number')).to.include({ operator: '>=', value: 1000 });
    expect(parseThreshold('= 0', 'number')).to.include({ operator: '=', value: 0 });
    expect(parseThreshold('!= 7', 'number')).to.include({ operator: '!=', value: 7 });
    expect(parseThreshold('between 1 and 500', 'number')).to.include({ operator: 'between', value: 1, upper: 500 });
    expect(parseThreshold('not between 1 and 500', 'number')).to.include({
      operator: 'not between',
      value: 1,
      upper: 500,
    });
    expect(parseThreshold('NOT BETWEEN 0.5 AND 2', 'number')).to.include({ operator: 'not between', value: 0.5 });
  });

  it('reads freshness durations in seconds: s, m, h, d', () => {
    expect(parseThreshold('> 30s', 'duration').value).to.equal(30);
    expect(parseThreshold('> 15m', 'duration').value).to.equal(900);
    expect(parseThreshold('> 1.5h', 'duration').value).to.equal(5400);
    expect(parseThreshold('> 7d', 'duration').value).to.equal(604800);
    expect(parseThreshold('between 1h and 2d', 'duration')).to.include({ value: 3600, upper: 172800 });
  });

  it('meets a threshold when its comparison holds, with inclusive ranges', () => {
    const met = (text: string, value: number): boolean => thresholdMet(parseThreshold(text, 'number'), value);
    expect([met('< 1', 0), met('< 1', 1)]).to.deep.equal([true, false]);
    expect([met('<= 1', 1), met('<= 1', 1.01)]).to.deep.equal([true, false]);
    expect([met('> 5', 5), met('> 5', 5.1)]).to.deep.equal([false, true]);
    expect([met('>= 5', 5), met('>= 5', 4.9)]).to.deep.equal([true, false]);
    expect([met('= 0', 0), met('= 0', 1)]).to.deep.equal([true, false]);
    expect([met('!= 0', 0), met('!= 0', 1)]).to.deep.equal([false, true]);
    expect([met('between 1 and 2', 1), met('between 1 and 2', 2), met('between 1 and 2', 2.5)]).to.deep.equal([
      true,
      true,
      false,
    ]);
    expect([
      met('not between 1 and 500', 0.5),
      met('not between 1 and 500', 1),
      met('not between 1 and 500', 501),
    ]).to.deep.equal([true, false, true]);
  });

  const refusals: [string, 'number' | 'duration', string][] = [
    ['more than 5', 'number', `"more than 5" is not a threshold: write one of ${THRESHOLD_FORMS}`],
    ['>', 'number', `">" is not a threshold: write one of ${THRESHOLD_FORMS}`],
    ['> 1d', 'number', '"> 1d" has a duration (1d), but only freshness checks take durations'],
    ['> 5', 'duration', '"> 5": freshness thresholds are durations with a unit (s, m, h or d), for example "> 1d"'],
    ['> 2w', 'duration', '"> 2w": unknown duration unit "w" (use s, m, h or d)'],
    ['between 5 and 1', 'number', '"between 5 and 1": the lower bound 5 is above the upper bound 1'],
    ['between 1 and', 'number', `"between 1 and" is not a threshold: write one of ${THRESHOLD_FORMS}`],
  ];
  for (const [text, kind, message] of refusals) {
    it(`refuses ${JSON.stringify(text)} (${kind}) saying why`, () => {
      expect(() => parseThreshold(text, kind))
        .to.throw(ThresholdError)
        .with.property('message', message);
    });
  }

  it('shows durations in their two largest units', () => {
    expect(formatDuration(12.34)).to.equal('12.3s');
    expect(formatDuration(90)).to.equal('1m 30s');
    expect(formatDuration(3 * 86400 + 4 * 3600 + 5)).to.equal('3d 4h');
    expect(formatDuration(-120)).to.equal('-2m');
  });
});
