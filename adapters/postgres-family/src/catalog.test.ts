import { expect } from 'chai';
import { columnKind, PG_TYPE_OID, readBulkTarget } from './catalog.js';

describe('bulk-insert catalog lookup', function () {
  it('reads a table, its listed columns and their kinds', function () {
    const target = readBulkTarget([
      { relkind: 'r', name: 'id', type_oid: 20, category: 'N', generated: false },
      { relkind: 'r', name: 'doc', type_oid: PG_TYPE_OID.jsonb, category: 'U', generated: false },
      { relkind: 'r', name: 'tags', type_oid: 1009, category: 'A', generated: false },
      { relkind: 'r', name: 'blob', type_oid: PG_TYPE_OID.bytea, category: 'U', generated: false },
      { relkind: 'r', name: 'total', type_oid: 1700, category: 'N', generated: true },
    ]);
    expect(target.found).to.equal(true);
    expect(target.isTable).to.equal(true);
    expect([...target.columns.values()].map((column) => [column.name, column.kind, column.generated])).to.deep.equal([
      ['id', 'scalar', false],
      ['doc', 'json', false],
      ['tags', 'array', false],
      ['blob', 'bytea', false],
      ['total', 'scalar', true],
    ]);
  });

  it('tells a missing relation, a view and a relation without any of the listed columns apart', function () {
    expect(readBulkTarget([])).to.deep.include({ found: false, isTable: false });
    const view = readBulkTarget([{ relkind: 'v', name: 'id', type_oid: 23, category: 'N', generated: false }]);
    expect(view).to.deep.include({ found: true, isTable: false });
    expect(
      readBulkTarget([{ relkind: 'p', name: null, type_oid: null, category: null, generated: null }]),
    ).to.deep.equal({ found: true, isTable: true, columns: new Map() });
  });

  it('writes json and jsonb as JSON, bytea as bytes, array categories as array literals, the rest as scalars', function () {
    expect(columnKind(PG_TYPE_OID.json, 'U')).to.equal('json');
    expect(columnKind(PG_TYPE_OID.jsonb, 'U')).to.equal('json');
    expect(columnKind(PG_TYPE_OID.bytea, 'U')).to.equal('bytea');
    expect(columnKind(1007, 'A')).to.equal('array');
    expect(columnKind(PG_TYPE_OID.text, 'S')).to.equal('scalar');
  });
});
