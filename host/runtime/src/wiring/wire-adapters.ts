import {
  INTERFACE_NAMES,
  PlatformError,
  REFS,
  type AdapterDeps,
  type ErrorCode,
  type InterfaceName,
  type InterfaceTypes,
  type Logger,
  type Secrets,
} from '@platform-host/contracts';
import type { AdapterRecord } from '../discovery/plugin-record.js';
import type { PluginRegistry } from '../discovery/registry.js';
import {
  createAdapterConfig,
  keysForFlag,
  missingConfigError,
  resolveAdapterConfig,
  type MissingKey,
} from './adapter-config.js';
import { loadAdapterEntry } from './load-entry.js';
import { ServiceContainer } from './service-container.js';
import { GLOBAL_FLAGS } from '../cli/global-flags.js';
import { didYouMean } from '../text/did-you-mean.js';

/** The adapter chosen for one interface. */
export interface Selection {
  readonly interface: InterfaceName;
  readonly flag: string;
  readonly record: AdapterRecord;
}

/** One constructed adapter. */
export interface ConstructedAdapter extends Selection {
  readonly instance: InterfaceTypes[InterfaceName];
}

/** Interfaces the host constructs for a module: secrets and logging always, then the declared ones. */
export function interfacesToConstruct(declared: readonly InterfaceName[]): InterfaceName[] {
  return INTERFACE_NAMES.filter((name) => name === 'secrets' || name === 'logging' || declared.includes(name));
}

function flagOf(name: InterfaceName): string {
  return GLOBAL_FLAGS.find((flag) => flag.selects === name)?.name ?? name;
}

/**
 * Chooses one adapter per interface from the flags. Every unusable choice is reported in one
 * error: an unknown flag lists the flags that exist for that interface.
 */
