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

/** The keys of `manifest` that apply when it is selected by `flag`. */
export function keysForFlag(manifest: AdapterManifest, flag: string): ConfigKey[] {
  return manifest.config.filter((key) => !key.flags || key.flags.includes(flag));
}

/**
 * Reads an adapter's declared config keys through Secrets, applies defaults, registers secret values
 * for redaction, and reports required keys that are missing (names only).
 */
export async function resolveAdapterConfig(
  manifest: AdapterManifest,
  flag: string,
  secrets: Secrets,
): Promise<{ config: AdapterConfig; missing: MissingKey[] }> {
  const values = new Map<string, string>();
  const missing: MissingKey[] = [];
  for (const key of keysForFlag(manifest, flag)) {
    const value = await secrets.get(key.env);
    if (value !== undefined && value !== '') {
      if (key.secret) registerSecret(value);
      values.set(key.env, value);
    } else if (key.default !== undefined) {
      if (key.secret) registerSecret(key.default);
      values.set(key.env, key.default);
    } else if (key.required) {
      missing.push({ key, adapter: manifest.name });
    }
  }
  return { config: createAdapterConfig(manifest.name, values), missing };
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
    integer(key: string, fallback: number): number {
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
      return parsed;
    },
  });
}

/** One error naming every missing key and its adapter. */
export function missingConfigError(missing: readonly MissingKey[]): PlatformError {
  const lines = missing.map(({ key, adapter }) => `  - ${key.env} (adapter ${adapter}): ${key.description}`);
  return new PlatformError('PH_ERR_CONFIG_MISSING', `Missing required configuration:\n${lines.join('\n')}`, {
    hint: 'Set these keys in the environment, in env/<env>.env, or in your secrets provider.',
  });
}
