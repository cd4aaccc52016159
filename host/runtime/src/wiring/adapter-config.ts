import {
  PlatformError,
  type AdapterConfig,
  type AdapterManifest,
  type ConfigKey,
  type Secrets,
} from '@platform-host/contracts';
import { registerSecret } from '../redaction/redact.js';

/** A required config key that is not set. */
export interface MissingKey {
  readonly key: ConfigKey;
  readonly adapter: string;
}

/** A config key whose value does not have its declared format. */
export interface InvalidKey {
  readonly key: ConfigKey;
  readonly adapter: string;
  /** What is wrong, without the value (it may be a secret). */
  readonly problem: string;
}

/** Why `value` does not have the key's declared format (never quoting the value), or `undefined`. */
export function configValueProblem(key: ConfigKey, value: string): string | undefined {
  switch (key.format) {
    case undefined:
      return undefined;
    case 'url':
      return URL.canParse(value) ? undefined : 'is not a valid URL (check the scheme, host and port)';
    case 'integer':
      return /^[+-]?\d+$/.test(value.trim()) ? undefined : 'is not an integer';
  }
}

/** The keys of `manifest` that apply when it is selected by `flag`. */
export function keysForFlag(manifest: AdapterManifest, flag: string): ConfigKey[] {
  return manifest.config.filter((key) => !key.flags || key.flags.includes(flag));
}

/**
 * Reads an adapter's declared config keys through Secrets, applies defaults, registers secret values
 * for redaction (keys declared secret, and every value the provider says comes from its secret
 * store: {@link Secrets.isSecret}), and reports required keys that are missing (names only).
 */
export async function resolveAdapterConfig(
  manifest: AdapterManifest,
  flag: string,
  secrets: Secrets,
): Promise<{ config: AdapterConfig; missing: MissingKey[]; invalid: InvalidKey[] }> {
  const values = new Map<string, string>();
  const missing: MissingKey[] = [];
  const invalid: InvalidKey[] = [];
  for (const key of keysForFlag(manifest, flag)) {
    const value = await secrets.get(key.env);
    if (value !== undefined && value !== '') {
      if (key.secret || (await secrets.isSecret?.(key.env))) registerSecret(value);
      const problem = configValueProblem(key, value);
      if (problem) invalid.push({ key, adapter: manifest.name, problem });
      values.set(key.env, value);
    } else if (key.default !== undefined) {
      if (key.secret) registerSecret(key.default);
      values.set(key.env, key.default);
    } else if (key.required) {
      missing.push({ key, adapter: manifest.name });
    }
  }
  return { config: createAdapterConfig(manifest.name, values), missing, invalid };
}

/** An {@link AdapterConfig} over resolved values. */
export function createAdapterConfig(adapterName: string, values: ReadonlyMap<string, string>): AdapterConfig {
  const get = (key: string): string | undefined => values.get(key);
  return Object.freeze({
    get,
    require(key: string): string {
      const value = get(key);
      if (value === undefined) {
        throw new PlatformError(
          'PH_ERR_CONFIG_MISSING',
          `Adapter ${adapterName} needs configuration key ${key}, which is not set`,
          {
            hint: `Set ${key} in the environment or in env/<env>.env.`,
          },
        );
      }
      return value;
    },
    integer(key: string, fallback: number, options: { readonly min?: number } = {}): number {
      const value = get(key);
      if (value === undefined) return fallback;
      const parsed = /^[+-]?\d+$/.test(value.trim()) ? Number(value) : Number.NaN;
      if (!Number.isSafeInteger(parsed)) {
        throw new PlatformError(
          'PH_ERR_CONFIG_INVALID',
          `Adapter ${adapterName}: configuration key ${key} must be an integer`,
          {
            hint: `Fix the value of ${key} in the environment or env file.`,
          },
        );
      }
      const { min } = options;
      if (min !== undefined && parsed < min) {
        throw new PlatformError(
          'PH_ERR_CONFIG_INVALID',
          `Adapter ${adapterName}: configuration key ${key} must be an integer of at least ${min}, got ${parsed}`,
          { hint: `Set ${key} to an integer of at least ${min}, or unset it for the default of ${fallback}.` },
        );
      }
      return parsed;
    },
  });
}

/** One `PH_ERR_CONFIG_INVALID` naming every key whose value has the wrong format (no values). */
export function invalidConfigError(invalid: readonly InvalidKey[]): PlatformError {
  const lines = invalid.map(({ key, adapter, problem }) => `  - ${key.env} (adapter ${adapter}) ${problem}`);
  return new PlatformError('PH_ERR_CONFIG_INVALID', `Invalid configuration:\n${lines.join('\n')}`, {
    hint: 'Fix these values in the environment, in env/<env>.env, or in your secrets provider.',
  });
}

/** One error naming every missing key and its adapter. */
export function missingConfigError(missing: readonly MissingKey[]): PlatformError {
  const lines = missing.map(({ key, adapter }) => `  - ${key.env} (adapter ${adapter}): ${key.description}`);
  return new PlatformError('PH_ERR_CONFIG_MISSING', `Missing required configuration:\n${lines.join('\n')}`, {
    hint: 'Set these keys in the environment, in env/<env>.env, or in your secrets provider.',
  });
}
