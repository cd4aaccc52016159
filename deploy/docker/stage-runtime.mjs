#!/usr/bin/env node
// What the production image (deploy/docker/Dockerfile) holds, decided in one place:
//
//   node deploy/docker/stage-runtime.mjs workspaces          runtime workspace folders, one per line
//   node deploy/docker/stage-runtime.mjs workspace-flags     the same as --workspace=<dir> flags for `npm ci`
//   node deploy/docker/stage-runtime.mjs prune               delete the non-runtime workspace folders (after npm ci)
//   node deploy/docker/stage-runtime.mjs copy <dest>         copy the built runtime files into <dest>
//
// Runtime workspaces are every workspace of the root package.json except the test kit and the
// integration tests, so a new adapter or module is in the image without editing this file.
// Per runtime workspace the image gets package.json, bin/, the plugin manifest and dist/ without
// tests, declarations and source maps; migration sources (src/NNN_*.ts of the migrations workspace,
// and of every folder a module.json names under "migrations") stay too, because the migration
// runner checksums the sources to detect a migration edited after it was applied. Data files a
// module reads at run time stay as well: checks/ (data_quality's default checks file, which its
// CronJob runs from the image).
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const NON_RUNTIME_WORKSPACES = new Set(['host/test-kit', 'integration-tests']);
const MANIFEST_FILES = ['package.json', 'platform-adapter.json', 'module.json'];
const DROPPED_FROM_DIST = [
  /\.test\.[cm]?js$/,
  /\.bench\.[cm]?js$/,
  /\.test\.d\.[cm]?ts$/,
  /\.d\.[cm]?ts$/,
  /\.map$/,
  /\.tsbuildinfo$/,
];
const MIGRATION_SOURCE = /^\d{3,}_[a-z0-9_]+\.ts$/;
/** Folders of a module workspace with data files it reads at run time, copied as they are. */
const RUNTIME_DATA_DIRS = ['checks'];

function fail(message) {
  process.stderr.write(`stage-runtime: ${message}\n`);
  process.exit(2);
}

function isDirectory(path) {
  return existsSync(path) && statSync(path).isDirectory();
}

/** Every workspace folder (relative, `/`-separated) matched by the root package.json globs. */
export function allWorkspaces(root = ROOT) {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const patterns = Array.isArray(pkg.workspaces) ? pkg.workspaces : (pkg.workspaces?.packages ?? []);
  const found = [];
  for (const pattern of patterns) {
    if (pattern.endsWith('/*') && !pattern.slice(0, -2).includes('*')) {
      const parent = pattern.slice(0, -2);
      if (!isDirectory(join(root, parent))) continue;
      for (const entry of readdirSync(join(root, parent)).sort()) {
        if (existsSync(join(root, parent, entry, 'package.json'))) found.push(`${parent}/${entry}`);
      }
    } else if (!pattern.includes('*')) {
      if (existsSync(join(root, pattern, 'package.json'))) found.push(pattern);
    } else {
      fail(`workspace pattern "${pattern}" is not supported (use "dir/*" or "dir")`);
    }
  }
  return found;
}

/** The workspaces the image runs: all but the test kit and the integration tests. */
export function runtimeWorkspaces(root = ROOT) {
  return allWorkspaces(root).filter((dir) => !NON_RUNTIME_WORKSPACES.has(dir));
}

function copyFile(from, to) {
  mkdirSync(dirname(to), { recursive: true });
  copyFileSync(from, to);
}

function copyTree(from, to, keep) {
  for (const entry of readdirSync(from, { withFileTypes: true })) {
    const source = join(from, entry.name);
    if (entry.isDirectory()) copyTree(source, join(to, entry.name), keep);
    else if (entry.isFile() && keep(entry.name)) copyFile(source, join(to, entry.name));
  }
}

/**
 * Folders (relative to the workspace) holding migration sources: `src` of the migrations workspace,
 * and for a module each `./dist/<path>` its manifest names under `migrations`, as `src/<path>`.
 */
function migrationSourceDirs(dir, from) {
  if (dir === 'migrations') return isDirectory(join(from, 'src')) ? ['src'] : [];
  const manifestPath = join(from, 'module.json');
  if (!existsSync(manifestPath)) return [];
  const folders = Object.values(JSON.parse(readFileSync(manifestPath, 'utf8')).migrations ?? {});
  return folders
    .filter((folder) => typeof folder === 'string' && folder.startsWith('./dist/'))
    .map((folder) => `src/${folder.slice('./dist/'.length)}`)
    .filter((folder) => isDirectory(join(from, folder)));
}

/** Copies the runtime files of `root` into `dest`; returns the workspaces copied. */
export function copyRuntime(root, dest) {
  const workspaces = runtimeWorkspaces(root);
  for (const file of ['package.json', 'package-lock.json']) {
    if (existsSync(join(root, file))) copyFile(join(root, file), join(dest, file));
  }
  for (const dir of workspaces) {
    const from = join(root, dir);
    const to = join(dest, dir);
    if (!isDirectory(join(from, 'dist'))) fail(`${dir}/dist is missing: build first (npm run build)`);
    for (const file of MANIFEST_FILES) {
      if (existsSync(join(from, file))) copyFile(join(from, file), join(to, file));
    }
    copyTree(join(from, 'dist'), join(to, 'dist'), (name) => !DROPPED_FROM_DIST.some((pattern) => pattern.test(name)));
    if (isDirectory(join(from, 'bin'))) copyTree(join(from, 'bin'), join(to, 'bin'), () => true);
    if (existsSync(join(from, 'module.json'))) {
      for (const dataDir of RUNTIME_DATA_DIRS.filter((name) => isDirectory(join(from, name))))
        copyTree(join(from, dataDir), join(to, dataDir), () => true);
    }
    for (const sourceDir of migrationSourceDirs(dir, from)) {
      copyTree(join(from, sourceDir), join(to, sourceDir), (name) => MIGRATION_SOURCE.test(name));
    }
  }
  return workspaces;
}

function main(argv) {
  const [command, dest] = argv;
  switch (command) {
    case 'workspaces':
      process.stdout.write(`${runtimeWorkspaces().join('\n')}\n`);
      return;
    case 'workspace-flags':
      process.stdout.write(
        `${runtimeWorkspaces()
          .map((dir) => `--workspace=${dir}`)
          .join(' ')}\n`,
      );
      return;
    case 'prune':
      for (const dir of allWorkspaces().filter((dir) => NON_RUNTIME_WORKSPACES.has(dir))) {
        rmSync(join(ROOT, dir), { recursive: true, force: true });
      }
      return;
    case 'copy': {
      if (!dest) fail('usage: stage-runtime.mjs copy <dest>');
      const copied = copyRuntime(ROOT, dest);
      process.stdout.write(`staged ${copied.length} workspaces into ${relative(process.cwd(), dest) || '.'}\n`);
      return;
    }
    default:
      fail('usage: stage-runtime.mjs workspaces | workspace-flags | prune | copy <dest>');
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main(process.argv.slice(2));
