import { expect } from 'chai';
import { isPlatformError } from '@platform-host/contracts';
import {
  arrayLiteral,
  columnText,
  copyField,
  copyLine,
  copyRows,
  jsonParam,
  jsonText,
  scalarText,
  textParam,
} from './copy-text.js';

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

  it('writes a range of rows as COPY text, naming the row and column of a value it cannot encode', function () {
    const rows = [{ id: 1 }, { id: 2 }, { id: 3 }, { id: () => 4 }];
    expect(copyRows(rows, 1, 3, ['id'], ['scalar'], 'ctx')).to.equal('2\n3\n');
    expect(copyRows(rows, 0, 0, ['id'], ['scalar'], 'ctx')).to.equal('');
    let error: unknown;
    try {
      copyRows(rows, 0, 4, ['id'], ['scalar'], 'bulkInsert into "t"');
    } catch (caught) {
      error = caught;
    }
    expect(isPlatformError(error) && error.code).to.equal('PH_ERR_DB_QUERY');
    expect((error as Error).message).to.equal(
      'bulkInsert into "t": row 3, column "id": a function value cannot be written to PostgreSQL',
    );
  });
});

describe('parameter text', function () {
  it('sends objects and arrays bound to text as JSON, everything else as its string', function () {
    expect(textParam({ a: 1 })).to.equal('{"a":1}');
    expect(textParam([1, 'x'])).to.equal('[1,"x"]');
    expect(textParam('plain')).to.equal('plain');
    expect(textParam(42)).to.equal('42');
  });

  it('takes a string bound to json as JSON text already and serializes the rest, bigints exactly', function () {
    expect(jsonParam('{"a":1}')).to.equal('{"a":1}');
    expect(jsonParam({ n: 12345678901234567890n })).to.equal('{"n":12345678901234567890}');
    expect(jsonParam(null)).to.equal('null');
  });
});
