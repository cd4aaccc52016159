import { randomBytes } from 'node:crypto';
import { link, lstat, mkdir, open, readdir, realpath, rename, rm, unlink } from 'node:fs/promises';
import type { BigIntStats, Dirent } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import {
  fileExistsError,
  fileNotFoundError,
  invalidPathError,
  isPlatformError,
  isReservedName,
  pathSegments,
  RESERVED_NAME_SUFFIX,
  writablePathSegments,
} from '@platform-host/contracts';
import type { FileInfo, FileSystem, HealthCheckResult, ListFilesOptions } from '@platform-host/contracts';
import { DIRECTORY_FLAGS, NO_FOLLOW, READ_FLAGS, anchorOf, isInside, openedFile } from './opened-path.js';

/** Options of {@link LocalFileSystem}. */
export interface LocalFileSystemOptions {
  /** Directory every path is relative to; created when missing. */
  readonly root: string;
  /**
   * Read regular files that have names outside their own directory (hard links), which may be
   * names of a file outside the root (default `false`: refused with `PH_ERR_FS_PATH_INVALID`).
   */
  readonly allowHardLinks?: boolean;
}

/** A regular file opened for reading, verified to be inside the root. */
interface OpenedFile {
  readonly handle: FileHandle;
  readonly stats: BigIntStats;
  /** Its real path, as the kernel resolved the open. */
  readonly real: string;
}

/** A directory opened and verified to be inside the root. */
interface OpenedDirectory {
  readonly handle: FileHandle;
  readonly real: string;
  /** The path to name entries of exactly this directory by (see {@link anchorOf}). */
  readonly anchor: string;
}

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

async function writeAll(handle: FileHandle, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.byteLength) {
    const { bytesWritten } = await handle.write(bytes, offset, bytes.byteLength - offset);
    offset += bytesWritten;
  }
}

/** fsync of a directory, so a rename in it survives a crash. Some file systems cannot; that is not an error. */
async function syncDirectory(handle: FileHandle): Promise<void> {
  try {
    await handle.sync();
  } catch (error) {
    if (!['EINVAL', 'ENOTSUP', 'EPERM', 'EISDIR', 'EBADF'].includes(errorCode(error) ?? '')) throw error;
  }
}

function outsideError(path: string, real: string, rootReal: string): Error {
  return invalidPathError(path, `a symbolic link makes it resolve to ${real}, outside the root ${rootReal}`);
}

/**
 * True when every one of the `stats.nlink` names of the file at `real` is an entry of its own
 * directory (as while `writeIfAbsent` links its temporary file in): then no name of it is outside
 * the root. Other names cannot be found without searching the whole file system.
 */
async function allNamesInDirectory(real: string, stats: BigIntStats): Promise<boolean> {
  const directory = dirname(real);
  let found = 0n;
  for (const name of await readdir(directory).catch(() => [] as string[])) {
    const entry = await lstat(join(directory, name), { bigint: true }).catch(() => undefined);
    if (entry !== undefined && entry.dev === stats.dev && entry.ino === stats.ino) found += 1n;
  }
  return found >= stats.nlink;
}

function infoOf(path: string, stats: BigIntStats): FileInfo {
  return { path, size: Number(stats.size), etag: etagOf(stats), lastModified: new Date(Number(stats.mtimeMs)) };
}

