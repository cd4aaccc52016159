import type { Readable } from 'node:stream';
import { PlatformError } from '../errors.js';
import type { Connectable, HealthCheckable } from '../health.js';

/** What a file system knows about one file. */
export interface FileInfo {
  /** The path relative to the root, as given to the other methods. */
  readonly path: string;
  /** Size in bytes. */
  readonly size: number;
  /**
   * An opaque version tag that changes whenever the content changes (the object's ETag on S3, a
   * content hash or size+mtime tag on local stores).
   */
  readonly etag: string;
  readonly lastModified: Date;
}

/** Options of {@link FileSystem.listFiles}. */
export interface ListFilesOptions {
  /** Files fetched per page from the backend (default 1000). */
  readonly pageSize?: number;
  /** Start after this path (exclusive), to resume a listing. */
  readonly startAfter?: string;
}

/**
 * Path-based object storage for data-lake patterns (seed 5.2.2). Paths are relative, use `/` as
 * separator and never start with `/` or contain `..` segments; implementations refuse such paths
 * with `PH_ERR_FS_PATH_INVALID`. Reading a missing path throws `PH_ERR_FS_NOT_FOUND`.
 */
export interface FileSystem extends HealthCheckable, Partial<Connectable> {
  /** Returns the whole content of a file. */
  read(path: string): Promise<Uint8Array>;
  /**
   * Writes a file, creating parent "directories" and replacing any existing content atomically:
   * readers see either the old or the new content, never a partial write.
   */
  write(path: string, data: Uint8Array | string): Promise<void>;
  /** Streams a file's content, for objects too large to hold in memory. */
  readStream(path: string): Promise<Readable>;
  /**
   * Writes a file from a stream of chunks, with the same atomicity as {@link FileSystem.write}.
   * Returns the number of bytes written.
   */
  writeStream(path: string, source: AsyncIterable<Uint8Array>): Promise<number>;
  /**
   * Lists every file under `prefix`, recursively, as paths relative to the root, sorted. A prefix
   * is a directory (`raw/events/2026-01-15` lists that folder, not `2026-01-15-backup`). Returns an
   * empty array when nothing is there. `''` lists everything.
   */
  list(prefix: string): Promise<string[]>;
  /**
   * Lists every file under `prefix` like {@link FileSystem.list}, in the same order, with size, etag
   * and last-modified, fetching page by page: memory stays bounded by the page size however many
   * files there are.
   */
  listFiles(prefix: string, options?: ListFilesOptions): AsyncIterable<FileInfo>;
  /** Size, etag and last-modified of one file; throws `PH_ERR_FS_NOT_FOUND` when it does not exist. */
  stat(path: string): Promise<FileInfo>;
  /**
   * Writes a file only when nothing exists at `path` (write-once files): concurrent callers race and
   * exactly one wins; the others, and any later caller, get `PH_ERR_FS_EXISTS`. The content appears
   * atomically, as with {@link FileSystem.write}.
   */
  writeIfAbsent(path: string, data: Uint8Array | string): Promise<void>;
  /** Deletes a file; true when it existed, false when it did not. Never throws for a missing file. */
  delete(path: string): Promise<boolean>;
  /** True when a file exists at `path`. */
  exists(path: string): Promise<boolean>;
  /**
   * A URL through which the file can be fetched without credentials for `expirySeconds`
   * (default 3600). Local stores return a `file://` or in-memory URL and ignore the expiry.
   */
  getSignedUrl(path: string, expirySeconds?: number): Promise<string>;
}

/** A `PH_ERR_FS_PATH_INVALID` error naming the path and why it is refused. */
export function invalidPathError(path: string, reason: string): PlatformError {
  return new PlatformError('PH_ERR_FS_PATH_INVALID', `Path ${JSON.stringify(path)} is not allowed: ${reason}`, {
    hint: 'Use a relative path with "/" separators and no "." or ".." segments, such as "raw/events/2026-01-15/data.json".',
  });
}

/** A `PH_ERR_FS_EXISTS` error for a write-once path that is taken. */
export function fileExistsError(path: string): PlatformError {
  return new PlatformError('PH_ERR_FS_EXISTS', `File ${JSON.stringify(path)} already exists`, {
    hint: 'Write-once files are never replaced; write to a new path or delete the old file first.',
  });
}

/** A `PH_ERR_FS_NOT_FOUND` error naming the path. */
export function fileNotFoundError(path: string, cause?: unknown): PlatformError {
  return new PlatformError('PH_ERR_FS_NOT_FOUND', `File ${JSON.stringify(path)} does not exist`, { cause });
}

/**
 * The segments of a file-system path under the rules every {@link FileSystem} adapter enforces:
 * relative, `/`-separated, no empty, `.` or `..` segments, no backslash or NUL. Throws
 * `PH_ERR_FS_PATH_INVALID` saying why a path is refused. `''` has no segments and is accepted only
 * when `allowEmpty` (a list prefix meaning "everything").
 */
export function pathSegments(path: string, allowEmpty = false): string[] {
  if (typeof path !== 'string') throw invalidPathError(String(path), 'it is not a string');
  if (path === '') {
    if (allowEmpty) return [];
    throw invalidPathError(path, 'it is empty');
  }
  if (path.includes('\0')) throw invalidPathError(path, 'it contains a NUL character');
  if (path.includes('\\')) throw invalidPathError(path, 'it contains a backslash (the separator is "/")');
  if (path.startsWith('/')) throw invalidPathError(path, 'it is absolute (paths are relative to the file system root)');
  const segments = path.split('/');
  for (const segment of segments) {
    if (segment === '..') throw invalidPathError(path, 'it has a ".." segment');
    if (segment === '.') throw invalidPathError(path, 'it has a "." segment');
    if (segment === '') throw invalidPathError(path, 'it has an empty segment ("//" or a trailing "/")');
  }
  return segments;
}

/**
 * Suffix of the names adapters reserve for their own bookkeeping (temporary files of in-progress
 * writes, write-once claims): a last segment that starts with `.` and ends with this suffix.
 */
export const RESERVED_NAME_SUFFIX = '.ph-tmp';

/**
 * True when `name` (one path segment) is reserved for an adapter's bookkeeping (see
 * {@link RESERVED_NAME_SUFFIX}): such files are never listed and cannot be written.
 */
export function isReservedName(name: string): boolean {
  return name.startsWith('.') && name.endsWith(RESERVED_NAME_SUFFIX);
}

/**
 * The segments of a path a file may be written at: {@link pathSegments} (never empty), and a last
 * segment that is not a reserved name ({@link isReservedName}). Throws `PH_ERR_FS_PATH_INVALID`
 * saying why.
 */
export function writablePathSegments(path: string): string[] {
  const segments = pathSegments(path, false);
  if (isReservedName(segments[segments.length - 1] as string)) {
    throw invalidPathError(
      path,
      `names starting with "." and ending in "${RESERVED_NAME_SUFFIX}" are reserved for in-progress writes`,
    );
  }
  return segments;
}
