/**
 * Facts about the project that the deploy artifacts must agree with, read from the sources of
 * truth: adapter and module manifests, the host's global flags (compiled runtime), the env keys
 * the runtime reads, and the CLI itself.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseAllDocuments } from 'yaml';
import type { AdapterManifest, ModuleManifest } from '@platform-host/contracts';
import { adapterManifestSchema, moduleManifestSchema } from '@platform-host/contracts/manifest-schemas';
import { isRecord, stringOf } from './plain-data.js';

/** The repository root (this file is compiled to integration-tests/dist/deploy/). */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** An absolute path from a repository-relative one. */
export function repoPath(...segments: string[]): string {
  return join(REPO_ROOT, ...segments);
}

/** True when `path` exists and is a directory. */
export function isDirectory(path: string): boolean {
  return existsSync(path) && statSync(path).isDirectory();
}

/** Every YAML document of a file (a `---` separated stream), as plain data. */
export function readYamlDocuments(path: string): unknown[] {
  const documents = parseAllDocuments(readFileSync(path, 'utf8'));
  if (!Array.isArray(documents)) throw new Error(`${path} is empty`);
  return documents.map((document, index) => {
    if (document.errors.length > 0) {
      throw new Error(
        `${path} document ${index + 1} is not valid YAML: ${document.errors.map((error) => error.message).join('; ')}`,
      );
    }
    return document.toJS({ maxAliasCount: 100 }) as unknown;
  });
}

/** The single YAML document of a file. */
export function readYaml(path: string): unknown {
  const documents = readYamlDocuments(path);
  if (documents.length !== 1) throw new Error(`${path} holds ${documents.length} YAML documents, expected 1`);
  return documents[0];
}

function manifestFiles(folder: string, file: string): string[] {
  const dir = repoPath(folder);
  if (!isDirectory(dir)) return [];
  return readdirSync(dir)
    .sort()
    .map((name) => join(dir, name, file))
    .filter((path) => existsSync(path));
}

/** The adapter manifests under adapters/ (validated by the contracts' schema). */
export function adapterManifests(): AdapterManifest[] {
  return manifestFiles('adapters', 'platform-adapter.json').map((path) =>
    adapterManifestSchema.parse(JSON.parse(readFileSync(path, 'utf8'))),
  );
}

/** The module manifests under plugins/, by module name. */
export function moduleManifests(): Map<string, ModuleManifest> {
  const modules = manifestFiles('plugins', 'module.json').map((path) =>
    moduleManifestSchema.parse(JSON.parse(readFileSync(path, 'utf8'))),
  );
  return new Map(modules.map((manifest) => [manifest.name, manifest]));
}

/** One global flag of the host (`--db` / `PLATFORM_DB`, ...). */
export interface GlobalFlagFacts {
  readonly name: string;
  readonly env: string;
  readonly selects?: string;
  readonly default?: unknown;
}

/** The host's global flags, from the compiled runtime (host/runtime/dist/cli/global-flags.js). */
export async function globalFlags(): Promise<GlobalFlagFacts[]> {
  const path = repoPath('host', 'runtime', 'dist', 'options', 'global-flags.js');
  if (!existsSync(path)) throw new Error(`${path} is missing: build the runtime first (npx tsc -b integration-tests)`);
  const loaded: unknown = await import(pathToFileURL(path).href);
  const list = isRecord(loaded) ? loaded.GLOBAL_FLAGS : undefined;
  if (!Array.isArray(list)) throw new Error(`${path} does not export GLOBAL_FLAGS`);
  return (list as unknown[]).filter(isRecord).map((flag) => ({
    name: stringOf(flag.name) ?? '',
    env: stringOf(flag.env) ?? '',
    ...(typeof flag.selects === 'string' ? { selects: flag.selects } : {}),
    ...(flag.default === undefined ? {} : { default: flag.default }),
  }));
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory() && entry.name !== 'test-support') out.push(...sourceFiles(path));
    else if (entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}

/** `PLATFORM_*` variables the runtime reads (its non-test sources name them). */
export function hostEnvKeys(): Set<string> {
  const keys = new Set<string>();
  for (const file of sourceFiles(repoPath('host', 'runtime', 'src'))) {
    for (const match of readFileSync(file, 'utf8').matchAll(/\bPLATFORM_[A-Z][A-Z0-9_]*\b/g)) keys.add(match[0]);
  }
  return keys;
}

