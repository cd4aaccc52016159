import { expect } from 'chai';
import { isPlatformError } from '@platform-host/contracts';
import { parseArrayLiteral } from './array-literal.js';
import { arrayLiteral, columnText, copyField, copyLine, jsonText, scalarText } from './copy-text.js';
import { statementSummary } from './query-error.js';
import { quoteIdentifier, quoteTableName } from './identifiers.js';

describe('COPY text format', function () {
  it('writes NULL as \\N and escapes backslash, tab, newline and carriage return', function () {
    expect(copyField(null)).to.equal('\\N');
    expect(copyField('a\\b\tc\nd\re')).to.equal('a\\\\b\\tc\\nd\\re');
    expect(copyField('\\N')).to.equal('\\\\N');
    expect(copyField('\\.')).to.equal('\\\\.');
    expect(copyField('')).to.equal('');
    expect(copyField('日本語 🎉')).to.equal('日本語 🎉');
  });

  it('writes a row as tab-separated fields ending in a newline, missing keys as NULL', function () {
    const line = copyLine(
      { id: 1, name: 'a\tb', doc: { k: 'v' } },
      ['id', 'name', 'doc', 'absent'],
      ['scalar', 'scalar', 'json', 'scalar'],
    );
    expect(line).to.equal('1\ta\\tb\t{"k":"v"}\t\\N\n');
  });

  it('names the column of a value it cannot encode', function () {
    expect(() => copyLine({ at: new Date(Number.NaN) }, ['at'], ['scalar'])).to.throw(
      TypeError,
      /column "at": an invalid Date/,
    );
    expect(() => copyLine({ fn: () => 1 }, ['fn'], ['scalar'])).to.throw(TypeError, /column "fn": a function value/);
  });

  it('writes scalars in the text PostgreSQL parses back', function () {
    expect(scalarText('text')).to.equal('text');
    expect(scalarText(1.5)).to.equal('1.5');
    expect(scalarText(12345678901234567890n)).to.equal('12345678901234567890');
    expect(scalarText(true)).to.equal('true');
    expect(scalarText(new Date('2026-01-15T00:00:00Z'))).to.equal('2026-01-15T00:00:00.000Z');
    expect(scalarText(new Uint8Array([0, 15, 255]))).to.equal('\\x000fff');
    expect(scalarText(Buffer.from([1, 2, 3]).subarray(1))).to.equal('\\x0203');
    expect(scalarText({ a: [1] })).to.equal('{"a":[1]}');
  });

  it('writes JSON columns as JSON, taking strings as JSON text already', function () {
    expect(columnText({ a: 1 }, 'json')).to.equal('{"a":1}');
    expect(columnText([1, 'x'], 'json')).to.equal('[1,"x"]');
    expect(columnText('{"a":1}', 'json')).to.equal('{"a":1}');
    expect(columnText(true, 'json')).to.equal('true');
    expect(columnText(null, 'json')).to.equal(null);
    expect(jsonText({ big: 9007199254740993n })).to.equal('{"big":9007199254740993}');
  });

  it('writes array columns as array literals with quoted, escaped elements and NULL', function () {
    expect(arrayLiteral([])).to.equal('{}');
    expect(arrayLiteral(['a', 'b"c', 'd\\e', null, 'NULL'])).to.equal('{"a","b\\"c","d\\\\e",NULL,"NULL"}');
    expect(
      arrayLiteral([
        [1, 2],
        [3, null],
      ]),
    ).to.equal('{{"1","2"},{"3",NULL}}');
    expect(arrayLiteral([true, { a: 1 }])).to.equal('{"true","{\\"a\\":1}"}');
    expect(columnText(['x'], 'array')).to.equal('{"x"}');
    expect(columnText('{raw,literal}', 'array')).to.equal('{raw,literal}');
  });
});

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

describe('SQL identifiers', function () {
  it('quotes plain and schema-qualified names', function () {
    expect(quoteIdentifier('events', 'column', 'test')).to.equal('"events"');
    expect(quoteTableName('analytics.Events_2', 'test')).to.equal('"analytics"."Events_2"');
  });

  it('refuses anything that is not a plain identifier, naming it', function () {
    for (const name of ['', '1abc', 'a b', 'a"b', 'a;b', 'a-b', 'ä', 'x'.repeat(64), '"quoted"']) {
      let error: unknown;
      try {
        quoteIdentifier(name, 'column', 'bulkInsert into "t"');
      } catch (caught) {
        error = caught;
      }
      expect(isPlatformError(error) && error.code, name).to.equal('PH_ERR_DB_QUERY');
      expect((error as Error).message).to.contain(`column ${JSON.stringify(name)} is not a valid identifier`);
    }
    expect(() => quoteTableName('a.b.c', 'test')).to.throw(/more than one "\."/);
    expect(() => quoteTableName('a.', 'test')).to.throw(/not a valid identifier/);
  });
});

describe('statement summary', function () {
  it('keeps the first words of a statement, collapsed onto one line', function () {
    expect(statementSummary('SELECT 1')).to.equal('SELECT 1');
    expect(statementSummary('  INSERT INTO events\n   (id, payload, created_at)\n VALUES ($1, $2, $3)')).to.equal(
      'INSERT INTO events (id, payload, created_at)…',
    );
    expect(statementSummary(`SELECT ${'x'.repeat(100)}`)).to.have.length(61);
  });
});