export function selectAdapters(
  registry: PluginRegistry,
  interfaces: readonly InterfaceName[],
  flags: Readonly<Record<InterfaceName, string>>,
): Selection[] {
  const problems: string[] = [];
  let code: ErrorCode = 'PH_ERR_FLAG_UNKNOWN_ADAPTER';
  const selections: Selection[] = [];
  for (const name of interfaces) {
    const flag = flags[name];
    const available = registry.adapters.get(name) ?? new Map<string, AdapterRecord>();
    const record = available.get(flag);
    if (!record) {
      const known = [...available.keys()].sort();
      problems.push(
        `--${flagOf(name)} ${flag}: no adapter provides ${name} "${flag}"${didYouMean(flag, known)}; available: ${known.length > 0 ? known.join(', ') : 'none installed'}`,
      );
      continue;
    }
    if (record.problems.length > 0) {
      if (record.problems.some((problem) => problem.includes('supports host API'))) code = 'PH_ERR_PLUGIN_INCOMPATIBLE';
      problems.push(
        `--${flagOf(name)} ${flag}: adapter ${record.name} (${record.dir}) is refused: ${record.problems.join('; ')}`,
      );
      continue;
    }
    selections.push({ interface: name, flag, record });
  }
  if (problems.length > 0) {
    throw new PlatformError(
      code,
      problems.length === 1
        ? (problems[0] ?? '')
        : `Cannot select adapters:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
      {
        hint: 'Run `platform-host plugins list` to see every adapter and its flags.',
      },
    );
  }
  return selections;
}

/** Imports, constructs and registers the adapter of interface `name`. */
async function constructOne<K extends InterfaceName>(
  name: K,
  selection: Selection,
  deps: AdapterDeps,
  services: ServiceContainer,
): Promise<InterfaceTypes[K]> {
  const definition = await loadAdapterEntry(selection.record, name);
  let instance: InterfaceTypes[K];
  try {
    instance = await definition.create(deps);
  } catch (error) {
    if (error instanceof PlatformError) throw error;
    throw new PlatformError(
      'PH_ERR_PLUGIN_LOAD',
      `Adapter ${selection.record.name} (--${flagOf(name)} ${selection.flag}) failed to construct: ${(error as Error).message}`,
      { cause: error },
    );
  }
  services.provide(REFS[name], instance);
  return instance;
}

/** Builds the deps an adapter factory receives. */
function depsFor(
  selection: Selection,
  config: AdapterDeps['config'],
  secrets: Secrets | undefined,
  logger: Logger | undefined,
  environment: Readonly<Record<string, string>>,
): AdapterDeps {
  return {
    flag: selection.flag,
    config,
    secrets,
    logger: logger?.child({ adapter: selection.record.name }),
    environment,
  };
}

/**
 * Constructs the selected adapters in dependency order (secrets, logging, then the rest) and
 * registers them in a new {@link ServiceContainer}. Imports adapter code only for the selections.
 * Config of every adapter is read through the Secrets adapter; all missing required keys are
 * reported in one error before anything else is constructed. Nothing is connected here except the
 * secrets provider (its values are needed to configure the others).
 */
export async function constructAdapters(
  selections: readonly Selection[],
  env: Readonly<Record<string, string>>,
): Promise<{ services: ServiceContainer; constructed: ConstructedAdapter[] }> {
  const services = new ServiceContainer();
  const constructed: ConstructedAdapter[] = [];
  const ordered = [...selections].sort(
    (a, b) => INTERFACE_NAMES.indexOf(a.interface) - INTERFACE_NAMES.indexOf(b.interface),
  );
  const secretsSelection = ordered.find((s) => s.interface === 'secrets');
  if (!secretsSelection?.record.manifest) throw new PlatformError('PH_ERR_INTERNAL', 'No secrets adapter selected');

  // The secrets provider is the configuration root: its own keys come straight from the merged env.
  const secretsManifest = secretsSelection.record.manifest;
  const bootstrapValues = new Map<string, string>();
  const bootstrapMissing: MissingKey[] = [];
  for (const key of keysForFlag(secretsManifest, secretsSelection.flag)) {
    const value = env[key.env] ?? key.default;
    if (value !== undefined && value !== '') bootstrapValues.set(key.env, value);
    else if (key.required) bootstrapMissing.push({ key, adapter: secretsManifest.name });
  }
  if (bootstrapMissing.length > 0) throw missingConfigError(bootstrapMissing);
  const secretsDefinition = await loadAdapterEntry(secretsSelection.record, 'secrets');
  const secrets = await secretsDefinition.create(
    depsFor(secretsSelection, createAdapterConfig(secretsManifest.name, bootstrapValues), undefined, undefined, env),
  );
  services.provide(REFS.secrets, secrets);
  constructed.push({ ...secretsSelection, instance: secrets });
  try {
    await (secrets as Partial<{ connect(): Promise<void> }>).connect?.();
  } catch (error) {
    throw new PlatformError(
      'PH_ERR_CONFIG_INVALID',
      `Secrets provider ${secretsManifest.name} cannot load: ${(error as Error).message}`,
      { cause: error },
    );
  }

  const rest = ordered.filter((s) => s.interface !== 'secrets');
  const configs = new Map<InterfaceName, AdapterDeps['config']>();
  const missing: MissingKey[] = [];
  for (const selection of rest) {
    const manifest = selection.record.manifest;
    if (!manifest) continue;
    const resolved = await resolveAdapterConfig(manifest, selection.flag, secrets);
    configs.set(selection.interface, resolved.config);
    missing.push(...resolved.missing);
  }
  if (missing.length > 0) throw missingConfigError(missing);

  let logger: Logger | undefined;
  for (const selection of rest) {
    const config = configs.get(selection.interface);
    if (!config) continue;
    const deps = depsFor(selection, config, secrets, selection.interface === 'logging' ? undefined : logger, env);
    const instance = await constructOne(selection.interface, selection, deps, services);
    if (selection.interface === 'logging') logger = instance as Logger;
    constructed.push({ ...selection, instance });
  }
  return { services, constructed };
}
