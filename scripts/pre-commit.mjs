#!/usr/bin/env node
// The pre-commit checks (seed 16.3), one script for the git hook and for CI:
//   node scripts/pre-commit.mjs --staged   the files staged for commit (the hook `make setup` installs)
//   node scripts/pre-commit.mjs --all      every tracked file (.ci/run)
// Checks, in order: `tsc -b` on the workspaces the files belong to (all of them with --all), then
// type-aware eslint and `prettier --check` on the files, then every module.json and
// platform-adapter.json among them against the manifest schema (and the message schema files a
// module declares), then data_quality checks files (checks/*.yml) with the module's own parser.
// The files are checked as they are in the working tree. Skip once with SKIP_SIMPLE_GIT_HOOKS=1.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const mode = process.argv[2];
if (mode !== '--staged' && mode !== '--all') {
  process.stderr.write('usage: node scripts/pre-commit.mjs --staged | --all\n');
  process.exit(2);
}
const all = mode === '--all';
const bin = (name) => join(root, 'node_modules', '.bin', name);

function git(args) {
  const result = spawnSync('git', args, { cwd: root, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`git ${args.join(' ')} failed: ${result.stderr.trim()}`);
  return result.stdout.split('\n').filter(Boolean);
}

const files = (all ? git(['ls-files']) : git(['diff', '--cached', '--name-only', '--diff-filter=ACMR'])).filter(
  (file) => existsSync(join(root, file)),
);

/** The workspaces of the root package.json that have a tsconfig.json (host/runtime, plugins/x, ...). */
function workspaces() {
  const { workspaces: patterns } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const dirs = [];
  for (const pattern of patterns) {
    if (pattern.endsWith('/*')) {
      const parent = pattern.slice(0, -2);
      for (const entry of git(['ls-files', '--', `${parent}/*/tsconfig.json`]))
        if (entry.split('/').length === parent.split('/').length + 2) dirs.push(dirname(entry));
    } else if (existsSync(join(root, pattern, 'tsconfig.json'))) dirs.push(pattern);
  }
  return dirs;
}

const results = [];
function run(name, command, args) {
  const started = Date.now();
  process.stdout.write(`pre-commit: ${name}\n`);
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit' });
  const ok = result.status === 0;
  results.push({ name, ok, ms: Date.now() - started });
  return ok;
}
function record(name, started, problems) {
  for (const problem of problems) process.stdout.write(`  ✗ ${problem}\n`);
  results.push({ name, ok: problems.length === 0, ms: Date.now() - started });
}

// 1. tsc -b on the workspaces touched (project references build what they depend on).
const workspaceDirs = workspaces();
const touched = [
  ...new Set(files.map((file) => workspaceDirs.find((dir) => file.startsWith(`${dir}/`))).filter(Boolean)),
];
const tscOk = all
  ? run('tsc -b (every workspace)', bin('tsc'), ['-b'])
  : touched.length === 0 || run(`tsc -b ${touched.join(' ')}`, bin('tsc'), ['-b', ...touched]);

// 2. eslint (type-aware; needs the declarations tsc wrote) and prettier --check.
const lintable = files.filter((file) => /\.(?:[cm]?[jt]s)$/.test(file));
if (all) run('eslint .', bin('eslint'), ['.']);
else if (lintable.length > 0 && tscOk)
  run(`eslint (${lintable.length} files)`, bin('eslint'), ['--no-warn-ignored', '--max-warnings', '0', ...lintable]);
if (all) run('prettier --check .', bin('prettier'), ['--check', '.']);
else if (files.length > 0)
  run(`prettier --check (${files.length} files)`, bin('prettier'), ['--check', '--ignore-unknown', ...files]);

// 3. Manifests against the manifest schema, with the runtime's own validation (zod, strict).
const manifests = files.filter(
  (file) => /(?:^|\/)(?:module|platform-adapter)\.json$/.test(file) && !file.includes('node_modules/'),
);
const messageSchemaFiles = files.filter((file) => /(?:^|\/)schemas\/[^/]+\.schema\.json$/.test(file));
if (manifests.length > 0 || messageSchemaFiles.length > 0) {
  const started = Date.now();
  const problems = [];
  const runtime = join(root, 'host', 'runtime', 'dist', 'manifest');
  if (!existsSync(join(runtime, 'validate-manifest.js'))) {
    problems.push('host/runtime is not built: run npm run build');
  } else {
    const { validateManifest } = await import(pathToFileURL(join(runtime, 'validate-manifest.js')).href);
    const { loadMessageSchema } = await import(pathToFileURL(join(runtime, 'messages.js')).href);
    // A changed message schema file is checked through every module manifest (one may name it).
    const declaring = messageSchemaFiles.length > 0 ? git(['ls-files', '--', '*module.json']) : [];
    for (const file of [...new Set([...manifests, ...declaring])].filter((f) => !f.includes('node_modules/'))) {
      const kind = file.endsWith('module.json') ? 'module' : 'adapter';
      let json;
      try {
        json = JSON.parse(readFileSync(join(root, file), 'utf8'));
      } catch (error) {
        problems.push(`${file}: not JSON: ${error.message}`);
        continue;
      }
      const validation = validateManifest(kind, json);
      for (const problem of validation.problems) problems.push(`${file}: ${problem}`);
      for (const direction of ['produces', 'consumes']) {
        for (const declaration of validation.manifest?.messages?.[direction] ?? []) {
          try {
            loadMessageSchema(declaration.schema, join(root, dirname(file)));
          } catch (error) {
            problems.push(`${file}: messages.${direction}: ${error.message}`);
          }
        }
      }
    }
  }
  record(`manifests (${manifests.length})`, started, problems);
}

// 4. data_quality checks files, parsed and validated by the module itself (schemas/data-quality-checks.schema.json).
const checksFiles = files.filter(
  (file) => /(?:^|\/)checks\/[^/]+\.ya?ml$/.test(file) && !file.includes('node_modules/'),
);
if (checksFiles.length > 0) {
  const started = Date.now();
  const problems = [];
  const parser = join(root, 'plugins', 'data-quality', 'dist', 'checks-file.js');
  if (!existsSync(parser)) problems.push('plugins/data-quality is not built: run npm run build');
  else {
    const { parseChecksFile, formatProblem } = await import(pathToFileURL(parser).href);
    for (const file of checksFiles) {
      const parsed = parseChecksFile(file, readFileSync(join(root, file), 'utf8'));
      if (!parsed.ok) problems.push(...parsed.problems.map(formatProblem));
    }
  }
  record(`data_quality checks files (${checksFiles.length})`, started, problems);
}

const failed = results.filter((result) => !result.ok);
for (const result of results)
  process.stdout.write(`  ${result.ok ? '✓' : '✗'} ${result.name} (${(result.ms / 1000).toFixed(1)} s)\n`);
if (files.length === 0) process.stdout.write('pre-commit: no staged files to check\n');
if (failed.length > 0) {
  process.stdout.write(
    `pre-commit: ${failed.length} check${failed.length > 1 ? 's' : ''} failed: ${failed.map((r) => r.name).join('; ')}\n` +
      (all ? '' : 'Fix them and stage the fix, or commit with SKIP_SIMPLE_GIT_HOOKS=1 to skip once.\n'),
  );
  process.exit(1);
}
process.stdout.write('pre-commit: all checks passed\n');
