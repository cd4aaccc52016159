import { spawn } from 'node:child_process';
import { expect } from 'chai';
import { CLI, FixtureProject, moduleEntry } from '../test-support/fixture-project.js';
import { runCli } from '../test-support/run-cli.js';

/** Every secret of the run: none may appear in any output. */
const SECRETS = {
  /** Read by the module through ctx.secrets only; no adapter declares it. */
  moduleToken: 'module-api-token-5b1e9c',
  /** The secrets provider's own secret key (a bootstrap value). */
  vaultToken: 'vault-bootstrap-token-77d2a4',
  /** A secret config key of the cache adapter. */
  cacheKey: 'cache-access-key-0c93f1',
  /** The password inside the cache adapter's secret URL. */
  cacheUrlPassword: 'cache-url-pass-d41f',
  /** The password of a URL the module logs, registered nowhere. */
  loggedUrlPassword: 'url-only-password-9e2b',
};

/** References to the logging interface, written out as the contracts define them (plain JS cannot import them here). */
const LOGGING_REF = `{ id: 'logging', flag: 'log', contextKey: 'log', token: Symbol.for('platform-host.interface.logging') }`;

describe('secrets never leak', function () {
  this.timeout(60000);
  let project: FixtureProject;
  beforeEach(() => {
    project = new FixtureProject();
    project.adapter(
      'adapters/fixture-vault',
      {
        name: 'fixture-vault',
        interface: 'secrets',
        flags: ['fixture-vault'],
        config: [{ env: 'VAULT_FIXTURE_TOKEN', description: 'Vault token.', required: true, secret: true }],
      },
      `export default { kind: 'platform-host.adapter', interface: 'secrets', create: ({ environment }) => ({
  async get(key) { const v = environment[key]; return v === undefined || v === '' ? undefined : v; },
  async getOrDefault(key, fallback) { return (await this.get(key)) ?? fallback; },
  async require(key) { const v = await this.get(key); if (v === undefined) throw new Error('missing ' + key); return v; },
}) };`,
    );
    project.adapter(
      'adapters/leaky-cache',
      {
        name: 'leaky-cache',
        interface: 'cache',
        flags: ['leaky'],
        config: [
          { env: 'LEAKY_CACHE_URL', description: 'Where.', required: true, secret: true },
          { env: 'LEAKY_CACHE_KEY', description: 'Access key.', required: true, secret: true },
        ],
      },
      `export default { kind: 'platform-host.adapter', interface: 'cache', dependencies: { logger: ${LOGGING_REF} },
  create: ({ config, logger }) => {
    const url = config.require('LEAKY_CACHE_URL');
    const key = config.require('LEAKY_CACHE_KEY');
    return {
      async connect() { logger.info('connecting to ' + url, { url, key, auth: { access_key: key } }); },
      async disconnect() {},
      async get() { return null; }, async set() {}, async delete() { return false; }, async exists() { return false; }, async flush() {},
      async healthCheck() { return { ok: false, detail: 'cannot reach ' + url + ' with key ' + key }; },
    };
  } };`,
    );
    project.module(
      'leaky',
      { name: 'leaky', type: 'service', dependencies: { interfaces: ['secrets', 'cache', 'logging'], modules: [] } },
      moduleEntry(
        ['secrets', 'cache', 'logging'],
        `const token = await ctx.secrets.require('MODULE_API_TOKEN');
const url = 'postgres://report:${SECRETS.loggedUrlPassword}@db.internal/app';
ctx.log.info('module token is ' + token, { token_copy: token, nested: { list: [token] } });
ctx.log.info('connecting to ' + url, { dsn: url });
ctx.log.info('vault token seen in env: ' + process.env.VAULT_FIXTURE_TOKEN);
ctx.log.error('failure with an error', { error: new Error('boom ' + token + ' at ' + url, { cause: new Error(process.env.VAULT_FIXTURE_TOKEN) }) });
ctx.log.info('module logged its secrets');
await new Promise((resolve) => ctx.lifecycle.signal.addEventListener('abort', resolve, { once: true }));
throw new Error('failed while stopping with ' + token + ' for ' + url);`,
      ),
    );
  });
  afterEach(() => project.remove());

  function env(): NodeJS.ProcessEnv {
    return project.env({
      VAULT_FIXTURE_TOKEN: SECRETS.vaultToken,
      MODULE_API_TOKEN: SECRETS.moduleToken,
      LEAKY_CACHE_URL: `redis://cache-user:${SECRETS.cacheUrlPassword}@cache.internal:6379/0`,
      LEAKY_CACHE_KEY: SECRETS.cacheKey,
      LOG_LEVEL: 'debug',
    });
  }

  function expectNoSecret(what: string, text: string): void {
    for (const [name, value] of Object.entries(SECRETS)) expect(text, `${name} in ${what}`).not.to.contain(value);
  }

  it('a module logging its secrets, a URL with a password and a leaky adapter health detail: none in logs, errors, /health/ready or doctor', async () => {
    const args = [
      'run',
      'leaky',
      '--secrets',
      'fixture-vault',
      '--cache',
      'leaky',
      '--log',
      'json',
      '--health-port',
      '0',
    ];
    const child = spawn(process.execPath, [CLI, ...args, '--verbose'], {
      env: env(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    const end = Date.now() + 20000;
    while (!stdout.includes('module logged its secrets')) {
      if (Date.now() > end) throw new Error(`the module did not start:\n${stdout}\n${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    const port = /"message":"Health server listening","context":\{[^}]*"port":(\d+)/.exec(stdout)?.[1];
    const ready = await fetch(`http://127.0.0.1:${port ?? 0}/health/ready`);
    const health = await ready.text();
    child.kill('SIGTERM');
    expect(await exited, stdout + stderr).to.equal(1);

    // The paths were taken (so the absence below means redaction, not silence).
    expect(ready.status).to.equal(503);
    expect(JSON.parse(health)).to.deep.include({ checks: { cache: 'error' } });
    expect(health).to.contain('[REDACTED]');
    for (const message of [
      'module token is [REDACTED]',
      'connecting to postgres://report:[REDACTED]@db.internal/app',
    ]) {
      expect(stdout).to.contain(message);
    }
    expect(stdout)
      .to.contain('vault token seen in env: [REDACTED]')
      .and.contain('failed while stopping with [REDACTED]');
    expect(stdout).to.contain('"stack":');
    expectNoSecret('stdout', stdout);
    expectNoSecret('stderr', stderr);
    expectNoSecret('/health/ready', health);

    const doctor = await runCli(
      ['doctor', 'leaky', '--secrets', 'fixture-vault', '--cache', 'leaky', '--verbose'],
      env(),
    );
    expect(doctor.code, doctor.stdout + doctor.stderr).to.equal(0);
    expect(doctor.stdout).to.contain('LEAKY_CACHE_URL (leaky-cache, required, secret): set');
    expectNoSecret('doctor stdout', doctor.stdout);
    expectNoSecret('doctor stderr', doctor.stderr);
  });

  it('a failing run reports its error without the secret in the message (stderr, --verbose stacks)', async () => {
    project.adapter(
      'adapters/failing-cache',
      {
        name: 'failing-cache',
        interface: 'cache',
        flags: ['failing'],
        config: [{ env: 'LEAKY_CACHE_URL', description: 'Where.', required: true, secret: true }],
      },
      `export default { kind: 'platform-host.adapter', interface: 'cache', create: ({ config }) => {
  throw new Error('cannot construct with ' + config.require('LEAKY_CACHE_URL'));
} };`,
    );
    const result = await runCli(
      ['run', 'leaky', '--secrets', 'fixture-vault', '--cache', 'failing', '--log', 'json', '--verbose'],
      env(),
    );
    expect(result.code).to.equal(1);
    expect(result.stderr).to.contain('PH_ERR_PLUGIN_LOAD').and.contain('redis://cache-user:[REDACTED]@cache.internal');
    expectNoSecret('stderr', result.stderr);
    expectNoSecret('stdout', result.stdout);
  });
});
