import { expect } from 'chai';
import { isPlatformError } from '@platform-host/contracts';
import { quoteIdentifier, quoteTableName } from './identifiers.js';

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
