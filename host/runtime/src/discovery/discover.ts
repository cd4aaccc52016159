import {
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  statSync,
  writeFileSync,
  type Stats,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, delimiter, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHash } from 'node:crypto';
import { HOST_API_VERSION, MANIFEST_FILES } from '@platform-host/contracts';
import type { PluginRecord, PluginSource } from './plugin-record.js';
import type { ManifestValidation, PluginKind } from '../manifest/validate-manifest.js';

/** Options of {@link discoverPlugins}. */
export interface DiscoveryOptions {
  /** Project root holding `plugins/`, `adapters/` and `node_modules/`. */
  readonly root: string;
  /** Extra folders (`PLATFORM_PLUGIN_PATH`, separated by the OS path delimiter). */
  readonly pluginPath?: string | undefined;
  /** Manifest cache file; `false` disables the cache. Default under node_modules/.cache. */
  readonly cacheFile?: string | false | undefined;
}

interface Candidate {
  readonly dir: string;
  readonly source: PluginSource;
}

interface CacheEntry {
  readonly mtimeMs: number;
  readonly size: number;
  readonly validation: ManifestValidation;
  /** A `module.json` in node_modules that belongs to some other tool. */
  readonly foreign?: boolean;
}

/** The package folders in node_modules that hold a manifest, and the state they were found in. */
interface NodeModulesListing {
  readonly key: string;
  readonly dirs: readonly string[];
}

/**
 * The cache as written. Paths inside the project root are stored relative to it (entries keyed by
 * the manifest's path relative to the root's real path, node_modules folders relative to the root),
 * so a checkout copied or moved elsewhere reads them as its own; paths outside the root (a
 * `PLATFORM_PLUGIN_PATH` folder elsewhere) stay absolute.
 */
interface CacheFile {
  readonly key: string;
  readonly entries: Record<string, CacheEntry>;
  readonly nodeModules?: NodeModulesListing;
}

/** 3: paths relative to the root (2 stored absolute paths, which a copied checkout read as its own). */
const CACHE_FORMAT = 3;

/** `path` relative to `base` when it lies inside it, else `path` unchanged (absolute). */
function relativeToRoot(base: string, path: string): string {
  const inside = relative(base, path);
  return inside !== '' && !isAbsolute(inside) && inside.split(sep)[0] !== '..' ? inside : path;
}

/** The absolute path of a path stored by {@link relativeToRoot}. */
function fromRoot(base: string, stored: string): string {
  return isAbsolute(stored) ? stored : join(base, stored);
}

function subdirectories(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((entry) => (entry.isDirectory() || entry.isSymbolicLink()) && !entry.name.startsWith('.'))
      .map((entry) => join(dir, entry.name))
      .sort();
  } catch {
    return [];
  }
}

function statOrUndefined(path: string): Stats | undefined {
  try {
    // No exception for a missing path: discovery probes hundreds of them.
    return statSync(path, { throwIfNoEntry: false });
  } catch {
    return undefined;
  }
}

function hasManifest(dir: string): boolean {
  return Object.values(MANIFEST_FILES).some((file) => statOrUndefined(join(dir, file))?.isFile() === true);
}

/**
 * What node_modules looks like, cheaply: its own mtime and each scope folder's (entries added or
 * removed), and npm's hidden lockfile (rewritten by every install). Equal keys mean the package
 * folders holding a manifest are the same as last time.
 */
function nodeModulesKey(nodeModules: string, entries: readonly string[]): string {
  const mtime = (path: string): number => statOrUndefined(path)?.mtimeMs ?? 0;
  const scopes = entries.filter((dir) => basename(dir).startsWith('@')).map((dir) => `${basename(dir)}:${mtime(dir)}`);
  return [mtime(nodeModules), mtime(join(nodeModules, '.package-lock.json')), ...scopes].join('|');
}

