import { PlatformError, type InterfaceName } from '@platform-host/contracts';
import { GLOBAL_FLAGS, globalFlag } from './global-flags.js';

/** Global flags as given on the command line (raw strings / booleans), and everything else. */
export interface SplitArgv {
  readonly globals: ReadonlyMap<string, string | boolean>;
  readonly rest: readonly string[];
  readonly help: boolean;
}

const TRUE_WORDS = new Set(['true', '1', 'yes', 'on']);
const FALSE_WORDS = new Set(['false', '0', 'no', 'off']);

/** Parses a boolean word; `undefined` when it is not one. */
export function parseBooleanWord(value: string): boolean | undefined {
  const lower = value.toLowerCase();
  if (TRUE_WORDS.has(lower)) return true;
  if (FALSE_WORDS.has(lower)) return false;
  return undefined;
}

/**
 * Takes the global flags (seed 4.2) out of a command line and leaves the module's own arguments.
 * `--flag value` and `--flag=value` are accepted; boolean flags take no value (`--no-x` negates).
 */
export function splitArgv(tokens: readonly string[]): SplitArgv {
  const globals = new Map<string, string | boolean>();
  const rest: string[] = [];
  let help = false;
  for (let index = 0; index < tokens.length; index += 1) {
    const token = tokens[index] ?? '';
    if (token === '--') {
      rest.push(...tokens.slice(index));
      break;
    }
    if (token === '--help' || token === '-h') {
      help = true;
      continue;
    }
    if (!token.startsWith('--')) {
      rest.push(token);
      continue;
    }
    const eq = token.indexOf('=');
    const rawName = token.slice(2, eq === -1 ? undefined : eq);
    const negated = rawName.startsWith('no-') && globalFlag(rawName.slice(3))?.type === 'boolean';
    const name = negated ? rawName.slice(3) : rawName;
    const spec = globalFlag(name);
    if (!spec) {
      rest.push(token);
      continue;
    }
    if (spec.type === 'boolean') {
      if (eq !== -1) {
        const parsed = parseBooleanWord(token.slice(eq + 1));
        if (parsed === undefined || negated) {
          throw new PlatformError(
            'PH_ERR_USAGE',
            `Global flag --${rawName} takes no value or true/false, got "${token.slice(eq + 1)}"`,
          );
        }
        globals.set(name, parsed);
      } else {
        globals.set(name, !negated);
      }
      continue;
    }
    let value: string | undefined;
    if (eq !== -1) value = token.slice(eq + 1);
    else if (index + 1 < tokens.length && !(tokens[index + 1] ?? '').startsWith('--')) {
      index += 1;
      value = tokens[index];
    }
    if (value === undefined || value === '') {
      throw new PlatformError('PH_ERR_USAGE', `Global flag --${name} needs a value`, {
        hint: spec.values ? `For example: --${name} ${spec.values[0] ?? ''}` : undefined,
      });
    }
    globals.set(name, value);
  }
  return { globals, rest, help };
}

/** The effective global flags: command line, then the flag's env var, then its default. */
export interface GlobalOptions {
  /** The flag value selecting each interface's adapter (`database` -> `postgres`). */
  readonly adapterFlags: Readonly<Record<InterfaceName, string>>;
  readonly env: string;
  /** `undefined` means "the default for this env" (seed 5.5). */
  readonly autoMigrate: boolean | undefined;
  readonly healthPort: number;
  readonly drainTimeoutSeconds: number;
  /** Deadline of each shutdown hook, disconnect and flush (`--hook-timeout`). */
  readonly hookTimeoutSeconds: number;
  /** Deadline of each adapter's connect() (`--connect-timeout`). */
  readonly connectTimeoutSeconds: number;
  readonly verbose: boolean;
}

/** Resolves every global flag from the command line, then `env`, then defaults; all problems at once. */
export function resolveGlobalOptions(
  given: ReadonlyMap<string, string | boolean>,
  env: Readonly<Record<string, string | undefined>>,
): GlobalOptions {
  const problems: string[] = [];
  const values = new Map<string, string | boolean | number | undefined>();
  for (const spec of GLOBAL_FLAGS) {
    const fromCli = given.get(spec.name);
    const fromEnv = env[spec.env];
    const source = fromCli !== undefined ? `--${spec.name}` : spec.env;
    const raw = fromCli ?? (fromEnv === undefined || fromEnv === '' ? undefined : fromEnv);
    if (raw === undefined) {
      values.set(spec.name, spec.default);
    } else if (spec.type === 'boolean') {
      const parsed = typeof raw === 'boolean' ? raw : parseBooleanWord(raw);
      if (parsed === undefined) problems.push(`${source} must be true or false, got "${String(raw)}"`);
      values.set(spec.name, parsed ?? spec.default);
    } else if (spec.type === 'integer') {
      const text = String(raw);
      const parsed = /^\d+$/.test(text) ? Number(text) : Number.NaN;
      const min = spec.min ?? 0;
      const max = spec.max ?? Number.MAX_SAFE_INTEGER;
      const valid = Number.isSafeInteger(parsed) && parsed >= min && parsed <= max;
      if (!valid) problems.push(`${source} must be an integer from ${min} to ${max}, got "${text}"`);
      values.set(spec.name, valid ? parsed : spec.default);
    } else {
      values.set(spec.name, String(raw));
    }
  }
  if (problems.length > 0) {
    throw new PlatformError('PH_ERR_USAGE', `Invalid global flags:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
  const adapterFlags = {} as Record<InterfaceName, string>;
  for (const spec of GLOBAL_FLAGS) {
    if (spec.selects) adapterFlags[spec.selects] = String(values.get(spec.name));
  }
  const autoMigrate = values.get('auto-migrate');
  return {
    adapterFlags,
    env: String(values.get('env')),
    autoMigrate: typeof autoMigrate === 'boolean' ? autoMigrate : undefined,
    healthPort: Number(values.get('health-port')),
    drainTimeoutSeconds: Number(values.get('drain-timeout')),
    hookTimeoutSeconds: Number(values.get('hook-timeout')),
    connectTimeoutSeconds: Number(values.get('connect-timeout')),
    verbose: values.get('verbose') === true,
  };
}
