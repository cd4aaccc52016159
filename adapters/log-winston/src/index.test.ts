import { readFile } from 'node:fs/promises';
import { expect } from 'chai';
import { isPlatformError } from '@platform-host/contracts';
import { adapterManifestSchema } from '@platform-host/contracts/manifest-schemas';
import type { AdapterConfig, AdapterContext } from '@platform-host/contracts';
import adapter, { WinstonLogger } from './index.js';

function depsWith(flag: string, values: Record<string, string>): AdapterContext {
  const config: AdapterConfig = {
    get: (key) => values[key],
    require: (key) => values[key] ?? '',
    integer: (_key, fallback) => fallback,
  };
  return { flag, config, environment: {} };
}

async function rejection(work: () => unknown): Promise<unknown> {
  try {
    await work();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error');
}

describe('log-winston adapter', function () {
  it('has a manifest that matches the adapter manifest schema and declares LOG_LEVEL', async function () {
    const raw: unknown = JSON.parse(await readFile(new URL('../platform-adapter.json', import.meta.url), 'utf8'));
    const manifest = adapterManifestSchema.parse(raw);
    expect(manifest.interface).to.equal('logging');
    expect(manifest.flags).to.deep.equal(['json', 'pretty']);
    expect(manifest.config.map((key) => key.env)).to.deep.equal(['LOG_LEVEL']);
  });

  it('creates a logger at the configured LOG_LEVEL for both flags', async function () {
    for (const flag of ['json', 'pretty']) {
      const logger = await adapter.create(depsWith(flag, { LOG_LEVEL: 'WARN' }));
      expect(logger).to.be.instanceOf(WinstonLogger);
      expect((logger as WinstonLogger).level).to.equal('warn');
    }
  });

  it('refuses an invalid LOG_LEVEL with PH_ERR_CONFIG_INVALID', async function () {
    const error = await rejection(() => adapter.create(depsWith('json', { LOG_LEVEL: 'loud' })));
    expect(isPlatformError(error) && error.code).to.equal('PH_ERR_CONFIG_INVALID');
  });

  it('refuses a flag it does not serve', async function () {
    const error = await rejection(() => adapter.create(depsWith('xml', {})));
    expect(isPlatformError(error) && error.code).to.equal('PH_ERR_FLAG_UNKNOWN_ADAPTER');
  });
});
