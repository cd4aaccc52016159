import { constants } from 'node:fs';
import { access, readFile, readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parse as parseDotenv } from 'dotenv';
import { PlatformError } from '@platform-host/contracts';
import type { Connectable, HealthCheckResult, Secrets } from '@platform-host/contracts';

/** An environment: variable names to values, as `process.env` or the host's merged env map. */
export type EnvironmentMap = Readonly<Record<string, string | undefined>>;

/** Options of {@link FileSecrets}. */
export interface FileSecretsOptions {
  /** `SECRETS_FILE_PATH`: a dotenv file or a directory with one file per key. Relative to the working directory. */
  readonly path: string;
  /** Where keys absent from the file are looked up (through the adapter entry: the host's merged environment). Default: none. */
  readonly env?: EnvironmentMap;
}

/**
 * Configuration and secrets from a file (seed 5.2.7, `--secrets file`), keys the file does not set
 * falling back to the environment map it is given (so plain config such as `FS_LOCAL_ROOT` can stay
 * in env files).
 *
 * `path` is either a dotenv file (read by the `dotenv` package's `parse`, its syntax exactly: `#`
 * comments, single, double or backtick quotes, multi-line quoted values; a line it cannot read is
 * skipped, so the key it meant is reported unset by `require`) or a directory in the style of a
 * Kubernetes secret volume: each file is one key (file name) and its value (content, one trailing
 * newline removed); names starting with a dot (`..data`) and subdirectories are ignored.
 *
 * The file is read once, by `connect()` or the first lookup, and cached. An empty value counts as
 * unset, in the file as in the environment. Errors name keys and files, never values. The host
 * registers secret values for redaction (keys declared secret, values modules read).
 */
export class FileSecrets implements Secrets, Connectable {
  /** The absolute path read. */
  readonly path: string;
  private readonly env: ReadonlyMap<string, string>;
  private loading: Promise<ReadonlyMap<string, string>> | undefined;

  constructor(options: FileSecretsOptions) {
    this.path = resolve(options.path);
    this.env = nonEmptyEntries(Object.entries(options.env ?? {}));
  }

  /** Reads the file or directory; an unreadable path fails here, at startup. */
  async connect(): Promise<void> {
    await this.values();
  }

  /** Nothing to release. */
  async disconnect(): Promise<void> {}

  async get(key: string): Promise<string | undefined> {
    return (await this.values()).get(key) ?? this.env.get(key);
  }

  async getOrDefault(key: string, fallback: string): Promise<string> {
    return (await this.get(key)) ?? fallback;
  }

  async require(key: string): Promise<string> {
    const value = await this.get(key);
    if (value === undefined) {
      throw new PlatformError('PH_ERR_CONFIG_MISSING', `Required configuration key ${key} is not set`, {
        hint: `Add ${key} to ${this.path} (SECRETS_FILE_PATH), or set it as an environment variable or in env/<env>.env.`,
      });
    }
    return value;
  }

  /** Healthy while the file or directory can be read. Never throws. */
  async healthCheck(): Promise<HealthCheckResult> {
    try {
      const info = await stat(this.path);
      await access(this.path, info.isDirectory() ? constants.R_OK | constants.X_OK : constants.R_OK);
      return { ok: true };
    } catch (error) {
      return { ok: false, detail: `SECRETS_FILE_PATH "${this.path}" is not readable (${errorCode(error)})` };
    }
  }

  private values(): Promise<ReadonlyMap<string, string>> {
    if (this.loading !== undefined) return this.loading;
    const loading = this.load();
    this.loading = loading;
    // A failed read is not cached: a later call tries again (the volume may be mounted by then).
    loading.catch(() => {
      if (this.loading === loading) this.loading = undefined;
    });
    return loading;
  }

  private async load(): Promise<ReadonlyMap<string, string>> {
    const invalid = (problem: string, cause?: unknown): PlatformError =>
      new PlatformError('PH_ERR_CONFIG_INVALID', `SECRETS_FILE_PATH "${this.path}" ${problem}`, {
        hint: 'Point SECRETS_FILE_PATH at a dotenv file or at a directory with one file per key, readable by this process.',
        cause,
      });
    let isFile: boolean;
    let names: string[] | undefined;
    try {
      const info = await stat(this.path);
      isFile = info.isFile();
      if (info.isDirectory()) names = await readdir(this.path);
    } catch (error) {
      throw invalid(`cannot be read (${errorCode(error)})`, error);
    }
    if (names === undefined && !isFile) throw invalid('is neither a file nor a directory');
    if (names === undefined) return nonEmptyEntries(Object.entries(parseDotenv((await this.read(this.path)) ?? '')));

    const entries = await Promise.all(
      names
        .filter((name) => !name.startsWith('.'))
        .map(async (name): Promise<[string, string] | undefined> => {
          const content = await this.read(join(this.path, name));
          return content === undefined ? undefined : [name, content.replace(/\r?\n$/, '')];
        }),
    );
    return nonEmptyEntries(entries.filter((entry) => entry !== undefined));
  }

  /** The content of `file`, or `undefined` when it is not a regular file (a subdirectory). */
  private async read(file: string): Promise<string | undefined> {
    try {
      // stat follows the symlinks a Kubernetes volume uses (KEY -> ..data/KEY).
      if (!(await stat(file)).isFile()) return undefined;
      return await readFile(file, 'utf8');
    } catch (error) {
      throw new PlatformError('PH_ERR_CONFIG_INVALID', `Secrets file "${file}" cannot be read (${errorCode(error)})`, {
        hint: 'Check that the file under SECRETS_FILE_PATH exists and is readable by this process.',
        cause: error,
      });
    }
  }
}

function nonEmptyEntries(entries: Iterable<readonly [string, string | undefined]>): Map<string, string> {
  const out = new Map<string, string>();
  for (const [key, value] of entries) if (typeof value === 'string' && value !== '') out.set(key, value);
  return out;
}

function errorCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : String(error);
}
