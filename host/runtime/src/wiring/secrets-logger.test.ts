import { expect } from 'chai';
import { FixtureProject, moduleEntry } from '../test-support/fixture-project.js';
import { runCli } from '../test-support/run-cli.js';

const TOKEN = 'fixture-vault-token-3f9a61';

/** One line of `--log json` output. */
interface JsonLine {
  readonly level: string;
  readonly message: string;
  readonly module?: string;
  readonly context?: Record<string, unknown>;
}

describe('the secrets provider gets the platform logger once it exists', function () {
  this.timeout(30_000);
  let project: FixtureProject;
  beforeEach(() => {
    project = new FixtureProject();
    // A provider that has something to report before any logger exists (as a vault whose token
    // renewal failed during startup would): it keeps it until attachLogger, then logs it.
    project.adapter(
      'adapters/reporting-secrets',
      {
        name: 'reporting-secrets',
        interface: 'secrets',
        flags: ['reporting'],
        config: [{ env: 'REPORTING_TOKEN', description: 'Token.', required: true, secret: true }],
      },
      `export default { kind: 'platform-host.adapter', interface: 'secrets', create: ({ config, environment }) => {
  const token = config.require('REPORTING_TOKEN');
  const kept = [['warn', 'renewal failed before the logger existed for ' + token, { attempt: 1, token_copy: token }]];
  let logger;
  return {
    async get(key) { const v = environment[key]; return v === undefined || v === '' ? undefined : v; },
    async getOrDefault(key, fallback) { return (await this.get(key)) ?? fallback; },
    async require(key) { const v = await this.get(key); if (v === undefined) throw new Error('missing ' + key); return v; },
    attachLogger(given) {
      if (logger) throw new Error('attachLogger called twice');
      logger = given;
      for (const [level, message, fields] of kept.splice(0)) logger[level](message, fields);
      logger.info('logging directly now');
    },
  };
} };`,
    );
    project.module('reporter', { name: 'reporter' }, moduleEntry(['logging'], "ctx.log.info('module ran'); return 0;"));
  });
  afterEach(() => project.remove());

  it('logs what the provider kept, bound to its adapter name and redacted, before the module runs', async () => {
    const { code, stdout, stderr } = await runCli(
      ['run', 'reporter', '--secrets', 'reporting', '--log', 'json'],
      project.env({ REPORTING_TOKEN: TOKEN }),
    );
    expect(code, stderr + stdout).to.equal(0);
    const lines = stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as JsonLine);
    const kept = lines.findIndex((line) => line.message.startsWith('renewal failed before the logger existed'));
    const direct = lines.findIndex((line) => line.message === 'logging directly now');
    const ran = lines.findIndex((line) => line.message === 'module ran');
    expect(kept, stdout).to.be.greaterThan(-1);
    expect([kept < direct, direct < ran]).to.deep.equal([true, true]);
    expect(lines[kept]).to.deep.include({
      level: 'WARN',
      message: 'renewal failed before the logger existed for [REDACTED]',
    });
    expect(lines[kept]?.context).to.deep.include({ adapter: 'reporting-secrets', attempt: 1 });
    expect(stdout + stderr).not.to.contain(TOKEN);
  });
});
