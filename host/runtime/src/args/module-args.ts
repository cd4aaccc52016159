import {
  PlatformError,
  type ArgSpec,
  type ArgValue,
  type ModuleConfig,
  type ModuleManifest,
} from '@platform-host/contracts';
import { didYouMean } from '../text/did-you-mean.js';
import { parseBooleanWord } from '../options/split-argv.js';
import { formatProblem, parseDurationMs } from './arg-formats.js';

/** The outcome of validating a module's command-line arguments. */
export interface ArgsResult {
  readonly values: ReadonlyMap<string, ArgValue>;
  /** Every problem, in command-line order then manifest order. Empty when valid. */
  readonly problems: readonly string[];
}

/** The value, or the problem when it is outside the argument's `min`..`max`. */
function inRange(spec: ArgSpec, value: number): { value?: ArgValue; problem?: string } {
  const { min, max } = spec;
  if ((min !== undefined && value < min) || (max !== undefined && value > max)) {
    const range =
      min !== undefined && max !== undefined
        ? `from ${min} to ${max}`
        : min !== undefined
          ? `at least ${min}`
          : `at most ${String(max)}`;
    return { problem: `--${spec.name} must be ${range}, got ${value}` };
  }
  return { value };
}

function cast(spec: ArgSpec, raw: string): { value?: ArgValue; problem?: string } {
  switch (spec.type) {
    case 'string': {
      const problem =
        (spec.format === undefined ? undefined : formatProblem(spec.format, raw)) ??
        (spec.pattern === undefined || new RegExp(`^(?:${spec.pattern})$`, 'u').test(raw)
          ? undefined
          : `must match ${spec.pattern}`);
      return problem === undefined ? { value: raw } : { problem: `--${spec.name} ${problem}; got "${raw}"` };
    }
    case 'integer': {
      const value = /^[+-]?\d+$/.test(raw.trim()) ? Number(raw) : Number.NaN;
      if (!Number.isSafeInteger(value)) return { problem: `--${spec.name} must be an integer, got "${raw}"` };
      return inRange(spec, value);
    }
    case 'float': {
      const value = raw.trim() === '' ? Number.NaN : Number(raw);
      if (!Number.isFinite(value)) return { problem: `--${spec.name} must be a number, got "${raw}"` };
      return inRange(spec, value);
    }
    case 'boolean': {
      const value = parseBooleanWord(raw);
      return value === undefined ? { problem: `--${spec.name} must be true or false, got "${raw}"` } : { value };
    }
  }
}

/**
 * Validates module arguments against `module.json` (seed 3.3): unknown arguments (with a
 * did-you-mean), repeated ones, missing required ones, type casting and choices. Reports every
 * problem, not just the first; applies defaults.
 */
