import { randomBytes } from 'node:crypto';
import { link, lstat, mkdir, open, readFile, readdir, realpath, rename, rm, stat, unlink } from 'node:fs/promises';
import type { BigIntStats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { fileExistsError, fileNotFoundError, pathSegments, invalidPathError } from '@platform-host/contracts';
import type { FileInfo, FileSystem, HealthCheckResult, ListFilesOptions } from '@platform-host/contracts';

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

/** Files per page of `listFiles` when the caller gives no page size. */
const DEFAULT_PAGE_SIZE = 1000;

/** A `listFiles` page size: a positive integer, else a `RangeError` (a bug in the caller). */
function checkPageSize(pageSize: number | undefined): number {
  const size = pageSize ?? DEFAULT_PAGE_SIZE;
  if (!Number.isSafeInteger(size) || size < 1) {
    throw new RangeError(`listFiles pageSize must be an integer of at least 1, got ${String(pageSize)}`);
  }
  return size;
}

/**
 * The etag of a file's current version: its size, modification time in nanoseconds and inode
 * number. Every write replaces the file by a new inode (a temporary file renamed or linked in while
 * the old one still exists), so consecutive versions always differ, and stamps it with a
 * modification time unique in the process ({@link writeStamp}), so a version written after a delete
 * differs too; an in-place change by another program changes the time. Hashing the content instead
 * would read every file on each listing.
 */
function etagOf(stats: BigIntStats): string {
  return `${stats.size.toString(16)}-${stats.mtimeNs.toString(16)}-${stats.ino.toString(16)}`;
}

let lastWriteStamp = 0;

/**
 * The modification time given to each written file, in seconds: the current time at microsecond
 * resolution, strictly increasing within this process. The kernel's own timestamps can be as coarse
 * as a clock tick, so two same-size versions written in one tick on a reused inode would otherwise
 * share an etag.
 */
function writeStamp(): number {
  const now = (performance.timeOrigin + performance.now()) / 1000;
  lastWriteStamp = Math.max(now, lastWriteStamp + 1e-6);
  return lastWriteStamp;
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

function infoOf(path: string, stats: BigIntStats): FileInfo {
  return { path, size: Number(stats.size), etag: etagOf(stats), lastModified: new Date(Number(stats.mtimeMs)) };
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
 * - **listFiles(prefix)** yields the files of `list(prefix)` in the same order, walking the tree
 *   lazily: a directory is read when the walk reaches it (its names sorted in memory, as the walk
 *   needs them in order), and files are stat'ed one page at a time, so memory holds the names of
 *   the directories on the current path plus one page of file info. `startAfter` skips whole
 *   directories that sort before it. A file removed between the walk and its stat is skipped.
 * - **etag** is `<size>-<mtime ns>-<inode>` in hex (see {@link etagOf}); `lastModified` is the mtime.
 * - **writeIfAbsent** fills a temporary file like `write`, then `link()`s it to the target, which
 *   the kernel refuses with `EEXIST` when the name is taken: of concurrent writers (in any process
 *   on this file system) exactly one wins, the others get `PH_ERR_FS_EXISTS`; the temporary name is
 *   removed either way. The file system must support hard links.
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

  async writeIfAbsent(path: string, data: Uint8Array | string): Promise<void> {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    await this.#writeAtomically(path, (handle) => writeAll(handle, bytes), 'create');
  }

  async stat(path: string): Promise<FileInfo> {
    const absolute = await this.#existingFile(path);
    try {
      return infoOf(path, await stat(absolute, { bigint: true }));
    } catch (error) {
      throw this.#readError(path, error);
    }
  }

  async *listFiles(prefix: string, options: ListFilesOptions = {}): AsyncIterable<FileInfo> {
    const pageSize = checkPageSize(options.pageSize);
    const start = await this.#listStart(prefix);
    if (start === undefined) return;
    const page: Array<readonly [string, string]> = [];
    for await (const file of this.#walkSorted(start.directory, start.relative, start.rootReal, options.startAfter)) {
      page.push(file);
      if (page.length === pageSize) yield* await this.#stat(page.splice(0));
    }
    if (page.length > 0) yield* await this.#stat(page);
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
    const start = await this.#listStart(prefix);
    if (start === undefined) return [];
    const files: string[] = [];
    await this.#walk(start.directory, start.relative, start.rootReal, files);
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

  /** Where a listing of `prefix` starts, or `undefined` when nothing is there to list. */
  async #listStart(
    prefix: string,
  ): Promise<{ readonly directory: string; readonly relative: string; readonly rootReal: string } | undefined> {
    const normalized = prefix.endsWith('/') && prefix.length > 1 ? prefix.slice(0, -1) : prefix;
    const segments = pathSegments(normalized, true);
    const rootReal = await this.#existingRootReal();
    if (rootReal === undefined) return undefined;
    const directory = join(this.#root, ...segments);
    let directoryReal: string;
    try {
      directoryReal = await realpath(directory);
    } catch (error) {
      if (errorCode(error) === 'ENOENT' || errorCode(error) === 'ENOTDIR') return undefined;
      throw error;
    }
    this.#checkInside(prefix, directoryReal, rootReal);
    if (!(await stat(directoryReal)).isDirectory()) return undefined;
    return { directory, relative: segments.join('/'), rootReal };
  }

  /** The info of each `[path, absolute]` of a page, stat'ed together; files gone meanwhile are left out. */
  async #stat(page: ReadonlyArray<readonly [string, string]>): Promise<FileInfo[]> {
    const infos = await Promise.all(
      page.map(async ([path, absolute]) => {
        try {
          const stats = await stat(absolute, { bigint: true });
          return stats.isFile() ? infoOf(path, stats) : undefined;
        } catch (error) {
          if (['ENOENT', 'ENOTDIR', 'ELOOP'].includes(errorCode(error) ?? '')) return undefined;
          throw error;
        }
      }),
    );
    return infos.filter((info): info is FileInfo => info !== undefined);
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

  #notFound(path: string): Error {
    return fileNotFoundError(path);
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

  /**
   * Fills a temporary file beside the target and moves it in: `replace` renames it over the target,
   * `create` links it to the target name (which fails when the name is taken) and removes it.
   */
  async #writeAtomically<T>(
    path: string,
    fill: (handle: FileHandle) => Promise<T>,
    mode: 'replace' | 'create' = 'replace',
  ): Promise<T> {
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
      const stamp = writeStamp();
      await handle.utimes(stamp, stamp);
      await handle.sync();
      await handle.close();
      handle = undefined;
      if (mode === 'replace') {
        try {
          await rename(temp, absolute);
        } catch (error) {
          if (['EISDIR', 'ENOTEMPTY', 'EEXIST'].includes(errorCode(error) ?? ''))
            throw invalidPathError(path, 'it is a directory');
          throw error;
        }
      } else {
        try {
          await link(temp, absolute);
        } catch (error) {
          if (errorCode(error) !== 'EEXIST') throw error;
          const taken = await lstat(absolute).catch(() => undefined);
          if (taken?.isDirectory() === true) throw invalidPathError(path, 'it is a directory');
          throw fileExistsError(path);
        }
        await unlink(temp);
      }
      await syncDirectory(directory);
      return result;
    } catch (error) {
      await handle?.close().catch(() => undefined);
      await rm(temp, { force: true }).catch(() => undefined);
      throw error;
    }
  }

  /**
   * The files under `directory` as `[path, absolute]`, in the order of {@link LocalFileSystem.list},
   * reading each directory only when the walk reaches it. Siblings are ordered by name, with `/`
   * after a directory's name: then a depth-first walk gives exactly the sorted order of the full
   * paths (`a-b.txt` before `a/x.txt`, as `-` sorts before `/`).
   */
  async *#walkSorted(
    directory: string,
    relative: string,
    rootReal: string,
    startAfter: string | undefined,
  ): AsyncGenerator<readonly [string, string]> {
    let entries;
    try {
      entries = await readdir(directory, { withFileTypes: true });
    } catch (error) {
      if (errorCode(error) === 'ENOENT' || errorCode(error) === 'ENOTDIR') return;
      throw error;
    }
    const keyed = entries
      .filter((entry) => !isTempName(entry.name))
      .map((entry) => {
        const path = relative === '' ? entry.name : `${relative}/${entry.name}`;
        return { entry, path, key: entry.isDirectory() ? `${path}/` : path };
      })
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    for (const { entry, path, key } of keyed) {
      const absolute = join(directory, entry.name);
      if (entry.isDirectory()) {
        // Every path below sorts after `key`: skip the directory when all of them are <= startAfter.
        if (startAfter !== undefined && key <= startAfter && !startAfter.startsWith(key)) continue;
        yield* this.#walkSorted(absolute, path, rootReal, startAfter);
      } else if (startAfter !== undefined && path <= startAfter) {
        continue;
      } else if (entry.isFile() || (entry.isSymbolicLink() && (await this.#isFileLinkInside(absolute, rootReal)))) {
        yield [path, absolute];
      }
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
