import type { AdapterManifest, ModuleManifest } from '@platform-host/contracts';

/** Where a plugin was found. */
export type PluginSource = 'plugins' | 'adapters' | 'PLATFORM_PLUGIN_PATH' | 'node_modules';

interface RecordBase {
  /** Manifest name, or the folder name when the manifest is unreadable. */
  readonly name: string;
  /** Real path of the plugin folder. */
  readonly dir: string;
  readonly manifestPath: string;
  readonly source: PluginSource;
  /** Everything wrong with it: invalid manifest, incompatible host range, duplicates. Empty when usable. */
  readonly problems: string[];
  /** True when the manifest is valid but its `host_api` range excludes this host. */
  readonly incompatibleHost: boolean;
  /** Set by the registry when another plugin declares the same module name or (interface, flag). */
  duplicate: boolean;
}

/** A discovered module package. */
export interface ModuleRecord extends RecordBase {
  readonly kind: 'module';
  readonly manifest: ModuleManifest | undefined;
}

/** A discovered adapter package. */
export interface AdapterRecord extends RecordBase {
  readonly kind: 'adapter';
  readonly manifest: AdapterManifest | undefined;
}

export type PluginRecord = ModuleRecord | AdapterRecord;
