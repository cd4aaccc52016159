import { readFile } from 'node:fs/promises';
import { expect } from 'chai';
import { isPlatformError } from '@platform-host/contracts';
import type { AdapterConfig } from '@platform-host/contracts';
import { adapterManifestSchema } from '@platform-host/contracts/manifest-schemas';
import { describeSecretsConformance } from '@platform-host/test-kit';
import adapter, { EnvSecrets } from './index.js';

describeSecretsConformance('secrets-env', { create: async (values) => new EnvSecrets(values) });

async function rejectionOf(work: Promise<unknown>): Promise<unknown> {
  try {
    await work;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

describe('EnvSecrets', function () {
  it('treats an empty value as unset', async function () {
    const secrets = new EnvSecrets({ EMPTY: '', UNDEFINED: undefined });
    expect(await secrets.get('EMPTY')).to.equal(undefined);
    expect(await secrets.getOrDefault('EMPTY', 'fallback')).to.equal('fallback');
    const error = await rejectionOf(secrets.require('UNDEFINED'));
    expect(isPlatformError(error) && error.code).to.equal('PH_ERR_CONFIG_MISSING');
  });

  it('says in the error which key is missing and where to set it', async function () {
    const error = await rejectionOf(new EnvSecrets({}).require('DB_POSTGRES_URL'));
    expect(isPlatformError(error)).to.equal(true);
    if (!isPlatformError(error)) return;
    expect(error.message).to.equal('Required configuration key DB_POSTGRES_URL is not set');
    expect(error.hint).to.include('DB_POSTGRES_URL').and.include('env/<env>.env');
    expect(error.exitCode).to.equal(2);
  });

  it('keeps the values it was constructed with when the map changes later', async function () {
    const env: Record<string, string> = { REGION: 'eu-west-1' };
    const secrets = new EnvSecrets(env);
    env['REGION'] = 'us-east-1';
    env['ADDED'] = 'later';
    expect(await secrets.get('REGION')).to.equal('eu-west-1');
    expect(await secrets.get('ADDED')).to.equal(undefined);
  });

  it('does not look up inherited object properties as keys', async function () {
    const secrets = new EnvSecrets({});
    expect(await secrets.get('constructor')).to.equal(undefined);
    expect(await secrets.get('__proto__')).to.equal(undefined);
  });
});

describe('secrets-env adapter', function () {
  it('has a manifest that matches the adapter manifest schema', async function () {
    const raw: unknown = JSON.parse(await readFile(new URL('../platform-adapter.json', import.meta.url), 'utf8'));
    expect(adapterManifestSchema.parse(raw)).to.deep.include({ interface: 'secrets', flags: ['env'], config: [] });
  });

  it("reads the host's merged environment when created through the adapter entry", async function () {
    const config: AdapterConfig = { get: () => undefined, require: () => '', integer: (_key, fallback) => fallback };
    const environment = { DB_POSTGRES_URL: 'postgres://db/app' };
    const secrets = await adapter.create({ flag: 'env', config, environment });
    expect(await secrets.get('DB_POSTGRES_URL')).to.equal('postgres://db/app');
    expect(await secrets.get('PATH')).to.equal(undefined);
  });
});
