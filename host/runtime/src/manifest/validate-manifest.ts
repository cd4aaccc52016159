import { HOST_API_VERSION, type AdapterManifest, type ModuleManifest } from '@platform-host/contracts';
import { adapterManifestSchema, moduleManifestSchema } from '@platform-host/contracts/manifest-schemas';
import semver from 'semver';
import { RESERVED_ARG_NAMES } from '../options/global-flags.js';

export type PluginKind = 'module' | 'adapter';

interface ValidationBase {
  readonly problems: readonly string[];
  /** True when the manifest is valid but its `host_api` range excludes this host. */
  readonly incompatibleHost?: boolean;
}

export type ManifestValidation =
  | (ValidationBase & { readonly kind: 'module'; readonly manifest: ModuleManifest | undefined })
  | (ValidationBase & { readonly kind: 'adapter'; readonly manifest: AdapterManifest | undefined });

interface Issue {
  readonly path: ReadonlyArray<PropertyKey>;
  readonly message: string;
}

function formatIssue(issue: Issue): string {
  const path = issue.path.reduce<string>(
    (out, part) =>
      typeof part === 'number' ? `${out}[${part}]` : out === '' ? String(part) : `${out}.${String(part)}`,
    '',
  );
  return path === '' ? issue.message : `${path}: ${issue.message}`;
}

/** The problem text when `range` does not accept this host, or undefined when compatible. */
export function hostCompatibilityProblem(kind: PluginKind, name: string, range: string): string | undefined {
  if (semver.validRange(range) === null) return `host_api: "${range}" is not a valid semver range`;
  if (semver.satisfies(HOST_API_VERSION, range, { includePrerelease: true })) return undefined;
  return `${kind} "${name}" supports host API ${range}, but this host provides ${HOST_API_VERSION}`;
}

/** True when `range` is a valid range that excludes this host. */
function excludesHost(range: string): boolean {
  return semver.validRange(range) !== null && !semver.satisfies(HOST_API_VERSION, range, { includePrerelease: true });
}

/**
 * Validates one manifest's JSON: schema (strict, all issues), then host API compatibility, then
 * rules that need the host (module argument names must not shadow global flags).
 */
export function validateManifest(kind: 'module', json: unknown): Extract<ManifestValidation, { kind: 'module' }>;
export function validateManifest(kind: 'adapter', json: unknown): Extract<ManifestValidation, { kind: 'adapter' }>;
export function validateManifest(kind: PluginKind, json: unknown): ManifestValidation;
export function validateManifest(kind: PluginKind, json: unknown): ManifestValidation {
  if (kind === 'module') {
    const parsed = moduleManifestSchema.safeParse(json);
    if (!parsed.success) return { kind, manifest: undefined, problems: parsed.error.issues.map(formatIssue) };
    const manifest: ModuleManifest = parsed.data;
    const problems: string[] = [];
    const incompatible = hostCompatibilityProblem(kind, manifest.name, manifest.host_api);
    if (incompatible) problems.push(incompatible);
    manifest.args.forEach((arg, index) => {
      if (RESERVED_ARG_NAMES.has(arg.name)) {
        problems.push(
          `args[${index}].name: "${arg.name}" is a global flag of the host and cannot be a module argument`,
        );
      }
    });
    return { kind, manifest, problems, incompatibleHost: excludesHost(manifest.host_api) };
  }
  const parsed = adapterManifestSchema.safeParse(json);
  if (!parsed.success) return { kind, manifest: undefined, problems: parsed.error.issues.map(formatIssue) };
  const manifest: AdapterManifest = parsed.data;
  const incompatible = hostCompatibilityProblem(kind, manifest.name, manifest.host_api);
  return {
    kind,
    manifest,
    problems: incompatible ? [incompatible] : [],
    incompatibleHost: excludesHost(manifest.host_api),
  };
}
