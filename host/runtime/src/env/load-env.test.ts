import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { loadEnv, parseEnvText } from './load-env.js';

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

  it('falls back to env/local.env when env/<env>.env does not exist', () => {
    expect(loadEnv(root, 'staging', {}).values).to.include({ A: 'local', B: 'local' });
  });

  it('reads no file for production', () => {
    const { values, files } = loadEnv(root, 'production', { ONLY: 'real' });
    expect(files).to.deep.equal([]);
    expect(values).to.deep.equal({ ONLY: 'real' });
  });

  it('parses quotes, export and comments, and names the file and line of a bad line', () => {
    expect(Object.fromEntries(parseEnvText('export X="a\\nb"\nY=\'lit # not comment\'\nZ=v # comment\n', 'f'))).to.deep.equal({ X: 'a\nb', Y: 'lit # not comment', Z: 'v' });
    expect(() => parseEnvText('OK=1\nthis is wrong\n', 'env/local.env')).to.throw('env/local.env:2: expected KEY=value');
  });
});
