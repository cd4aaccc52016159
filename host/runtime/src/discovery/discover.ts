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
import { basename, delimiter, dirname, join, resolve } from 'node:path';
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

interface CacheFile {
  readonly key: string;
  readonly entries: Record<string, CacheEntry>;
}

const CACHE_FORMAT = 1;

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
    return statSync(path);
  } catch {
    return undefined;
  }
}

function candidates(options: DiscoveryOptions): Candidate[] {
  const out: Candidate[] = [];
  for (const dir of subdirectories(join(options.root, 'plugins'))) out.push({ dir, source: 'plugins' });
  for (const dir of subdirectories(join(options.root, 'adapters'))) out.push({ dir, source: 'adapters' });
  for (const entry of (options.pluginPath ?? '').split(delimiter).filter(Boolean)) {
    const dir = resolve(options.root, entry);
    const isPlugin = Object.values(MANIFEST_FILES).some((file) => statOrUndefined(join(dir, file))?.isFile());
    for (const pluginDir of isPlugin ? [dir] : subdirectories(dir))
      out.push({ dir: pluginDir, source: 'PLATFORM_PLUGIN_PATH' });
  }
  for (const dir of subdirectories(join(options.root, 'node_modules'))) {
    if (basename(dir).startsWith('@')) {
      for (const scoped of subdirectories(dir)) out.push({ dir: scoped, source: 'node_modules' });
    } else {
      out.push({ dir, source: 'node_modules' });
    }
  }
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

function readCache(file: string, key: string): Record<string, CacheEntry> {
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as CacheFile;
    return parsed.key === key ? parsed.entries : {};
  } catch {
    return {};
  }
}

function writeCache(file: string, key: string, entries: Record<string, CacheEntry>): void {
  try {
    mkdirSync(dirname(file), { recursive: true });
    const temporary = `${file}.${process.pid}.tmp`;
    writeFileSync(temporary, JSON.stringify({ key, entries } satisfies CacheFile));
    renameSync(temporary, file);
  } catch {
    // A read-only install still works, just without the cache.
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
  const cached = cacheFile === false ? {} : readCache(cacheFile, key);
  const fresh: Record<string, CacheEntry> = {};
  let changed = false;
  let validate: Validate | undefined;
  const seen = new Set<string>();
  const records: PluginRecord[] = [];

  for (const candidate of candidates(options)) {
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
      };
      records.push(
        validation.kind === 'module'
          ? { ...base, kind: 'module', manifest: validation.manifest }
          : { ...base, kind: 'adapter', manifest: validation.manifest },
      );
    }
  }
  if (cacheFile !== false && (changed || Object.keys(cached).length !== Object.keys(fresh).length)) {
    writeCache(cacheFile, key, fresh);
  }
  return records;
}
