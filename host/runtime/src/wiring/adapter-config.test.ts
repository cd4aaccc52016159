import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import type { AdapterManifest, Secrets } from '@platform-host/contracts';
import { redactText, REDACTED } from '../redaction/redact.js';
import { resolveAdapterConfig } from './adapter-config.js';

const manifest: AdapterManifest = {
  name: 'example',
  version: '1.0.0',
  description: 'x',
  interface: 'cache',
  flags: ['example'],
  host_api: '^2.0.0',
  entry: './index.js',
  config: [
    { env: 'EXAMPLE_HOST', description: 'x', required: true, secret: false },
    { env: 'EXAMPLE_REGION', description: 'x', required: false, secret: false },
  ],
};

/** A provider over a map; `fromStore` names the keys it says come from its secret store. */
function provider(values: Record<string, string>, fromStore?: ReadonlySet<string>): Secrets {
  const secrets: Secrets = {
    get: async (key) => values[key],
    getOrDefault: async (key, fallback) => values[key] ?? fallback,
    require: async (key) => values[key] ?? '',
  };
  if (fromStore) secrets.isSecret = async (key) => fromStore.has(key);
  return secrets;
}

describe('adapter configuration through Secrets', () => {
  it('registers for redaction every value the provider says comes from its secret store, even for keys not declared secret', async () => {
    const host = `vault-host-${randomUUID()}`;
    const region = `region-${randomUUID()}`;
    const { config } = await resolveAdapterConfig(
      manifest,
      'example',
      provider({ EXAMPLE_HOST: host, EXAMPLE_REGION: region }, new Set(['EXAMPLE_HOST'])),
    );
    expect(config.get('EXAMPLE_HOST')).to.equal(host);
    expect(redactText(`connecting to ${host} in ${region}`)).to.equal(`connecting to ${REDACTED} in ${region}`);
  });

  it('registers nothing for undeclared keys of a provider without isSecret', async () => {
    const host = `env-host-${randomUUID()}`;
    await resolveAdapterConfig(manifest, 'example', provider({ EXAMPLE_HOST: host }));
    expect(redactText(`connecting to ${host}`)).to.equal(`connecting to ${host}`);
  });
});
