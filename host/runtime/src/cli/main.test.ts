import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { FixtureProject, moduleEntry } from '../test-support/fixture-project.js';
import { runCli } from '../test-support/run-cli.js';

describe('platform-host CLI', () => {
  let project: FixtureProject;
  beforeEach(() => {
    project = new FixtureProject();
    project.module('daily', { name: 'daily_rollup' }, moduleEntry(['logging'], 'return 0;'));
    project.module('hourly', { name: 'hourly_rollup' }, moduleEntry(['logging'], 'return 0;'));
  });
  afterEach(() => project.remove());

  it('completes module names after run', async () => {
    const { code, stdout } = await runCli(['--get-yargs-completions', 'run', 'da'], project.env());
    expect(code).to.equal(0);
    expect(stdout.trim().split('\n')).to.deep.equal(['daily_rollup']);
  });

  it('prints a shell completion script', async () => {
    const { code, stdout } = await runCli(['completion'], project.env());
    expect(code).to.equal(0);
    expect(stdout).to.contain('platform-host --get-yargs-completions');
  });

  it('refuses an unknown command with exit 2 and names it', async () => {
    const { code, stderr } = await runCli(['rn', 'daily_rollup'], project.env());
    expect(code).to.equal(2);
    expect(stderr).to.contain('PH_ERR_USAGE').and.contain('rn');
  });

  it("refuses a value outside an option's choices before the command runs (nothing scaffolded)", async () => {
    const { code, stderr, stdout } = await runCli(
      ['new', 'module', 'bogus_kind', '--type', 'bogus'],
      project.env(),
      project.root,
    );
    expect(code).to.equal(2);
    expect(stderr).to.contain('PH_ERR_USAGE').and.contain('Argument: type, Given: "bogus"');
    expect(stdout).to.not.contain('created module');
    expect(existsSync(join(project.root, 'plugins', 'bogus-kind'))).to.equal(false);
  });

  it('suggests the closest module name for a typo', async () => {
    const { code, stderr } = await runCli(['run', 'daily_rolup'], project.env());
    expect(code).to.equal(2);
    expect(stderr).to.contain('No module named "daily_rolup" (did you mean daily_rollup?)');
  });
});
