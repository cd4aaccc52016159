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

  it('skips a dimension prefix and honours another delimiter', function () {
    expect(parseArrayLiteral('[0:1]={5,6}', Number)).to.deep.equal([5, 6]);
    expect(parseArrayLiteral('{(1,2),(0,0);(3,4),(1,1)}', undefined, ';')).to.deep.equal([
      '(1,2),(0,0)',
      '(3,4),(1,1)',
    ]);
  });

  it('refuses malformed text', function () {
    expect(() => parseArrayLiteral('{1,2', Number)).to.throw(SyntaxError);
    expect(() => parseArrayLiteral('1,2}', Number)).to.throw(SyntaxError);
    expect(() => parseArrayLiteral('{"open}', undefined)).to.throw(SyntaxError);
  });
});
