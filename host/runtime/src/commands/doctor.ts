import { relative } from 'node:path';
import {
  EXIT_CODES,
  HOST_API_VERSION,
  INTERFACE_NAMES,
  isPlatformError,
  REFS,
  type Connectable,
  type InterfaceName,
  type Secrets,
} from '@platform-host/contracts';
import { validateModuleArgs } from '../args/module-args.js';
import { preflight, findModule } from '../preflight/preflight.js';
import {
  checkDialect,
  constructAdapters,
  interfacesToConstruct,
  selectAdapters,
  type Selection,
} from '../wiring/wire-adapters.js';
import { configValueProblem, keysForFlag } from '../wiring/adapter-config.js';
import { autoMigrateEnabled } from '../migrations/auto-migrate.js';
import { redactText, registerSecret } from '../redaction/redact.js';
import { checkMessageContracts } from './message-contracts.js';

/** Result of `doctor`: the report text and the exit code (0 when the run would start, 2 otherwise). */
export interface DoctorResult {
  readonly text: string;
  readonly exitCode: number;
}

function message(error: unknown): string {
  return isPlatformError(error) || error instanceof Error ? error.message : String(error);
}

/**
 * Checks everything a run needs without running anything: manifests, host compatibility, which
 * adapter each flag selects, required config present (names only — values are never printed),
 * and the module's arguments. Constructs only the secrets provider, to look keys up. The report
 * is redacted like logs (registered secrets, URL passwords), so an error message quoted in it
 * cannot show a secret.
 */
