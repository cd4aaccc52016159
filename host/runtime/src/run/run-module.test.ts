import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { expect } from 'chai';
import { HOST_API_VERSION } from '@platform-host/contracts';
import { CLI, FixtureProject, moduleEntry } from '../test-support/fixture-project.js';
import { runCli } from '../test-support/run-cli.js';
import { runModule } from './run-module.js';
import type { ModuleRun } from './prepare-run.js';

const JOB_ARGS = [
  { name: 'date', description: 'Processing date in YYYY-MM-DD format.', required: true, type: 'string' },
  { name: 'batch-size', description: 'Rows per batch.', type: 'integer', default: 500 },
  { name: 'mode', description: 'How to run.', type: 'string', choices: ['fast', 'safe'], default: 'safe' },
  { name: 'dry-run', description: 'Write nothing.', type: 'boolean', default: false },
];

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

async function waitForStatus(url: string, status: number, deadlineMs = 15000): Promise<void> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const got = await fetch(url).then(
      (r) => r.status,
      () => 0,
    );
    if (got === status) return;
    if (Date.now() > end) throw new Error(`${url} did not answer ${status} (last: ${got})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('platform-host run', () => {
  let project: FixtureProject;
  beforeEach(() => {
    project = new FixtureProject();
    project.module(
      'etl',
      { name: 'etl', description: 'Loads one day of raw events into the warehouse.', args: JOB_ARGS },
      moduleEntry(['logging'], "ctx.log.info('ran', { date: ctx.config.string('date') }); return 0;"),
    );
  });
  afterEach(() => project.remove());

  it('--help shows the description, type, interfaces and every argument from the manifest', async () => {
    const { code, stdout } = await runCli(['run', 'etl', '--help'], project.env());
    expect(code).to.equal(0);
    expect(stdout)
      .to.contain('Loads one day of raw events into the warehouse.')
      .and.contain('job')
      .and.contain('Interfaces: logging (--log)');
    for (const arg of JOB_ARGS) expect(stdout).to.contain(`--${arg.name}`).and.contain(arg.description);
    expect(stdout).to.match(/--date <string>\s+Processing date in YYYY-MM-DD format. \[required\]/);
    expect(stdout).to.contain('choices: fast, safe; default: safe');
  });

  it('prints all three problems of three bad arguments in one message and exits 2', async () => {
    const { code, stderr } = await runCli(
      [
        'run',
        'etl',
        '--log',
        'json',
        '--date',
        '2026-01-15',
        '--batch-size',
        'many',
        '--mode',
        'reckless',
        '--dry-rn',
        'yes',
      ],
      project.env(),
    );
    expect(code).to.equal(2);
    expect(stderr).to.contain('3 problems with the arguments of module etl');
    expect(stderr).to.contain('unknown argument --dry-rn (did you mean --dry-run?)');
    expect(stderr).to.contain('--batch-size must be an integer, got "many"');
    expect(stderr).to.contain('--mode must be one of fast, safe; got "reckless"');
    expect(stderr.match(/error \[/g)).to.have.length(1);
  });

  it('runs a job to exit 0 and writes its health status file', async () => {
    const statusFile = join(project.root, 'status.json');
    const { code, stdout, stderr } = await runCli(
      ['run', 'etl', '--log', 'json', '--date', '2026-01-15'],
      project.env({ PLATFORM_HEALTH_FILE: statusFile }),
    );
    expect(code, stderr).to.equal(0);
    const lines = stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { module?: string; message: string; context?: Record<string, unknown> });
    const moduleLine = lines.find((line) => line.message === 'ran');
    expect(moduleLine?.module).to.equal('etl');
    expect(moduleLine?.context).to.deep.equal({ date: '2026-01-15' });
    const hostLine = lines.find((line) => line.message === 'Module starting');
    expect(hostLine).to.deep.include({ module: 'etl' });
    expect(hostLine?.context).to.deep.include({
      component: 'host',
      adapters: { secrets: 'env', logging: 'json', metrics: 'noop' },
    });
    const status = JSON.parse(readFileSync(statusFile, 'utf8')) as { status: string; exitCode: number; module: string };
    expect(status).to.include({ status: 'succeeded', exitCode: 0, module: 'etl' });
  });

  it('names the flags that exist when a flag selects no adapter', async () => {
    const { code, stderr } = await runCli(['run', 'etl', '--log', 'jsn', '--date', 'x'], project.env());
    expect(code).to.equal(2);
    expect(stderr).to.match(
      /--log jsn: no adapter provides logging "jsn" \(did you mean json\?\); available: .*json.*pretty/,
    );
  });

  it('constructs only the interfaces a module declares (plus secrets, logging and metrics for the host)', async function () {
    this.timeout(60000);
    project.module(
      'db_only',
      { name: 'db_only', dependencies: { interfaces: ['database', 'logging'], modules: [] } },
      moduleEntry(
        ['database', 'logging'],
        "const row = await ctx.db.fetchOne('SELECT 41 + 1 AS answer'); ctx.log.info('answer', row); return row.answer === 42 ? 0 : 1;",
      ),
    );
    let run: ModuleRun | undefined;
    const code = await runModule({
      root: project.root,
      moduleName: 'db_only',
      tokens: [
        '--db',
        'memory',
        '--log',
        'memory',
        '--mq',
        'kafka',
        '--cache',
        'redis',
        '--fs',
        's3',
        '--no-auto-migrate',
      ],
      processEnv: project.env(),
      handleSignals: false,
      onPrepared: (prepared) => {
        run = prepared;
      },
    });
    expect(code).to.equal(0);
    expect(run?.constructed.map((adapter) => adapter.interface)).to.deep.equal([
      'secrets',
      'logging',
      'metrics',
      'database',
    ]);
    expect(Object.keys(run?.context() ?? {}).sort()).to.deep.equal(['config', 'db', 'lifecycle', 'log', 'module']);
  });

  it('selects a drop-in adapter package from node_modules by its flag', async () => {
    project.adapter(
      'node_modules/@acme/platform-cache-dropin',
      { name: 'acme-dropin-cache', interface: 'cache', flags: ['dropin'] },
      `const store = new Map();
export default { kind: 'platform-host.adapter', interface: 'cache', create: () => ({
  async get(k) { return store.has(k) ? store.get(k) : null; }, async set(k, v) { store.set(k, 'dropin:' + v); },
  async delete(k) { return store.delete(k); }, async exists(k) { return store.has(k); }, async flush() { store.clear(); },
  async healthCheck() { return { ok: true }; } }) };`,
    );
    project.module(
      'cache_user',
      { name: 'cache_user', dependencies: { interfaces: ['cache', 'logging'], modules: [] } },
      moduleEntry(
        ['cache', 'logging'],
        "await ctx.cache.set('k', 'v'); ctx.log.info('cached', { value: await ctx.cache.get('k') }); return 0;",
      ),
    );
    const list = await runCli(['plugins', 'list'], project.env());
    expect(list.stdout).to.match(/acme-dropin-cache\s+1\.0\.0\s+cache: --cache dropin\s+node_modules/);
    const { code, stdout, stderr } = await runCli(
      ['run', 'cache_user', '--cache', 'dropin', '--log', 'json'],
      project.env(),
    );
    expect(code, stderr).to.equal(0);
    expect(stdout).to.contain('dropin:v');
  });

  it("exits with the manifest's exit_codes.unavailable when a backend does not connect, else 1", async () => {
    project.adapter(
      'node_modules/down-cache',
      { name: 'down-cache', interface: 'cache', flags: ['down'] },
      `export default { kind: 'platform-host.adapter', interface: 'cache', create: () => ({
  async connect() { throw new Error('connection refused by 127.0.0.1:1'); }, async disconnect() {},
  async get() { return null; }, async set() {}, async delete() { return false; }, async exists() { return false; },
  async flush() {}, async healthCheck() { return { ok: false }; } }) };`,
    );
    const entry = moduleEntry(['cache', 'logging'], "ctx.log.info('ran'); return 0;");
    const interfaces = { interfaces: ['cache', 'logging'], modules: [] };
    project.module('checker', { name: 'checker', dependencies: interfaces, exit_codes: { unavailable: 3 } }, entry);
    project.module('plain', { name: 'plain', dependencies: interfaces }, entry);

    const checker = await runCli(['run', 'checker', '--cache', 'down', '--log', 'json'], project.env());
    expect(checker.code, checker.stderr).to.equal(3);
    expect(checker.stdout + checker.stderr)
      .to.contain('PH_ERR_CONNECT')
      .and.contain('connection refused by 127.0.0.1:1')
      .and.not.contain('"msg":"ran"');
    const plain = await runCli(['run', 'plain', '--cache', 'down', '--log', 'json'], project.env());
    expect(plain.code, plain.stderr).to.equal(1);
  });

  it('refuses a module whose exit_codes.unavailable would shadow a platform exit code', async () => {
    project.module('shadow', { name: 'shadow', exit_codes: { unavailable: 2 } }, moduleEntry(['logging'], 'return 0;'));
    const { code, stderr } = await runCli(['run', 'shadow'], project.env());
    expect(code).to.equal(2);
    expect(stderr).to.contain('exit_codes.unavailable');
  });

  it('refuses an adapter written for host API 1.x, naming it, its range and the host version', async () => {
    project.adapter(
      'node_modules/future-cache',
      { name: 'future-cache', interface: 'cache', flags: ['future'], host_api: '^1.0.0' },
      'throw new Error("must not be imported");',
    );
    project.module(
      'cache_user',
      { name: 'cache_user', dependencies: { interfaces: ['cache', 'logging'], modules: [] } },
      moduleEntry(['cache', 'logging'], 'return 0;'),
    );
    const { code, stderr } = await runCli(['run', 'cache_user', '--cache', 'future'], project.env());
    expect(code).to.equal(2);
    expect(stderr)
      .to.contain('PH_ERR_PLUGIN_INCOMPATIBLE')
      .and.contain(`adapter "future-cache" supports host API ^1.0.0, but this host provides ${HOST_API_VERSION}`);
  });

  it('refuses an adapter flag served by two packages with PH_ERR_PLUGIN_DUPLICATE, naming both', async () => {
    for (const folder of ['one', 'two']) {
      project.adapter(
        `node_modules/dup-cache-${folder}`,
        { name: `dup-cache-${folder}`, interface: 'cache', flags: ['dup'] },
        'throw new Error("must not be imported");',
      );
    }
    project.module(
      'cache_user',
      { name: 'cache_user', dependencies: { interfaces: ['cache', 'logging'], modules: [] } },
      moduleEntry(['cache', 'logging'], 'return 0;'),
    );
    const { code, stderr } = await runCli(['run', 'cache_user', '--cache', 'dup'], project.env());
    expect(code).to.equal(2);
    expect(stderr).to.contain('PH_ERR_PLUGIN_DUPLICATE').and.contain('dup-cache-one').and.contain('dup-cache-two');
  });

  it('reports a missing required config key naming the key and the adapter, without printing secret values', async () => {
    project.adapter(
      'adapters/needs-config',
      {
        name: 'needy-cache',
        interface: 'cache',
        flags: ['needy'],
        config: [
          { env: 'NEEDY_URL', description: 'Where the cache lives.', required: true, secret: true },
          { env: 'NEEDY_TOKEN', description: 'Access token.', required: true, secret: true },
        ],
      },
      "export default { kind: 'platform-host.adapter', interface: 'cache', create: () => ({}) };",
    );
    project.module(
      'cache_user',
      { name: 'cache_user', dependencies: { interfaces: ['cache', 'logging'], modules: [] } },
      moduleEntry(['cache', 'logging'], 'return 0;'),
    );
    const { code, stderr } = await runCli(
      ['run', 'cache_user', '--cache', 'needy'],
      project.env({ NEEDY_TOKEN: 'super-secret-token-value' }),
    );
    expect(code).to.equal(2);
    expect(stderr).to.contain('NEEDY_URL (adapter needy-cache)');
    expect(stderr).not.to.contain('NEEDY_TOKEN (adapter');
    expect(stderr).not.to.contain('super-secret-token-value');
  });

  it('runs every shutdown hook in reverse order even when one fails, and then exits 1', async () => {
    const record = join(project.root, 'hooks.log');
    project.module(
      'hooks',
      { name: 'hooks' },
      moduleEntry(
        ['logging'],
        `const { appendFileSync } = await import('node:fs');
const note = (s) => appendFileSync(${JSON.stringify(record)}, s + '\\n');
ctx.lifecycle.onShutdown(() => note('first'));
ctx.lifecycle.onShutdown(() => { note('second'); throw new Error('hook failed'); });
ctx.lifecycle.onShutdown(() => note('third'));
return 0;`,
      ),
    );
    const { code, stdout } = await runCli(['run', 'hooks', '--log', 'json'], project.env());
    expect(code).to.equal(1);
    expect(readFileSync(record, 'utf8').trim().split('\n')).to.deep.equal(['third', 'second', 'first']);
    expect(stdout).to.contain('shutdown hook \\"hook #2\\" failed: hook failed').and.contain('PH_ERR_SHUTDOWN');
  });

  describe('a service receiving SIGTERM', () => {
    it('answers /health/ready 503 before hooks run, runs hooks in reverse, drains and exits 0', async function () {
      this.timeout(60000);
      const port = await freePort();
      const record = join(project.root, 'shutdown.log');
      project.module(
        'svc',
        { name: 'svc', type: 'service' },
        moduleEntry(
          ['logging'],
          `const { appendFileSync } = await import('node:fs');
const note = (s) => appendFileSync(${JSON.stringify(record)}, s + '\\n');
ctx.lifecycle.onShutdown(() => note('hook registered first'));
ctx.lifecycle.onShutdown(async () => { const r = await fetch('http://127.0.0.1:${port}/health/ready'); note('hook registered second saw ready=' + r.status); });
await new Promise((resolve) => ctx.lifecycle.signal.addEventListener('abort', resolve, { once: true }));
note('signal seen');
await ctx.lifecycle.trackWork(new Promise((resolve) => setTimeout(resolve, 300)));
note('in-flight work drained');
return 0;`,
        ),
      );
      const child = spawn(
        process.execPath,
        [CLI, 'run', 'svc', '--log', 'json', '--health-port', String(port), '--drain-timeout', '10'],
        { env: project.env(), stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
      await waitForStatus(`http://127.0.0.1:${port}/health/ready`, 200);
      expect((await fetch(`http://127.0.0.1:${port}/health/startup`)).status).to.equal(200);
      expect((await fetch(`http://127.0.0.1:${port}/health/live`)).status).to.equal(200);
      child.kill('SIGTERM');
      await waitForStatus(`http://127.0.0.1:${port}/health/ready`, 503, 5000);
      expect(await exited, output).to.equal(0);
      expect(readFileSync(record, 'utf8').trim().split('\n')).to.deep.equal([
        'signal seen',
        'in-flight work drained',
        'hook registered second saw ready=503',
        'hook registered first',
      ]);
    });

    it('exits 1 when in-flight work outlives the drain timeout', async function () {
      this.timeout(30000);
      project.module(
        'stuck',
        { name: 'stuck', type: 'worker' },
        moduleEntry(['logging'], 'await new Promise(() => {});'),
      );
      const child = spawn(
        process.execPath,
        [CLI, 'run', 'stuck', '--log', 'json', '--health-port', '0', '--drain-timeout', '1'],
        { env: project.env(), stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
      while (!output.includes('Module starting')) await new Promise((r) => setTimeout(r, 50));
      child.kill('SIGTERM');
      expect(await exited).to.equal(1);
      expect(output).to.contain('Drain timed out');
    });
  });

  it('doctor exits 0 when the run would start and 2 when it would not, printing key names but never values', async () => {
    project.adapter(
      'adapters/needs-config',
      {
        name: 'needy-cache',
        interface: 'cache',
        flags: ['needy'],
        config: [{ env: 'NEEDY_URL', description: 'Where.', required: true, secret: true }],
      },
      'export default {};',
    );
    project.module(
      'cache_user',
      { name: 'cache_user', dependencies: { interfaces: ['cache', 'logging'], modules: [] }, args: JOB_ARGS },
      moduleEntry(['cache', 'logging'], 'return 0;'),
    );
    const good = await runCli(
      ['doctor', 'cache_user', '--cache', 'needy', '--date', '2026-01-15'],
      project.env({ NEEDY_URL: 'redis://user:hunter2hunter2@host' }),
    );
    expect(good.code, good.stdout).to.equal(0);
    expect(good.stdout).to.contain('NEEDY_URL (needy-cache, required, secret): set').and.not.contain('hunter2');
    const bad = await runCli(['doctor', 'cache_user', '--cache', 'needy', '--mode', 'x'], project.env());
    expect(bad.code).to.equal(2);
    expect(bad.stdout)
      .to.contain('NEEDY_URL (needy-cache, required, secret): MISSING')
      .and.contain('missing required argument --date')
      .and.contain('--mode must be one of fast, safe');
  });
});