/** Environment keys a deploy artifact may hand to the host and where each comes from. */
export interface ConfigKeyFacts {
  /** Every key: adapter config keys, global flag env vars, other PLATFORM_* keys the runtime reads, Node's own. */
  readonly allowed: ReadonlySet<string>;
  /** Keys some adapter declares `secret: true`. */
  readonly secret: ReadonlySet<string>;
  /** Flags installed per interface (`database` -> postgres, memory, pglite). */
  readonly flagsByInterface: ReadonlyMap<string, ReadonlySet<string>>;
  readonly globalFlags: readonly GlobalFlagFacts[];
}

/**
 * Variables read by Node itself rather than by the host or an adapter, which a deploy artifact may
 * set too (metric_aggregator's workloads size V8's young generation with `NODE_OPTIONS`).
 */
export const NODE_RUNTIME_ENV_KEYS: readonly string[] = ['NODE_OPTIONS'];

/** Collects {@link ConfigKeyFacts} from the manifests and the runtime. */
export async function configKeyFacts(): Promise<ConfigKeyFacts> {
  const adapters = adapterManifests();
  const flags = await globalFlags();
  const allowed = new Set<string>([...hostEnvKeys(), ...flags.map((flag) => flag.env), ...NODE_RUNTIME_ENV_KEYS]);
  const secret = new Set<string>();
  const flagsByInterface = new Map<string, Set<string>>();
  for (const adapter of adapters) {
    for (const key of adapter.config) {
      allowed.add(key.env);
      if (key.secret) secret.add(key.env);
    }
    const set = flagsByInterface.get(adapter.interface) ?? new Set<string>();
    for (const flag of adapter.flags) set.add(flag);
    flagsByInterface.set(adapter.interface, set);
  }
  return { allowed, secret, flagsByInterface, globalFlags: flags };
}

/** Problems of an environment handed to the host: unknown keys, and flag values no adapter serves. */
export function environmentProblems(
  where: string,
  env: Readonly<Record<string, string>>,
  facts: ConfigKeyFacts,
): string[] {
  const problems: string[] = [];
  for (const [key, value] of Object.entries(env)) {
    if (!facts.allowed.has(key)) {
      problems.push(
        `${where}: ${key} is neither a config key of an adapter manifest nor a PLATFORM_* variable of the host`,
      );
      continue;
    }
    const flag = facts.globalFlags.find((candidate) => candidate.env === key);
    if (flag?.selects !== undefined) {
      const installed = facts.flagsByInterface.get(flag.selects) ?? new Set<string>();
      if (!installed.has(value)) {
        problems.push(
          `${where}: ${key}=${value} selects no installed ${flag.selects} adapter (installed: ${[...installed].sort().join(', ')})`,
        );
      }
    }
  }
  return problems;
}

/** Problems of a module command line (`run <module> ...args`) against the module's manifest. */
export function moduleCommandProblems(
  where: string,
  argv: readonly string[],
  modules: ReadonlyMap<string, ModuleManifest>,
  globalFlagNames: ReadonlySet<string>,
): string[] {
  if (argv[0] !== 'run') return [`${where}: the command is not "run <module>": ${argv.join(' ')}`];
  const name = argv[1];
  const manifest = name === undefined ? undefined : modules.get(name);
  if (manifest === undefined)
    return [`${where}: module "${name ?? ''}" does not exist (modules: ${[...modules.keys()].sort().join(', ')})`];
  const problems: string[] = [];
  const declared = new Map(manifest.args.map((arg) => [arg.name, arg]));
  const given = new Set<string>();
  for (const token of argv.slice(2)) {
    if (!token.startsWith('--')) continue;
    const flag = token.slice(2).split('=')[0] ?? '';
    const base = flag.startsWith('no-') && !declared.has(flag) ? flag.slice(3) : flag;
    if (declared.has(base)) given.add(base);
    else if (!globalFlagNames.has(base))
      problems.push(
        `${where}: --${flag} is not an argument of ${manifest.name} (declared: ${[...declared.keys()].join(', ')}) nor a global flag`,
      );
  }
  for (const arg of manifest.args) {
    if (arg.required && !given.has(arg.name))
      problems.push(`${where}: required argument --${arg.name} of ${manifest.name} is missing`);
  }
  return problems;
}

/** What a CLI run printed and returned. */
export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `node host/runtime/bin/platform-host.js ...args` with exactly `env` (plus PATH). */
export function runCli(args: readonly string[], env: Readonly<Record<string, string>>): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [repoPath('host', 'runtime', 'bin', 'platform-host.js'), ...args],
      { cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? '', ...env }, timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}