export async function doctor(
  root: string,
  moduleName: string | undefined,
  tokens: readonly string[],
): Promise<DoctorResult> {
  const out: string[] = [];
  const problems: string[] = [];
  const pre = await preflight(root, tokens);
  out.push(`platform-host doctor — host API ${HOST_API_VERSION}, Node ${process.version}`);
  out.push(`project root: ${root}`);
  out.push(
    `environment:  ${pre.options.env} (${pre.env.files.length > 0 ? pre.env.files.map((f) => relative(root, f)).join(', ') : 'no env file read'})`,
  );

  const broken = pre.registry.records.filter((record) => record.problems.length > 0);
  out.push('', `plugins: ${pre.registry.records.length} found, ${broken.length} with problems`);
  for (const record of broken) {
    out.push(`  ✗ ${record.kind} ${record.name} (${relative(root, record.dir)})`);
    for (const problem of record.problems) out.push(`      ${problem}`);
  }
  if (!moduleName) problems.push(...broken.map((record) => `${record.kind} ${record.name} has problems`));

  let interfaces: InterfaceName[] = [...INTERFACE_NAMES];
  let argValues: ReadonlyMap<string, unknown> | undefined;
  if (moduleName) {
    try {
      const record = findModule(pre.registry, moduleName);
      interfaces = interfacesToConstruct(record.manifest.dependencies.interfaces);
      out.push(
        '',
        `module ${record.name} ${record.manifest.version} (${record.manifest.type}): manifest ok, host API ${record.manifest.host_api} accepts ${HOST_API_VERSION}`,
      );
      out.push(`  interfaces: ${record.manifest.dependencies.interfaces.join(', ') || 'none'}`);
      if (record.manifest.dependencies.interfaces.includes('database')) {
        out.push(`  auto-migrate: ${autoMigrateEnabled(pre.options) ? 'on' : 'off'}`);
      }
      const args = validateModuleArgs(record.manifest, pre.rest);
      argValues = args.values;
      if (args.problems.length === 0) {
        out.push(
          `  arguments: ok (${[...args.values.entries()].map(([k, v]) => `--${k}=${String(v)}`).join(' ') || 'none'})`,
        );
      } else {
        out.push('  arguments:');
        for (const problem of args.problems) out.push(`    ✗ ${problem}`);
        problems.push(...args.problems);
      }
    } catch (error) {
      out.push('', `module ${moduleName}: ✗ ${message(error)}`);
      problems.push(message(error));
      interfaces = [];
    }
  }

  const knownModule = moduleName === undefined || pre.registry.modules.has(moduleName);
  const contracts = knownModule
    ? checkMessageContracts(
        pre.registry,
        root,
        moduleName === undefined ? undefined : { module: moduleName, values: argValues ?? new Map() },
      )
    : { lines: [], warnings: [], problems: [] };
  if (contracts.lines.length > 0 || contracts.problems.length > 0) {
    out.push('', 'messages (module.json messages; a consumer must accept what the producer of its topic declares):');
    out.push(...contracts.lines);
    for (const problem of contracts.problems) out.push(`  ✗ ${problem}`);
    problems.push(...contracts.problems);
  }
  const warnings = contracts.warnings;

  out.push('', 'adapters:');
  const selections: Selection[] = [];
  const moduleManifest = moduleName ? pre.registry.modules.get(moduleName)?.manifest : undefined;
  for (const name of interfaces) {
    const flag = pre.options.adapterFlags[name];
    try {
      const [selection] = selectAdapters(pre.registry, [name], pre.options.adapterFlags);
      if (selection) selections.push(selection);
      out.push(
        `  ✓ ${name.padEnd(13)} --${REFS[name].flag} ${flag} -> ${selection?.record.name ?? '?'} ${selection?.record.manifest?.version ?? ''} (${relative(root, selection?.record.dir ?? root)})`,
      );
    } catch (error) {
      out.push(`  ✗ ${name.padEnd(13)} ${message(error)}`);
      problems.push(message(error));
    }
  }

  if (moduleManifest?.dependencies.interfaces.includes('database')) {
    try {
      checkDialect(moduleManifest, selections);
      const dialect = selections.find((s) => s.interface === 'database')?.record.manifest?.dialect;
      if (dialect) out.push(`  ✓ dialect       ${dialect} (module accepts ${moduleManifest.dialects.join(', ')})`);
    } catch (error) {
      out.push(`  ✗ dialect       ${message(error)}`);
      problems.push(message(error));
    }
  }

  const secretsSelection = selections.find((selection) => selection.interface === 'secrets');
  if (secretsSelection && selections.length > 0) {
    out.push('', 'configuration (names only):');
    let secrets: Secrets | undefined;
    try {
      const { services } = await constructAdapters([secretsSelection], pre.env.values);
      secrets = services.resolve(REFS.secrets);
    } catch (error) {
      out.push(`  ✗ secrets provider ${secretsSelection.record.name}: ${message(error)}`);
      problems.push(message(error));
    }
    for (const selection of selections) {
      const manifest = selection.record.manifest;
      if (!manifest) continue;
      for (const key of keysForFlag(manifest, selection.flag)) {
        const value =
          selection.interface === 'secrets'
            ? pre.env.values[key.env]
            : await secrets?.get(key.env).catch(() => undefined);
        // Values are never printed; a secret one is registered so no error message below shows it.
        if (key.secret) registerSecret(value ?? key.default);
        else if (selection.interface !== 'secrets' && (await secrets?.isSecret?.(key.env).catch(() => false)))
          registerSecret(value);
        const present = value !== undefined && value !== '';
        const formatProblem = present ? configValueProblem(key, value) : undefined;
        const facts = [manifest.name, key.required ? 'required' : 'optional', ...(key.secret ? ['secret'] : [])].join(
          ', ',
        );
        const state = formatProblem
          ? `set, but ${formatProblem}`
          : present
            ? 'set'
            : key.default !== undefined
              ? `default ${key.secret ? '(hidden)' : JSON.stringify(key.default)}`
              : key.required
                ? 'MISSING'
                : 'unset';
        const ok = !formatProblem && (present || !key.required || key.default !== undefined);
        out.push(`  ${ok ? '✓' : '✗'} ${key.env} (${facts}): ${state}`);
        if (formatProblem) problems.push(`${key.env} (adapter ${manifest.name}) ${formatProblem}`);
        if (!present && key.required && key.default === undefined)
          problems.push(`${key.env} (adapter ${manifest.name}) is required but not set`);
      }
    }
    // The provider was connected to look keys up: release it (a vault client's renewal timer).
    const connectable = secrets as Partial<Connectable> | undefined;
    if (typeof connectable?.disconnect === 'function') await connectable.disconnect().catch(() => undefined);
  }

  if (warnings.length > 0) {
    out.push('', `${warnings.length} warning${warnings.length > 1 ? 's' : ''}:`, ...warnings.map((w) => `  ⚠ ${w}`));
  }
  out.push(
    '',
    problems.length === 0
      ? moduleName
        ? `ok: platform-host run ${moduleName} would start`
        : 'ok: no problems found'
      : `${problems.length} problem${problems.length > 1 ? 's' : ''}: ${moduleName ? 'the run would not start' : 'see above'}`,
  );
  return {
    text: redactText(`${out.join('\n')}\n`),
    exitCode: problems.length === 0 ? EXIT_CODES.OK : EXIT_CODES.USAGE,
  };
}
