import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import { expect } from 'chai';
import { HOST_API_VERSION } from '@platform-host/contracts';
import { FixtureProject, moduleEntry } from '../test-support/fixture-project.js';
import { runCli } from '../test-support/run-cli.js';
import { discoverPlugins } from './discover.js';
import { buildRegistry } from './registry.js';

interface Listing {
  kind: string;
  name: string;
  source: string;
  problems: string[];
  flags: string[];
}

describe('plugin discovery', () => {
  let project: FixtureProject;
  beforeEach(() => {
    project = new FixtureProject();
  });
  afterEach(() => project.remove());

  it('lists a module whose entry throws on import, without importing any plugin code', async () => {
    const marker = join(project.root, 'imported.marker');
    project.module(
      'exploding',
      { name: 'exploding' },
      `import { writeFileSync } from 'node:fs';\nwriteFileSync(${JSON.stringify(marker)}, 'x');\nthrow new Error('boom on import');\n`,
    );
    const result = await runCli(['plugins', 'list', '--json'], project.env());
    expect(result.code, result.stderr).to.equal(0);
    const listed = (JSON.parse(result.stdout) as Listing[]).find((item) => item.name === 'exploding');
    expect(listed).to.include({ kind: 'module', source: 'plugins' });
    expect(listed?.problems).to.deep.equal([]);
    expect(existsSync(marker), 'the entry was imported').to.equal(false);
  });

  it('reports a broken plugin and still lists the others', async () => {
    project.module('good_one', { name: 'good_one' }, moduleEntry(['logging'], 'return 0;'));
    project.write('plugins/bad-json/module.json', '{ "name": "bad_json", ');
    project.module('bad_schema', { name: 'bad_schema', type: 'daemon', surprise: true }, moduleEntry([], 'return 0;'));
    const result = await runCli(['plugins', 'list', '--json'], project.env());
    expect(result.code).to.equal(0);
    const listings = JSON.parse(result.stdout) as Listing[];
    expect(listings.find((l) => l.name === 'good_one')?.problems).to.deep.equal([]);
    expect(listings.find((l) => l.name === 'bad-json')?.problems.join()).to.match(/cannot read module.json/);
    const schemaProblems = listings.find((l) => l.name === 'bad_schema')?.problems.join('\n') ?? '';
    expect(schemaProblems).to.match(/type: /);
    expect(schemaProblems).to.match(/surprise/);
  });

  it('marks duplicate module names and duplicate (interface, flag) pairs, naming both sources', async () => {
    project.module('one', { name: 'twin' }, moduleEntry([], 'return 0;'));
    project.module('two', { name: 'twin' }, moduleEntry([], 'return 0;'));
    project.adapter(
      'adapters/cache-a',
      { name: 'cache-a', interface: 'cache', flags: ['shared'] },
      'export default {};',
    );
    project.adapter(
      'adapters/cache-b',
      { name: 'cache-b', interface: 'cache', flags: ['shared', 'only-b'] },
      'export default {};',
    );
    const registry = buildRegistry(await discoverPlugins({ root: project.root, cacheFile: false }));
    const twins = registry.records.filter((r) => r.name === 'twin');
    expect(twins).to.have.length(2);
    expect(twins[0]?.problems.join()).to.contain('plugins/two/module.json');
    expect(twins[1]?.problems.join()).to.contain('plugins/one/module.json');
    const a = registry.records.find((r) => r.name === 'cache-a');
    expect(a?.problems.join()).to.contain('duplicate adapter for (cache, shared)').and.contain('adapters/cache-b');
  });

  it('finds adapter packages in node_modules and folders on PLATFORM_PLUGIN_PATH', async () => {
    project.adapter(
      'node_modules/@acme/cache-fixture',
      { name: 'acme-cache', interface: 'cache', flags: ['acme'] },
      'export default {};',
    );
    project.write('node_modules/unrelated/module.json', { name: 'not ours' });
    project.adapter(
      'elsewhere/metrics-x',
      { name: 'metrics-x', interface: 'metrics', flags: ['x'] },
      'export default {};',
    );
    const records = await discoverPlugins({
      root: project.root,
      pluginPath: join(project.root, 'elsewhere'),
      cacheFile: false,
    });
    expect(records.map((r) => `${r.name}:${r.source}`).sort()).to.deep.equal([
      'acme-cache:node_modules',
      'metrics-x:PLATFORM_PLUGIN_PATH',
    ]);
  });

  it('refuses a plugin whose host range excludes this host, naming the plugin, its range and the host version', async () => {
    project.adapter(
      'adapters/future',
      { name: 'future-cache', interface: 'cache', flags: ['future'], host_api: '^3.0.0' },
      'export default {};',
    );
    const [record] = await discoverPlugins({ root: project.root, cacheFile: false });
    expect(record?.problems).to.deep.equal([
      `adapter "future-cache" supports host API ^3.0.0, but this host provides ${HOST_API_VERSION}`,
    ]);
  });

  it('refuses a plugin written for host API 1.x, naming it', async () => {
    project.module('old_job', { name: 'old_job', host_api: '^1.0.0' }, 'export default {};');
    const [record] = await discoverPlugins({ root: project.root, cacheFile: false });
    expect(record?.problems).to.deep.equal([
      `module "old_job" supports host API ^1.0.0, but this host provides ${HOST_API_VERSION}`,
    ]);
  });

  it('notices packages installed into node_modules after the listing was cached', async () => {
    const cacheFile = join(project.root, 'cache.json');
    project.write('node_modules/left-pad/package.json', { name: 'left-pad' });
    expect(await discoverPlugins({ root: project.root, cacheFile })).to.deep.equal([]);
    project.adapter(
      'node_modules/@acme/cache-one',
      { name: 'acme-one', interface: 'cache', flags: ['one'] },
      'export default {};',
    );
    expect((await discoverPlugins({ root: project.root, cacheFile })).map((r) => r.name)).to.deep.equal(['acme-one']);
    project.adapter(
      'node_modules/@acme/cache-two',
      { name: 'acme-two', interface: 'cache', flags: ['two'] },
      'export default {};',
    );
    expect((await discoverPlugins({ root: project.root, cacheFile })).map((r) => r.name)).to.deep.equal([
      'acme-one',
      'acme-two',
    ]);
  });

  it('serves manifests from the cache and revalidates one that changed', async () => {
    const cacheFile = join(project.root, 'cache.json');
    project.module('cached', { name: 'cached' }, moduleEntry([], 'return 0;'));
    expect((await discoverPlugins({ root: project.root, cacheFile }))[0]?.problems).to.deep.equal([]);
    expect(existsSync(cacheFile)).to.equal(true);
    // Same size and mtime would be served from the cache; a real edit changes both.
    writeFileSync(
      join(project.root, 'plugins/cached/module.json'),
      JSON.stringify({ name: 'cached', broken: 'now-invalid' }),
    );
    const after = await discoverPlugins({ root: project.root, cacheFile });
    expect(after[0]?.problems.join()).to.match(/broken/);
  });

  describe('the manifest cache of a checkout copied or moved to another root', () => {
    /** A project with a module, an adapter and node_modules packages (one a workspace-style link). */
    function checkout(): void {
      project.module('copied_module', { name: 'copied_module' }, moduleEntry([], 'return 0;'));
      project.adapter(
        'adapters/linked',
        { name: 'linked', interface: 'cache', flags: ['linked'] },
        'export default {};',
      );
      project.adapter(
        'node_modules/@acme/installed',
        { name: 'acme-installed', interface: 'cache', flags: ['installed'] },
        'export default {};',
      );
      // As npm links a workspace: a relative symlink.
      symlinkSync(join('..', '..', 'adapters', 'linked'), join(project.root, 'node_modules', '@acme', 'linked'));
    }
    const defaultCache = (root: string): string =>
      join(root, 'node_modules', '.cache', 'platform-host', 'manifests.json');
    /**
     * Discovery as a checkout that has run the host before: the first run creates
     * node_modules/.cache (which changes node_modules' mtime, the listing's key); from the second on,
     * the node_modules listing is served from the cache.
     */
    async function discoverTwice(root: string): Promise<Awaited<ReturnType<typeof discoverPlugins>>> {
      await discoverPlugins({ root });
      return discoverPlugins({ root });
    }
    const listing = (records: Awaited<ReturnType<typeof discoverPlugins>>) =>
      buildRegistry(records).records.map((r) => `${r.name}:${r.source}:${r.problems.length}`);
    let elsewhere: string;
    beforeEach(() => {
      elsewhere = mkdtempSync(join(tmpdir(), 'platform-host-moved-'));
    });
    afterEach(() => rmSync(elsewhere, { recursive: true, force: true }));

    it('stores no path of the old root, so a copy with the cache finds its own plugins, without duplicates', async () => {
      checkout();
      const original = await discoverTwice(project.root);
      expect(listing(original).sort()).to.deep.equal([
        'acme-installed:node_modules:0',
        'copied_module:plugins:0',
        'linked:adapters:0',
      ]);

      // cp -a keeps every timestamp (folders' too, set after their contents), so the cached
      // validations and node_modules listing stay valid for the copy.
      const copy = join(elsewhere, 'checkout');
      execFileSync('cp', ['-a', project.root, copy]);
      const copied = await discoverPlugins({ root: copy });
      expect(listing(copied).sort()).to.deep.equal(listing(original).sort());
      expect(readFileSync(defaultCache(copy), 'utf8'), 'the cache file').not.to.contain(project.root);
      const realCopy = realpathSync(copy) + sep;
      for (const record of copied)
        expect(record.dir, `${record.name}'s folder`).to.satisfy((dir: string) => dir.startsWith(realCopy));
    });

    it('finds the node_modules plugins of a moved checkout whose old root is gone', async () => {
      checkout();
      const original = listing(await discoverTwice(project.root)).sort();
      const moved = join(elsewhere, 'moved');
      renameSync(project.root, moved);
      const records = await discoverPlugins({ root: moved });
      expect(listing(records).sort()).to.deep.equal(original);
      const realMoved = realpathSync(moved) + sep;
      for (const record of records)
        expect(record.dir, `${record.name}'s folder`).to.satisfy((dir: string) => dir.startsWith(realMoved));
    });
  });
});
