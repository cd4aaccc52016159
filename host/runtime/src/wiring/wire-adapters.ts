import {
  INTERFACE_NAMES,
  PlatformError,
  REFS,
  type AdapterConfig,
  type AdapterContext,
  type AdapterDefinition,
  type AdapterDependencies,
  type Connectable,
  type Database,
  type ResolvedDependencies,
  type ErrorCode,
  type InterfaceName,
  type InterfaceTypes,
  type Logger,
  type ModuleManifest,
  type Secrets,
} from '@platform-host/contracts';
import type { AdapterRecord } from '../discovery/plugin-record.js';
import type { PluginRegistry } from '../discovery/registry.js';
import {
  createAdapterConfig,
  keysForFlag,
  invalidConfigError,
  missingConfigError,
  resolveAdapterConfig,
  type InvalidKey,
  type MissingKey,
} from './adapter-config.js';
import { connectWithin } from './connect-adapter.js';
import { loadAdapterEntry } from './load-entry.js';
import { ServiceContainer } from './service-container.js';
import { GLOBAL_FLAGS } from '../options/global-flags.js';
import { redactingLogger } from '../redaction/redacting-logger.js';
import { registerSecret } from '../redaction/redact.js';
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

/**
 * Interfaces the host constructs for a module: secrets, logging and metrics always (the host's own
 * logs and standard platform metrics), then the declared ones.
 */
