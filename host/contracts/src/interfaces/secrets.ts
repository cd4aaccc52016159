import type { HealthCheckable } from '../health.js';
import type { Logger } from './logger.js';

/**
 * Configuration and credentials (seed 5.2.7, 6.2). Adapters read their config only through this
 * interface, so the same adapter runs with environment variables, files or a vault.
 */
export interface Secrets extends Partial<HealthCheckable> {
  /** The value, or `undefined` when the key is not set. */
  get(key: string): Promise<string | undefined>;
  /** The value, or `fallback` when the key is not set. */
  getOrDefault(key: string, fallback: string): Promise<string>;
  /**
   * The value; throws `PH_ERR_CONFIG_MISSING` naming the key (never a value) when it is not set.
   */
  require(key: string): Promise<string>;
  /**
   * Optional: true when the value of `key` comes from a store whose every value is a secret (a
   * vault), so the host registers it for redaction even when the adapter that reads it does not
   * declare the key `secret`. Without it, the host registers the values of keys declared secret
   * and every value a module reads through `ctx.secrets`. Never throws for a key that is not set.
   */
  isSecret?(key: string): Promise<boolean>;
  /**
   * Optional: hands the provider the platform logger (the host's redacting logger, bound to the
   * provider's adapter name) once the logging adapter is constructed. The secrets provider is the
   * configuration root, built and connected before any logger exists, so a provider with something
   * to report later (a failed token renewal) keeps what happened before this call and logs it
   * here, in order, then logs through `logger` directly. Called at most once per run, never with
   * `doctor`; a provider must work the same without it. Must not throw.
   */
  attachLogger?(logger: Logger): void;
}
