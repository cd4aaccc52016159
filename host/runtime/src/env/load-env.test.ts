import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { loadEnv } from './load-env.js';

describe('env files', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'env-test-'));
    mkdirSync(join(root, 'env'));
    writeFileSync(join(root, 'env', 'local.env'), 'A=local\nB=local\nC=local\n');
    writeFileSync(join(root, 'env', 'test.env'), '# comment\nB=test\nexport C="quoted \\"x\\""\n');
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('layers env/<env>.env over env/local.env, real variables over both', () => {
    const { values, files } = loadEnv(root, 'test', { C: 'real' });
    expect(values).to.include({ A: 'local', B: 'test', C: 'real' });
    expect(files.map((f) => f.slice(root.length))).to.deep.equal(['/env/local.env', '/env/test.env']);
  });

  it('refuses an environment without its env file (a mistyped --env), naming the known ones; exit 2', () => {
    writeFileSync(join(root, 'env', 'staging.env'), 'B=staging\n');
    expect(loadEnv(root, 'staging', {}).values).to.include({ A: 'local', B: 'staging' });
    try {
      loadEnv(root, 'prodution', {});
      expect.fail('should throw');
    } catch (error) {
      expect((error as { code: string }).code).to.equal('PH_ERR_USAGE');
      expect((error as { exitCode: number }).exitCode).to.equal(2);
      expect((error as Error).message).to.equal(
        '--env "prodution" is not an environment of this project: there is no env/prodution.env; known: local, production, staging, test',
      );
    }
  });

  it('runs the built-in local and test environments without their files', () => {
    rmSync(join(root, 'env'), { recursive: true, force: true });
    expect(loadEnv(root, 'test', { ONLY: 'real' }).files).to.deep.equal([]);
    expect(loadEnv(root, 'local', { ONLY: 'real' }).values).to.include({ ONLY: 'real' });
  });

  it('reads no file for production', () => {
    const { values, files } = loadEnv(root, 'production', { ONLY: 'real' });
    expect(files).to.deep.equal([]);
    expect(values).to.deep.equal({ ONLY: 'real' });
  });

  it('names the env file and line of a malformed line', () => {
    writeFileSync(join(root, 'env', 'local.env'), 'OK=1\nthis is wrong\n');
    expect(() => loadEnv(root, 'local', {})).to.throw(/local\.env:2: line is not KEY=value/);
  });
});
