import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { MANIFEST_SCHEMA_IDS } from '@platform-host/contracts';
import { REPO_ROOT } from './support/cli.js';

/** The workspaces meant to be installed: every one but the integration tests themselves. */
const INSTALLABLE = ['host', 'adapters', 'plugins']
  .flatMap((folder) =>
    readdirSync(join(REPO_ROOT, folder))
      .map((name) => `${folder}/${name}`)
      .filter((workspace) => existsSync(join(REPO_ROOT, workspace, 'package.json'))),
  )
  .concat('migrations')
  .sort();

/** One workspace's `npm pack --dry-run --json` answer (the fields used here). */
interface PackResult {
  readonly name: string;
  readonly files: ReadonlyArray<{ readonly path: string }>;
}

/** What a packed file list must not hold: compiled tests, test fixtures and helpers, sources. */
const TEST_ONLY = [
  /\.test\.[^/]*$/,
  /\.fixture\.[^/]*$/,
  /(^|\/)test-fixtures\//,
  /(^|\/)src\//,
  /-test-support\.[^/]*$/,
  /\.test-support\.[^/]*$/,
  /(^|\/)test-support\//,
];

/** Files under `dir` (relative to `root`, posix separators). */
function filesUnder(root: string, dir: string): string[] {
  const absolute = join(root, dir);
  if (!existsSync(absolute)) return [];
  return readdirSync(absolute, { recursive: true, encoding: 'utf8' })
    .map((entry) => posix.join(dir, entry.split('\\').join('/')))
    .filter((path) => statSync(join(root, path)).isFile());
}

