import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (for the real embedded adapters under adapters/). */
export const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
export const REPO_ADAPTERS = join(REPO_ROOT, 'adapters');
export const CLI = join(REPO_ROOT, 'host', 'runtime', 'bin', 'platform-host.js');

/** A throwaway project folder with plugins written by the test. */
export class FixtureProject {
  readonly root = mkdtempSync(join(tmpdir(), 'platform-host-fixture-'));

  constructor() {
    mkdirSync(join(this.root, 'plugins'));
    writeFileSync(join(this.root, 'package.json'), '{"name":"fixture","private":true,"type":"module"}\n');
  }

  /** Writes a file under the project root (folders created). */
  write(path: string, content: string | object): string {
    const file = join(this.root, path);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, typeof content === 'string' ? content : `${JSON.stringify(content, null, 2)}\n`);
    return file;
  }

  /** A module folder `plugins/<folder>` with module.json (defaults filled in) and an entry. */
  module(folder: string, manifest: Record<string, unknown>, entrySource: string): void {
    this.write(`plugins/${folder}/module.json`, {
      display_name: folder,
      description: `Fixture module ${folder}.`,
      type: 'job',
      version: '1.0.0',
      host_api: '^2.0.0',
      entry: './main.js',
      dependencies: { interfaces: ['logging'], modules: [] },
      args: [],
      ...manifest,
    });
    this.write(`plugins/${folder}/main.js`, entrySource);
  }

  /** An adapter folder at `path` (relative to root) with platform-adapter.json and an entry. */
  adapter(path: string, manifest: Record<string, unknown>, entrySource: string): void {
    this.write(`${path}/platform-adapter.json`, {
      version: '1.0.0',
      description: 'Fixture adapter.',
      host_api: '^2.0.0',
      entry: './index.js',
      config: [],
      ...manifest,
    });
    this.write(`${path}/index.js`, entrySource);
  }

  /** Environment for running the CLI against this project with the repo's embedded adapters. */
  env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PLATFORM_ROOT: this.root,
      PLATFORM_PLUGIN_PATH: REPO_ADAPTERS,
      ...extra,
    };
    for (const key of Object.keys(env))
      if (key.startsWith('PLATFORM_') && !(key in extra) && key !== 'PLATFORM_ROOT' && key !== 'PLATFORM_PLUGIN_PATH')
        delete env[key];
    return env;
  }

  remove(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}

/** A plain-JS module entry (no imports): `export default { kind, interfaces, run }`. */
export function moduleEntry(interfaces: readonly string[], runBody: string): string {
  return `export default { kind: 'platform-host.module', interfaces: ${JSON.stringify(interfaces)}, async run(ctx) {\n${runBody}\n} };\n`;
}
