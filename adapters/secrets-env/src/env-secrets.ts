import { PlatformError } from '@platform-host/contracts';
import type { HealthCheckResult, Secrets } from '@platform-host/contracts';

/** An environment: variable names to values, as `process.env` or the host's merged env map. */
export type EnvironmentMap = Readonly<Record<string, string | undefined>>;

/**
 * Configuration and secrets from environment variables (seed 5.2.7, `--secrets env`): production
 * style, where Kubernetes injects secrets as env vars.
 *
 * Reads the map it is given, copied at construction: through the adapter entry, the host's merged
 * environment (`deps.environment`: real environment variables over `env/<env>.env` files); tests and
 * other code can pass any map, `process.env` included.
 *
 * An empty value counts as unset (`KEY=` in an env file is a placeholder, not a value): `get`
 * returns `undefined`, `getOrDefault` the fallback and `require` throws. Errors name keys, never
 * values. The host registers
 * secret values for redaction (keys declared secret, values modules read).
 */
export class EnvSecrets implements Secrets {
  private readonly env: ReadonlyMap<string, string>;

  constructor(env: EnvironmentMap) {
    this.env = new Map(
      Object.entries(env).filter((entry): entry is [string, string] => typeof entry[1] === 'string' && entry[1] !== ''),
    );
  }

  async get(key: string): Promise<string | undefined> {
    return this.env.get(key);
  }

  async getOrDefault(key: string, fallback: string): Promise<string> {
    return this.env.get(key) ?? fallback;
  }

  async require(key: string): Promise<string> {
    const value = this.env.get(key);
    if (value === undefined) {
      throw new PlatformError('PH_ERR_CONFIG_MISSING', `Required configuration key ${key} is not set`, {
        hint: `Set ${key} as an environment variable or in env/<env>.env (selected with --env).`,
      });
    }
    return value;
  }

  /** Always healthy: the environment is in memory. */
  async healthCheck(): Promise<HealthCheckResult> {
    return { ok: true };
  }
}
