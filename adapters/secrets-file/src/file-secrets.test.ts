import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { isPlatformError } from '@platform-host/contracts';
import type { AdapterConfig, PlatformError, Secrets } from '@platform-host/contracts';
import { adapterManifestSchema } from '@platform-host/contracts/manifest-schemas';
import { describeSecretsConformance } from '@platform-host/test-kit';
import adapter, { FileSecrets } from './index.js';

/** A dotenv value that parses back to exactly `value`: backtick quotes keep everything literally. */
function dotenvQuoted(value: string): string {
  if (value.includes('`')) throw new Error('dotenvQuoted: a backtick cannot be quoted');
  return `\`${value}\``;
}

const temporaryDirs = new Map<Secrets, string>();

async function temporaryDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'secrets-file-'));
}

async function removeDirOf(secrets: Secrets): Promise<void> {
  const dir = temporaryDirs.get(secrets);
  temporaryDirs.delete(secrets);
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
}

describeSecretsConformance('secrets-file (dotenv file)', {
  create: async (values) => {
    const dir = await temporaryDir();
    const path = join(dir, 'secrets.env');
    await writeFile(
      path,
      Object.entries(values)
        .map(([key, value]) => `${key}=${dotenvQuoted(value)}\n`)
        .join(''),
    );
    const secrets = new FileSecrets({ path, env: {} });
    await secrets.connect();
    temporaryDirs.set(secrets, dir);
    return secrets;
  },
  destroy: removeDirOf,
});

describeSecretsConformance('secrets-file (directory)', {
  create: async (values) => {
    const dir = await temporaryDir();
    for (const [key, value] of Object.entries(values)) await writeFile(join(dir, key), `${value}\n`);
    const secrets = new FileSecrets({ path: dir, env: {} });
    await secrets.connect();
    temporaryDirs.set(secrets, dir);
    return secrets;
  },
  destroy: removeDirOf,
});

async function rejectionOf(work: Promise<unknown>): Promise<PlatformError> {
  try {
    await work;
  } catch (error) {
    if (isPlatformError(error)) return error;
    throw error;
  }
  throw new Error('expected a rejection');
}

