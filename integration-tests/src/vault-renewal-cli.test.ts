import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { useRealService, waitFor } from '@platform-host/test-kit';
import { CLI, REPO_ROOT, cliEnv } from './support/cli.js';

/** Root-token call to the Vault HTTP API (setup only; the CLI gets its own short-lived token). */
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

/** One line of `--log json` output. */
interface JsonLine {
  readonly level: string;
  readonly message: string;
  readonly context?: Record<string, unknown>;
}

/**
 * Issue 15 follow-up: a service run with `--secrets vault` whose token cannot be renewed. The
 * secrets provider is built before the logger, yet its reports reach the platform's JSON log
 * (bound to `adapter: secrets-vault`), and once the token expired `/health/ready` says so under
 * `secrets` — the token appears nowhere.
 */
describe('a --secrets vault service whose token cannot be renewed (real OpenBao, CLI)', function () {
  this.timeout(60_000);
  const vault = useRealService('vault');
  const suffix = randomBytes(5).toString('hex');
  const secretPath = `platform-host-e2e/renewal-${suffix}`;
  const policy = `platform-e2e-renewal-${suffix}`;
  let address: string;
  let rootToken: string;
  let project: string;

  before(async function () {
    address = vault().SECRETS_VAULT_ADDR ?? '';
    rootToken = vault().SECRETS_VAULT_TOKEN ?? '';
    await vaultCall(address, rootToken, 'POST', `secret/data/${secretPath}`, { data: { PROBE_KEY: 'from-vault' } });
    await vaultCall(address, rootToken, 'PUT', `sys/policies/acl/${policy}`, {
      policy: `path "secret/data/${secretPath}" { capabilities = ["read"] }`,
    });
    project = mkdtempSync(join(tmpdir(), 'vault-renewal-project-'));
    writeFileSync(join(project, 'package.json'), '{"name":"vault-renewal-fixture","private":true,"type":"module"}\n');
    mkdirSync(join(project, 'plugins', 'vault_probe'), { recursive: true });
    writeFileSync(
      join(project, 'plugins', 'vault_probe', 'module.json'),
      JSON.stringify({
        name: 'vault_probe',
        display_name: 'vault_probe',
        description: 'Reads one key from the secrets provider and serves until stopped.',
        type: 'service',
        version: '1.0.0',
        host_api: '^2.0.0',
        entry: './main.js',
        dependencies: { interfaces: ['secrets', 'logging'], modules: [] },
        args: [],
      }),
    );
    writeFileSync(
      join(project, 'plugins', 'vault_probe', 'main.js'),
      `export default { kind: 'platform-host.module', interfaces: ['secrets', 'logging'], async run(ctx) {
  const value = await ctx.secrets.require('PROBE_KEY');
  ctx.log.info('probe serving', { length: value.length });
  await new Promise((resolve) => ctx.lifecycle.signal.addEventListener('abort', resolve, { once: true }));
  return 0;
} };\n`,
    );
  });

  after(async function () {
    if (project) rmSync(project, { recursive: true, force: true });
    await vaultCall(address, rootToken, 'DELETE', `secret/metadata/${secretPath}`).catch(() => undefined);
    await vaultCall(address, rootToken, 'DELETE', `sys/policies/acl/${policy}`).catch(() => undefined);
  });

  it('logs that the token is not renewable, then that it expired, and fails readiness under secrets, never showing the token', async function () {
    const created = (await vaultCall(address, rootToken, 'POST', 'auth/token/create', {
      policies: [policy],
      ttl: '4s',
      renewable: false,
    })) as { auth: { client_token: string } };
    const token = created.auth.client_token;
    const child = spawn(
      process.execPath,
      [CLI, 'run', 'vault_probe', '--secrets', 'vault', '--log', 'json', '--health-port', '0'],
      {
        cwd: REPO_ROOT,
        env: cliEnv({
          PLATFORM_ROOT: project,
          PLATFORM_PLUGIN_PATH: join(REPO_ROOT, 'adapters'),
          SECRETS_VAULT_ADDR: address,
          SECRETS_VAULT_TOKEN: token,
          SECRETS_VAULT_PATH: secretPath,
        }),
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    const probe = async (): Promise<{ status: number; health: string }> => {
      await waitFor(() => stdout.includes('Vault token expired'), 30_000, 'the expiry in the log');
      const port = /"message":"Health server listening","context":\{[^}]*"port":(\d+)/.exec(stdout)?.[1];
      const ready = await fetch(`http://127.0.0.1:${port ?? 0}/health/ready`);
      return { status: ready.status, health: await ready.text() };
    };
    const { status, health } = await probe().finally(() => child.kill('SIGTERM'));
    expect(await exited, stdout + stderr).to.equal(0);

    const lines = stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as JsonLine);
    const fromVault = lines.filter((line) => line.context?.adapter === 'secrets-vault');
    expect(fromVault.map((line) => line.level)).to.deep.equal(['WARN', 'ERROR', 'ERROR']);
    expect(fromVault[0]?.message).to.match(
      new RegExp(`^Vault token is not renewable; the token expires in \\d s; reads of secret/${secretPath} fail after`),
    );
    expect(fromVault[2]?.message).to.match(/^Vault token expired \(the token is not renewable\)/);
    expect(fromVault[2]?.context).to.deep.include({ address, vaultPath: `secret/${secretPath}`, auth: 'token' });
    expect(lines.some((line) => line.message === 'probe serving')).to.equal(true);

    expect(status).to.equal(503);
    const report = JSON.parse(health) as {
      checks: Record<string, string>;
      details: Record<string, { adapter?: string; detail?: string }>;
    };
    expect(report.checks.secrets).to.equal('error');
    expect(report.details.secrets?.adapter).to.equal('secrets-vault');
    // Vault may still accept the token for up to a second after the provider's own (earlier) expiry.
    expect(report.details.secrets?.detail, health).to.match(
      new RegExp(
        `^Vault at ${address} \\(secret/${secretPath}\\) (denied reading secret/${secretPath} \\(HTTP 403: permission denied\\); )?has an expired token \\(expired \\d+ s ago; last renewal problem: the token is not renewable\\)$`,
      ),
    );
    expect(stdout + stderr + health).not.to.contain(token);
  });
});
