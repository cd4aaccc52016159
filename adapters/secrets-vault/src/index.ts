import { defineAdapter, PlatformError } from '@platform-host/contracts';
import type { AdapterConfig } from '@platform-host/contracts';
import { VaultSecrets, type VaultAuth } from './vault-secrets.js';

export { VaultSecrets } from './vault-secrets.js';
export type { EnvironmentMap, VaultAuth, VaultSecretsOptions } from './vault-secrets.js';

/** AppRole when `SECRETS_VAULT_ROLE_ID` is set, else `SECRETS_VAULT_TOKEN`; neither is one clear error. */
function authFrom(config: AdapterConfig): VaultAuth {
  const roleId = config.get('SECRETS_VAULT_ROLE_ID');
  const secretId = config.get('SECRETS_VAULT_SECRET_ID');
  const token = config.get('SECRETS_VAULT_TOKEN');
  if (roleId !== undefined) {
    if (secretId === undefined) {
      throw new PlatformError(
        'PH_ERR_CONFIG_MISSING',
        'SECRETS_VAULT_ROLE_ID is set but SECRETS_VAULT_SECRET_ID is not',
        {
          hint: 'AppRole login needs both: set SECRETS_VAULT_SECRET_ID, or unset SECRETS_VAULT_ROLE_ID to use SECRETS_VAULT_TOKEN.',
        },
      );
    }
    return { method: 'approle', roleId, secretId, mount: config.get('SECRETS_VAULT_APPROLE_MOUNT') };
  }
  if (token !== undefined) return { method: 'token', token };
  throw new PlatformError(
    'PH_ERR_CONFIG_MISSING',
    '--secrets vault needs SECRETS_VAULT_TOKEN, or SECRETS_VAULT_ROLE_ID with SECRETS_VAULT_SECRET_ID',
    { hint: 'Set them in the environment (the secrets provider reads its own configuration from there).' },
  );
}

/**
 * `--secrets vault`: keys from one KV version 2 secret of Vault or OpenBao
 * (`SECRETS_VAULT_MOUNT`/`SECRETS_VAULT_PATH` at `SECRETS_VAULT_ADDR`), the others from the host's
 * merged environment (real environment variables over env files).
 */
export default defineAdapter({
  interface: 'secrets',
  create: ({ config, environment }) =>
    new VaultSecrets({
      address: config.require('SECRETS_VAULT_ADDR'),
      auth: authFrom(config),
      mount: config.get('SECRETS_VAULT_MOUNT'),
      path: config.get('SECRETS_VAULT_PATH'),
      namespace: config.get('SECRETS_VAULT_NAMESPACE'),
      cacheTtlMs: config.integer('SECRETS_VAULT_CACHE_TTL', 60, { min: 0 }) * 1000,
      requestTimeoutMs: config.integer('SECRETS_VAULT_REQUEST_TIMEOUT', 5000, { min: 1 }),
      env: environment,
    }),
});
