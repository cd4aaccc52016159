import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { isPlatformError } from '@platform-host/contracts';
import type { AdapterConfig, PlatformError, Secrets } from '@platform-host/contracts';
import { adapterManifestSchema } from '@platform-host/contracts/manifest-schemas';
import {
  describeSecretsConformance,
  infraRequired,
  RecordingLogger,
  useRealService,
  waitFor,
} from '@platform-host/test-kit';
import adapter, { VaultSecrets, type VaultSecretsOptions } from './index.js';
import { RecordingProxy, VaultAdmin } from './vault-admin.fixture.js';

async function rejectionOf(work: Promise<unknown>): Promise<PlatformError> {
  try {
    await work;
  } catch (error) {
    if (isPlatformError(error)) return error;
    throw error;
  }
  throw new Error('expected a rejection');
}

/** The whole text an error could show: message, hint, stack and causes. */
function errorText(error: PlatformError): string {
  let text = `${error.message}\n${error.hint ?? ''}\n${String(error.stack)}`;
  let cause: unknown = error.cause;
  while (cause instanceof Error) {
    text += `\n${cause.message}\n${String(cause.stack)}`;
    cause = cause.cause;
  }
  return text;
}

/** An address where nothing listens (a port just released). */
async function closedAddress(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

describe('secrets-vault against a real Vault-compatible server (OpenBao)', function () {
  this.timeout(30_000);
  const vault = useRealService('vault');
  let admin: VaultAdmin;
  let address: string;
  let rootToken: string;
  const open: VaultSecrets[] = [];
  const secretPaths: string[] = [];

  before(function () {
    address = vault().SECRETS_VAULT_ADDR ?? '';
    rootToken = vault().SECRETS_VAULT_TOKEN ?? '';
    admin = new VaultAdmin(address, rootToken);
  });

  /** A unique secret path holding `data`, destroyed after the test. */
  async function secretWith(data: Readonly<Record<string, unknown>>): Promise<string> {
    const path = `platform-host-test/${VaultAdmin.suffix()}`;
    await admin.writeSecret(path, data);
    secretPaths.push(path);
    return path;
  }

  function client(options: Partial<VaultSecretsOptions> & { path: string }): VaultSecrets {
    const secrets = new VaultSecrets({ address, auth: { method: 'token', token: rootToken }, ...options });
    open.push(secrets);
    return secrets;
  }

  afterEach(async function () {
    await Promise.all(open.splice(0).map((secrets) => secrets.disconnect()));
    await Promise.all(secretPaths.splice(0).map((path) => admin.destroySecret(path).catch(() => undefined)));
  });

  describeSecretsConformance('secrets-vault (OpenBao KV v2)', {
    create: async (values) => {
      const path = await secretWith(values);
      const secrets = client({ path, env: {} });
      await secrets.connect();
      return secrets;
    },
  });

  it('resolves keys from the Vault secret first, then from the environment, never its own credentials', async function () {
    const path = await secretWith({ DB_POSTGRES_URL: 'postgresql://app:from-vault@db/platform', REGION: '' });
    const secrets = client({
      path,
      env: {
        DB_POSTGRES_URL: 'postgresql://app:from-env@db/platform',
        FS_LOCAL_ROOT: '/data',
        REGION: 'eu-west-1',
        SECRETS_VAULT_TOKEN: rootToken,
        SECRETS_VAULT_SECRET_ID: 'the-secret-id',
      },
    });
    await secrets.connect();
    expect(await secrets.get('DB_POSTGRES_URL')).to.equal('postgresql://app:from-vault@db/platform');
    expect(await secrets.get('FS_LOCAL_ROOT')).to.equal('/data');
    expect(await secrets.get('REGION')).to.equal('eu-west-1');
    expect(await secrets.get('SECRETS_VAULT_TOKEN')).to.equal(undefined);
    expect(await secrets.get('SECRETS_VAULT_SECRET_ID')).to.equal(undefined);
    expect(await secrets.isSecret('DB_POSTGRES_URL')).to.equal(true);
    expect(await secrets.isSecret('FS_LOCAL_ROOT')).to.equal(false);
  });

  it('returns values that are not strings in the secret as JSON text', async function () {
    const path = await secretWith({ POOL_MAX: 12, FLAGS: { a: true }, LIST: [1, 'two'], NOTHING: null });
    const secrets = client({ path });
    expect(await secrets.get('POOL_MAX')).to.equal('12');
    expect(await secrets.get('FLAGS')).to.equal('{"a":true}');
    expect(await secrets.get('LIST')).to.equal('[1,"two"]');
    expect(await secrets.get('NOTHING')).to.equal(undefined);
  });

  it('treats a path without a secret, or whose latest version is deleted, as no keys', async function () {
    const missing = client({ path: `platform-host-test/absent-${VaultAdmin.suffix()}`, env: { ONLY_ENV: 'env' } });
    await missing.connect();
    expect(await missing.get('ONLY_ENV')).to.equal('env');
    expect(await missing.get('ANYTHING')).to.equal(undefined);

    const path = await secretWith({ GONE: 'soon' });
    await admin.call('DELETE', `secret/data/${path}`);
    const deleted = client({ path });
    await deleted.connect();
    expect(await deleted.get('GONE')).to.equal(undefined);
  });

  it('serves every key from one read of the secret within the cache TTL', async function () {
    const keys = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`KEY_${i}`, `value-${i}`]));
    const path = await secretWith(keys);
    const proxy = new RecordingProxy(address);
    try {
      const secrets = client({ address: await proxy.start(), path, cacheTtlMs: 60_000 });
      await secrets.connect();
      const read = await Promise.all(Object.keys(keys).map(async (key) => [key, await secrets.require(key)]));
      expect(Object.fromEntries(read)).to.deep.equal(keys);
      expect(await secrets.get('NOT_THERE')).to.equal(undefined);
      expect(proxy.count('GET', /^\/v1\/secret\/data\//)).to.equal(1);
    } finally {
      await proxy.stop();
    }
  });

  it('reads the secret again once the cache TTL has passed', async function () {
    const path = await secretWith({ ROTATED: 'first' });
    const secrets = client({ path, cacheTtlMs: 300 });
    await secrets.connect();
    await admin.writeSecret(path, { ROTATED: 'second' });
    expect(await secrets.get('ROTATED')).to.equal('first');
    await waitFor(async () => (await secrets.get('ROTATED')) === 'second', 10_000, 'the rotated value');
  });

  it('renews a renewable token before it expires, and stops renewing at disconnect', async function () {
    const path = await secretWith({ KEY: 'renewed' });
    const token = await admin.createToken({ policies: [await admin.readPolicy(path)], ttl: '4s' });
    const secrets = client({ path, auth: { method: 'token', token }, cacheTtlMs: 0 });
    await secrets.connect();
    let firstRenewal = 0;
    await waitFor(
      async () => (firstRenewal = (await admin.lookupToken(token))?.last_renewal_time ?? 0) > 0,
      10_000,
      'a renewal of the token',
    );
    // Renewed again: still valid after more than its first TTL.
    await waitFor(
      async () => ((await admin.lookupToken(token))?.last_renewal_time ?? 0) > firstRenewal,
      10_000,
      'a second renewal of the token',
    );
    expect(await secrets.get('KEY')).to.equal('renewed');
    await secrets.disconnect();
    // Nobody renews it any more: it expires (4 s TTL).
    await waitFor(async () => (await admin.lookupToken(token)) === undefined, 15_000, 'the token to expire');
    const error = await rejectionOf(secrets.get('KEY'));
    expect(error.code).to.equal('PH_ERR_CONFIG_INVALID');
    expect(error.message).to.equal(
      `Vault at ${address} (secret/${path}) denied reading secret/${path} (HTTP 403: permission denied)`,
    );
  });

  it('leaves nothing open after disconnect: a process whose token was being renewed stops renewing it and exits by itself', async function () {
    const path = await secretWith({ FIXTURE_KEY_VALUE: 'x'.repeat(7) });
    const policy = await admin.readPolicy(path);
    const child = spawn(process.execPath, [fileURLToPath(new URL('./renewing-client.fixture.js', import.meta.url))], {
      env: {
        ...process.env,
        SECRETS_VAULT_ADDR: address,
        FIXTURE_ROOT_TOKEN: rootToken,
        FIXTURE_POLICY: policy,
        SECRETS_VAULT_PATH: path,
        FIXTURE_KEY: 'FIXTURE_KEY_VALUE',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let exitCode: number | null | undefined;
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('exit', (code) => (exitCode = code));
    try {
      await waitFor(() => exitCode !== undefined, 25_000, 'the fixture process to exit on its own');
    } finally {
      if (exitCode === undefined) child.kill('SIGKILL');
    }
    expect(exitCode, stderr).to.equal(0);
    expect(JSON.parse(stdout)).to.deep.equal({ valueLength: 7, renewed: true, expiredAfterDisconnect: true });
  });

  describe('AppRole', function () {
    let mount: string | undefined;
    afterEach(async function () {
      if (mount !== undefined) await admin.disableAuth(mount).catch(() => undefined);
      mount = undefined;
    });

    it('logs in with the role and secret ID, and logs in again when the token reaches its max TTL', async function () {
      const path = await secretWith({ APP_KEY: 'via-approle' });
      const role = await admin.appRole({ policies: [await admin.readPolicy(path)], tokenTtl: '2s', tokenMaxTtl: '3s' });
      mount = role.mount;
      const proxy = new RecordingProxy(address);
      try {
        const secrets = client({
          address: await proxy.start(),
          path,
          auth: { method: 'approle', roleId: role.roleId, secretId: role.secretId, mount: role.mount },
          cacheTtlMs: 0,
        });
        await secrets.connect();
        expect(await secrets.get('APP_KEY')).to.equal('via-approle');
        const login = new RegExp(`^/v1/auth/${role.mount}/login$`);
        await waitFor(() => proxy.count('POST', login) >= 3, 15_000, 'two logins after the first');
        expect(proxy.count('POST', /^\/v1\/auth\/token\/renew-self$/)).to.be.greaterThan(0);
        expect(await secrets.get('APP_KEY')).to.equal('via-approle');
        const loginsBeforeDisconnect = proxy.count('POST', login);
        await secrets.disconnect();
        expect(proxy.count('POST', /^\/v1\/auth\/token\/revoke-self$/)).to.equal(1);
        expect(proxy.count('POST', login)).to.equal(loginsBeforeDisconnect);
      } finally {
        await proxy.stop();
      }
    });

    it('logs a re-login that fails (a secret ID used up) and keeps trying once the token expired, never showing the IDs', async function () {
      const path = await secretWith({ APP_KEY: 'one-login' });
      const role = await admin.appRole({
        policies: [await admin.readPolicy(path)],
        tokenTtl: '2s',
        tokenMaxTtl: '3s',
        secretIdNumUses: 1,
      });
      mount = role.mount;
      const secrets = client({
        path,
        auth: { method: 'approle', roleId: role.roleId, secretId: role.secretId, mount: role.mount },
      });
      await secrets.connect();
      const log = new RecordingLogger();
      secrets.attachLogger(log);
      await waitFor(
        () => log.errors.some((entry) => entry.message.startsWith('Vault token expired')),
        15_000,
        'the expiry to be logged',
      );
      const refused = `Vault refused the AppRole login at auth/${role.mount} (HTTP 400: invalid role or secret ID), so secret/${path} cannot be read`;
      const expired = log.errors.find((entry) => entry.message.startsWith('Vault token expired'));
      expect(expired?.message).to.match(
        new RegExp(
          `^Vault token expired \\(${refused.replace(/[()]/g, '\\$&')}\\); reads of secret/${path} fail until an AppRole login succeeds \\(next attempt in \\d+ s\\)$`,
        ),
      );
      expect(expired?.fields).to.deep.include({ address, vaultPath: `secret/${path}`, auth: 'approle' });
      expect(log.entries[0]?.message).to.include(refused);
      const text = JSON.stringify(log.entries) + JSON.stringify(await secrets.healthCheck());
      expect(text).not.to.include(role.secretId).and.not.to.include(role.roleId);
    });

    it('refuses a wrong secret ID, and a wrong role ID, with one error naming the address, the mount and the path, not the IDs', async function () {
      const path = await secretWith({ APP_KEY: 'x' });
      const role = await admin.appRole({ policies: ['default'], tokenTtl: '1m', tokenMaxTtl: '2m' });
      mount = role.mount;
      const wrongSecretId = `wrong-${VaultAdmin.suffix()}`;
      const wrongRoleId = `wrong-role-${VaultAdmin.suffix()}`;
      for (const [roleId, secretId] of [
        [role.roleId, wrongSecretId],
        [wrongRoleId, role.secretId],
      ] as const) {
        const secrets = client({ path, auth: { method: 'approle', roleId, secretId, mount: role.mount } });
        const error = await rejectionOf(secrets.connect());
        expect(error.code).to.equal('PH_ERR_CONFIG_INVALID');
        expect(error.message).to.equal(
          `Vault at ${address} (secret/${path}) refused the AppRole login at auth/${role.mount} (HTTP 400: invalid role or secret ID), so secret/${path} cannot be read`,
        );
        expect(error.hint).to.include('SECRETS_VAULT_SECRET_ID');
        for (const id of [wrongSecretId, wrongRoleId, role.roleId, role.secretId])
          expect(errorText(error)).not.to.include(id);
      }
    });
  });

  it('refuses a token without access, and an unknown token, with one error naming the address and the path', async function () {
    const path = await secretWith({ KEY: 'hidden' });
    const denied = await admin.createToken({ policies: ['default'], ttl: '1m' });
    const unknown = `s.unknown${VaultAdmin.suffix()}`;
    for (const token of [denied, unknown]) {
      const error = await rejectionOf(client({ path, auth: { method: 'token', token } }).connect());
      expect(error.code).to.equal('PH_ERR_CONFIG_INVALID');
      expect(error.message).to.equal(
        `Vault at ${address} (secret/${path}) denied reading secret/${path} (HTTP 403: permission denied)`,
      );
      expect(error.hint).to.include('SECRETS_VAULT_TOKEN');
      expect(errorText(error)).not.to.include(token).and.not.to.include('hidden');
    }
  });

  describe('token renewal failures', function () {
    const replaceToken =
      'SECRETS_VAULT_TOKEN is replaced (with a renewable token, or use AppRole) and the process restarted';

    it('logs a renewal Vault refuses (a revoked token) at error, without the token, and fails health', async function () {
      const path = await secretWith({ KEY: 'revoked-soon' });
      const token = await admin.createToken({ policies: [await admin.readPolicy(path)], ttl: '3s' });
      const secrets = client({ path, auth: { method: 'token', token } });
      await secrets.connect();
      const log = new RecordingLogger();
      secrets.attachLogger(log.child({ adapter: 'secrets-vault' }));
      await admin.call('POST', 'auth/token/revoke', { token });
      await waitFor(() => log.errors.length > 0, 10_000, 'the refused renewal to be logged');
      expect(log.entries.map((entry) => [entry.level, entry.message])).to.deep.equal([
        [
          'error',
          `Vault refused to renew the token (HTTP 403: permission denied): it was revoked or is no longer valid, so reads of secret/${path} will fail until ${replaceToken}`,
        ],
      ]);
      expect(log.errors[0]?.fields).to.deep.include({
        adapter: 'secrets-vault',
        address,
        vaultPath: `secret/${path}`,
        auth: 'token',
        attempt: 1,
      });
      const health = await secrets.healthCheck();
      expect(health).to.deep.equal({
        ok: false,
        detail: `Vault at ${address} (secret/${path}) denied reading secret/${path} (HTTP 403: permission denied); refused to renew the token (HTTP 403: permission denied)`,
      });
      expect(JSON.stringify(log.entries) + JSON.stringify(health)).not.to.include(token);
    });

    it('says a token that is not renewable will expire: warn, then error, then error once expired (kept until the logger is attached)', async function () {
      const path = await secretWith({ KEY: 'short-lived' });
      const token = await admin.createToken({ policies: [await admin.readPolicy(path)], ttl: '3s', renewable: false });
      const secrets = client({ path, auth: { method: 'token', token } });
      await secrets.connect();
      // No logger yet (as at startup): what happens meanwhile is kept.
      await waitFor(async () => (await admin.lookupToken(token)) === undefined, 15_000, 'the token to expire');
      const log = new RecordingLogger();
      secrets.attachLogger(log);
      await waitFor(() => log.entries.length >= 3, 5_000, 'three log entries');
      const notRenewable = new RegExp(
        `^Vault token is not renewable; the token expires in \\d s; reads of secret/${path} fail after that until ${replaceToken.replace(/[()]/g, '\\$&')}$`,
      );
      expect(log.entries.map((entry) => entry.level)).to.deep.equal(['warn', 'error', 'error']);
      expect(log.entries[0]?.message).to.match(notRenewable);
      expect(log.entries[1]?.message).to.match(notRenewable);
      expect(log.entries[2]?.message).to.equal(
        `Vault token expired (the token is not renewable); reads of secret/${path} fail until ${replaceToken}`,
      );
      expect(log.entries.map((entry) => entry.fields.attempt)).to.deep.equal([1, 2, 3]);
      const health = await secrets.healthCheck();
      expect(health.ok).to.equal(false);
      expect(health.detail).to.match(
        new RegExp(
          `^Vault at ${address} \\(secret/${path}\\) denied reading secret/${path} \\(HTTP 403: permission denied\\); has an expired token \\(expired \\d+ s ago; last renewal problem: the token is not renewable\\)$`,
        ),
      );
      expect(JSON.stringify(log.entries) + JSON.stringify(health)).not.to.include(token);
    });

    it('warns when a renewal fails while the token has time left, errors as it nears expiry, and once it expired', async function () {
      const path = await secretWith({ KEY: 'unreachable-later' });
      const token = await admin.createToken({ policies: [await admin.readPolicy(path)], ttl: '9s' });
      const proxy = new RecordingProxy(address);
      const proxied = await proxy.start();
      const secrets = client({ address: proxied, path, auth: { method: 'token', token } });
      await secrets.connect();
      const log = new RecordingLogger();
      secrets.attachLogger(log);
      // Vault is gone for this client before its first renewal (at two thirds of 9 s).
      await proxy.stop();
      await waitFor(
        () => log.errors.some((entry) => entry.message.startsWith('Vault token expired')),
        20_000,
        'the expiry to be logged',
      );
      const unreachable = `Vault is unreachable \\(ECONNREFUSED\\), so secret/${path} cannot be read`;
      const failed = new RegExp(
        `^Vault token renewal failed \\(${unreachable}\\); the token expires in \\d s, next attempt in \\d s$`,
      );
      const levels = log.entries.map((entry) => entry.level);
      expect(levels[0], JSON.stringify(log.entries)).to.equal('warn');
      expect(log.entries[0]?.message).to.match(failed);
      // At least one error while it still had time left (a sixth of its TTL or less), then the expiry.
      expect(levels.slice(1)).to.include('error');
      expect(levels.slice(1).every((level, i) => level === 'error' || levels[i] !== 'error')).to.equal(true);
      for (const entry of log.entries.slice(1, -1)) expect(entry.message).to.match(failed);
      expect(log.entries.at(-1)?.message).to.equal(
        `Vault token expired (Vault is unreachable (ECONNREFUSED), so secret/${path} cannot be read); reads of secret/${path} fail until ${replaceToken}`,
      );
      expect(log.entries.map((entry) => entry.fields.attempt)).to.deep.equal(log.entries.map((_, i) => i + 1));
      const health = await secrets.healthCheck();
      expect(health.ok).to.equal(false);
      expect(health.detail).to.match(
        new RegExp(
          `^Vault at ${proxied} \\(secret/${path}\\) is unreachable \\(ECONNREFUSED\\), so secret/${path} cannot be read; has an expired token \\(expired \\d+ s ago; last renewal problem: ${unreachable}\\)$`,
        ),
      );
      expect(JSON.stringify(log.entries) + JSON.stringify(health)).not.to.include(token);
    });

    it('reports renewal that keeps failing on health, and logs the recovery once Vault answers again', async function () {
      const path = await secretWith({ KEY: 'back-again' });
      const token = await admin.createToken({ policies: [await admin.readPolicy(path)], ttl: '12s' });
      const proxy = new RecordingProxy(address);
      const proxied = await proxy.start();
      try {
        const secrets = client({ address: proxied, path, auth: { method: 'token', token } });
        await secrets.connect();
        const log = new RecordingLogger();
        secrets.attachLogger(log);
        await proxy.stop();
        // Renewal at 8 s fails (warn), again at 10 s (error: a sixth of the TTL left), then every
        // half of the time left until the expiry at 12 s.
        await waitFor(() => log.entries.length >= 2, 20_000, 'two failed renewals');
        const failing = await secrets.healthCheck();
        expect(failing.ok).to.equal(false);
        expect(failing.detail).to.match(
          new RegExp(
            `; cannot renew the token \\(failed \\d times in a row, last: Vault is unreachable \\(ECONNREFUSED\\), so secret/${path} cannot be read\\); it expires in \\d s$`,
          ),
        );
        await proxy.start(Number(new URL(proxied).port));
        await waitFor(() => log.infos.length > 0, 10_000, 'the renewal to work again');
        expect(log.infos.map((entry) => entry.message)).to.have.length(1);
        expect(log.infos[0]?.message).to.match(/^Vault token renewed again after \d failed attempts$/);
        expect(log.entries.slice(0, -1).map((entry) => entry.level)).to.include.members(['warn', 'error']);
        expect(await secrets.healthCheck()).to.deep.equal({ ok: true });
        expect(await secrets.get('KEY')).to.equal('back-again');
        expect(JSON.stringify(log.entries) + JSON.stringify(failing)).not.to.include(token);
      } finally {
        await proxy.stop();
      }
    });
  });

  describe('mounts that cannot serve KV version 2', function () {
    const mounts: string[] = [];
    afterEach(async function () {
      await Promise.all(mounts.splice(0).map((mount) => admin.disableEngine(mount).catch(() => undefined)));
    });

    it('refuses a KV version 1 mount with one error naming the address, the mount and what it found', async function () {
      const mount = `platform-test-kv1-${VaultAdmin.suffix()}`;
      await admin.enableEngine(mount, { type: 'kv', options: { version: '1' } });
      mounts.push(mount);
      // A v1 key where the v2 read looks: it must not pass for a secret (nor for "no secret").
      await admin.call('POST', `${mount}/data/platform-host`, { KEY: 'v1-value' });
      const secrets = client({ mount, path: 'platform-host', env: {} });
      const error = await rejectionOf(secrets.connect());
      expect(error.code).to.equal('PH_ERR_CONFIG_INVALID');
      expect(error.message).to.equal(
        `Vault at ${address} (${mount}/platform-host) has KV version 1 at mount ${mount}/ (this adapter reads KV version 2); set up KV version 2 there or set SECRETS_VAULT_MOUNT to a KV version 2 mount`,
      );
      expect(error.hint).to.include(`kv enable-versioning ${mount}`);
      expect(await rejectionOf(secrets.get('KEY'))).to.have.property('message', error.message);
      expect(await secrets.healthCheck()).to.deep.equal({ ok: false, detail: error.message });
    });

    it('refuses an engine that is not KV, and a mount set to a path inside a KV version 2 mount', async function () {
      const mount = `platform-test-transit-${VaultAdmin.suffix()}`;
      await admin.enableEngine(mount, { type: 'transit' });
      mounts.push(mount);
      const transit = await rejectionOf(client({ mount, path: 'platform-host' }).connect());
      expect(transit.message).to.equal(
        `Vault at ${address} (${mount}/platform-host) has a transit secrets engine at mount ${mount}/, not KV version 2; set SECRETS_VAULT_MOUNT to a KV version 2 mount`,
      );
      const nested = await rejectionOf(client({ mount: 'secret/team', path: 'app' }).connect());
      expect(nested.message).to.equal(
        `Vault at ${address} (secret/team/app) has the KV version 2 mount secret/ around SECRETS_VAULT_MOUNT secret/team; set SECRETS_VAULT_MOUNT=secret and SECRETS_VAULT_PATH=team/app`,
      );
    });
  });

  it('refuses a mount that is not a KV engine with one error naming it', async function () {
    const secrets = client({ path: 'platform-host', mount: `no-such-mount-${VaultAdmin.suffix()}` });
    const error = await rejectionOf(secrets.connect());
    expect(error.code).to.equal('PH_ERR_CONFIG_INVALID');
    expect(error.message).to.match(
      /^Vault at .* \(no-such-mount-\w+\/platform-host\) has no KV version 2 engine serving/,
    );
  });

  it('reads from a namespace, sending X-Vault-Namespace with every request', async function () {
    const namespace = `platform-test-${VaultAdmin.suffix()}`;
    await admin.call('POST', `sys/namespaces/${namespace}`);
    const proxy = new RecordingProxy(address);
    try {
      await admin.call('POST', 'sys/mounts/secret', { type: 'kv', options: { version: '2' } }, namespace);
      await admin.writeSecret('platform-host', { IN_NAMESPACE: 'yes' }, 'secret', namespace);
      const proxied = await proxy.start();
      const inside = client({ address: proxied, path: 'platform-host', namespace });
      await inside.connect();
      expect(await inside.get('IN_NAMESPACE')).to.equal('yes');
      expect(proxy.requests.length).to.be.greaterThan(1);
      expect(proxy.requests.map((request) => request.headers['x-vault-namespace'])).to.deep.equal(
        proxy.requests.map(() => namespace),
      );
      const outside = client({ path: 'platform-host', env: {} });
      expect(await outside.get('IN_NAMESPACE')).to.equal(undefined);

      const unknown = client({ path: 'platform-host', namespace: `${namespace}-missing` });
      const error = await rejectionOf(unknown.connect());
      expect(error.message).to.include(`namespace ${namespace}-missing`);
    } finally {
      await proxy.stop();
      await admin.call('DELETE', 'sys/mounts/secret', undefined, namespace).catch(() => undefined);
      await admin.call('DELETE', `sys/namespaces/${namespace}`).catch(() => undefined);
    }
  });

  it('reports healthy while it can read the secret, and why not once it cannot, without throwing', async function () {
    const path = await secretWith({ KEY: 'v' });
    const token = await admin.createToken({ policies: [await admin.readPolicy(path)], ttl: '1m' });
    const secrets = client({ path, auth: { method: 'token', token } });
    await secrets.connect();
    expect(await secrets.healthCheck()).to.deep.equal({ ok: true });
    await admin.call('POST', 'auth/token/revoke', { token });
    const result = await secrets.healthCheck();
    expect(result.ok).to.equal(false);
    expect(result.detail).to.equal(
      `Vault at ${address} (secret/${path}) denied reading secret/${path} (HTTP 403: permission denied)`,
    );
  });
});

describe('secrets-vault against a private OpenBao that is sealed, then stopped', function () {
  this.timeout(60_000);
  const rootToken = `private-root-${VaultAdmin.suffix()}`;
  let server: ChildProcess | undefined;
  let address: string;

  before(async function () {
    // The cached `bao` binary of deploy/native/vault.sh (installed by it when missing).
    const script = fileURLToPath(new URL('../../../deploy/native/vault.sh', import.meta.url));
    const bin = spawnSync('bash', [script, 'bin'], { encoding: 'utf8' });
    if (bin.status !== 0) {
      const problem = `no OpenBao binary from deploy/native/vault.sh bin: ${bin.stderr.trim()}`;
      if (infraRequired()) throw new Error(`${problem} — required because PLATFORM_TEST_REQUIRE_INFRA=1`);
      this.skip();
    }
    address = await closedAddress();
    server = spawn(
      bin.stdout.trim(),
      ['server', '-dev', '-dev-no-store-token', `-dev-listen-address=${address.slice(7)}`],
      {
        env: { ...process.env, BAO_DEV_ROOT_TOKEN_ID: rootToken },
        stdio: 'ignore',
      },
    );
    await waitFor(
      async () => (await fetch(`${address}/v1/sys/health`).catch(() => undefined))?.status === 200,
      30_000,
      'the private OpenBao to serve',
    );
  });

  after(function () {
    server?.kill('SIGKILL');
  });

  it('names the address and the path when the server is sealed, and when it is gone', async function () {
    const admin = new VaultAdmin(address, rootToken);
    await admin.writeSecret('platform-host', { KEY: 'before-seal' });
    const secrets = new VaultSecrets({ address, auth: { method: 'token', token: rootToken }, cacheTtlMs: 0 });
    await secrets.connect();
    expect(await secrets.get('KEY')).to.equal('before-seal');

    await admin.call('POST', 'sys/seal');
    const sealed = await rejectionOf(secrets.get('KEY'));
    expect(sealed.code).to.equal('PH_ERR_CONNECT');
    expect(sealed.message).to.equal(
      `Vault at ${address} (secret/platform-host) is sealed or not ready (HTTP 503: Vault is sealed) while reading secret/platform-host`,
    );
    expect(await secrets.healthCheck()).to.deep.equal({ ok: false, detail: sealed.message });

    const exited = new Promise((resolve) => server?.once('exit', resolve));
    server?.kill('SIGKILL');
    await exited;
    const gone = await rejectionOf(secrets.get('KEY'));
    expect(gone.code).to.equal('PH_ERR_CONNECT');
    expect(gone.message).to.equal(
      `Vault at ${address} (secret/platform-host) is unreachable (ECONNREFUSED), so secret/platform-host cannot be read`,
    );
    expect(errorText(sealed) + errorText(gone)).not.to.include(rootToken);
    await secrets.disconnect();
  });
});

describe('secrets-vault without a server', function () {
  const token = 'hvs.not-a-real-token-0123456789';

  it('names the address and the path when nothing listens there, never the token', async function () {
    const address = await closedAddress();
    const secrets = new VaultSecrets({ address, auth: { method: 'token', token }, path: 'team/app' });
    const error = await rejectionOf(secrets.connect());
    expect(error.code).to.equal('PH_ERR_CONNECT');
    expect(error.message).to.equal(
      `Vault at ${address} (secret/team/app) is unreachable (ECONNREFUSED), so secret/team/app cannot be read`,
    );
    expect(errorText(error)).not.to.include(token);
    const health = await secrets.healthCheck();
    expect(health).to.deep.equal({ ok: false, detail: error.message });
  });

  it('gives up after the request timeout when the server does not answer', async function () {
    const sockets = new Set<Socket>();
    const silent: Server = createServer(() => undefined);
    silent.on('connection', (socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const address = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
    try {
      const secrets = new VaultSecrets({ address, auth: { method: 'token', token }, requestTimeoutMs: 200 });
      const error = await rejectionOf(secrets.connect());
      expect(error.code).to.equal('PH_ERR_CONNECT');
      expect(error.message).to.equal(
        `Vault at ${address} (secret/platform-host) is unreachable (no answer within 200 ms), so secret/platform-host cannot be read`,
      );
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  it('sends X-Vault-Namespace and the token to the HTTP API of the address', async function () {
    const seen: Array<{ url: string; namespace: unknown; token: unknown }> = [];
    const server = createServer((request, response) => {
      seen.push({
        url: request.url ?? '',
        namespace: request.headers['x-vault-namespace'],
        token: request.headers['x-vault-token'],
      });
      response.writeHead(request.url?.includes('/data/') ? 200 : 403, { 'content-type': 'application/json' });
      response.end(JSON.stringify(request.url?.includes('/data/') ? { data: { data: { K: 'v' } } } : { errors: [] }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const address = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
      const secrets = new VaultSecrets({ address, auth: { method: 'token', token }, namespace: 'team-a/prod' });
      await secrets.connect();
      expect(await secrets.get('K')).to.equal('v');
      expect(seen).to.deep.equal([
        { url: '/v1/auth/token/lookup-self', namespace: 'team-a/prod', token },
        { url: '/v1/sys/internal/ui/mounts/secret', namespace: 'team-a/prod', token },
        { url: '/v1/secret/data/platform-host', namespace: 'team-a/prod', token },
      ]);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('refuses an address that is not an http(s) URL, naming SECRETS_VAULT_ADDR', function () {
    expect(() => new VaultSecrets({ address: 'vault:8200', auth: { method: 'token', token } }))
      .to.throw('SECRETS_VAULT_ADDR must be an http or https URL, not vault:')
      .with.property('code', 'PH_ERR_CONFIG_INVALID');
  });
});

describe('secrets-vault adapter', function () {
  function config(values: Record<string, string>): AdapterConfig {
    return {
      get: (key) => values[key],
      require: (key) => values[key] ?? '',
      integer: (key, fallback) => (values[key] === undefined ? fallback : Number(values[key])),
    };
  }

  it('has a manifest that matches the adapter manifest schema, with the token and secret ID secret', async function () {
    const raw: unknown = JSON.parse(await readFile(new URL('../platform-adapter.json', import.meta.url), 'utf8'));
    const manifest = adapterManifestSchema.parse(raw);
    expect(manifest).to.deep.include({ interface: 'secrets', flags: ['vault'] });
    expect(manifest.config.filter((key) => key.required).map((key) => key.env)).to.deep.equal(['SECRETS_VAULT_ADDR']);
    expect(manifest.config.filter((key) => key.secret).map((key) => key.env)).to.deep.equal([
      'SECRETS_VAULT_TOKEN',
      'SECRETS_VAULT_SECRET_ID',
    ]);
    expect(Object.fromEntries(manifest.config.map((key) => [key.env, key.default]))).to.deep.include({
      SECRETS_VAULT_MOUNT: 'secret',
      SECRETS_VAULT_PATH: 'platform-host',
      SECRETS_VAULT_CACHE_TTL: '60',
      SECRETS_VAULT_APPROLE_MOUNT: 'approle',
    });
  });

  it('refuses a configuration with neither a token nor an AppRole, and a role ID without a secret ID', async function () {
    const create = (values: Record<string, string>): Promise<Secrets> =>
      Promise.resolve().then(() =>
        adapter.create({
          flag: 'vault',
          config: config({ SECRETS_VAULT_ADDR: 'http://127.0.0.1:1', ...values }),
          environment: {},
        }),
      );
    const neither = await rejectionOf(create({}));
    expect(neither.code).to.equal('PH_ERR_CONFIG_MISSING');
    expect(neither.message).to.equal(
      '--secrets vault needs SECRETS_VAULT_TOKEN, or SECRETS_VAULT_ROLE_ID with SECRETS_VAULT_SECRET_ID',
    );
    const half = await rejectionOf(create({ SECRETS_VAULT_ROLE_ID: 'role' }));
    expect(half.message).to.equal('SECRETS_VAULT_ROLE_ID is set but SECRETS_VAULT_SECRET_ID is not');
  });
});
