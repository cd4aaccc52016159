import { existsSync, readFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { expect } from 'chai';
import { CLI, FixtureProject, moduleEntry } from '../test-support/fixture-project.js';
import { runCli } from '../test-support/run-cli.js';

/** A CLI subprocess whose output the test can wait on. */
function start(args: readonly string[], env: NodeJS.ProcessEnv) {
  const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  return {
    child,
    exited,
    output: () => output,
    async waitFor(check: () => boolean, what: string): Promise<void> {
      const end = Date.now() + 20000;
      while (!check()) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}; output:\n${output}`);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    },
  };
}

function linesOf(file: string): string[] {
  return existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean) : [];
}

/** A plain-JS drop-in adapter whose connect / disconnect note what happened in `record`. */
function recordingAdapter(iface: string, record: string, connectBody: string): string {
  return `import { appendFileSync } from 'node:fs';
const note = (s) => appendFileSync(${JSON.stringify(record)}, s + '\\n');
export default { kind: 'platform-host.adapter', interface: '${iface}', create: () => ({
  async connect() { ${connectBody} },
  async disconnect() { note('${iface} disconnected'); },
  async healthCheck() { return { ok: true }; },
}) };
`;
}

describe('shutdown', function () {
  this.timeout(60000);
  let project: FixtureProject;
  let record: string;
  const note = (): string =>
    `const { appendFileSync } = await import('node:fs'); const note = (s) => appendFileSync(${JSON.stringify(record)}, s + '\\n');`;

  beforeEach(() => {
    project = new FixtureProject();
    record = join(project.root, 'record.log');
  });
  afterEach(() => project.remove());

  it('reports a hook that never resolves by name with PH_ERR_SHUTDOWN, still runs the later hooks, and exits 1', async () => {
    project.module(
      'stuck_hook',
      { name: 'stuck_hook' },
      moduleEntry(
        ['logging'],
        `${note()}
ctx.lifecycle.onShutdown(() => note('registered first'), 'first');
ctx.lifecycle.onShutdown(() => new Promise(() => {}), 'stuck-flush');
ctx.lifecycle.onShutdown(() => note('registered third'), 'third');
ctx.lifecycle.onStopAccepting(() => new Promise(() => {}), 'stuck-intake');
return 0;`,
      ),
    );
    const { code, stdout } = await runCli(['run', 'stuck_hook', '--log', 'json', '--hook-timeout', '1'], project.env());
    expect(code, stdout).to.equal(1);
    const errors = stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { level: string; message: string; context?: { code?: string } })
      .filter((line) => line.level === 'ERROR');
    expect(errors.map((line) => [line.message, line.context?.code])).to.deep.equal([
      ['stop-accepting hook "stuck-intake" did not finish within 1 s', 'PH_ERR_SHUTDOWN'],
      ['shutdown hook "stuck-flush" did not finish within 1 s', 'PH_ERR_SHUTDOWN'],
    ]);
    expect(linesOf(record)).to.deep.equal(['registered third', 'registered first']);
  });

  for (const type of ['job', 'service'] as const) {
    it(`a SIGTERM during startup aborts it (${type}): run() is never called, what connected is disconnected, exit 1`, async () => {
      project.adapter(
        'adapters/slow-fs',
        { name: 'quick-fs', interface: 'filesystem', flags: ['quick'] },
        recordingAdapter('filesystem', record, "note('filesystem connected');"),
      );
      project.adapter(
        'adapters/slow-cache',
        { name: 'hanging-cache', interface: 'cache', flags: ['hanging'] },
        // A connect that hangs (on a timer, as a real one hangs on its socket).
        recordingAdapter('cache', record, "note('cache connecting'); await new Promise((r) => setTimeout(r, 600000));"),
      );
      project.module(
        'slow_start',
        { name: 'slow_start', type, dependencies: { interfaces: ['filesystem', 'cache', 'logging'], modules: [] } },
        moduleEntry(['filesystem', 'cache', 'logging'], `${note()} note('run called'); return 0;`),
      );
      const run = start(
        [
          'run',
          'slow_start',
          '--fs',
          'quick',
          '--cache',
          'hanging',
          '--log',
          'json',
          '--hook-timeout',
          '1',
          '--health-port',
          '0',
        ],
        project.env(),
      );
      await run.waitFor(() => linesOf(record).includes('cache connecting'), 'the cache to start connecting');
      run.child.kill('SIGTERM');
      expect(await run.exited, run.output()).to.equal(1);
      expect(linesOf(record)).to.have.members([
        'filesystem connected',
        'cache connecting',
        'cache disconnected',
        'filesystem disconnected',
      ]);
      expect(linesOf(record)).not.to.include('run called');
      expect(run.output())
        .to.contain('Startup aborted: run() was not called')
        .and.not.contain('Health server listening');
    });
  }

  it('a job interrupted by a signal before run() finished exits 1 even when run() returns 0', async () => {
    project.module(
      'interrupted',
      { name: 'interrupted' },
      moduleEntry(
        ['logging'],
        `const working = setInterval(() => {}, 50);
ctx.log.info('job waiting');
await new Promise((resolve) => ctx.lifecycle.signal.addEventListener('abort', resolve, { once: true }));
clearInterval(working);
return 0;`,
      ),
    );
    const run = start(['run', 'interrupted', '--log', 'json'], project.env());
    await run.waitFor(() => run.output().includes('job waiting'), 'the job to start');
    run.child.kill('SIGTERM');
    expect(await run.exited, run.output()).to.equal(1);
    expect(run.output()).to.contain('"exitCode":1');
  });

  for (const [kind, trigger, message] of [
    [
      'an unhandled rejection',
      "Promise.reject(new Error('nobody catches this'));",
      'Unhandled promise rejection in module crashy: shutting down',
    ],
    [
      'an uncaught exception',
      "setTimeout(() => { throw new Error('thrown from a timer'); }, 10);",
      'Uncaught exception in module crashy: shutting down',
    ],
  ] as const) {
    it(`${kind} is logged naming the module, shutdown runs, exit 1`, async () => {
      project.module(
        'crashy',
        { name: 'crashy', type: 'worker' },
        moduleEntry(
          ['logging'],
          `${note()}
ctx.lifecycle.onShutdown(() => note('hook ran'));
${trigger}
await new Promise((resolve) => ctx.lifecycle.signal.addEventListener('abort', resolve, { once: true }));
note('run() saw the abort');`,
        ),
      );
      const { code, stdout } = await runCli(['run', 'crashy', '--log', 'json', '--health-port', '0'], project.env());
      expect(code, stdout).to.equal(1);
      const line = stdout
        .split('\n')
        .filter(Boolean)
        .map((text) => JSON.parse(text) as { module: string; message: string; context: Record<string, unknown> })
        .find((entry) => entry.message === message);
      expect(line?.module, stdout).to.equal('crashy');
      expect(JSON.stringify(line?.context)).to.match(/nobody catches this|thrown from a timer/);
      expect(linesOf(record)).to.deep.equal(['run() saw the abort', 'hook ran']);
    });
  }

  it('a second signal during shutdown exits 1 at once, after flushing the logs', async () => {
    project.module(
      'slow_stop',
      { name: 'slow_stop', type: 'service' },
      moduleEntry(
        ['logging'],
        `${note()}
ctx.lifecycle.onShutdown(() => { note('hook running'); return new Promise(() => {}); }, 'forever');
await new Promise((resolve) => ctx.lifecycle.signal.addEventListener('abort', resolve, { once: true }));`,
      ),
    );
    const run = start(
      ['run', 'slow_stop', '--log', 'json', '--health-port', '0', '--hook-timeout', '600'],
      project.env(),
    );
    await run.waitFor(() => run.output().includes('Module starting'), 'the module to start');
    run.child.kill('SIGTERM');
    await run.waitFor(() => linesOf(record).includes('hook running'), 'the stuck hook');
    run.child.kill('SIGTERM');
    expect(await run.exited, run.output()).to.equal(1);
    expect(run.output())
      .to.contain('Signal received: shutting down')
      .and.contain('Second signal during shutdown: exiting now');
  });
});
