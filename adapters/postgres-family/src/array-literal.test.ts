import { expect } from 'chai';
import { parseArrayLiteral } from './array-literal.js';

describe('array literal parser', function () {
  it('parses flat, nested and empty arrays with the element parser', function () {
    expect(parseArrayLiteral('{1,2,3}', Number)).to.deep.equal([1, 2, 3]);
    expect(parseArrayLiteral('{{1,2},{3,4}}', Number)).to.deep.equal([
      [1, 2],
      [3, 4],
    ]);
    expect(parseArrayLiteral('{}', Number)).to.deep.equal([]);
  });

  it('returns unquoted NULL as null and quoted "NULL" as the string', function () {
    expect(parseArrayLiteral('{a,NULL,"NULL"}', undefined)).to.deep.equal(['a', null, 'NULL']);
    expect(parseArrayLiteral('{t,NULL}', (raw) => raw === 't')).to.deep.equal([true, null]);
  });

  it('unescapes quoted elements holding quotes, backslashes, commas, braces and spaces', function () {
    expect(parseArrayLiteral('{"a\\"b","c\\\\d","e,f","{g}"," h ",""}', undefined)).to.deep.equal([
      'a"b',
      'c\\d',
      'e,f',
      '{g}',
      ' h ',
      '',
    ]);
  });

  it('skips a dimension prefix', function () {
    expect(parseArrayLiteral('[0:1]={5,6}', Number)).to.deep.equal([5, 6]);
    expect(parseArrayLiteral('[1:2][1:1]={{a},{b}}', undefined)).to.deep.equal([['a'], ['b']]);
  });

  // postgres-array throws a plain Error (the former parser a SyntaxError), and is documented to
  // trust its input: an unterminated quoted element is no longer refused (it never returns), so it
  // is not tried here.
  it('refuses text without its braces', function () {
    expect(() => parseArrayLiteral('{1,2', Number)).to.throw(Error, /Invalid array text/);
    expect(() => parseArrayLiteral('1,2}', Number)).to.throw(Error, /Invalid array text/);
  });
});