export function validateModuleArgs(
  manifest: ModuleManifest,
  tokens: readonly string[],
  otherFlags: Iterable<string> = [],
): ArgsResult {
  const specs = new Map(manifest.args.map((arg) => [arg.name, arg]));
  const problems: string[] = [];
  const given = new Map<string, string | true>();
  const known = [...specs.keys(), ...otherFlags];

  for (let index = 0; index < tokens.length; index += 1) {
    const token = tokens[index] ?? '';
    if (!token.startsWith('--') || token === '--') {
      problems.push(`unexpected value "${token}" (arguments are given as --name value)`);
      continue;
    }
    const eq = token.indexOf('=');
    let name = token.slice(2, eq === -1 ? undefined : eq);
    let inline: string | undefined = eq === -1 ? undefined : token.slice(eq + 1);
    if (
      !specs.has(name) &&
      name.startsWith('no-') &&
      specs.get(name.slice(3))?.type === 'boolean' &&
      inline === undefined
    ) {
      name = name.slice(3);
      inline = 'false';
    }
    const spec = specs.get(name);
    if (!spec) {
      problems.push(`unknown argument --${name}${didYouMean(name, known, (v) => `--${v}`)}`);
      if (inline === undefined && !(tokens[index + 1] ?? '--').startsWith('--')) index += 1;
      continue;
    }
    let raw: string | true | undefined = inline;
    if (raw === undefined) {
      const next = tokens[index + 1];
      if (
        next !== undefined &&
        !next.startsWith('--') &&
        (spec.type !== 'boolean' || parseBooleanWord(next) !== undefined)
      ) {
        raw = next;
        index += 1;
      } else if (spec.type === 'boolean') {
        raw = true;
      }
    }
    if (raw === undefined) {
      problems.push(`--${name} needs a value (${spec.type})`);
      continue;
    }
    if (given.has(name)) {
      problems.push(`--${name} is given more than once`);
      continue;
    }
    given.set(name, raw);
  }

  const values = new Map<string, ArgValue>();
  for (const spec of manifest.args) {
    const raw = given.get(spec.name);
    if (raw === undefined) {
      if (spec.required) problems.push(`missing required argument --${spec.name} (${spec.type}): ${spec.description}`);
      else if (spec.default !== undefined) values.set(spec.name, spec.default);
      continue;
    }
    const { value, problem } = raw === true ? { value: true as ArgValue, problem: undefined } : cast(spec, raw);
    if (problem !== undefined || value === undefined) {
      problems.push(problem ?? `--${spec.name} is invalid`);
      continue;
    }
    if (spec.choices && typeof value !== 'boolean' && !spec.choices.includes(value)) {
      problems.push(`--${spec.name} must be one of ${spec.choices.join(', ')}; got "${String(value)}"`);
      continue;
    }
    values.set(spec.name, value);
  }
  return { values, problems };
}

/** Throws one `PH_ERR_ARGS_INVALID` listing every problem, or returns the values. */
export function requireValidArgs(manifest: ModuleManifest, result: ArgsResult): ReadonlyMap<string, ArgValue> {
  if (result.problems.length === 0) return result.values;
  const count = result.problems.length;
  throw new PlatformError(
    'PH_ERR_ARGS_INVALID',
    `${count} problem${count === 1 ? '' : 's'} with the arguments of module ${manifest.name}:\n${result.problems.map((p) => `  - ${p}`).join('\n')}`,
    { hint: `Run \`platform-host run ${manifest.name} --help\` for its arguments.` },
  );
}

/** The {@link ModuleConfig} a module's `run()` receives. */
export function createModuleConfig(moduleName: string, values: ReadonlyMap<string, ArgValue>): ModuleConfig {
  const typed = <T extends ArgValue>(name: string, check: (value: ArgValue) => value is T, type: string): T => {
    const value = values.get(name);
    if (value === undefined || !check(value)) {
      throw new PlatformError(
        'PH_ERR_INTERNAL',
        `Module ${moduleName} read argument "${name}" as ${type}, but it is ${value === undefined ? 'not set' : typeof value}`,
        {
          hint: 'Declare the argument with that type (and a default or required) in module.json.',
        },
      );
    }
    return value;
  };
  const isString = (v: ArgValue): v is string => typeof v === 'string';
  const isNumber = (v: ArgValue): v is number => typeof v === 'number';
  const isInteger = (v: ArgValue): v is number => Number.isInteger(v);
  const isBoolean = (v: ArgValue): v is boolean => typeof v === 'boolean';
  return Object.freeze({
    get: (name: string) => values.get(name),
    string: (name: string) => typed(name, isString, 'string'),
    integer: (name: string) => typed(name, isInteger, 'integer'),
    float: (name: string) => typed(name, isNumber, 'float'),
    boolean: (name: string) => typed(name, isBoolean, 'boolean'),
    durationMs: (name: string) => {
      const text = typed(name, isString, 'duration');
      const ms = parseDurationMs(text);
      if (ms === undefined) {
        throw new PlatformError(
          'PH_ERR_INTERNAL',
          `Module ${moduleName} read argument "${name}" as a duration, but "${text}" is not one`,
          {
            hint: 'Declare the argument with "format": "duration" in module.json so the host checks it.',
          },
        );
      }
      return ms;
    },
    entries: () => [...values.entries()],
  });
}
