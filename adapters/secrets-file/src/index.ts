import { defineAdapter } from '@platform-host/contracts';
import { FileSecrets } from './file-secrets.js';

export { FileSecrets } from './file-secrets.js';
export type { EnvironmentMap, FileSecretsOptions } from './file-secrets.js';

/**
 * `--secrets file`: keys from `SECRETS_FILE_PATH`, the others from the host's merged environment
 * (real environment variables over env files).
 */
export default defineAdapter({
  interface: 'secrets',
  create: ({ config, environment }) => new FileSecrets({ path: config.require('SECRETS_FILE_PATH'), env: environment }),
});
