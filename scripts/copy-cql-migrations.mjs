#!/usr/bin/env node
// Part of `npm run build`, after `tsc -b`: copies every workspace's `src/**/*.cql` migration file to
// the same place under `dist/`, which tsc does not copy. A module's manifest names its compiled
// folder (`"cql": "./dist/migrations/cql"`) and the shared set falls back to `migrations/dist/cql`,
// so a package published without `src/` (npm pack of `files: ["dist", ...]`) still has them.
// `.cql` files under `dist/` that no longer have a source are removed, so dist mirrors src.
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** The workspace folders of the root package.json (`host/*`, `migrations`...). */
function workspaces() {
  const patterns = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).workspaces;
  return patterns.flatMap((pattern) => {
    if (!pattern.endsWith('/*')) return [join(root, pattern)];
    const parent = join(root, pattern.slice(0, -2));
    return existsSync(parent)
      ? readdirSync(parent, { withFileTypes: true })
          .filter((entry) => entry.isDirectory())
          .map((entry) => join(parent, entry.name))
      : [];
  });
}

/** Paths of the `.cql` files under `dir`, relative to it. */
function cqlFiles(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.cql'))
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)));
}

let copied = 0;
for (const workspace of workspaces()) {
  const src = join(workspace, 'src');
  const dist = join(workspace, 'dist');
  const sources = cqlFiles(src);
  if (sources.length === 0 && !existsSync(dist)) continue;
  for (const file of sources) {
    mkdirSync(dirname(join(dist, file)), { recursive: true });
    copyFileSync(join(src, file), join(dist, file));
    copied += 1;
  }
  const kept = new Set(sources);
  for (const file of cqlFiles(dist)) if (!kept.has(file)) rmSync(join(dist, file));
}
if (process.argv.includes('--verbose')) console.log(`copied ${copied} .cql migration files to dist/`);
