import { randomBytes } from 'node:crypto';
import { lstat, mkdir, open, readFile, readdir, realpath, rename, rm, stat, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { PlatformError, pathSegments, invalidPathError } from '@platform-host/contracts';
import type { FileSystem, HealthCheckResult } from '@platform-host/contracts';

/** Options of {@link LocalFileSystem}. */
export interface LocalFileSystemOptions {
  /** Directory every path is relative to; created when missing. */
  readonly root: string;
}

/** Suffix of the temporary files of in-progress writes; such names are never listed nor writable. */
const TEMP_SUFFIX = '.ph-tmp';
/** Room left for the temporary file's prefix and suffix within the usual 255-byte name limit. */
const TEMP_NAME_BASE_MAX = 200;

function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function isTempName(name: string): boolean {
  return name.startsWith('.') && name.endsWith(TEMP_SUFFIX);
}

async function writeAll(handle: FileHandle, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.byteLength) {
    const { bytesWritten } = await handle.write(bytes, offset, bytes.byteLength - offset);
    offset += bytesWritten;
  }
}

/** fsync of a directory, so a rename in it survives a crash. Some file systems cannot; that is not an error. */
async function syncDirectory(directory: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(directory, 'r');
    await handle.sync();
  } catch (error) {
    if (!['EINVAL', 'ENOTSUP', 'EPERM', 'EISDIR', 'EBADF'].includes(errorCode(error) ?? '')) throw error;
  } finally {
    await handle?.close();
  }
}

/**
 * The `--fs local` {@link FileSystem}: files on local disk under one root directory.
 *
 * - **Paths** are relative with `/` separators. Absolute paths, `.`/`..`/empty segments, backslashes
 *   and NUL are refused with `PH_ERR_FS_PATH_INVALID`, and so is any path that a symbolic link makes
 *   resolve outside the root (checked with `realpath` of the file for reads, of the nearest existing
 *   ancestor for writes). The check and the operation are not atomic: the root is meant to be a
 *   directory that only this platform writes to.
 * - **Writes** are atomic: the content goes to a temporary file `.<name>.<random>.ph-tmp` in the
 *   target's directory, is fsynced, renamed over the target, then the directory is fsynced. Readers
 *   see the old or the new content, never a partial file, and a failed write leaves the old content
 *   and no temporary file. Names ending in `.ph-tmp` and starting with `.` are reserved for that.
 * - **list(prefix)** walks the prefix directory recursively and returns file paths relative to the
 *   root, sorted by code unit; temporary files are left out. Symbolic links to files inside the root
 *   are listed; links to directories are not followed.
 * - Directories exist only as parents of files: `exists`, `read` and `delete` treat a directory
 *   path as a missing file, and empty directories are left in place after a delete.
 */
export class LocalFileSystem implements FileSystem {
  readonly #root: string;
  #rootReal: string | undefined;

  constructor(options: LocalFileSystemOptions) {
    if (typeof options.root !== 'string' || options.root === '')
      throw new RangeError('LocalFileSystem root must be a non-empty directory path');
    this.#root = resolve(options.root);
  }

  /** The absolute root directory. */
  get root(): string {
    return this.#root;
  }

  async read(path: string): Promise<Uint8Array> {
    const absolute = await this.#existingFile(path);
    try {
      const bytes = await readFile(absolute);
      return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    } catch (error) {
      throw this.#readError(path, error);
    }
  }

  async write(path: string, data: Uint8Array | string): Promise<void> {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    await this.#writeAtomically(path, (handle) => writeAll(handle, bytes));
  }

  async readStream(path: string): Promise<Readable> {
    const absolute = await this.#existingFile(path);
    let handle: FileHandle;
    try {
      handle = await open(absolute, 'r');
    } catch (error) {
      throw this.#readError(path, error);
    }
    return handle.createReadStream();
  }

