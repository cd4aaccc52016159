import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  PlatformError,
  type AdapterDefinition,
  type InterfaceName,
  type ModuleDefinition,
} from '@platform-host/contracts';
import type { AdapterRecord, ModuleRecord } from '../discovery/plugin-record.js';

async function importEntry(dir: string, entry: string, what: string): Promise<Record<string, unknown>> {
  const file = join(dir, entry);
  try {
    return (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (error) {
    const missing =
      (error as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' &&
      String((error as Error).message).includes(file);
    throw new PlatformError('PH_ERR_PLUGIN_LOAD', `Cannot import ${what} entry ${file}: ${(error as Error).message}`, {
      cause: error,
      hint: missing ? 'Build it first: npm run build' : undefined,
    });
  }
}

/** Imports a module's entry and checks it exports a module definition (default) or `run`. */
export async function loadModuleEntry(record: ModuleRecord): Promise<ModuleDefinition> {
  const manifest = record.manifest;
  if (!manifest) throw new PlatformError('PH_ERR_MANIFEST_INVALID', `Module at ${record.dir} has no valid manifest`);
  const exports = await importEntry(record.dir, manifest.entry, `module ${manifest.name}`);
  const candidate = exports.default;
  if (
    typeof candidate === 'object' &&
    candidate !== null &&
    (candidate as { kind?: unknown }).kind === 'platform-host.module'
  ) {
    const definition = candidate as ModuleDefinition;
    const undeclared = definition.interfaces.filter((name) => !manifest.dependencies.interfaces.includes(name));
    if (undeclared.length > 0) {
      throw new PlatformError(
        'PH_ERR_MODULE_DEPENDENCY',
        `Module ${manifest.name} uses ${undeclared.join(', ')} in code but module.json does not declare ${undeclared.length === 1 ? 'it' : 'them'}`,
        {
          hint: `Add ${undeclared.map((name) => `"${name}"`).join(', ')} to dependencies.interfaces in ${record.manifestPath}.`,
        },
      );
    }
    return definition;
  }
  const run = exports.run;
  if (typeof run === 'function') {
    return {
      kind: 'platform-host.module',
      interfaces: manifest.dependencies.interfaces,
      run: run as ModuleDefinition['run'],
    };
  }
  throw new PlatformError(
    'PH_ERR_PLUGIN_LOAD',
    `Module entry ${join(record.dir, manifest.entry)} exports neither a default defineModule(...) nor a run(ctx) function`,
  );
}

/** Imports an adapter's entry and checks it exports `defineAdapter(...)` for the manifest's interface. */
export async function loadAdapterEntry<K extends InterfaceName>(
  record: AdapterRecord,
  expected: K,
): Promise<AdapterDefinition<K>> {
  const manifest = record.manifest;
  if (!manifest) throw new PlatformError('PH_ERR_MANIFEST_INVALID', `Adapter at ${record.dir} has no valid manifest`);
  const exports = await importEntry(record.dir, manifest.entry, `adapter ${manifest.name}`);
  const candidate = exports.default as Partial<AdapterDefinition> | undefined;
  if (!candidate || candidate.kind !== 'platform-host.adapter' || typeof candidate.create !== 'function') {
    throw new PlatformError(
      'PH_ERR_PLUGIN_LOAD',
      `Adapter entry ${join(record.dir, manifest.entry)} does not export default defineAdapter(...)`,
    );
  }
  if (candidate.interface !== expected) {
    throw new PlatformError(
      'PH_ERR_PLUGIN_LOAD',
      `Adapter ${manifest.name} implements "${String(candidate.interface)}" in code but its manifest declares "${expected}"`,
    );
  }
  // A hand-written (plain JS) entry may leave out `dependencies`, as defineAdapter allows.
  return { ...candidate, dependencies: candidate.dependencies ?? {} } as AdapterDefinition<K>;
}
