import { expect } from 'chai';
import { migrationStatuses } from './migration-types.js';
import type { AppliedMigration, MigrationFile } from './migration-types.js';

function file(owner: string, name: string, checksum = `sum-${name}`): MigrationFile {
  return {
    owner,
    number: Number(name.split('_')[0]),
    name,
    sourcePath: `/src/${owner}/${name}`,
    compiledPath: `/dist/${owner}/${name}`,
    checksum,
  };
}

function row(owner: string, name: string, checksum: string | null = `sum-${name}`): AppliedMigration {
  return { owner, name, checksum, appliedAt: new Date(Date.UTC(2026, 0, 15)) };
}

describe('migrationStatuses', function () {
  it('gives each file its state: pending without a row, changed when the checksum differs, applied otherwise', function () {
    const files = [file('shared', '001_a'), file('shared', '002_b'), file('shared', '003_c'), file('shared', '004_d')];
    const applied = [row('shared', '001_a'), row('shared', '002_b', 'other'), row('shared', '003_c', null)];
    expect(migrationStatuses(files, applied, ['shared']).map((s) => [s.name, s.state, s.appliedAt])).to.deep.equal([
      ['001_a', 'applied', new Date(Date.UTC(2026, 0, 15))],
      ['002_b', 'changed', new Date(Date.UTC(2026, 0, 15))],
      ['003_c', 'applied', new Date(Date.UTC(2026, 0, 15))],
      ['004_d', 'pending', undefined],
    ]);
  });

  it('lists an applied row of a selected owner whose file is gone as missing, in number order', function () {
    const statuses = migrationStatuses(
      [file('shared', '001_a'), file('shared', '003_c')],
      [row('shared', '002_b')],
      ['shared'],
    );
    expect(statuses.map((s) => `${s.number} ${s.name} ${s.state}`)).to.deep.equal([
      '1 001_a pending',
      '2 002_b missing',
      '3 003_c pending',
    ]);
  });

  it('leaves out the rows of owners that are not selected (migrate status --module narrows to one owner)', function () {
    const applied = [row('batch_etl', '001_create_cleaned_events_table'), row('metric_aggregator', '001_rollups')];
    const statuses = migrationStatuses([file('metric_aggregator', '001_rollups')], applied, ['metric_aggregator']);
    expect(statuses.map((s) => `${s.owner} ${s.name} ${s.state}`)).to.deep.equal([
      'metric_aggregator 001_rollups applied',
    ]);
  });

  it('orders the owners as selected, shared set first', function () {
    const files = [file('zeta', '001_z'), file('shared', '002_s'), file('alpha', '001_a'), file('shared', '001_s')];
    expect(migrationStatuses(files, [], ['shared', 'zeta', 'alpha']).map((s) => `${s.owner}/${s.name}`)).to.deep.equal([
      'shared/001_s',
      'shared/002_s',
      'zeta/001_z',
      'alpha/001_a',
    ]);
  });
});
