import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { discoverCqlMigrations } from '../migrations/cql-runner.js';
import { splitCqlStatements } from '../migrations/cql-statements.js';
import { sharedMigrationSet } from '../migrations/runner.js';
import { FixtureProject, moduleEntry } from '../test-support/fixture-project.js';
import { runCli } from '../test-support/run-cli.js';

describe('platform-host migrate create', function () {
  this.timeout(30_000);
  let project: FixtureProject;
  beforeEach(function () {
    project = new FixtureProject();
  });
  afterEach(function () {
    project.remove();
  });

  it('writes the next postgresql migration, NNN_<name>.ts, by default', async function () {
    project.write('migrations/src/001_first.ts', 'export async function up() {}\nexport async function down() {}\n');
    const { code, stdout, stderr } = await runCli(['migrate', 'create', 'Add users'], project.env());
    expect(code, stderr).to.equal(0);
    const file = join(project.root, 'migrations', 'src', '002_add_users.ts');
    expect(stdout).to.equal(`created ${file}\n`);
    expect(readFileSync(file, 'utf8')).to.contain('export async function up(db: Database)');
    expect(existsSync(join(project.root, 'migrations', 'src', 'cql'))).to.equal(false);
  });

  it('with --dialect cql writes NNN_<name>.cql and its .down.cql, numbered after the cql migrations only', async function () {
    project.write('migrations/src/001_first.ts', 'export async function up() {}\nexport async function down() {}\n');
    project.write('migrations/src/002_second.ts', 'export async function up() {}\nexport async function down() {}\n');
    project.write(
      'migrations/src/cql/001_create_things.cql',
      'CREATE TABLE IF NOT EXISTS things (id int PRIMARY KEY);\n',
    );
    const { code, stdout, stderr } = await runCli(
      ['migrate', 'create', 'add-devices', '--dialect', 'cql'],
      project.env(),
    );
    expect(code, stderr).to.equal(0);
    const dir = join(project.root, 'migrations', 'src', 'cql');
    expect(stdout).to.equal(
      `created ${join(dir, '002_add_devices.cql')}\ncreated ${join(dir, '002_add_devices.down.cql')}\n`,
    );
    expect(readdirSync(dir).sort()).to.deep.equal([
      '001_create_things.cql',
      '002_add_devices.cql',
      '002_add_devices.down.cql',
    ]);
    // The runner sees the new migration; until it is filled in it holds no statement to run.
    const set = sharedMigrationSet(join(project.root, 'migrations'), 'cql');
    expect(discoverCqlMigrations(set).map((file) => file.name)).to.deep.equal(['001_create_things', '002_add_devices']);
    expect(splitCqlStatements(readFileSync(join(dir, '002_add_devices.cql'), 'utf8'))).to.deep.equal([]);
    expect(splitCqlStatements(readFileSync(join(dir, '002_add_devices.down.cql'), 'utf8'))).to.deep.equal([]);
  });

  it("with --module and --dialect cql writes into the source folder of the module's cql set", async function () {
    project.module(
      'devices',
      {
        name: 'devices',
        dependencies: { interfaces: ['logging', 'database'], modules: [] },
        dialects: ['cql'],
        migrations: { cql: './dist/migrations/cql' },
      },
      moduleEntry(['logging'], 'return 0;'),
    );
    project.write('plugins/devices/src/migrations/cql/001_create_devices.cql', 'SELECT now() FROM system.local;\n');
    const { code, stderr } = await runCli(
      ['migrate', 'create', 'add_owner', '--module', 'devices', '--dialect=cql'],
      project.env(),
    );
    expect(code, stderr).to.equal(0);
    expect(readdirSync(join(project.root, 'plugins/devices/src/migrations/cql')).sort()).to.deep.equal([
      '001_create_devices.cql',
      '002_add_owner.cql',
      '002_add_owner.down.cql',
    ]);
  });

  it('refuses a dialect it does not know with exit 2, creating nothing', async function () {
    const { code, stderr } = await runCli(['migrate', 'create', 'x', '--dialect', 'mysql'], project.env());
    expect(code).to.equal(2);
    expect(stderr).to.contain('PH_ERR_USAGE').and.contain('mysql');
    expect(existsSync(join(project.root, 'migrations'))).to.equal(false);
  });

  it('still refuses --dialect on migrate status (only create takes it)', async function () {
    const { code, stderr } = await runCli(['migrate', 'status', '--dialect', 'cql'], project.env());
    expect(code).to.equal(2);
    expect(stderr).to.contain('PH_ERR_USAGE').and.contain('--dialect');
  });
});
