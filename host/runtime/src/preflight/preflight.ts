import { PlatformError, type ModuleManifest } from '@platform-host/contracts';
import { discoverPlugins } from '../discovery/discover.js';
import type { ModuleRecord } from '../discovery/plugin-record.js';
import { buildRegistry, type PluginRegistry } from '../discovery/registry.js';
import { loadEnv, type LoadedEnv } from '../env/load-env.js';
import { resolveGlobalOptions, splitArgv, type GlobalOptions } from '../options/split-argv.js';
import { didYouMean } from '../text/did-you-mean.js';

/** Everything `run`, `doctor` and `migrate` resolve before doing anything. */
export interface Preflight {
  readonly root: string;
  readonly env: LoadedEnv;
  readonly options: GlobalOptions;
  readonly registry: PluginRegistry;
  /** Arguments left after global flags were taken out (the module's own). */
  readonly rest: readonly string[];
  readonly help: boolean;
}

/**
 * Splits global flags from module arguments, loads env files for `--env`, resolves global flags
 * (command line > env var > default) and discovers plugins. Values from env files are copied into
 * `process.env` when not already set there, as a dotenv loader would, so libraries that read the
 * environment themselves see them too.
 */
export async function preflight(
  root: string,
  tokens: readonly string[],
  processEnv: NodeJS.ProcessEnv = process.env,
): Promise<Preflight> {
  const split = splitArgv(tokens);
  const envFlag = split.globals.get('env');
  const envName = typeof envFlag === 'string' ? envFlag : processEnv.PLATFORM_ENV || 'local';
  const env = loadEnv(root, envName, processEnv);
  for (const [key, value] of Object.entries(env.values)) {
    if (processEnv[key] === undefined) processEnv[key] = value;
  }
  const options = resolveGlobalOptions(split.globals, env.values);
  const registry = buildRegistry(await discoverPlugins({ root, pluginPath: env.values.PLATFORM_PLUGIN_PATH }));
  return { root, env, options, registry, rest: split.rest, help: split.help };
}

/** The module record by name, or one clear error (did-you-mean, list, or its manifest problems). */
export function findModule(registry: PluginRegistry, name: string): ModuleRecord & { manifest: ModuleManifest } {
  const record = registry.modules.get(name);
  if (!record?.manifest) {
    const broken = registry.records.find((r) => r.kind === 'module' && r.name === name);
    if (broken) {
      throw new PlatformError(
        'PH_ERR_MANIFEST_INVALID',
        `Module ${name} (${broken.manifestPath}) cannot be used:\n${broken.problems.map((p) => `  - ${p}`).join('\n')}`,
      );
    }
    const names = [...registry.modules.keys()].sort();
    throw new PlatformError(
      'PH_ERR_MODULE_NOT_FOUND',
      `No module named "${name}"${didYouMean(name, names)}; available: ${names.length > 0 ? names.join(', ') : 'none'}`,
      {
        hint: 'Run `platform-host plugins list` to see every discovered module.',
      },
    );
  }
  if (record.problems.length > 0) {
    throw new PlatformError(
      record.incompatibleHost
        ? 'PH_ERR_PLUGIN_INCOMPATIBLE'
        : record.duplicate
          ? 'PH_ERR_PLUGIN_DUPLICATE'
          : 'PH_ERR_MANIFEST_INVALID',
      `Module ${name} (${record.manifestPath}) cannot be used:\n${record.problems.map((p) => `  - ${p}`).join('\n')}`,
    );
  }
  return record as ModuleRecord & { manifest: ModuleManifest };
}
