import type { HealthCheckResult, Secrets } from '@platform-host/contracts';
import { redactText, registerSecret } from './redact.js';

/**
 * The {@link Secrets} a module receives as `ctx.secrets`: every value it returns is registered for
 * redaction before the module sees it, so a module that logs or throws a secret it read leaks
 * nothing. A health detail of the provider is redacted too.
 */
export function registeringSecrets(inner: Secrets): Secrets {
  const secrets: Secrets = {
    async get(key) {
      const value = await inner.get(key);
      registerSecret(value);
      return value;
    },
    async getOrDefault(key, fallback) {
      const value = await inner.getOrDefault(key, fallback);
      registerSecret(value);
      return value;
    },
    async require(key) {
      const value = await inner.require(key);
      registerSecret(value);
      return value;
    },
  };
  const healthCheck = inner.healthCheck?.bind(inner);
  if (healthCheck) {
    secrets.healthCheck = async (): Promise<HealthCheckResult> => {
      const result = await healthCheck();
      return result.detail === undefined ? result : { ...result, detail: redactText(result.detail) };
    };
  }
  return Object.freeze(secrets);
}