export function interfacesToConstruct(declared: readonly InterfaceName[]): InterfaceName[] {
  return INTERFACE_NAMES.filter(
    (name) => name === 'secrets' || name === 'logging' || name === 'metrics' || declared.includes(name),
  );
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
      if (record.incompatibleHost) code = 'PH_ERR_PLUGIN_INCOMPATIBLE';
      else if (record.duplicate && code !== 'PH_ERR_PLUGIN_INCOMPATIBLE') code = 'PH_ERR_PLUGIN_DUPLICATE';
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

/**
 * Refuses a database adapter whose dialect the module does not accept (DESIGN.md decision 11),
 * before any adapter code is imported: one `PH_ERR_DB_DIALECT` naming the module, the dialects it
 * accepts and the one selected.
 */
export function checkDialect(manifest: ModuleManifest, selections: readonly Selection[]): void {
  const database = selections.find((selection) => selection.interface === 'database');
  const dialect = database?.record.manifest?.dialect;
  if (!database || dialect === undefined || manifest.dialects.includes(dialect)) return;
  throw new PlatformError(
    'PH_ERR_DB_DIALECT',
    `Module ${manifest.name} accepts the ${manifest.dialects.join(', ')} dialect${manifest.dialects.length > 1 ? 's' : ''}, but --db ${database.flag} (adapter ${database.record.name}) speaks ${dialect}`,
    { hint: `Choose a --db adapter of the ${manifest.dialects.join(' or ')} dialect.` },
  );
}

/** An adapter whose entry is loaded and whose config is resolved, ready to construct. */
interface PendingAdapter {
  readonly selection: Selection;
  readonly definition: AdapterDefinition;
  readonly config: AdapterConfig;
}

function describe(selection: Selection): string {
  return `adapter ${selection.record.name} (--${flagOf(selection.interface)} ${selection.flag})`;
}

/**
 * The construction order of `pending`: every adapter after the interfaces its factory declares
 * (DESIGN.md decision 4), ties broken by {@link INTERFACE_NAMES}. A dependency on an interface that
 * is not constructed for this run, or a cycle, is one error naming the adapters involved.
 */
export function constructionOrder<
  T extends { selection: Selection; definition: Pick<AdapterDefinition, 'dependencies'> },
>(pending: readonly T[], available: ReadonlySet<InterfaceName>): T[] {
  const byInterface = new Map(pending.map((item) => [item.selection.interface, item]));
  const problems: string[] = [];
  const needs = new Map<InterfaceName, InterfaceName[]>();
  for (const item of pending) {
    const wanted = Object.values(item.definition.dependencies).map((ref) => ref.id);
    for (const dependency of wanted) {
      if (dependency === item.selection.interface) problems.push(`${describe(item.selection)} depends on itself`);
      else if (!byInterface.has(dependency) && !available.has(dependency)) {
        problems.push(
          `${describe(item.selection)} needs ${dependency}, which is not constructed for this module (declare it in dependencies.interfaces)`,
        );
      }
    }
    needs.set(
      item.selection.interface,
      wanted.filter((d) => byInterface.has(d)),
    );
  }
  const ordered: T[] = [];
  const done = new Set<InterfaceName>();
  let remaining = [...pending].sort(
    (a, b) => INTERFACE_NAMES.indexOf(a.selection.interface) - INTERFACE_NAMES.indexOf(b.selection.interface),
  );
  while (remaining.length > 0 && problems.length === 0) {
    const next = remaining.find((item) => (needs.get(item.selection.interface) ?? []).every((d) => done.has(d)));
    if (!next) {
      problems.push(
        `adapters depend on each other in a cycle: ${remaining.map((item) => `${describe(item.selection)} needs ${(needs.get(item.selection.interface) ?? []).join(', ')}`).join('; ')}`,
      );
      break;
    }
    ordered.push(next);
    done.add(next.selection.interface);
    remaining = remaining.filter((item) => item !== next);
  }
  if (problems.length > 0) {
    throw new PlatformError(
      'PH_ERR_MODULE_DEPENDENCY',
      `Cannot wire adapters:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
      {
        hint: "Check the adapters' declared dependencies and the module's dependencies.interfaces.",
      },
    );
  }
  return ordered;
}

/** Runs an adapter factory, turning a plain failure into `PH_ERR_PLUGIN_LOAD` naming the adapter. */
async function create(
  selection: Selection,
  definition: AdapterDefinition,
  context: AdapterContext,
  dependencies: Readonly<Record<string, unknown>> = {},
): Promise<InterfaceTypes[InterfaceName]> {
  try {
    // The dependencies were resolved by their refs, so each has the type its ref names.
    return await definition.create({ ...dependencies, ...context } as AdapterContext &
      ResolvedDependencies<AdapterDependencies>);
  } catch (error) {
    if (error instanceof PlatformError) throw error;
    throw new PlatformError(
      'PH_ERR_PLUGIN_LOAD',
      `${describe(selection)} failed to construct: ${(error as Error).message}`,
      { cause: error },
    );
  }
}

/**
 * Constructs the selected adapters and registers them in a new {@link ServiceContainer} (a tsyringe
 * child container for this run). The secrets provider comes first: it is the configuration root,
 * configured from the merged environment. Then every other adapter's entry is imported and its
 * config read through Secrets (all missing required keys are reported in one error before anything
 * is constructed), and the factories run in the order their declared dependencies give, each
 * receiving its dependencies typed (a logger bound to the adapter's name). Once the logger exists,
 * the secrets provider gets it too ({@link Secrets.attachLogger}). Imports adapter code only
 * for the selections. Nothing is connected here except the secrets provider (within
 * `connectTimeoutMs`).
 */
export async function constructAdapters(
  selections: readonly Selection[],
  env: Readonly<Record<string, string>>,
  /** Deadline of the secrets provider's connect() (`--connect-timeout`); default 30 s. */
  connectTimeoutMs = 30_000,
): Promise<{ services: ServiceContainer; constructed: ConstructedAdapter[] }> {
  const services = new ServiceContainer();
  const constructed: ConstructedAdapter[] = [];
  const secretsSelection = selections.find((s) => s.interface === 'secrets');
  if (!secretsSelection?.record.manifest) throw new PlatformError('PH_ERR_INTERNAL', 'No secrets adapter selected');

  // The secrets provider is the configuration root: its own keys come straight from the merged env.
  const secretsManifest = secretsSelection.record.manifest;
  const bootstrapValues = new Map<string, string>();
  const bootstrapMissing: MissingKey[] = [];
  for (const key of keysForFlag(secretsManifest, secretsSelection.flag)) {
    const value = env[key.env] ?? key.default;
    // The provider's own secret keys (a vault token) are registered like every other secret.
    if (key.secret) registerSecret(value);
    if (value !== undefined && value !== '') bootstrapValues.set(key.env, value);
    else if (key.required) bootstrapMissing.push({ key, adapter: secretsManifest.name });
  }
  if (bootstrapMissing.length > 0) throw missingConfigError(bootstrapMissing);
  const secretsDefinition = await loadAdapterEntry(secretsSelection.record, 'secrets');
  if (Object.keys(secretsDefinition.dependencies).length > 0) {
    throw new PlatformError(
      'PH_ERR_MODULE_DEPENDENCY',
      `${describe(secretsSelection)} declares dependencies, but the secrets provider is the configuration root and is constructed first`,
    );
  }
  const secrets = await create(secretsSelection, secretsDefinition, {
    flag: secretsSelection.flag,
    config: createAdapterConfig(secretsManifest.name, bootstrapValues),
    environment: env,
  });
  services.provide(REFS.secrets, secrets as Secrets);
  constructed.push({ ...secretsSelection, instance: secrets });
  try {
    const connectable = secrets as Partial<Connectable>;
    if (typeof connectable.connect === 'function')
      await connectWithin(() => (connectable as Connectable).connect(), connectTimeoutMs);
  } catch (error) {
    throw new PlatformError(
      'PH_ERR_CONFIG_INVALID',
      `Secrets provider ${secretsManifest.name} cannot load: ${(error as Error).message}`,
      { cause: error },
    );
  }

  const pending: PendingAdapter[] = [];
  const missing: MissingKey[] = [];
  const invalid: InvalidKey[] = [];
  for (const selection of selections) {
    const manifest = selection.record.manifest;
    if (selection.interface === 'secrets' || !manifest) continue;
    const definition = await loadAdapterEntry(selection.record, selection.interface);
    const resolved = await resolveAdapterConfig(manifest, selection.flag, secrets as Secrets);
    missing.push(...resolved.missing);
    invalid.push(...resolved.invalid);
    pending.push({ selection, definition, config: resolved.config });
  }
  if (missing.length > 0) throw missingConfigError(missing);
  if (invalid.length > 0) throw invalidConfigError(invalid);

  for (const { selection, definition, config } of constructionOrder(pending, new Set<InterfaceName>(['secrets']))) {
    const dependencies: Record<string, unknown> = {};
    for (const [key, ref] of Object.entries(definition.dependencies)) {
      const service = services.resolve(ref);
      dependencies[key] =
        ref.id === 'logging' ? (service as Logger).child({ adapter: selection.record.name }) : service;
    }
    const created = await create(
      selection,
      definition,
      { flag: selection.flag, config, environment: env },
      dependencies,
    );
    const declared = selection.record.manifest?.dialect;
    if (selection.interface === 'database' && (created as Database).dialect !== declared) {
      throw new PlatformError(
        'PH_ERR_PLUGIN_LOAD',
        `${describe(selection)} speaks ${String((created as Database).dialect)} but its manifest declares ${String(declared)}`,
      );
    }
    // Every logger is wrapped in the host's redacting proxy, so adapters only format and write.
    const instance = selection.interface === 'logging' ? redactingLogger(created as Logger) : created;
    services.provide(REFS[selection.interface], instance);
    constructed.push({ ...selection, instance });
    // The secrets provider was built before any logger: it reports what it kept (a failed token
    // renewal) and what comes later through the platform logger from now on.
    if (selection.interface === 'logging') {
      try {
        (secrets as Secrets).attachLogger?.((instance as Logger).child({ adapter: secretsManifest.name }));
      } catch (error) {
        throw new PlatformError(
          'PH_ERR_PLUGIN_LOAD',
          `${describe(secretsSelection)} failed to take the logger: ${(error as Error).message}`,
          { cause: error },
        );
      }
    }
  }
  return { services, constructed };
}