const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** `./dist/x.js` -> `dist/x.js`. */
const packPath = (path: string): string => posix.normalize(path.replace(/^\.\//, ''));

/** Every file path a package.json `exports` value points to. */
function exportTargets(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (typeof value === 'object' && value !== null) return Object.values(value).flatMap(exportTargets);
  return [];
}

/** The problems of one packed workspace: what it misses of what it must ship, and test files it ships. */
function packProblems(workspace: string, packed: ReadonlySet<string>): string[] {
  const root = join(REPO_ROOT, workspace);
  const problems: string[] = [];
  const need = (path: string, why: string): void => {
    if (!packed.has(packPath(path))) problems.push(`${workspace}: ${packPath(path)} (${why}) is not packed`);
  };
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
    main?: string;
    exports?: unknown;
    bin?: string | Record<string, string>;
  };
  if (pkg.main !== undefined) need(pkg.main, 'main');
  for (const target of exportTargets(pkg.exports)) {
    if (!target.includes('*')) {
      need(target, 'exports');
      continue;
    }
    // A subpath pattern (`./schemas/*.json`) must match some packed file.
    const pattern = new RegExp(`^${packPath(target).split('*').map(escapeRegExp).join('[^/]+')}$`);
    if (![...packed].some((path) => pattern.test(path)))
      problems.push(`${workspace}: nothing packed matches ${packPath(target)} (exports)`);
  }
  for (const bin of typeof pkg.bin === 'string' ? [pkg.bin] : Object.values(pkg.bin ?? {})) need(bin, 'bin');
  if (existsSync(join(root, 'README.md'))) need('README.md', 'README');
  for (const manifest of ['platform-adapter.json', 'module.json']) {
    if (!existsSync(join(root, manifest))) continue;
    need(manifest, 'manifest');
    const parsed = JSON.parse(readFileSync(join(root, manifest), 'utf8')) as {
      entry?: string;
      migrations?: Record<string, string>;
      messages?: { produces?: Array<{ schema?: string }>; consumes?: Array<{ schema?: string }> };
    };
    if (parsed.entry !== undefined) need(parsed.entry, `${manifest} entry`);
    for (const [dialect, dir] of Object.entries(parsed.migrations ?? {})) {
      const onDisk = filesUnder(root, packPath(dir));
      if (onDisk.length === 0) problems.push(`${workspace}: ${manifest} migrations.${dialect} ${dir} is empty`);
      for (const file of onDisk) need(file, `${manifest} migrations.${dialect}`);
    }
    const messages = [...(parsed.messages?.produces ?? []), ...(parsed.messages?.consumes ?? [])];
    for (const { schema } of messages)
      if (schema !== undefined && schema.startsWith('.')) need(schema, `${manifest} message schema`);
  }
  // Everything the build put in dist ships, but tests, fixtures and test helpers.
  // An exported test helper (api_gateway's `./test-tables`) is part of the package's interface.
  const exported = new Set(
    exportTargets(pkg.exports)
      .filter((target) => !target.includes('*'))
      .map(packPath),
  );
  const testOnly = (path: string): boolean =>
    TEST_ONLY.some((pattern) => pattern.test(path)) && !isExportedSibling(path, exported);
  for (const file of filesUnder(root, 'dist')) if (!testOnly(file)) need(file, 'built');
  for (const path of packed)
    if (testOnly(path)) problems.push(`${workspace}: ${path} is a test file, fixture or source, and is packed`);
  return problems;
}

/** The `$id` of each JSON Schema file the packed contracts package ships under `schemas/`. */
function shippedSchemaIds(contractsFiles: ReadonlySet<string>): Map<string, string> {
  const ids = new Map<string, string>();
  for (const path of contractsFiles) {
    if (!/^schemas\/[^/]+\.schema\.json$/.test(path)) continue;
    const { $id } = JSON.parse(readFileSync(join(REPO_ROOT, 'host/contracts', path), 'utf8')) as { $id?: string };
    if ($id !== undefined) ids.set($id, path);
  }
  return ids;
}

/**
 * Where each packed manifest's `$schema` leads once the package is installed: an id of a schema the
 * contracts package ships (every plugin depends on it), or a relative path to a file packed with
 * the manifest itself. A path out of the package (`../../schemas/...`) leads nowhere.
 */
function schemaReferenceProblems(
  workspace: string,
  packed: ReadonlySet<string>,
  schemaIds: ReadonlyMap<string, string>,
): string[] {
  const problems: string[] = [];
  for (const manifest of ['platform-adapter.json', 'module.json']) {
    const file = join(REPO_ROOT, workspace, manifest);
    if (!existsSync(file)) continue;
    const { $schema } = JSON.parse(readFileSync(file, 'utf8')) as { $schema?: string };
    if ($schema === undefined) continue;
    const kind = manifest === 'module.json' ? 'module.schema.json' : 'adapter.schema.json';
    if (/^[a-z][a-z0-9+.-]*:/i.test($schema)) {
      const shipped = schemaIds.get($schema);
      if (shipped === undefined)
        problems.push(`${workspace}: ${manifest} $schema ${$schema} is no schema @platform-host/contracts ships`);
      else if (posix.basename(shipped) !== kind)
        problems.push(`${workspace}: ${manifest} $schema ${$schema} is ${shipped}, not the ${kind}`);
      continue;
    }
    const target = posix.normalize($schema);
    if (target.startsWith('../') || posix.isAbsolute(target))
      problems.push(`${workspace}: ${manifest} $schema ${$schema} points outside the package`);
    else if (!packed.has(target)) problems.push(`${workspace}: ${manifest} $schema ${$schema} is not packed`);
  }
  return problems;
}

/** A `.d.ts`, `.map` or `.js` beside an exported entry point (`dist/test-support/tables.*`). */
function isExportedSibling(path: string, exported: ReadonlySet<string>): boolean {
  const stem = path.replace(/(\.d)?\.(js|ts)(\.map)?$/, '');
  return [...exported].some((target) => target.replace(/(\.d)?\.(js|ts)(\.map)?$/, '') === stem);
}

describe('every installable workspace packs what it needs and no tests (npm pack --dry-run)', function () {
  this.timeout(120_000);
  let packs: Map<string, Set<string>>;

  before(function () {
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    const output = execFileSync(
      npm,
      ['pack', '--dry-run', '--json', '--ignore-scripts', ...INSTALLABLE.flatMap((workspace) => ['-w', workspace])],
      { cwd: REPO_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 },
    );
    const results = JSON.parse(output) as PackResult[];
    const byName = new Map(results.map((result) => [result.name, new Set(result.files.map((file) => file.path))]));
    packs = new Map(
      INSTALLABLE.map((workspace) => {
        const { name } = JSON.parse(readFileSync(join(REPO_ROOT, workspace, 'package.json'), 'utf8')) as {
          name: string;
        };
        return [workspace, byName.get(name) ?? new Set<string>()];
      }),
    );
  });

  it('covers host/*, adapters/*, plugins/* and migrations in one run', function () {
    expect(INSTALLABLE.length).to.be.greaterThan(20);
    for (const workspace of ['host/runtime', 'adapters/mq-kafka', 'plugins/metric-aggregator', 'migrations'])
      expect(INSTALLABLE, workspace).to.include(workspace);
    expect([...packs].filter(([, files]) => files.size === 0).map(([workspace]) => workspace)).to.deep.equal([]);
  });

  it("ships each workspace's dist, manifest and its entry point, migrations, schemas and README, and no tests or fixtures", function () {
    const problems = [...packs].flatMap(([workspace, files]) => packProblems(workspace, files));
    expect(problems).to.deep.equal([]);
  });

  it("names in each manifest's $schema a schema an installed package can resolve (shipped in @platform-host/contracts)", function () {
    const ids = shippedSchemaIds(packs.get('host/contracts') ?? new Set());
    expect([...ids.values()].sort(), 'schemas packed in @platform-host/contracts').to.include.members([
      'schemas/adapter.schema.json',
      'schemas/module.schema.json',
    ]);
    const problems = [...packs].flatMap(([workspace, files]) => schemaReferenceProblems(workspace, files, ids));
    expect(problems).to.deep.equal([]);
    // And the export an installed project (or an editor's mapping) uses to find the file of an id.
    const resolved = fileURLToPath(import.meta.resolve('@platform-host/contracts/schemas/adapter.schema.json'));
    expect((JSON.parse(readFileSync(resolved, 'utf8')) as { $id?: string }).$id).to.equal(MANIFEST_SCHEMA_IDS.adapter);
  });

  it('finds a $schema id of a schema the contracts package does not ship', function () {
    const ids = new Map([[MANIFEST_SCHEMA_IDS.module, 'schemas/module.schema.json']]);
    expect(schemaReferenceProblems('adapters/mq-memory', new Set(), ids)).to.deep.equal([
      `adapters/mq-memory: platform-adapter.json $schema ${MANIFEST_SCHEMA_IDS.adapter} is no schema @platform-host/contracts ships`,
    ]);
  });

  it('finds a packed list that misses the manifest entry and ships a compiled test', function () {
    const files = new Set(packs.get('adapters/mq-memory'));
    const entry = 'dist/index.js';
    expect(files.has(entry)).to.equal(true);
    files.delete(entry);
    files.add('dist/memory-message-queue.test.js');
    const problems = packProblems('adapters/mq-memory', files);
    expect(problems).to.include(`adapters/mq-memory: ${entry} (platform-adapter.json entry) is not packed`);
    expect(problems).to.include(
      'adapters/mq-memory: dist/memory-message-queue.test.js is a test file, fixture or source, and is packed',
    );
  });
});
