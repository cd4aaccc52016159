import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

function hasWorkspaces(dir: string): boolean {
  try {
    const json = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { workspaces?: unknown };
    return json.workspaces !== undefined;
  } catch {
    return false;
  }
}

/**
 * The project root: `PLATFORM_ROOT` if set; else the nearest ancestor of `cwd` that has `plugins/`
 * or `adapters/` or a package.json with workspaces; else the nearest with a package.json; else cwd.
 */
export function findProjectRoot(cwd: string = process.cwd(), env: NodeJS.ProcessEnv = process.env): string {
  if (env.PLATFORM_ROOT) return resolve(env.PLATFORM_ROOT);
  let firstPackage: string | undefined;
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'plugins')) || existsSync(join(dir, 'adapters')) || hasWorkspaces(dir)) return dir;
    if (firstPackage === undefined && existsSync(join(dir, 'package.json'))) firstPackage = dir;
    if (dirname(dir) === dir) return firstPackage ?? resolve(cwd);
  }
}