/** Package folders in node_modules (scoped ones too) that hold a manifest; reuses `cached` when still valid. */
function nodeModulesPlugins(root: string, cached: NodeModulesListing | undefined): NodeModulesListing {
  const nodeModules = join(root, 'node_modules');
  const entries = subdirectories(nodeModules);
  const key = nodeModulesKey(nodeModules, entries);
  if (cached?.key === key) return cached;
  const dirs: string[] = [];
  for (const dir of entries) {
    for (const pkg of basename(dir).startsWith('@') ? subdirectories(dir) : [dir]) if (hasManifest(pkg)) dirs.push(pkg);
  }
  return { key, dirs };
}

function candidates(options: DiscoveryOptions, nodeModules: NodeModulesListing): Candidate[] {
  const out: Candidate[] = [];
  for (const dir of subdirectories(join(options.root, 'plugins'))) out.push({ dir, source: 'plugins' });
  for (const dir of subdirectories(join(options.root, 'adapters'))) out.push({ dir, source: 'adapters' });
  for (const entry of (options.pluginPath ?? '').split(delimiter).filter(Boolean)) {
    const dir = resolve(options.root, entry);
    for (const pluginDir of hasManifest(dir) ? [dir] : subdirectories(dir))
      out.push({ dir: pluginDir, source: 'PLATFORM_PLUGIN_PATH' });
  }
  for (const dir of nodeModules.dirs) out.push({ dir, source: 'node_modules' });
  return out;
}

/** The key under which cached validations stay valid: host API, cache format, validator build. */
function cacheKey(): string {
  const validator = fileURLToPath(new URL('../manifest/validate-manifest.js', import.meta.url));
  return `${CACHE_FORMAT}|${HOST_API_VERSION}|${statOrUndefined(validator)?.mtimeMs ?? 0}`;
}

function defaultCacheFile(root: string): string {
  if (statOrUndefined(join(root, 'node_modules'))?.isDirectory()) {
    return join(root, 'node_modules', '.cache', 'platform-host', 'manifests.json');
  }
  const hash = createHash('sha256').update(root).digest('hex').slice(0, 12);
  return join(tmpdir(), `platform-host-${hash}`, 'manifests.json');
}

/** Where stored paths are relative to: the root as given (node_modules folders) and its real path (manifests). */
interface CacheBase {
  readonly root: string;
  readonly realRoot: string;
}

/** The cache of `file` with its paths made absolute again (see {@link CacheFile}); empty when unusable. */
function readCache(file: string, key: string, base: CacheBase): Pick<CacheFile, 'entries' | 'nodeModules'> {
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as CacheFile;
    if (parsed.key !== key) return { entries: {} };
    const entries: Record<string, CacheEntry> = {};
    for (const [path, entry] of Object.entries(parsed.entries)) entries[fromRoot(base.realRoot, path)] = entry;
    const listing = parsed.nodeModules;
    return listing === undefined
      ? { entries }
      : { entries, nodeModules: { key: listing.key, dirs: listing.dirs.map((dir) => fromRoot(base.root, dir)) } };
  } catch {
    return { entries: {} };
  }
}

function writeCache(file: string, content: CacheFile, base: CacheBase): void {
  const entries: Record<string, CacheEntry> = {};
  for (const [path, entry] of Object.entries(content.entries)) entries[relativeToRoot(base.realRoot, path)] = entry;
  const listing = content.nodeModules;
  const stored: CacheFile = {
    key: content.key,
    entries,
    ...(listing === undefined
      ? {}
      : { nodeModules: { key: listing.key, dirs: listing.dirs.map((dir) => relativeToRoot(base.root, dir)) } }),
  };
  try {
    mkdirSync(dirname(file), { recursive: true });
    const temporary = `${file}.${process.pid}.tmp`;
    writeFileSync(temporary, JSON.stringify(stored));
    renameSync(temporary, file);
  } catch {
    // A read-only install still works, just without the cache.
  }
}

function realRootOf(root: string): string {
  try {
    return realpathSync(root);
  } catch {
    return root;
  }
}

type Validate = (kind: PluginKind, json: unknown) => ManifestValidation;

