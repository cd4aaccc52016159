import { defineAdapter } from '@platform-host/contracts';
import { EnvSecrets } from './env-secrets.js';

export { EnvSecrets } from './env-secrets.js';
export type { EnvironmentMap } from './env-secrets.js';

/** `--secrets env`: reads the host's merged environment (real environment variables over env files). */
export default defineAdapter({
  interface: 'secrets',
  create: ({ environment }) => new EnvSecrets(environment),
});
