import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PlatformError } from '@platform-host/contracts';
import { parseEnvFile } from './env-file.js';

/** The merged environment and where its file-provided keys came from. */
export interface LoadedEnv {
  /** Real environment variables over `env/<env>.env` over `env/local.env`. */
  readonly values: Readonly<Record<string, string>>;
  /** The env files read, in the order applied. */
  readonly files: readonly string[];
}

function readIfPresent(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new PlatformError('PH_ERR_ENV_FILE_INVALID', `Cannot read env file ${path}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

/**
 * Environments that need no file of their own: `local` and `test` (development defaults, used when
 * a project has no env/ folder, e.g. a third-party module's tests) and `production` (reads no file).
 */
export const BUILT_IN_ENVS: readonly string[] = ['local', 'test', 'production'];

/** The environments a project defines: the names of its `env/<name>.env` files, sorted. */
export function knownEnvironments(projectRoot: string): string[] {
  let files: string[];
  try {
    files = readdirSync(join(projectRoot, 'env'));
  } catch {
    files = [];
  }
  const defined = files.filter((file) => file.endsWith('.env')).map((file) => file.slice(0, -'.env'.length));
  return [...new Set([...defined, ...BUILT_IN_ENVS])].sort();
}

/**
 * Loads the environment for `envName` (seed 7.1): `env/local.env` as the base, `env/<envName>.env`
 * over it, real environment variables over both. `production` reads no file: all config comes
 * from the real environment (Kubernetes ConfigMaps and Secrets).
 */
export function loadEnv(projectRoot: string, envName: string, processEnv: NodeJS.ProcessEnv = process.env): LoadedEnv {
  if (!/^[a-z][a-z0-9_-]*$/.test(envName)) {
    throw new PlatformError('PH_ERR_USAGE', `--env "${envName}" is not a valid environment name`, {
      hint: 'Use lowercase letters, digits, - and _, e.g. local, test, staging, production.',
    });
  }
  if (!BUILT_IN_ENVS.includes(envName) && readIfPresent(join(projectRoot, 'env', `${envName}.env`)) === undefined) {
    // A mistyped --env (prodution) must not silently run on the local defaults.
    throw new PlatformError(
      'PH_ERR_USAGE',
      `--env "${envName}" is not an environment of this project: there is no env/${envName}.env; known: ${knownEnvironments(projectRoot).join(', ')}`,
      { hint: `Create env/${envName}.env for a new environment, or fix the name.` },
    );
  }
  const merged: Record<string, string> = {};
  const files: string[] = [];
  if (envName !== 'production') {
    const names = envName === 'local' ? ['local'] : ['local', envName];
    for (const name of names) {
      const path = join(projectRoot, 'env', `${name}.env`);
      const text = readIfPresent(path);
      if (text === undefined) continue;
      for (const [key, value] of parseEnvFile(text, path)) merged[key] = value;
      files.push(path);
    }
  }
  for (const [key, value] of Object.entries(processEnv)) {
    if (value !== undefined) merged[key] = value;
  }
  return { values: merged, files };
}