/**
 * The `--fs local` {@link FileSystem}: files on local disk under one root directory.
 *
 * - **Paths** are relative with `/` separators. Absolute paths, `.`/`..`/empty segments, backslashes
 *   and NUL are refused with `PH_ERR_FS_PATH_INVALID`.
 * - **Everything stays inside the root, also while names change.** Each operation verifies what it
 *   actually opened, not the name it was given: a file is opened first, then the real path of the
 *   open descriptor (see {@link openedFile}) must lie inside the root's real path, or the
 *   call fails with `PH_ERR_FS_PATH_INVALID` and nothing of the file is returned. That covers every
 *   component, so a symbolic link anywhere on the path — final or intermediate, there before the
 *   call or swapped in during it — is followed only when it leads back inside the root. Writes and
 *   deletes walk the parent directories one open at a time, each verified, and create, rename,
 *   link and remove names only inside the verified directory descriptor ({@link anchorOf}).
 * - **Hard links** cannot be told apart from the file they link to, so a regular file with more
 *   than one name is read only when all its names are in its own directory (that is how
 *   `writeIfAbsent` briefly leaves a file); otherwise `read`, `readStream`, `stat` and `exists`
 *   refuse it, unless `allowHardLinks`.
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
  readonly #allowHardLinks: boolean;
  #rootReal: string | undefined;

  constructor(options: LocalFileSystemOptions) {
    if (typeof options.root !== 'string' || options.root === '')
      throw new RangeError('LocalFileSystem root must be a non-empty directory path');
    this.#root = resolve(options.root);
    this.#allowHardLinks = options.allowHardLinks ?? false;
  }

  /** The absolute root directory. */
  get root(): string {
    return this.#root;
  }

  async read(path: string): Promise<Uint8Array> {
    const { handle } = await this.#openFile(path);
    try {
      const bytes = await handle.readFile();
      return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    } finally {
      await handle.close();
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
    const { handle, stats } = await this.#openFile(path);
    await handle.close();
    return infoOf(path, stats);
  }

  async *listFiles(prefix: string, options: ListFilesOptions = {}): AsyncIterable<FileInfo> {
    const pageSize = checkPageSize(options.pageSize);
    const start = await this.#listStart(prefix);
    if (start === undefined) return;
    const page: Array<readonly [string, string]> = [];
    for await (const file of this.#walkSorted(start.directory, start.relative, start.rootReal, options.startAfter)) {
      page.push(file);
      if (page.length === pageSize) yield* await this.#stat(page.splice(0), start.rootReal);
    }
    if (page.length > 0) yield* await this.#stat(page, start.rootReal);
  }

  async readStream(path: string): Promise<Readable> {
    const { handle } = await this.#openFile(path);
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

  /**
   * Removes the name `path` from its verified directory (a link itself, never its target). A link
   * whose target leaves the root is refused, as in `read`; a hard link is removed (its other names
   * keep the content).
   */
  async delete(path: string): Promise<boolean> {
    const segments = pathSegments(path, false);
    if ((await this.#existingRootReal()) === undefined) return false;
    const directory = await this.#openDirectory(path, segments.slice(0, -1), false);
    if (directory === undefined) return false;
    try {
      const entry = join(directory.anchor, segments[segments.length - 1] as string);
      const file = await this.#openVerified(path, entry, false).catch((error: unknown) => {
        if (isPlatformError(error) && error.code === 'PH_ERR_FS_NOT_FOUND') return undefined;
        throw error;
      });
      if (file === undefined) return false;
      await file.handle.close();
      try {
        await unlink(entry);
        return true;
      } catch (error) {
        if (errorCode(error) === 'ENOENT') return false;
        throw error;
      }
    } finally {
      await directory.handle.close();
    }
  }

  async exists(path: string): Promise<boolean> {
    try {
      const { handle } = await this.#openFile(path);
      await handle.close();
      return true;
    } catch (error) {
      if (isPlatformError(error) && error.code === 'PH_ERR_FS_NOT_FOUND') return false;
      throw error;
    }
  }

  async getSignedUrl(path: string, _expirySeconds = 3600): Promise<string> {
    const segments = pathSegments(path, false);
    const rootReal = await this.#existingRootReal();
    const absolute = join(this.#root, ...segments);
    if (rootReal !== undefined) {
      const real = await this.#realpathOfNearestExisting(absolute);
      if (!isInside(real, rootReal)) throw outsideError(path, real, rootReal);
    }
    return pathToFileURL(absolute).href;
  }

  async healthCheck(): Promise<HealthCheckResult> {
    const probe = join(this.#root, `.health-${randomBytes(6).toString('hex')}${RESERVED_NAME_SUFFIX}`);
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

  /** The regular file at `path`, opened for reading and verified to be inside the root. */
  async #openFile(path: string): Promise<OpenedFile> {
    const segments = pathSegments(path, false);
    if ((await this.#existingRootReal()) === undefined) throw fileNotFoundError(path);
    return this.#openVerified(path, join(this.#root, ...segments), !this.#allowHardLinks);
  }

  /**
   * Opens `name` (symbolic links followed) and verifies what was opened: its real path inside the
   * root, else `PH_ERR_FS_PATH_INVALID`; a regular file, else `PH_ERR_FS_NOT_FOUND`; and, when
   * `checkHardLinks`, no names outside its own directory. The caller closes the handle.
   */
  async #openVerified(path: string, name: string, checkHardLinks: boolean): Promise<OpenedFile> {
    const rootReal = this.#rootReal as string;
    let handle: FileHandle;
    try {
      handle = await open(name, READ_FLAGS);
    } catch (error) {
      // ENXIO: a socket (or a FIFO without a writer, opened for writing): not a regular file.
      if (['ENOENT', 'ENOTDIR', 'ELOOP', 'EISDIR', 'ENXIO'].includes(errorCode(error) ?? ''))
        throw fileNotFoundError(path, error);
      throw error;
    }
    try {
      const { stats, real } = await openedFile(handle, name);
      if (real === undefined)
        throw invalidPathError(path, 'the file it names was replaced while it was being opened; nothing was read');
      if (!isInside(real, rootReal)) throw outsideError(path, real, rootReal);
      if (!stats.isFile()) throw fileNotFoundError(path);
      if (checkHardLinks && stats.nlink > 1n && !(await allNamesInDirectory(real, stats))) {
        throw invalidPathError(
          path,
          `it is a hard link: the file has ${stats.nlink} names and not all of them are in its directory, so ` +
            'its other names may lie outside the root (set FS_LOCAL_ALLOW_HARD_LINKS=true to read hard links)',
        );
      }
      return { handle, stats, real };
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  /**
   * The directory `segments` below the root, opened and verified one component at a time (each
   * opened inside the verified one before it), created when `create`; `undefined` when it is
   * missing (or a file) and not `create`. The caller closes the handle.
   */
  async #openDirectory(
    path: string,
    segments: readonly string[],
    create: boolean,
  ): Promise<OpenedDirectory | undefined> {
    const rootReal = this.#rootReal as string;
    let current = await this.#verifiedDirectory(path, this.#root, rootReal);
    let handedOver = false;
    try {
      for (const segment of segments) {
        const name = join(current.anchor, segment);
        let next: OpenedDirectory;
        try {
          next = await this.#verifiedDirectory(path, name, rootReal);
        } catch (error) {
          const code = errorCode(error);
          if (code === 'ENOTDIR') {
            if (!create) return undefined;
            throw invalidPathError(path, 'one of its parent directories is a file');
          }
          if (code !== 'ENOENT') throw error;
          if (!create) return undefined;
          // mkdir never follows a link at the new name; a name taken meanwhile is opened and verified.
          await mkdir(name).catch((mkdirError: unknown) => {
            if (errorCode(mkdirError) !== 'EEXIST') throw mkdirError;
          });
          try {
            next = await this.#verifiedDirectory(path, name, rootReal);
          } catch (reopenError) {
            if (errorCode(reopenError) === 'ENOTDIR')
              throw invalidPathError(path, 'one of its parent directories is a file');
            throw reopenError;
          }
        }
        await current.handle.close();
        current = next;
      }
      handedOver = true;
      return current;
    } finally {
      if (!handedOver) await current.handle.close();
    }
  }

  /**
   * Opens the directory `name` (a link at its last component followed unless `followLink` is
   * false, which makes that an `ELOOP`) and verifies that its real path is inside the root.
   */
  async #verifiedDirectory(path: string, name: string, rootReal: string, followLink = true): Promise<OpenedDirectory> {
    const handle = await open(name, DIRECTORY_FLAGS | (followLink ? 0 : NO_FOLLOW));
    try {
      const { stats, real } = await openedFile(handle, name);
      if (!stats.isDirectory()) throw Object.assign(new Error(`${name} is not a directory`), { code: 'ENOTDIR' });
      if (real === undefined)
        throw invalidPathError(path, 'one of its directories was replaced while it was being opened');
      if (!isInside(real, rootReal)) throw outsideError(path, real, rootReal);
      return { handle, real, anchor: anchorOf(handle, real) };
    } catch (error) {
      await handle.close();
      throw error;
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
    try {
      const opened = await this.#verifiedDirectory(prefix, directory, rootReal);
      await opened.handle.close();
    } catch (error) {
      if (['ENOENT', 'ENOTDIR', 'ELOOP'].includes(errorCode(error) ?? '')) return undefined;
      throw error;
    }
    return { directory, relative: segments.join('/'), rootReal };
  }

  /**
   * The entries of the directory `directory`, read through its verified descriptor; `undefined`
   * when it is gone, not a directory, a link and not `followLink`, or (swapped meanwhile) outside
   * the root: a listing leaves out what does not stay inside.
   */
  async #readDirectory(directory: string, rootReal: string, followLink: boolean): Promise<Dirent[] | undefined> {
    let opened: OpenedDirectory;
    try {
      opened = await this.#verifiedDirectory(directory, directory, rootReal, followLink);
    } catch (error) {
      if (['ENOENT', 'ENOTDIR', 'ELOOP'].includes(errorCode(error) ?? '')) return undefined;
      if (isPlatformError(error) && error.code === 'PH_ERR_FS_PATH_INVALID') return undefined;
      throw error;
    }
    try {
      return await readdir(opened.anchor, { withFileTypes: true });
    } catch (error) {
      if (errorCode(error) === 'ENOENT' || errorCode(error) === 'ENOTDIR') return undefined;
      throw error;
    } finally {
      await opened.handle.close();
    }
  }

  /**
   * The info of each `[path, absolute]` of a page, each file opened and verified as in `read`; files
   * gone meanwhile, and names that no longer lead to a regular file inside the root, are left out.
   */
  async #stat(page: ReadonlyArray<readonly [string, string]>, rootReal: string): Promise<FileInfo[]> {
    const infos = await Promise.all(
      page.map(async ([path, absolute]) => {
        const stats = await this.#insideFileStats(absolute, rootReal);
        return stats === undefined ? undefined : infoOf(path, stats);
      }),
    );
    return infos.filter((info): info is FileInfo => info !== undefined);
  }

  /** The stats of the regular file that `name` leads to when it is inside the root, else `undefined`. */
  async #insideFileStats(name: string, rootReal: string): Promise<BigIntStats | undefined> {
    let handle: FileHandle;
    try {
      handle = await open(name, READ_FLAGS);
    } catch (error) {
      if (['ENOENT', 'ENOTDIR', 'ELOOP', 'EISDIR', 'ENXIO'].includes(errorCode(error) ?? '')) return undefined;
      throw error;
    }
    try {
      const { stats, real } = await openedFile(handle, name);
      if (!stats.isFile()) return undefined;
      return real !== undefined && isInside(real, rootReal) ? stats : undefined;
    } finally {
      await handle.close();
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
   * `create` links it to the target name (which fails when the name is taken) and removes it. The
   * temporary file is created, renamed and linked only inside the verified parent directory.
   */
  async #writeAtomically<T>(
    path: string,
    fill: (handle: FileHandle) => Promise<T>,
    mode: 'replace' | 'create' = 'replace',
  ): Promise<T> {
    const segments = writablePathSegments(path);
    const name = segments[segments.length - 1] as string;
    await mkdir(this.#root, { recursive: true });
    if ((await this.#existingRootReal()) === undefined) throw fileNotFoundError(path);
    const directory = (await this.#openDirectory(path, segments.slice(0, -1), true)) as OpenedDirectory;
    const target = join(directory.anchor, name);
    const temp = join(
      directory.anchor,
      `.${name.slice(0, TEMP_NAME_BASE_MAX)}.${randomBytes(6).toString('hex')}${RESERVED_NAME_SUFFIX}`,
    );
    let handle: FileHandle | undefined;
    try {
      // 'wx' is O_CREAT | O_EXCL: a new file, never a link's target.
      handle = await open(temp, 'wx');
      const result = await fill(handle);
      const stamp = writeStamp();
      await handle.utimes(stamp, stamp);
      await handle.sync();
      await handle.close();
      handle = undefined;
      if (mode === 'replace') {
        try {
          await rename(temp, target);
        } catch (error) {
          if (['EISDIR', 'ENOTEMPTY', 'EEXIST'].includes(errorCode(error) ?? ''))
            throw invalidPathError(path, 'it is a directory');
          throw error;
        }
      } else {
        try {
          await link(temp, target);
        } catch (error) {
          if (errorCode(error) !== 'EEXIST') throw error;
          const taken = await lstat(target).catch(() => undefined);
          if (taken?.isDirectory() === true) throw invalidPathError(path, 'it is a directory');
          throw fileExistsError(path);
        }
        await unlink(temp);
      }
      await syncDirectory(directory.handle);
      return result;
    } catch (error) {
      await handle?.close().catch(() => undefined);
      await rm(temp, { force: true }).catch(() => undefined);
      throw error;
    } finally {
      await directory.handle.close();
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
    top = true,
  ): AsyncGenerator<readonly [string, string]> {
    const entries = await this.#readDirectory(directory, rootReal, top);
    if (entries === undefined) return;
    const keyed = entries
      .filter((entry) => !isReservedName(entry.name))
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
        yield* this.#walkSorted(absolute, path, rootReal, startAfter, false);
      } else if (startAfter !== undefined && path <= startAfter) {
        continue;
      } else if (
        entry.isFile() ||
        (entry.isSymbolicLink() && (await this.#insideFileStats(absolute, rootReal)) !== undefined)
      ) {
        yield [path, absolute];
      }
    }
  }

  async #walk(directory: string, relative: string, rootReal: string, files: string[], top = true): Promise<void> {
    // A directory removed while walking is simply no longer there.
    const entries = await this.#readDirectory(directory, rootReal, top);
    if (entries === undefined) return;
    for (const entry of entries) {
      if (isReservedName(entry.name)) continue;
      const path = relative === '' ? entry.name : `${relative}/${entry.name}`;
      const absolute = join(directory, entry.name);
      if (entry.isDirectory()) {
        await this.#walk(absolute, path, rootReal, files, false);
      } else if (entry.isFile()) {
        files.push(path);
      } else if (entry.isSymbolicLink() && (await this.#insideFileStats(absolute, rootReal)) !== undefined) {
        files.push(path);
      }
    }
  }
}
