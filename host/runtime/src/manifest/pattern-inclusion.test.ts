import { expect } from 'chai';
import { patternInclusion } from './pattern-inclusion.js';

describe('pattern inclusion (JSON Schema patterns compared as regular languages)', () => {
  it('finds a narrower pattern included in a wider one written differently', () => {
    expect(patternInclusion('^[^\\u0000]*$', { pattern: '^[^\\u0000]+$' })).to.deep.equal({ included: true });
    expect(patternInclusion('^[^\\u0000]*$', { pattern: '^[^\\u0000]*[^\\s\\u0000][^\\u0000]*$' })).to.deep.equal({
      included: true,
    });
    expect(patternInclusion('^\\d{4}$', { pattern: '^(?:19|20)\\d\\d$' })).to.deep.equal({ included: true });
  });

  it('answers a string the producer allows and the consumer refuses', () => {
    expect(patternInclusion('^[^\\u0000]*[^\\s\\u0000][^\\u0000]*$', { pattern: '^[^\\u0000]*$' })).to.deep.equal({
      included: false,
      example: '',
    });
    expect(patternInclusion('^[^\\u0000]*$', {})).to.deep.equal({ included: false, example: '\u0000' });
    const years = patternInclusion('^(?:19[7-9]\\d|20\\d\\d)-', { pattern: '^\\d{4}-\\d\\d$' });
    expect(years.included).to.equal(false);
    expect(years.included === false && /^(?!19[7-9]\d|20\d\d)\d{4}-\d\d$/.test(years.example)).to.equal(true);
  });

  it('reads patterns with search semantics: unanchored means "contains"', () => {
    expect(patternInclusion('a', { pattern: '^a$' })).to.deep.equal({ included: true });
    const wider = patternInclusion('^a$', { pattern: 'a' });
    expect(wider.included === false && wider.example !== 'a' && wider.example.includes('a')).to.equal(true);
    expect(patternInclusion('\\S', { pattern: '^x|y$' })).to.deep.equal({ included: true });
  });

  it("counts the producer's length bounds: an empty string it never sends is no counterexample", () => {
    const noLineBreak = '^[^\\n\\r\\u2028\\u2029]*$';
    expect(patternInclusion('.', { pattern: noLineBreak })).to.deep.equal({ included: false, example: '' });
    expect(patternInclusion('.', { pattern: noLineBreak, minLength: 1 })).to.deep.equal({ included: true });
    expect(patternInclusion('^.{0,3}$', { maxLength: 3, pattern: '^[a-z]*$' })).to.deep.equal({ included: true });
  });

  it('says it cannot compare a pattern with a lookahead or a backreference instead of guessing', () => {
    expect(patternInclusion('^(?!.*x).*$', { pattern: '^y*$' })).to.deep.equal({
      included: undefined,
      why: 'a lookaround or word-boundary assertion is not compared',
    });
    expect(patternInclusion('^([a-z]+)-\\1$', { pattern: '^ab-ab$' })).to.deep.equal({
      included: undefined,
      why: 'a backreference is not compared',
    });
  });
});
