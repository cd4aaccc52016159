import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import {
  discoverCqlMigrations,
  moduleMigrationSet,
  sharedMigrationSet,
  type MigrationSet,
} from '@platform-host/runtime';
import { REPO_ROOT } from './support/cli.js';

/** `npm pack`s the workspace at `workspace` and unpacks it into a new folder; returns that folder. */
function packAndUnpack(workspace: string, into: string): string {
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const output = execFileSync(npm, ['pack', '--json', '--pack-destination', into], {
    cwd: join(REPO_ROOT, workspace),
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const [packed] = JSON.parse(output) as Array<{ filename: string }>;
  if (packed === undefined) throw new Error(`npm pack of ${workspace} printed no package`);
  execFileSync('tar', ['-xzf', join(into, packed.filename), '-C', into]);
  return join(into, 'package');
}

/**
 * What identifies a migration to the runner: its name and checksum, and whether the
 * `NNN_name.down.cql` that rolls it back is beside it.
 */
function identities(set: MigrationSet): string[] {
  return discoverCqlMigrations(set).map(
    (file) =>
      `${file.owner}/${file.name} ${file.checksum} down:${existsSync(file.sourcePath.replace(/\.cql$/, '.down.cql'))}`,
  );
}

/**
 * A published package has no `src/`: the build copies the `.cql` migrations to `dist/` (tsc does not),
 * and the runner, finding no sources, reads them there with the same names and checksums, so a
 * database migrated from a checkout stays up to date with the published package.
 */
describe('cql migrations in a packed package (npm pack)', function () {
  this.timeout(60_000);
  let folder: string;

  beforeEach(function () {
    folder = mkdtempSync(join(tmpdir(), 'ph-pack-'));
  });
  afterEach(function () {
    rmSync(folder, { recursive: true, force: true });
  });

  it("ships metric_aggregator's cql migrations under the dist folder its module.json names, without src", function () {
    const unpacked = packAndUnpack('plugins/metric-aggregator', folder);
    const manifest = JSON.parse(readFileSync(join(unpacked, 'module.json'), 'utf8')) as {
      migrations: { cql: string };
    };
    const published = moduleMigrationSet('metric_aggregator', unpacked, manifest.migrations.cql);
    expect(published.sourceDir, 'the packed package has no sources').to.equal(undefined);
    const checkout = moduleMigrationSet(
      'metric_aggregator',
      join(REPO_ROOT, 'plugins/metric-aggregator'),
      manifest.migrations.cql,
    );
    expect(checkout.sourceDir, 'the checkout reads its sources').to.be.a('string');
    expect(identities(checkout)).to.have.length.greaterThan(1);
    expect(identities(published)).to.deep.equal(identities(checkout));
  });

  it('ships the shared cql migrations in dist/cql, read there when src is absent', function () {
    const unpacked = packAndUnpack('migrations', folder);
    const published = sharedMigrationSet(unpacked, 'cql');
    const checkout = sharedMigrationSet(join(REPO_ROOT, 'migrations'), 'cql');
    expect(identities(checkout)).to.have.length.greaterThan(1);
    expect(identities(published)).to.deep.equal(identities(checkout));
  });
});