describe('FileSecrets', function () {
  let dir: string;
  beforeEach(async function () {
    dir = await temporaryDir();
  });
  afterEach(async function () {
    await rm(dir, { recursive: true, force: true });
  });

  it('prefers keys from the file and falls back to the environment for the others, and for empty ones', async function () {
    const path = join(dir, 'app.env');
    await writeFile(path, 'DB_PASSWORD=from-file\nREGION=\n');
    const secrets = new FileSecrets({
      path,
      env: { DB_PASSWORD: 'from-env', FS_LOCAL_ROOT: '/data', REGION: 'eu-west-1', BLANK: '' },
    });
    expect(await secrets.get('DB_PASSWORD')).to.equal('from-file');
    expect(await secrets.get('FS_LOCAL_ROOT')).to.equal('/data');
    expect(await secrets.get('REGION')).to.equal('eu-west-1');
    expect(await secrets.get('BLANK')).to.equal(undefined);
  });

  it('reads a Kubernetes secret volume: symlinked keys, dot entries and subdirectories ignored, one newline trimmed', async function () {
    const data = join(dir, '..2024_05_01_12_00_00.123');
    await mkdir(data);
    await writeFile(join(data, 'DB_PASSWORD'), 's3cr3t\n');
    await writeFile(join(data, 'TLS_CERT'), 'line1\nline2\n\n');
    await symlink('..2024_05_01_12_00_00.123', join(dir, '..data'));
    await symlink(join('..data', 'DB_PASSWORD'), join(dir, 'DB_PASSWORD'));
    await symlink(join('..data', 'TLS_CERT'), join(dir, 'TLS_CERT'));
    await writeFile(join(dir, '.hidden'), 'ignored');
    await mkdir(join(dir, 'nested'));
    const secrets = new FileSecrets({ path: dir });
    await secrets.connect();
    expect(await secrets.get('DB_PASSWORD')).to.equal('s3cr3t');
    expect(await secrets.get('TLS_CERT')).to.equal('line1\nline2\n');
    expect(await secrets.get('.hidden')).to.equal(undefined);
    expect(await secrets.get('..data')).to.equal(undefined);
    expect(await secrets.get('nested')).to.equal(undefined);
  });

  it('reads the file once and serves later lookups from the cache', async function () {
    const path = join(dir, 'app.env');
    await writeFile(path, 'TOKEN=first\n');
    const secrets = new FileSecrets({ path });
    await secrets.connect();
    await writeFile(path, 'TOKEN=second\n');
    expect(await secrets.require('TOKEN')).to.equal('first');
  });

  it('loads lazily on the first lookup when connect() was not called', async function () {
    const path = join(dir, 'app.env');
    await writeFile(path, 'TOKEN=lazy\n');
    expect(await new FileSecrets({ path }).get('TOKEN')).to.equal('lazy');
  });

  it('refuses a missing path with PH_ERR_CONFIG_INVALID naming SECRETS_FILE_PATH, and reads it once it appears', async function () {
    const path = join(dir, 'later.env');
    const secrets = new FileSecrets({ path });
    const error = await rejectionOf(secrets.connect());
    expect(error.code).to.equal('PH_ERR_CONFIG_INVALID');
    expect(error.message).to.equal(`SECRETS_FILE_PATH "${path}" cannot be read (ENOENT)`);
    await writeFile(path, 'KEY=now\n');
    expect(await secrets.get('KEY')).to.equal('now');
  });

  it('reads dotenv syntax: comments after values, quoted and multi-line values, export prefixes', async function () {
    const path = join(dir, 'syntax.env');
    await writeFile(path, 'A=1 # note\nexport B="two words"\nC=`line one\nline two`\n# comment\n');
    const secrets = new FileSecrets({ path });
    await secrets.connect();
    expect([await secrets.get('A'), await secrets.get('B'), await secrets.get('C')]).to.deep.equal([
      '1',
      'two words',
      'line one\nline two',
    ]);
  });

  it('says in the require error where the key can be set', async function () {
    const path = join(dir, 'app.env');
    await writeFile(path, 'OTHER=x\n');
    const error = await rejectionOf(new FileSecrets({ path }).require('API_TOKEN'));
    expect(error.code).to.equal('PH_ERR_CONFIG_MISSING');
    expect(error.message).to.equal('Required configuration key API_TOKEN is not set');
    expect(error.hint).to.include(path).and.include('SECRETS_FILE_PATH');
  });

  it('reports healthy while the file or directory is readable and unhealthy once it is gone, without throwing', async function () {
    const path = join(dir, 'app.env');
    await writeFile(path, 'A=1\n');
    const file = new FileSecrets({ path });
    const directory = new FileSecrets({ path: dir });
    expect(await file.healthCheck()).to.deep.equal({ ok: true });
    expect(await directory.healthCheck()).to.deep.equal({ ok: true });
    await rm(dir, { recursive: true, force: true });
    const result = await file.healthCheck();
    expect(result.ok).to.equal(false);
    expect(result.detail).to.equal(`SECRETS_FILE_PATH "${path}" is not readable (ENOENT)`);
  });
});

describe('secrets-file adapter', function () {
  it('has a manifest that matches the adapter manifest schema and requires SECRETS_FILE_PATH', async function () {
    const raw: unknown = JSON.parse(await readFile(new URL('../platform-adapter.json', import.meta.url), 'utf8'));
    const manifest = adapterManifestSchema.parse(raw);
    expect(manifest).to.deep.include({ interface: 'secrets', flags: ['file'] });
    expect(manifest.config.map((key) => [key.env, key.required])).to.deep.equal([['SECRETS_FILE_PATH', true]]);
  });

  it("reads the path from SECRETS_FILE_PATH and falls back to the host's merged environment", async function () {
    const dir = await temporaryDir();
    try {
      await writeFile(join(dir, 'app.env'), 'FROM_FILE=yes\n');
      const values: Record<string, string> = { SECRETS_FILE_PATH: join(dir, 'app.env') };
      const config: AdapterConfig = {
        get: (key) => values[key],
        require: (key) => values[key] ?? '',
        integer: (_key, fallback) => fallback,
      };
      const environment = { FS_LOCAL_ROOT: '/data', FROM_FILE: 'no' };
      const secrets = await adapter.create({
        flag: 'file',
        config,
        environment,
      });
      expect(await secrets.get('FROM_FILE')).to.equal('yes');
      expect(await secrets.get('FS_LOCAL_ROOT')).to.equal('/data');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