  async writeStream(path: string, source: AsyncIterable<Uint8Array>): Promise<number> {
    return this.#writeAtomically(path, async (handle) => {
      let total = 0;
      for await (const chunk of source) {
        const bytes: Uint8Array = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
        await writeAll(handle, bytes);
        total += bytes.byteLength;
      }
      return total;
    });
  }

  async list(prefix: string): Promise<string[]> {
    const normalized = prefix.endsWith('/') && prefix.length > 1 ? prefix.slice(0, -1) : prefix;
    const segments = pathSegments(normalized, true);
    const rootReal = await this.#existingRootReal();
    if (rootReal === undefined) return [];
    const directory = join(this.#root, ...segments);
    let directoryReal: string;
    try {
      directoryReal = await realpath(directory);
    } catch (error) {
      if (errorCode(error) === 'ENOENT' || errorCode(error) === 'ENOTDIR') return [];
      throw error;
    }
    this.#checkInside(prefix, directoryReal, rootReal);
    if (!(await stat(directoryReal)).isDirectory()) return [];
    const files: string[] = [];
    await this.#walk(directory, segments.join('/'), rootReal, files);
    return files.sort();
  }

  async delete(path: string): Promise<boolean> {
    const absolute = await this.#fileIfPresent(path);
    if (absolute === undefined) return false;
    try {
      await unlink(absolute);
      return true;
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return false;
      throw error;
    }
  }

  async exists(path: string): Promise<boolean> {
    return (await this.#fileIfPresent(path)) !== undefined;
  }

  async getSignedUrl(path: string, _expirySeconds = 3600): Promise<string> {
    const segments = pathSegments(path, false);
    const rootReal = await this.#existingRootReal();
    const absolute = join(this.#root, ...segments);
    if (rootReal !== undefined) {
      const real = await this.#realpathOfNearestExisting(absolute);
      this.#checkInside(path, real, rootReal);
    }
    return pathToFileURL(absolute).href;
  }

  async healthCheck(): Promise<HealthCheckResult> {
    const probe = join(this.#root, `.health-${randomBytes(6).toString('hex')}${TEMP_SUFFIX}`);
    try {
      await mkdir(this.#root, { recursive: true });
      const handle = await open(probe, 'wx');
      await handle.close();
      await unlink(probe);
      return { ok: true };
    } catch (error) {
      await rm(probe, { force: true }).catch(() => undefined);
      const reason = error instanceof Error ? error.message : String(error);
      return { ok: false, detail: `root directory ${this.#root} is not writable: ${reason}` };
    }
  }

  /** realpath of the root, or `undefined` while the root does not exist. */
  async #existingRootReal(): Promise<string | undefined> {
    if (this.#rootReal !== undefined) return this.#rootReal;
    try {
      this.#rootReal = await realpath(this.#root);
      return this.#rootReal;
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return undefined;
      throw error;
    }
  }

  #checkInside(path: string, real: string, rootReal: string): void {
    const base = rootReal.endsWith(sep) ? rootReal : rootReal + sep;
    if (real !== rootReal && !real.startsWith(base)) {
      throw invalidPathError(path, `a symbolic link makes it resolve to ${real}, outside the root ${rootReal}`);
    }
  }

  /** The absolute path of an existing regular file (symbolic links resolved and checked), else `undefined`. */
  async #fileIfPresent(path: string): Promise<string | undefined> {
    const segments = pathSegments(path, false);
    const rootReal = await this.#existingRootReal();
    if (rootReal === undefined) return undefined;
    const absolute = join(this.#root, ...segments);
    let real: string;
    try {
      real = await realpath(absolute);
    } catch (error) {
      if (errorCode(error) === 'ENOENT' || errorCode(error) === 'ENOTDIR' || errorCode(error) === 'ELOOP')
        return undefined;
      throw error;
    }
    this.#checkInside(path, real, rootReal);
    const stats = await stat(real).catch((error: unknown) => {
      if (errorCode(error) === 'ENOENT') return undefined;
      throw error;
    });
    return stats?.isFile() === true ? absolute : undefined;
  }

  async #existingFile(path: string): Promise<string> {
    const absolute = await this.#fileIfPresent(path);
    if (absolute === undefined) throw this.#notFound(path);
    return absolute;
  }

  #notFound(path: string): PlatformError {
    return new PlatformError('PH_ERR_FS_NOT_FOUND', `File ${JSON.stringify(path)} does not exist under ${this.#root}`);
  }

  #readError(path: string, error: unknown): unknown {
    return ['ENOENT', 'EISDIR', 'ENOTDIR'].includes(errorCode(error) ?? '') ? this.#notFound(path) : error;
  }

  /** realpath of `absolute` or of its nearest existing ancestor. */
  async #realpathOfNearestExisting(absolute: string): Promise<string> {
    let candidate = absolute;
    for (;;) {
      try {
        return await realpath(candidate);
      } catch (error) {
        const code = errorCode(error);
        const parent = dirname(candidate);
        if ((code !== 'ENOENT' && code !== 'ENOTDIR') || parent === candidate) throw error;
        candidate = parent;
      }
    }
  }

  async #writeAtomically<T>(path: string, fill: (handle: FileHandle) => Promise<T>): Promise<T> {
    const segments = pathSegments(path, false);
    const name = segments[segments.length - 1] as string;
    if (isTempName(name))
      throw invalidPathError(
        path,
        `names starting with "." and ending in "${TEMP_SUFFIX}" are reserved for in-progress writes`,
      );
    await mkdir(this.#root, { recursive: true });
    const rootReal = await this.#existingRootReal();
    if (rootReal === undefined) throw this.#notFound(path);
    const absolute = join(this.#root, ...segments);
    this.#checkInside(path, await this.#realpathOfNearestExisting(absolute), rootReal);
    const directory = dirname(absolute);
    try {
      await mkdir(directory, { recursive: true });
    } catch (error) {
      if (errorCode(error) === 'ENOTDIR' || errorCode(error) === 'EEXIST')
        throw invalidPathError(path, 'one of its parent directories is a file');
      throw error;
    }
    const temp = join(
      directory,
      `.${name.slice(0, TEMP_NAME_BASE_MAX)}.${randomBytes(6).toString('hex')}${TEMP_SUFFIX}`,
    );
    let handle: FileHandle | undefined;
    try {
      handle = await open(temp, 'wx');
      const result = await fill(handle);
      await handle.sync();
      await handle.close();
      handle = undefined;
      try {
        await rename(temp, absolute);
      } catch (error) {
        if (['EISDIR', 'ENOTEMPTY', 'EEXIST'].includes(errorCode(error) ?? ''))
          throw invalidPathError(path, 'it is a directory');
        throw error;
      }
      await syncDirectory(directory);
      return result;
    } catch (error) {
      await handle?.close().catch(() => undefined);
      await rm(temp, { force: true }).catch(() => undefined);
      throw error;
    }
  }

  async #walk(directory: string, relative: string, rootReal: string, files: string[]): Promise<void> {
    let entries;
    try {
      entries = await readdir(directory, { withFileTypes: true });
    } catch (error) {
      // A directory removed while walking is simply no longer there.
      if (errorCode(error) === 'ENOENT' || errorCode(error) === 'ENOTDIR') return;
      throw error;
    }
    for (const entry of entries) {
      if (isTempName(entry.name)) continue;
      const path = relative === '' ? entry.name : `${relative}/${entry.name}`;
      const absolute = join(directory, entry.name);
      if (entry.isDirectory()) {
        await this.#walk(absolute, path, rootReal, files);
      } else if (entry.isFile()) {
        files.push(path);
      } else if (entry.isSymbolicLink() && (await this.#isFileLinkInside(absolute, rootReal))) {
        files.push(path);
      }
    }
  }

  async #isFileLinkInside(link: string, rootReal: string): Promise<boolean> {
    try {
      const real = await realpath(link);
      const base = rootReal.endsWith(sep) ? rootReal : rootReal + sep;
      return real.startsWith(base) && (await lstat(real)).isFile();
    } catch {
      return false;
    }
  }
}
