import { expect } from 'chai';
import { PlatformError } from '../errors.js';
import { resolveBulkInsertColumns } from './database.js';
import type { BulkInsertColumnErrors } from './database.js';

/** Errors that keep the hint, so the tests can see both parts. */
const errors: BulkInsertColumnErrors = {
  error: (message, hint) => new PlatformError('PH_ERR_DB_QUERY', message, hint === undefined ? {} : { hint }),
  missingKeys: 'become NULL',
};

function failure(work: () => unknown): PlatformError {
  try {
    work();
  } catch (error) {
    expect(error).to.be.instanceOf(PlatformError);
    return error as PlatformError;
  }
  throw new Error('expected a failure');
}

describe('resolveBulkInsertColumns', function () {
  it('returns the given columns as they are, even when rows have other keys', function () {
    expect(resolveBulkInsertColumns([{ id: 1, extra: 2 }], ['id', 'name'], 'bulkInsert(t)', errors)).to.deep.equal([
      'id',
      'name',
    ]);
  });

  it('defaults to the keys of the first row when every row shares them, in any order', function () {
    const rows = [
      { id: 1, name: 'a' },
      { name: 'b', id: 2 },
    ];
    expect(resolveBulkInsertColumns(rows, undefined, 'bulkInsert(t)', errors)).to.deep.equal(['id', 'name']);
  });

  it('refuses an empty or repeating column list, naming the call', function () {
    expect(failure(() => resolveBulkInsertColumns([{ id: 1 }], [], 'bulkInsert(t)', errors)).message).to.equal(
      'bulkInsert(t): options.columns is empty',
    );
    expect(
      failure(() => resolveBulkInsertColumns([{ id: 1 }], ['id', 'id'], 'bulkInsert(t)', errors)).message,
    ).to.equal('bulkInsert(t): options.columns lists a column twice');
  });

  it('refuses a first row without keys', function () {
    expect(failure(() => resolveBulkInsertColumns([{}], undefined, 'bulkInsert(t)', errors)).message).to.equal(
      'bulkInsert(t): the first row has no keys, so there are no columns to insert',
    );
  });

  it('names the row whose keys differ, with a hint saying what the adapter does with missing keys', function () {
    const error = failure(() =>
      resolveBulkInsertColumns(
        [
          { id: 1, name: 'a' },
          { id: 2, nome: 'b' },
        ],
        undefined,
        'bulkInsert(t)',
        errors,
      ),
    );
    expect(error.code).to.equal('PH_ERR_DB_QUERY');
    expect(error.message).to.equal('bulkInsert(t): row 1 has keys (id, nome) but the first row has (id, name)');
    expect(error.hint).to.equal(
      'Give every row the same keys, or pass options.columns to insert those columns (missing keys become NULL).',
    );
  });
});