/**
 * Finds every plugin: folders under `plugins/` and `adapters/`, folders on `PLATFORM_PLUGIN_PATH`,
 * and packages in `node_modules` that carry a platform-host manifest. Reads manifests only — no
 * plugin code is imported. Validations are cached by manifest path, mtime and size; the schema
 * validator (zod) is loaded only when some manifest changed. A broken plugin becomes a record with
 * problems; it never stops the others from being found.
 */
export async function discoverPlugins(options: DiscoveryOptions): Promise<PluginRecord[]> {
  const cacheFile = options.cacheFile === undefined ? defaultCacheFile(options.root) : options.cacheFile;
  const key = cacheKey();
  const base: CacheBase = { root: options.root, realRoot: realRootOf(options.root) };
  const cache = cacheFile === false ? { entries: {} } : readCache(cacheFile, key, base);
  const cached: Record<string, CacheEntry> = cache.entries;
  const nodeModules = nodeModulesPlugins(options.root, cache.nodeModules);
  const fresh: Record<string, CacheEntry> = {};
  let changed = false;
  let validate: Validate | undefined;
  const seen = new Set<string>();
  const records: PluginRecord[] = [];

  for (const candidate of candidates(options, nodeModules)) {
    const found = (Object.entries(MANIFEST_FILES) as Array<[PluginKind, string]>)
      .map(([kind, file]) => ({
        kind,
        path: join(candidate.dir, file),
        stat: statOrUndefined(join(candidate.dir, file)),
      }))
      .filter((item) => item.stat?.isFile());
    if (found.length === 0) continue;
    let dir: string;
    try {
      dir = realpathSync(candidate.dir);
    } catch {
      continue;
    }
    if (seen.has(dir)) continue;

    for (const { kind, stat } of found) {
      const manifestPath = join(dir, MANIFEST_FILES[kind]);
      const size = stat?.size ?? 0;
      const mtimeMs = stat?.mtimeMs ?? 0;
      let entry = cached[manifestPath];
      if (!entry || entry.mtimeMs !== mtimeMs || entry.size !== size) {
        changed = true;
        let json: unknown;
        let parseProblem: string | undefined;
        try {
          json = JSON.parse(readFileSync(manifestPath, 'utf8'));
        } catch (error) {
          parseProblem = `cannot read ${MANIFEST_FILES[kind]}: ${(error as Error).message}`;
        }
        if (parseProblem === undefined) {
          validate ??= (await import('../manifest/validate-manifest.js')).validateManifest;
          entry = { mtimeMs, size, validation: validate(kind, json) };
        } else {
          const validation: ManifestValidation = { kind, manifest: undefined, problems: [parseProblem] };
          entry = { mtimeMs, size, validation };
        }
        // In node_modules only packages that are clearly platform-host plugins count: an adapter
        // manifest, or a module.json that declares host_api.
        if (
          candidate.source === 'node_modules' &&
          kind === 'module' &&
          !(typeof json === 'object' && json !== null && 'host_api' in json)
        ) {
          entry = { ...entry, foreign: true };
        }
      }
      fresh[manifestPath] = entry;
      if (entry.foreign === true) continue;
      seen.add(dir);
      const { validation } = entry;
      const base = {
        name: validation.manifest?.name ?? basename(dir),
        dir,
        manifestPath,
        source: candidate.source,
        problems: [...validation.problems],
        incompatibleHost: validation.incompatibleHost === true,
        duplicate: false,
      };
      records.push(
        validation.kind === 'module'
          ? { ...base, kind: 'module', manifest: validation.manifest }
          : { ...base, kind: 'adapter', manifest: validation.manifest },
      );
    }
  }
  const listingChanged = nodeModules !== cache.nodeModules;
  if (cacheFile !== false && (changed || listingChanged || Object.keys(cached).length !== Object.keys(fresh).length)) {
    writeCache(cacheFile, { key, entries: fresh, nodeModules }, base);
  }
  return records;
}
