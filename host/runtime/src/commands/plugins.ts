import { relative } from 'node:path';
import { isInterfaceName, PlatformError, REFS } from '@platform-host/contracts';
import type { PluginRecord } from '../discovery/plugin-record.js';
import type { PluginRegistry } from '../discovery/registry.js';
import { messageDeclarations } from '../manifest/messages.js';
import { didYouMean } from '../text/did-you-mean.js';
import { pad } from '../text/wrap.js';

/** One row of `plugins list --json`. */
export interface PluginListing {
  readonly kind: 'module' | 'adapter';
  readonly name: string;
  readonly version: string | null;
  /** Module type (job, service, worker); null for adapters. */
  readonly type: string | null;
  /** Interfaces a module declares, or the one an adapter implements. */
  readonly interfaces: readonly string[];
  /** Flag values an adapter serves; empty for modules. */
  readonly flags: readonly string[];
  readonly source: string;
  readonly path: string;
  readonly problems: readonly string[];
}

export function toListing(record: PluginRecord, root: string): PluginListing {
  const base = {
    name: record.name,
    source: record.source,
    path: relative(root, record.dir) || '.',
    problems: record.problems,
  };
  if (record.kind === 'module') {
    return {
      kind: 'module',
      version: record.manifest?.version ?? null,
      type: record.manifest?.type ?? null,
      interfaces: record.manifest?.dependencies.interfaces ?? [],
      flags: [],
      ...base,
    };
  }
  return {
    kind: 'adapter',
    version: record.manifest?.version ?? null,
    type: null,
    interfaces: record.manifest ? [record.manifest.interface] : [],
    flags: record.manifest?.flags ?? [],
    ...base,
  };
}

function sortListings(listings: PluginListing[]): PluginListing[] {
  return listings.sort(
    (a, b) =>
      a.kind.localeCompare(b.kind) ||
      (a.interfaces[0] ?? '').localeCompare(b.interfaces[0] ?? '') ||
      a.name.localeCompare(b.name),
  );
}

/** `plugins list`: a table, then every problem; or JSON. Reads manifests only. */
export function renderPluginList(registry: PluginRegistry, root: string, json: boolean): string {
  const listings = sortListings(registry.records.map((record) => toListing(record, root)));
  if (json) return `${JSON.stringify(listings, null, 2)}\n`;
  if (listings.length === 0)
    return 'No plugins found under plugins/, adapters/, PLATFORM_PLUGIN_PATH or node_modules.\n';
  const rows = listings.map((item) => [
    item.kind,
    item.name,
    item.version ?? '-',
    item.kind === 'module'
      ? `${item.type ?? '?'}: ${item.interfaces.join(', ')}`
      : `${item.interfaces[0] ?? '?'}: --${flagFor(item.interfaces[0])} ${item.flags.join('|')}`,
    item.source,
    item.path,
    item.problems.length === 0 ? 'ok' : `${item.problems.length} problem${item.problems.length > 1 ? 's' : ''}`,
  ]);
  const header = ['KIND', 'NAME', 'VERSION', 'PROVIDES', 'SOURCE', 'PATH', 'STATUS'];
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: readonly string[]): string =>
    cells.map((cell, column) => (column === cells.length - 1 ? cell : pad(cell, (widths[column] ?? 0) + 2))).join('');
  const out = [line(header), ...rows.map(line)];
  const broken = listings.filter((item) => item.problems.length > 0);
  if (broken.length > 0) {
    out.push('', 'Problems:');
    for (const item of broken) {
      out.push(`  ${item.kind} ${item.name} (${item.path}):`);
      for (const problem of item.problems) out.push(`    - ${problem}`);
    }
  }
  return `${out.join('\n')}\n`;
}

/** The `messages:` lines of `plugins inspect` for a module manifest that declares topics. */
function messageLines(manifest: PluginRecord['manifest'] | null): string[] {
  if (!manifest || !('messages' in manifest) || manifest.messages === undefined) return [];
  const lines = ['  messages:'];
  for (const declaration of messageDeclarations(manifest)) {
    const reasons =
      declaration.deadLetterReasons.length > 0 ? `; dead letters: ${declaration.deadLetterReasons.join(', ')}` : '';
    const resolved =
      declaration.topic !== undefined && declaration.topic !== declaration.written ? ` = ${declaration.topic}` : '';
    lines.push(`    ${declaration.direction} ${declaration.written}${resolved}: ${declaration.schema}${reasons}`);
  }
  return lines;
}

function flagFor(name: string | undefined): string {
  return name !== undefined && isInterfaceName(name) ? REFS[name].flag : '?';
}

/** `plugins inspect <name>`: everything known about the plugin(s) with that name. */
export function renderPluginInspect(registry: PluginRegistry, root: string, name: string, json: boolean): string {
  const matches = registry.records.filter((record) => record.name === name);
  if (matches.length === 0) {
    throw new PlatformError(
      'PH_ERR_MODULE_NOT_FOUND',
      `No plugin named "${name}"${didYouMean(
        name,
        registry.records.map((r) => r.name),
      )}`,
      {
        hint: 'Run `platform-host plugins list` to see every discovered plugin.',
      },
    );
  }
  const details = matches.map((record) => ({
    ...toListing(record, root),
    manifestPath: record.manifestPath,
    manifest: record.manifest ?? null,
  }));
  if (json) return `${JSON.stringify(details.length === 1 ? details[0] : details, null, 2)}\n`;
  return details
    .map((item) =>
      [
        `${item.kind} ${item.name} ${item.version ?? ''}`.trim(),
        `  source:   ${item.source}`,
        `  path:     ${item.path}`,
        `  manifest: ${relative(root, item.manifestPath)}`,
        `  status:   ${item.problems.length === 0 ? 'ok' : 'unusable'}`,
        ...item.problems.map((problem) => `    - ${problem}`),
        ...messageLines(item.manifest),
        '  manifest content:',
        ...JSON.stringify(item.manifest, null, 2)
          .split('\n')
          .map((l) => `    ${l}`),
      ].join('\n'),
    )
    .join('\n\n')
    .concat('\n');
}
