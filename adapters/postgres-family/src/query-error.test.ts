import { expect } from 'chai';
import { isPlatformError, PlatformError } from '@platform-host/contracts';
import {
  checkParamsDefined,
  DatabaseQueryError,
  isSqlState,
  notConnectedError,
  sqlStateOf,
  statementSummary,
  wrapDriverError,
} from './query-error.js';

describe('statement summary', function () {
  it('keeps the first words of a statement, collapsed onto one line', function () {
    expect(statementSummary('SELECT 1')).to.equal('SELECT 1');
    expect(statementSummary('  INSERT INTO events\n   (id, payload, created_at)\n VALUES ($1, $2, $3)')).to.equal(
      'INSERT INTO events (id, payload, created_at)…',
    );
    expect(statementSummary(`SELECT ${'x'.repeat(100)}`)).to.have.length(61);
  });
});

describe('driver errors', function () {
  const facts = (error: unknown) => ({
    message: error instanceof Error ? error.message : String(error),
    sqlState: (error as { sqlState?: string }).sqlState,
    constraint: (error as { constraint?: string }).constraint,
    clientCode: (error as { clientCode?: string }).clientCode,
  });

  it('wraps a server error as PH_ERR_DB_QUERY with its SQLSTATE and constraint, keeping the driver error as cause', function () {
    const driver = Object.assign(new Error('duplicate key value'), { sqlState: '23505', constraint: 'events_pkey' });
    const error = wrapDriverError('PostgreSQL', driver, 'INSERT INTO events (id) VALUES ($1)', facts);
    expect(error).to.be.instanceOf(DatabaseQueryError);
    expect(error.code).to.equal('PH_ERR_DB_QUERY');
    expect(error.message).to.equal(
      'PostgreSQL rejected "INSERT INTO events (id) VALUES ($1)": duplicate key value (SQLSTATE 23505)',
    );
    expect((error as DatabaseQueryError).sqlState).to.equal('23505');
    expect((error as DatabaseQueryError).constraint).to.equal('events_pkey');
    expect(error.cause).to.equal(driver);
  });

  it('names a client-side code in the message and sets no SQLSTATE', function () {
    const driver = Object.assign(new Error('connect refused'), { clientCode: 'ECONNREFUSED' });
    const error = wrapDriverError('PGlite', driver, 'SELECT 1', facts);
    expect(error.message).to.equal('PGlite query "SELECT 1" failed: connect refused (ECONNREFUSED)');
    expect((error as DatabaseQueryError).sqlState).to.equal(undefined);
    expect(wrapDriverError('PGlite', 'boom', 'SELECT 1', facts).message).to.equal(
      'PGlite query "SELECT 1" failed: boom',
    );
  });

  it('passes a PlatformError through unchanged', function () {
    const ours = new PlatformError('PH_ERR_NOT_CONNECTED', 'not yet');
    expect(wrapDriverError('PGlite', ours, 'SELECT 1', facts)).to.equal(ours);
  });
});

describe('classifying query errors', function () {
  it('reads the SQLSTATE of PH_ERR_DB_QUERY errors by code and field, not by class', function () {
    expect(sqlStateOf(new DatabaseQueryError('x', { sqlState: '40001' }))).to.equal('40001');
    expect(sqlStateOf(new DatabaseQueryError('x'))).to.equal(undefined);
    // Any PlatformError with the code and field, as another copy of this package would make.
    expect(sqlStateOf(Object.assign(new PlatformError('PH_ERR_DB_QUERY', 'x'), { sqlState: '23505' }))).to.equal(
      '23505',
    );
    expect(sqlStateOf(Object.assign(new PlatformError('PH_ERR_INTERNAL', 'x'), { sqlState: '23505' }))).to.equal(
      undefined,
    );
    expect(sqlStateOf(Object.assign(new Error('x'), { code: 'PH_ERR_DB_QUERY', sqlState: '23505' }))).to.equal(
      undefined,
    );
    expect(sqlStateOf(undefined)).to.equal(undefined);
  });

  it('recognises five-character SQLSTATEs only', function () {
    for (const code of ['23505', '42P01', '0A000']) expect(isSqlState(code), code).to.equal(true);
    for (const code of ['ECONNREFUSED', '2350', '23505 ', 'abcde', 23505, undefined])
      expect(isSqlState(code), String(code)).to.equal(false);
  });
});

describe('parameter and connection checks', function () {
  it('refuses an undefined parameter, a hole of a sparse array included, naming its placeholder', function () {
    expect(() => checkParamsDefined([1, null, 'x'], 'SELECT $1, $2, $3')).not.to.throw();
    expect(() => checkParamsDefined([1, undefined], 'SELECT $1, $2')).to.throw(
      DatabaseQueryError,
      'Parameter $2 of "SELECT $1, $2" is undefined; pass null for SQL NULL',
    );
    // eslint-disable-next-line no-sparse-arrays
    expect(() => checkParamsDefined([1, , 3], 'SELECT $1, $2, $3')).to.throw(/Parameter \$2 /);
  });

  it('reports a call before connect() as PH_ERR_NOT_CONNECTED naming the method', function () {
    const error = notConnectedError('PgliteDatabase', 'fetchAll');
    expect(isPlatformError(error) && error.code).to.equal('PH_ERR_NOT_CONNECTED');
    expect(error.message).to.equal('PgliteDatabase.fetchAll() was called before connect() or after disconnect()');
    expect(error.hint).to.contain('await db.connect()');
  });
});
