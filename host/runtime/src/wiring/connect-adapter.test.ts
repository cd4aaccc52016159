import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import { CLI, FixtureProject, moduleEntry } from '../test-support/fixture-project.js';
import { runCli, type CliResult } from '../test-support/run-cli.js';

/**
 * An adapter entry whose connect() never settles, as a third-party adapter stuck on a dead
 * backend would be; its disconnect() leaves a file behind, so a test sees it was called.
 */
function hangingAdapter(iface: string, instance: string): string {
  return `import { writeFileSync } from 'node:fs';
export default { kind: 'platform-host.adapter', interface: '${iface}', create: () => ({ ${instance}
  connect() { writeFileSync(process.env.HANG_CONNECTING, 'connecting'); return new Promise(() => {}); },
  async disconnect() { writeFileSync(process.env.HANG_DISCONNECTED, 'disconnected'); },
  async healthCheck() { return { ok: false, detail: 'never connected' }; } }) };
`;
}

/** Resolves once `path` exists. */
async function fileAppears(path: string): Promise<void> {
  while (!existsSync(path)) await sleep(20);
}

/**
 * Runs the CLI, sends SIGTERM once `ready` resolved and at least 500 ms after the start, and
 * resolves when the process has exited.
 */
function runAndSignal(args: readonly string[], env: NodeJS.ProcessEnv, ready: Promise<void>): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    void Promise.all([ready, sleep(500)]).then(() => child.kill('SIGTERM'));
  });
}

describe("every adapter's connect() has a deadline, and a signal ends a connect that hangs", function () {
  // Generous: each case waits for one --hook-timeout (1 s here) or --connect-timeout (1 s) and a
  // few process starts on a busy machine. Nothing here asserts how long anything took.
  this.timeout(60_000);
  let project: FixtureProject;
  let disconnected: string;
  let connecting: string;
  let env: NodeJS.ProcessEnv;

  beforeEach(() => {
    project = new FixtureProject();
    disconnected = join(project.root, 'disconnected');
    connecting = join(project.root, 'connecting');
    env = project.env({ HANG_DISCONNECTED: disconnected, HANG_CONNECTING: connecting });
    project.adapter(
      'adapters/hanging-cache',
      { name: 'hanging-cache', interface: 'cache', flags: ['hang'] },
      hangingAdapter('cache', 'async get() { return null; },'),
    );
    project.adapter(
      'adapters/hanging-db',
      { name: 'hanging-db', interface: 'database', flags: ['hang'], dialect: 'postgresql' },
      hangingAdapter('database', "dialect: 'postgresql',"),
    );
    project.adapter(
      'adapters/hanging-secrets',
      { name: 'hanging-secrets', interface: 'secrets', flags: ['hang'] },
      hangingAdapter('secrets', 'async get() { return undefined; },'),
    );
    project.module(
      'cache_user',
      { name: 'cache_user', dependencies: { interfaces: ['cache', 'logging'], modules: [] } },
      moduleEntry(['cache', 'logging'], "ctx.log.info('module ran'); return 0;"),
    );
  });
  afterEach(() => project.remove());

  it('run: a cache adapter whose connect() never resolves fails with PH_ERR_CONNECT naming it (exit 1)', async () => {
    const { code, stdout, stderr } = await runCli(
      ['run', 'cache_user', '--cache', 'hang', '--log', 'json', '--connect-timeout', '1', '--hook-timeout', '1'],
      env,
    );
    expect(code, stderr).to.equal(1);
    expect(stdout).to.contain(
      'Cannot connect cache adapter hanging-cache (--cache hang): connect() did not finish within 1 s',
    );
    expect(stdout).to.contain('"code":"PH_ERR_CONNECT"');
    expect(stdout).not.to.contain('module ran');
    expect(existsSync(disconnected), 'disconnect() was called').to.equal(true);
  });

  it('run: SIGTERM while connect() hangs ends it with exit 1', async () => {
    const { code, stdout } = await runAndSignal(
      ['run', 'cache_user', '--cache', 'hang', '--log', 'json', '--connect-timeout', '600', '--hook-timeout', '1'],
      env,
      fileAppears(connecting),
    );
    expect(code, stdout).to.equal(1);
    expect(stdout).not.to.contain('module ran');
    expect(existsSync(disconnected), 'disconnect() was called').to.equal(true);
  });

  it('migrate up: a database adapter whose connect() never resolves fails with PH_ERR_CONNECT naming it (exit 1)', async () => {
    const { code, stderr } = await runCli(
      ['migrate', 'up', '--db', 'hang', '--connect-timeout', '1', '--hook-timeout', '1'],
      env,
    );
    expect(code, stderr).to.equal(1);
    expect(stderr).to.contain(
      'error [PH_ERR_CONNECT]: Cannot connect database adapter hanging-db (--db hang): connect() did not finish within 1 s',
    );
    expect(existsSync(disconnected), 'disconnect() was called').to.equal(true);
  });

  it('migrate up: SIGTERM while connect() hangs ends it with exit 1', async () => {
    const { code, stderr } = await runAndSignal(
      ['migrate', 'up', '--db', 'hang', '--connect-timeout', '600', '--hook-timeout', '1'],
      env,
      fileAppears(connecting),
    );
    expect(code, stderr).to.equal(1);
    expect(existsSync(disconnected), 'disconnect() was called').to.equal(true);
  });

  it('a secrets provider whose connect() never resolves fails the run naming it', async () => {
    const { code, stderr } = await runCli(['run', 'cache_user', '--secrets', 'hang', '--connect-timeout', '1'], env);
    expect(code, stderr).to.equal(2);
    expect(stderr).to.contain('Secrets provider hanging-secrets cannot load: connect() did not finish within 1 s');
  });
});
