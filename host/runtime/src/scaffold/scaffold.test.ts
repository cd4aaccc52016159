import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { INTERFACE_NAMES } from '@platform-host/contracts';
import { REPO_ROOT } from '../test-support/fixture-project.js';
import { interfaceTemplate } from './adapter-templates.js';
import { expect } from 'chai';
import { FixtureProject } from '../test-support/fixture-project.js';
import { validateManifest } from '../manifest/validate-manifest.js';
import { scaffoldAdapter, scaffoldModule } from './scaffold.js';

describe('scaffolding', () => {
  let project: FixtureProject;
  beforeEach(() => {
    project = new FixtureProject();
    project.write('tsconfig.json', { files: [], references: [] });
  });
  afterEach(() => project.remove());

  for (const type of ['job', 'service', 'worker'] as const) {
    it(`creates a ${type} module with a valid manifest, an entry, a test, and a project reference`, () => {
      const output = scaffoldModule(project.root, `report_${type}`, type);
      const dir = join(project.root, 'plugins', `report-${type}`);
      expect(output).to.contain(`created module report_${type} (${type})`);
      for (const file of ['package.json', 'tsconfig.json', 'module.json', 'src/index.ts', 'src/index.test.ts'])
        expect(existsSync(join(dir, file)), file).to.equal(true);
      const validation = validateManifest('module', JSON.parse(readFileSync(join(dir, 'module.json'), 'utf8')));
      expect(validation.problems).to.deep.equal([]);
      expect(validation.manifest?.type).to.equal(type);
      const tsconfig = JSON.parse(readFileSync(join(project.root, 'tsconfig.json'), 'utf8')) as {
        references: Array<{ path: string }>;
      };
      expect(tsconfig.references).to.deep.equal([{ path: `plugins/report-${type}` }]);
    });
  }

  it('creates an adapter whose manifest matches its interface and flag', () => {
    scaffoldAdapter(project.root, 'cache', 'redis-cluster');
    const dir = join(project.root, 'adapters', 'cache-redis-cluster');
    const validation = validateManifest(
      'adapter',
      JSON.parse(readFileSync(join(dir, 'platform-adapter.json'), 'utf8')),
    );
    expect(validation.problems).to.deep.equal([]);
    expect(validation.manifest).to.include({ interface: 'cache', name: 'cache-redis-cluster' });
    expect(readFileSync(join(dir, 'src/index.ts'), 'utf8')).to.contain(
      'export class RedisClusterCache implements Cache',
    );
  });

  it('refuses an existing folder, a bad name and an unknown interface', () => {
    scaffoldModule(project.root, 'twice', 'job');
    expect(() => scaffoldModule(project.root, 'twice', 'job')).to.throw('plugins/twice already exists');
    expect(() => scaffoldModule(project.root, '9lives', 'job')).to.throw(/must start with a letter/);
    expect(() => scaffoldAdapter(project.root, 'queue', 'x')).to.throw(
      /"queue" is not an interface; use one of database, filesystem/,
    );
  });

  it('generates adapter entries that compile against the current contracts, for every interface', function () {
    this.timeout(60_000);
    // Inside the repository, so that @platform-host/contracts resolves as for a real new adapter.
    const dir = mkdtempSync(join(REPO_ROOT, 'host', 'runtime', '.scaffold-check-'));
    try {
      for (const iface of INTERFACE_NAMES)
        writeFileSync(join(dir, `${iface}.ts`), interfaceTemplate(iface, 'check').entry);
      writeFileSync(
        join(dir, 'tsconfig.json'),
        JSON.stringify({
          extends: '../../../tsconfig.base.json',
          compilerOptions: {
            noEmit: true,
            composite: false,
            declaration: false,
            declarationMap: false,
            incremental: false,
            types: ['node'],
          },
          files: INTERFACE_NAMES.map((iface) => `${iface}.ts`),
        }),
      );
      const tsc = join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
      let output = '';
      try {
        execFileSync(process.execPath, [tsc, '-p', join(dir, 'tsconfig.json')], { encoding: 'utf8' });
      } catch (error) {
        output = String((error as { stdout?: string }).stdout ?? error);
      }
      expect(output).to.equal('');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
