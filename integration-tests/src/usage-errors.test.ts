import { expect } from 'chai';
import { useRealService } from '@platform-host/test-kit';
import { cliEnv, platformHost } from './support/cli.js';
import { freshDatabase, psql } from './support/psql.js';

const RUN = ['batch_etl', '--db', 'postgres', '--fs', 'local', '--env', 'test', '--log', 'json'];
const GOOD_ARGS: Readonly<Record<string, string>> = {
  '--date': '2026-01-15',
  '--source-path': 'raw/events',
  '--target-table': 'cleaned_events',
  '--batch-size': '500',
};

/** The module arguments with one replaced. */
function argsWith(flag: string, value: string): string[] {
  return Object.entries({ ...GOOD_ARGS, [flag]: value }).flatMap(([name, given]) => [name, given]);
}

/**
 * Usage errors exit 2 before anything runs, and `doctor` finds the same ones (rule: argument
 * ranges, formats and identifier rules live in module.json and the host checks them). Every case
 * runs against a fresh real PostgreSQL database, which must stay untouched: not even the migration
 * tracking table may appear.
 */
describe('usage errors through the CLI: exit 2, found by doctor, nothing changed', function () {
  this.timeout(180_000);
  const postgres = useRealService('postgres');
  let database: { url: string; drop(): void };

  before(() => {
    database = freshDatabase(postgres().DB_POSTGRES_URL ?? '', 'it_usage');
  });
  after(() => database.drop());

  const untouched = (): void => {
    expect(psql(database.url, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")).to.equal('0');
  };

  const argumentCases: Array<[string, string, string]> = [
    ['--batch-size', '-5', '--batch-size must be from 1 to 100000, got -5'],
    ['--batch-size', '0', '--batch-size must be from 1 to 100000, got 0'],
    ['--batch-size', '100001', '--batch-size must be from 1 to 100000, got 100001'],
    ['--date', '2026-02-30', '--date must be a calendar date YYYY-MM-DD that exists; got "2026-02-30"'],
    ['--date', '15-01-2026', '--date must be a calendar date YYYY-MM-DD that exists; got "15-01-2026"'],
    ['--source-path', '../x', '--source-path must stay inside the root (no .. segments); got "../x"'],
    ['--target-table', 'events; DROP TABLE events', '--target-table must match'],
  ];
  for (const [flag, value, message] of argumentCases) {
    it(`refuses ${flag} ${value} in run and in doctor`, async () => {
      const env = cliEnv({ DB_POSTGRES_URL: database.url });
      const run = await platformHost(['run', ...RUN, ...argsWith(flag, value)], env);
      expect(run.code, run.stderr).to.equal(2);
      expect(run.stderr).to.contain('PH_ERR_ARGS_INVALID').and.contain(message);
      const doctor = await platformHost(['doctor', ...RUN, ...argsWith(flag, value)], env);
      expect(doctor.code, doctor.stdout).to.equal(2);
      expect(doctor.stdout).to.contain(message).and.not.contain('would start');
      untouched();
    });
  }

  it('refuses a malformed DB_POSTGRES_URL in run and in doctor, naming the key and never the value', async () => {
    const url = new URL(database.url);
    const malformed = `postgresql://${url.username}:s3cret-pw@127.0.0.1:notaport/x`;
    const env = cliEnv({ DB_POSTGRES_URL: malformed });
    const run = await platformHost(['run', ...RUN, ...argsWith('--date', '2026-01-15')], env);
    expect(run.code, run.stderr).to.equal(2);
    expect(run.stderr).to.contain('PH_ERR_CONFIG_INVALID').and.contain('DB_POSTGRES_URL (adapter postgres)');
    const doctor = await platformHost(['doctor', ...RUN, ...argsWith('--date', '2026-01-15')], env);
    expect(doctor.code).to.equal(2);
    expect(doctor.stdout).to.contain('DB_POSTGRES_URL').and.contain('is not a valid URL');
    for (const output of [run.stdout, run.stderr, doctor.stdout]) expect(output).to.not.contain('s3cret-pw');
    untouched();
  });

  it('refuses an environment that does not exist (--env prodution), naming the ones that do', async () => {
    const env = cliEnv({ DB_POSTGRES_URL: database.url });
    const args = ['run', 'batch_etl', '--db', 'postgres', '--env', 'prodution', ...argsWith('--date', '2026-01-15')];
    const run = await platformHost(args, env);
    expect(run.code).to.equal(2);
    expect(run.stderr).to.contain('--env "prodution" is not an environment of this project').and.contain('production');
    untouched();
  });

  describe('migrate', () => {
    let migrated: { url: string; drop(): void };
    const rows = (): string => psql(migrated.url, 'SELECT count(*) FROM _migrations');

    before(async () => {
      migrated = freshDatabase(postgres().DB_POSTGRES_URL ?? '', 'it_usage_migrate');
      const env = cliEnv({ DB_POSTGRES_URL: migrated.url });
      const first = await platformHost(
        ['migrate', 'up', '--module', 'shared', '--target', '1', '--db', 'postgres', '--env', 'test'],
        env,
      );
      expect(first.code, first.stderr).to.equal(0);
      expect(rows()).to.equal('1');
    });
    after(() => migrated.drop());

    const migrateCases: string[][] = [
      ['up', '--target', 'abc'],
      ['up', '--target', '2abc'],
      ['down', '--count', '1.5'],
      ['down', '--count', 'abc'],
      ['down', '--count', '-1'],
      ['down', '--count', '0'],
      ['up', '--bogus'],
      ['create'],
    ];
    for (const args of migrateCases) {
      it(`refuses migrate ${args.join(' ')} with exit 2, applying and rolling back nothing`, async () => {
        const env = cliEnv({ DB_POSTGRES_URL: migrated.url });
        const result = await platformHost(['migrate', ...args, '--db', 'postgres', '--env', 'test'], env);
        expect(result.code, result.stderr).to.equal(2);
        expect(result.stderr).to.contain('PH_ERR_USAGE');
        expect(rows(), 'still exactly the one migration applied before').to.equal('1');
      });
    }
  });
});
