import type { InterfaceName } from '@platform-host/contracts';
import type { AdapterRecord, ModuleRecord, PluginRecord } from './plugin-record.js';

/** Plugins indexed for selection: modules by name, adapters by (interface, flag). */
export interface PluginRegistry {
  readonly records: readonly PluginRecord[];
  readonly modules: ReadonlyMap<string, ModuleRecord>;
  readonly adapters: ReadonlyMap<InterfaceName, ReadonlyMap<string, AdapterRecord>>;
}

function describe(record: PluginRecord): string {
  return `${record.manifestPath} (${record.source})`;
}

/**
 * Indexes discovered plugins. Two modules with one name, or two adapters serving the same
 * (interface, flag), are both marked with a problem naming the other's source: neither is used,
 * so which one runs never depends on discovery order.
 */
export function buildRegistry(records: readonly PluginRecord[]): PluginRegistry {
  const modules = new Map<string, ModuleRecord>();
  const adapters = new Map<InterfaceName, Map<string, AdapterRecord>>();
  for (const record of records) {
    if (record.kind === 'module') {
      if (!record.manifest) continue;
      const other = modules.get(record.name);
      if (other) {
        other.problems.push(`duplicate module name "${record.name}": also declared by ${describe(record)}`);
        record.problems.push(`duplicate module name "${record.name}": also declared by ${describe(other)}`);
        other.duplicate = true;
        record.duplicate = true;
        continue;
      }
      modules.set(record.name, record);
    } else {
      if (!record.manifest) continue;
      const byFlag = adapters.get(record.manifest.interface) ?? new Map<string, AdapterRecord>();
      adapters.set(record.manifest.interface, byFlag);
      for (const flag of record.manifest.flags) {
        const other = byFlag.get(flag);
        if (other) {
          const pair = `(${record.manifest.interface}, ${flag})`;
          other.problems.push(`duplicate adapter for ${pair}: also served by ${describe(record)}`);
          record.problems.push(`duplicate adapter for ${pair}: also served by ${describe(other)}`);
          other.duplicate = true;
          record.duplicate = true;
          continue;
        }
        byFlag.set(flag, record);
      }
    }
  }
  return { records, modules, adapters };
}
