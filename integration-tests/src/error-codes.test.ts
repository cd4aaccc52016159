import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { ERROR_CODES } from '@platform-host/contracts';
import { REPO_ROOT } from './support/cli.js';

/** Every non-test TypeScript source of the host, adapters, modules and migrations. */
function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    if (entry.name === 'node_modules' || entry.name === 'dist' || entry.name.startsWith('.')) return [];
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') ? [path] : [];
  });
}

describe('the error catalogue', () => {
  it('has no code that nothing raises: each one appears in some source besides the catalogue', () => {
    const text = ['host', 'adapters', 'plugins', 'migrations']
      .flatMap((folder) => sources(join(REPO_ROOT, folder)))
      .filter((file) => !file.endsWith(join('contracts', 'src', 'errors.ts')))
      .map((file) => readFileSync(file, 'utf8'))
      .join('\n');
    const codes = Object.keys(ERROR_CODES);
    expect(codes.length).to.be.greaterThan(10);
    expect(codes.filter((code) => !text.includes(`'${code}'`))).to.deep.equal([]);
  });
});
