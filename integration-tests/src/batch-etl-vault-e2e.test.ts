import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { eventsToJsonl, makeEvents, useRealService } from '@platform-host/test-kit';
import { batchEtlSummary } from './support/batch-etl.js';
import { cliEnv, platformHost, type CliRun } from './support/cli.js';
import { freshDatabase, psql, withDatabase } from './support/psql.js';

/** Root-token call to the Vault HTTP API (setup only; the CLI gets its own limited token). */
async function vaultCall(address: string, token: string, method: string, path: string, body?: unknown) {
  const response = await fetch(`${address}/v1/${path}`, {
    method,
    headers: { 'X-Vault-Token': token },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: HTTP ${response.status} ${text}`);
  return text === '' ? undefined : (JSON.parse(text) as unknown);
}

/**
 * Issue 15 item 7: batch_etl with `--secrets vault`, where DB_POSTGRES_URL exists only in Vault:
 * not in the CLI's environment, and no env file is read (`--env production`). The rows land in
 * PostgreSQL (counted with psql), and neither the Vault token nor the database password appears in
 * anything the CLI prints, in the run nor in `doctor`.
 */
describe('batch_etl with --secrets vault end to end (real OpenBao, real PostgreSQL)', function () {
  this.timeout(180_000);
  const postgres = useRealService('postgres');
  const vault = useRealService('vault');
  const suffix = randomBytes(5).toString('hex');
  const role = `etl_vault_${suffix}`;
  const password = `pw-${randomBytes(12).toString('hex')}`;
  const secretPath = `platform-host-e2e/${suffix}`;
  const policy = `platform-e2e-${suffix}`;
  let database: { url: string; drop(): void };
  let databaseUrl: string;
  let lake: string;
  let address: string;
  let rootToken: string;
  let cliToken: string;

  before(async function () {
    address = vault().SECRETS_VAULT_ADDR ?? '';
    rootToken = vault().SECRETS_VAULT_TOKEN ?? '';
    const admin = postgres().DB_POSTGRES_URL ?? '';
    database = freshDatabase(admin, 'it_vault');
    const name = new URL(database.url).pathname.slice(1);
    // A login role with a password, owner of the run's database: its URL carries a real password.
    psql(admin, `CREATE ROLE ${role} LOGIN PASSWORD '${password}'`);
    psql(admin, `ALTER DATABASE ${name} OWNER TO ${role}`);
    const url = new URL(withDatabase(admin, name));
    url.username = role;
    url.password = password;
    databaseUrl = url.toString();

    await vaultCall(address, rootToken, 'POST', `secret/data/${secretPath}`, {
      data: { DB_POSTGRES_URL: databaseUrl },
    });
    await vaultCall(address, rootToken, 'PUT', `sys/policies/acl/${policy}`, {
      // The run's secret, and the paths beside it that the negative tests point at.
      policy: `path "secret/data/${secretPath}*" { capabilities = ["read"] }`,
    });
    const created = (await vaultCall(address, rootToken, 'POST', 'auth/token/create', {
      policies: [policy],
      ttl: '10m',
    })) as { auth: { client_token: string } };
    cliToken = created.auth.client_token;

    lake = mkdtempSync(join(tmpdir(), 'etl-vault-lake-'));
    const partition = join(lake, 'raw', 'events', '2026-01-15');
    mkdirSync(partition, { recursive: true });
    writeFileSync(join(partition, 'part-0.jsonl'), eventsToJsonl(makeEvents(25)));
  });

  after(async function () {
    database?.drop();
    const admin = postgres().DB_POSTGRES_URL ?? '';
    psql(admin, `DROP ROLE IF EXISTS ${role}`);
    if (lake) rmSync(lake, { recursive: true, force: true });
    await vaultCall(address, rootToken, 'DELETE', `secret/metadata/${secretPath}`).catch(() => undefined);
    await vaultCall(address, rootToken, 'DELETE', `sys/policies/acl/${policy}`).catch(() => undefined);
    await vaultCall(address, rootToken, 'POST', 'auth/token/revoke', { token: cliToken }).catch(() => undefined);
  });

  /** The CLI's environment: Vault settings and the lake; no DB_POSTGRES_URL anywhere. */
  function environment(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    const env = cliEnv({
      SECRETS_VAULT_ADDR: address,
      SECRETS_VAULT_TOKEN: cliToken,
      SECRETS_VAULT_PATH: secretPath,
      FS_LOCAL_ROOT: lake,
      ...extra,
    });
    delete env.DB_POSTGRES_URL;
    return env;
  }

  const moduleArgs = ['--date', '2026-01-15', '--source-path', 'raw/events'];
  const globalFlags = ['--secrets', 'vault', '--db', 'postgres', '--fs', 'local', '--env', 'production'];

  /** Asserts that nothing the CLI printed shows a credential. */
  function expectNoCredentials(run: CliRun): void {
    const output = run.stdout + run.stderr;
    for (const [what, secret] of [
      ['the Vault token', cliToken],
      ['the root token', rootToken],
      ['the database password', password],
      ['the database URL', databaseUrl],
    ] as const) {
      expect(output.includes(secret), `${what} appears in the output`).to.equal(false);
    }
  }

  it('reads DB_POSTGRES_URL from Vault only, lands the rows, and prints neither the token nor the password', async function () {
    const env = environment();
    expect(env.DB_POSTGRES_URL).to.equal(undefined);
    const run = await platformHost(
      ['run', 'batch_etl', ...globalFlags, '--auto-migrate', '--log', 'json', '--verbose', ...moduleArgs],
      env,
    );
    expect(run.code, run.stderr + run.stdout).to.equal(0);
    expect(batchEtlSummary(run)).to.deep.include({ raw: 25, valid: 25, inserted: 25 });
    expect(psql(database.url, 'SELECT count(*), count(DISTINCT dedup_key) FROM cleaned_events')).to.equal('25|25');
    expectNoCredentials(run);
  });

  it('doctor --secrets vault finds DB_POSTGRES_URL in Vault without showing it or the token', async function () {
    const run = await platformHost(['doctor', 'batch_etl', ...globalFlags, ...moduleArgs], environment());
    expect(run.code, run.stdout + run.stderr).to.equal(0);
    expect(run.stdout).to.contain('DB_POSTGRES_URL (postgres, required, secret): set');
    expect(run.stdout).to.contain('SECRETS_VAULT_TOKEN (secrets-vault, optional, secret): set');
    expect(run.stdout).to.contain('ok: platform-host run batch_etl would start');
    expectNoCredentials(run);
  });

  it('migrate status --secrets vault reaches the database through the URL in Vault', async function () {
    const run = await platformHost(
      ['migrate', 'status', '--module', 'batch_etl', '--secrets', 'vault', '--db', 'postgres', '--env', 'production'],
      environment(),
    );
    expect(run.code, run.stdout + run.stderr).to.equal(0);
    expect(run.stdout).to.match(/^OWNER\s+MIGRATION\s+STATE\s+APPLIED AT$/m);
    expectNoCredentials(run);
  });

  it('fails with exit 2 naming DB_POSTGRES_URL when the Vault secret does not hold it (nothing else provides it)', async function () {
    const run = await platformHost(
      ['run', 'batch_etl', ...globalFlags, ...moduleArgs],
      environment({ SECRETS_VAULT_PATH: `${secretPath}-empty` }),
    );
    expect(run.code).to.equal(2);
    expect(run.stderr).to.contain('DB_POSTGRES_URL (adapter postgres)');
    expectNoCredentials(run);
  });

  it('fails with exit 2 and one error naming the address and the path for a token Vault denies', async function () {
    const deniedToken = `s.denied${suffix}`;
    const run = await platformHost(
      ['run', 'batch_etl', ...globalFlags, ...moduleArgs],
      environment({ SECRETS_VAULT_TOKEN: deniedToken }),
    );
    expect(run.code).to.equal(2);
    expect(run.stderr).to.contain(
      `Vault at ${address} (secret/${secretPath}) denied reading secret/${secretPath} (HTTP 403: permission denied)`,
    );
    expect(run.stdout + run.stderr).not.to.contain(deniedToken);
    expectNoCredentials(run);
  });

  it('fails with exit 2 naming the address, the mount and "KV version 1" when SECRETS_VAULT_MOUNT is a KV v1 mount (not "no secret")', async function () {
    const kv1 = `platform-e2e-kv1-${suffix}`;
    const runPolicy = `path "secret/data/${secretPath}*" { capabilities = ["read"] }`;
    await vaultCall(address, rootToken, 'POST', `sys/mounts/${kv1}`, { type: 'kv', options: { version: '1' } });
    try {
      // The CLI's token may read the v1 mount, which holds the URL the v1 way (no data/ in the path).
      await vaultCall(address, rootToken, 'PUT', `sys/policies/acl/${policy}`, {
        policy: `${runPolicy}\npath "${kv1}/*" { capabilities = ["read"] }`,
      });
      await vaultCall(address, rootToken, 'POST', `${kv1}/${secretPath}`, { DB_POSTGRES_URL: databaseUrl });
      const run = await platformHost(
        ['run', 'batch_etl', ...globalFlags, ...moduleArgs],
        environment({ SECRETS_VAULT_MOUNT: kv1 }),
      );
      expect(run.code, run.stdout + run.stderr).to.equal(2);
      expect(run.stderr).to.contain(
        `Secrets provider secrets-vault cannot load: Vault at ${address} (${kv1}/${secretPath}) has KV version 1 at mount ${kv1}/ (this adapter reads KV version 2); set up KV version 2 there or set SECRETS_VAULT_MOUNT to a KV version 2 mount`,
      );
      expectNoCredentials(run);
    } finally {
      await vaultCall(address, rootToken, 'DELETE', `sys/mounts/${kv1}`).catch(() => undefined);
      await vaultCall(address, rootToken, 'PUT', `sys/policies/acl/${policy}`, { policy: runPolicy });
    }
  });
});
