import { REFS, type ArgSpec, type ModuleManifest } from '@platform-host/contracts';
import { GLOBAL_FLAGS } from '../options/global-flags.js';
import type { PluginRegistry } from '../discovery/registry.js';
import { pad, wrap } from '../text/wrap.js';

const WIDTH = Math.max(80, Math.min(process.stdout.columns ?? 100, 120));

function argLabel(arg: ArgSpec): string {
  return arg.type === 'boolean' ? `--${arg.name}` : `--${arg.name} <${arg.type}>`;
}

function argDetails(arg: ArgSpec): string {
  const facts: string[] = [arg.required ? 'required' : 'optional'];
  if (arg.choices) facts.push(`choices: ${arg.choices.join(', ')}`);
  if (arg.format) facts.push(`format: ${arg.format}`);
  if (arg.min !== undefined) facts.push(`min: ${arg.min}`);
  if (arg.max !== undefined) facts.push(`max: ${arg.max}`);
  if (arg.pattern) facts.push(`pattern: ${arg.pattern}`);
  if (arg.default !== undefined) facts.push(`default: ${String(arg.default)}`);
  return `${arg.description} [${facts.join('; ')}]`;
}

/** `run <module> --help`, generated from the manifest (seed 3.3). */
export function renderModuleHelp(manifest: ModuleManifest, registry: PluginRegistry): string {
  const required = manifest.args.filter((arg) => arg.required).map((arg) => argLabel(arg));
  const lines: string[] = [];
  lines.push(`${manifest.display_name} (${manifest.name} ${manifest.version}, ${manifest.type})`, '');
  lines.push(wrap(manifest.description, WIDTH, 0), '');
  lines.push(`Usage: platform-host run ${manifest.name} [global flags] ${[...required, '[arguments]'].join(' ')}`, '');
  const interfaces = manifest.dependencies.interfaces;
  lines.push(
    `Interfaces: ${interfaces.length > 0 ? interfaces.map((name) => `${name} (--${REFS[name].flag})`).join(', ') : 'none'}`,
    '',
  );
  lines.push('Arguments:');
  if (manifest.args.length === 0) lines.push('  (none)');
  const labelWidth = Math.max(24, ...manifest.args.map((arg) => argLabel(arg).length + 4));
  for (const arg of manifest.args) {
    lines.push(`  ${pad(argLabel(arg), labelWidth - 2)}${wrap(argDetails(arg), WIDTH, labelWidth)}`);
  }
  lines.push('', 'Global flags (also settable by the env var shown):');
  const relevant = GLOBAL_FLAGS.filter(
    (flag) =>
      !flag.selects || flag.selects === 'secrets' || interfaces.includes(flag.selects) || flag.selects === 'logging',
  );
  for (const flag of relevant) {
    const installed = flag.selects ? [...(registry.adapters.get(flag.selects)?.keys() ?? [])].sort() : [];
    const label = flag.type === 'boolean' ? `--${flag.name}` : `--${flag.name} <${flag.selects ? 'flag' : flag.type}>`;
    const facts = [
      flag.env,
      ...(installed.length > 0 ? [`installed: ${installed.join(', ')}`] : []),
      ...(flag.default !== undefined ? [`default: ${String(flag.default)}`] : []),
    ];
    lines.push(
      `  ${pad(label, labelWidth - 2)}${wrap(`${flag.description} [${facts.join('; ')}]`, WIDTH, labelWidth)}`,
    );
  }
  return `${lines.join('\n')}\n`;
}
