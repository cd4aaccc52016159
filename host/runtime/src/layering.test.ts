import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';

/**
 * The runtime's folders depend one way (DESIGN.md, Architecture): cli -> commands -> preflight,
 * wiring, lifecycle -> options, discovery, manifest. A folder may import from its own layer or a
 * lower one, never from a higher one.
 */
const LAYERS: Readonly<Record<string, number>> = {
  cli: 4,
  commands: 3,
  run: 3,
  scaffold: 3,
  preflight: 2,
  wiring: 2,
  lifecycle: 2,
  health: 2,
  migrations: 2,
  observability: 2,
  options: 1,
  discovery: 1,
  manifest: 1,
  args: 1,
  env: 1,
  project: 1,
  redaction: 1,
  text: 1,
};

// Compiled tests run from dist/; the sources sit beside it in src/.
const SRC = join(dirname(fileURLToPath(import.meta.url)).replace(/[\\/]dist$/, ''), 'src');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') ? [path] : [];
  });
}

describe('runtime layering', () => {
  it('has every source folder in a layer, and no folder imports from a higher layer', () => {
    const violations: string[] = [];
    const unknown = new Set<string>();
    const files = sources(SRC);
    expect(files.length, `sources found under ${SRC}`).to.be.greaterThan(30);
    for (const file of files) {
      const path = relative(SRC, file).split(sep);
      if (path.length < 2 || path[0] === 'test-support') continue;
      const folder = path[0] ?? '';
      const rank = LAYERS[folder];
      if (rank === undefined) {
        unknown.add(folder);
        continue;
      }
      const text = readFileSync(file, 'utf8');
      for (const match of text.matchAll(/(?:from\s+|import\s+|import\()\s*'\.\.\/([a-z-]+)\//g)) {
        const target = match[1] ?? '';
        const targetRank = LAYERS[target];
        if (target !== 'test-support' && (targetRank === undefined || targetRank > rank)) {
          violations.push(`${path.join('/')} imports ../${target}/`);
        }
      }
    }
    expect([...unknown], 'folders without a layer').to.deep.equal([]);
    expect(violations).to.deep.equal([]);
  });
});
