import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { fileExistsError, fileNotFoundError, pathSegments, invalidPathError } from '@platform-host/contracts';
import type { FileInfo, FileSystem, HealthCheckResult, ListFilesOptions } from '@platform-host/contracts';

/** Options of {@link MemoryFileSystem}. */
export interface MemoryFileSystemOptions {
  /** Bound on the total bytes of all files; a write that would exceed it fails. 0 or absent: no bound. */
  readonly maxBytes?: number;
}

/** Size of the chunks `readStream` emits. */
const READ_CHUNK_BYTES = 64 * 1024;
/** Files per page of `listFiles` when the caller gives no page size. */
const DEFAULT_PAGE_SIZE = 1000;

/** One stored file. */
interface StoredFile {
  readonly bytes: Uint8Array;
  /** SHA-256 of the content (hex, first 32 digits): equal contents have equal etags, as on S3. */
  readonly etag: string;
  readonly lastModified: Date;
}

/** A `listFiles` page size: a positive integer, else a `RangeError` (a bug in the caller). */
function checkPageSize(pageSize: number | undefined): number {
  const size = pageSize ?? DEFAULT_PAGE_SIZE;
  if (!Number.isSafeInteger(size) || size < 1) {
    throw new RangeError(`listFiles pageSize must be an integer of at least 1, got ${String(pageSize)}`);
  }
  return size;
}

/** The parent directories of a path: `a/b/c` has `a` and `a/b`. */
function parentDirectories(segments: readonly string[]): string[] {
  const parents: string[] = [];
  for (let end = 1; end < segments.length; end += 1) parents.push(segments.slice(0, end).join('/'));
  return parents;
}

function toBytes(data: Uint8Array | string): Uint8Array {
  // Always a copy: a caller changing its array after the write must not change the stored file.
  return typeof data === 'string' ? new Uint8Array(Buffer.from(data, 'utf8')) : new Uint8Array(data);
}

/**
 * The `--fs memory` {@link FileSystem}: files in a map inside this process, gone when it exits. For
 * tests and local runs. It behaves like the local file system adapter:
 *
 * - **Paths** follow the same rules: relative, `/`-separated; absolute paths, `.`/`..`/empty
 *   segments, backslashes and NUL are refused with `PH_ERR_FS_PATH_INVALID`. Directories exist only
 *   as parents of files, and a path cannot be both a file and a directory: writing `a/b` when `a`
 *   is a file, or `a` when `a/b` exists, is refused with `PH_ERR_FS_PATH_INVALID`.
 * - **Copies in, copies out**: `write` stores a copy of the caller's bytes and `read` returns a copy,
 *   so neither side's later changes reach the other. Writes replace a file at once: a reader sees
 *   the old or the new content. `writeStream` collects the whole stream first, so a source that
 *   fails midway leaves the old content (or no file).
 * - **readStream** streams the content the file had when it was called, in 64 KiB chunks.
 * - **list(prefix)** returns every file under the directory `prefix`, recursively, sorted by code
 *   unit; `''` lists everything, a trailing `/` is allowed. **listFiles** yields the same files in
 *   the same order with size, etag and last-modified, page by page from a snapshot of the matching
 *   paths taken when the iteration starts (a file deleted meanwhile is skipped).
 * - **etag** is a SHA-256 prefix of the content (equal content, equal etag, as S3 does for simple
 *   uploads); **lastModified** is the time of the write.
 * - **writeIfAbsent** checks and stores in one synchronous step: of concurrent callers exactly one
 *   wins, the others get `PH_ERR_FS_EXISTS`.
 * - **getSignedUrl** returns `memory://<instance id>/<path>` (percent-encoded segments); it
 *   resolves through {@link MemoryFileSystem.resolveUrl} only. The expiry is ignored.
 * - **maxBytes** (`FS_MEMORY_MAX_BYTES`) bounds the total bytes held; a write that would exceed it
 *   throws a `RangeError` naming the path, the sizes and the key, and stores nothing.
 */
export class MemoryFileSystem implements FileSystem {
  readonly #files = new Map<string, StoredFile>();
  /** Directory path to the number of files below it (at any depth). */
  readonly #directories = new Map<string, number>();
  readonly #maxBytes: number;
  readonly #id = randomBytes(6).toString('hex');
  #totalBytes = 0;

  constructor(options: MemoryFileSystemOptions = {}) {
    const maxBytes = options.maxBytes ?? 0;
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 0)
      throw new RangeError(`MemoryFileSystem maxBytes must be an integer of at least 0, got ${maxBytes}`);
    this.#maxBytes = maxBytes;
  }

  /** Total bytes of all files. */
  get totalBytes(): number {
    return this.#totalBytes;
  }

  async read(path: string): Promise<Uint8Array> {
    return new Uint8Array(this.#existing(path).bytes);
  }

  async write(path: string, data: Uint8Array | string): Promise<void> {
    const segments = this.#writableSegments(path);
    this.#store(path, segments, toBytes(data));
  }

  async writeIfAbsent(path: string, data: Uint8Array | string): Promise<void> {
    const segments = this.#writableSegments(path);
    if (this.#files.has(path)) throw fileExistsError(path);
    this.#store(path, segments, toBytes(data));
  }

  async stat(path: string): Promise<FileInfo> {
    return this.#info(path, this.#existing(path));
  }

  async *listFiles(prefix: string, options: ListFilesOptions = {}): AsyncIterable<FileInfo> {
    const pageSize = checkPageSize(options.pageSize);
    const startAfter = options.startAfter;
    const paths = (await this.list(prefix)).filter((path) => startAfter === undefined || path > startAfter);
    for (let start = 0; start < paths.length; start += pageSize) {
      const page: FileInfo[] = [];
      for (const path of paths.slice(start, start + pageSize)) {
        const file = this.#files.get(path);
        if (file !== undefined) page.push(this.#info(path, file));
      }
      yield* page;
    }
  }

  async readStream(path: string): Promise<Readable> {
    const content = this.#existing(path).bytes;
    function* chunks(): Generator<Buffer> {
      for (let start = 0; start < content.byteLength; start += READ_CHUNK_BYTES) {
        yield Buffer.from(content.subarray(start, start + READ_CHUNK_BYTES));
      }
    }
    return Readable.from(chunks(), { objectMode: false });
  }

  async writeStream(path: string, source: AsyncIterable<Uint8Array>): Promise<number> {
    this.#writableSegments(path);
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const chunk of source) {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : Buffer.from(chunk);
      total += bytes.byteLength;
      // Stops reading as soon as the bound is certain to be exceeded, instead of holding it all.
      const projected = this.#totalBytes - (this.#files.get(path)?.bytes.byteLength ?? 0) + total;
      if (this.#maxBytes > 0 && projected > this.#maxBytes) throw this.#full(path, total, projected);
      chunks.push(bytes);
    }
    // Checked again: another write may have created a conflicting file or directory meanwhile.
    const segments = this.#writableSegments(path);
    this.#store(path, segments, new Uint8Array(Buffer.concat(chunks, total)));
    return total;
  }

  async list(prefix: string): Promise<string[]> {
    const normalized = prefix.endsWith('/') && prefix.length > 1 ? prefix.slice(0, -1) : prefix;
    const segments = pathSegments(normalized, true);
    const directory = segments.join('/');
    if (directory !== '' && !this.#directories.has(directory)) return [];
    const start = directory === '' ? '' : `${directory}/`;
    const found: string[] = [];
    for (const path of this.#files.keys()) if (path.startsWith(start)) found.push(path);
    return found.sort();
  }

  async delete(path: string): Promise<boolean> {
    const segments = pathSegments(path, false);
    const content = this.#files.get(path);
    if (content === undefined) return false;
    this.#files.delete(path);
    this.#totalBytes -= content.bytes.byteLength;
    for (const parent of parentDirectories(segments)) {
      const remaining = (this.#directories.get(parent) ?? 1) - 1;
      if (remaining === 0) this.#directories.delete(parent);
      else this.#directories.set(parent, remaining);
    }
    return true;
  }

  async exists(path: string): Promise<boolean> {
    pathSegments(path, false);
    return this.#files.has(path);
  }

  async getSignedUrl(path: string, _expirySeconds = 3600): Promise<string> {
    const segments = pathSegments(path, false);
    return `memory://${this.#id}/${segments.map(encodeURIComponent).join('/')}`;
  }

  /**
   * The path a URL from {@link MemoryFileSystem.getSignedUrl} of this instance points at, or
   * `undefined` for any other URL.
   */
  resolveUrl(url: string): string | undefined {
    const start = `memory://${this.#id}/`;
    if (!url.startsWith(start)) return undefined;
    try {
      return url.slice(start.length).split('/').map(decodeURIComponent).join('/');
    } catch {
      return undefined;
    }
  }

  async healthCheck(): Promise<HealthCheckResult> {
    return { ok: true };
  }

  #existing(path: string): StoredFile {
    pathSegments(path, false);
    const file = this.#files.get(path);
    if (file === undefined) throw fileNotFoundError(path);
    return file;
  }

  #info(path: string, file: StoredFile): FileInfo {
    return { path, size: file.bytes.byteLength, etag: file.etag, lastModified: new Date(file.lastModified) };
  }

  /** The segments of a path a file may be written at: valid, not a directory, no parent a file. */
  #writableSegments(path: string): string[] {
    const segments = pathSegments(path, false);
    if (this.#directories.has(path)) throw invalidPathError(path, 'it is a directory');
    for (const parent of parentDirectories(segments)) {
      if (this.#files.has(parent))
        throw invalidPathError(path, `one of its parent directories ("${parent}") is a file`);
    }
    return segments;
  }

  #store(path: string, segments: readonly string[], bytes: Uint8Array): void {
    const previous = this.#files.get(path);
    const total = this.#totalBytes - (previous?.bytes.byteLength ?? 0) + bytes.byteLength;
    if (this.#maxBytes > 0 && total > this.#maxBytes) throw this.#full(path, bytes.byteLength, total);
    const etag = createHash('sha256').update(bytes).digest('hex').slice(0, 32);
    this.#files.set(path, { bytes, etag, lastModified: new Date() });
    this.#totalBytes = total;
    if (previous === undefined) {
      for (const parent of parentDirectories(segments)) {
        this.#directories.set(parent, (this.#directories.get(parent) ?? 0) + 1);
      }
    }
  }

  #full(path: string, size: number, total: number): RangeError {
    return new RangeError(
      `Cannot write ${JSON.stringify(path)} (${size} bytes): the memory file system would hold ${total} bytes, ` +
        `more than FS_MEMORY_MAX_BYTES=${this.#maxBytes}. Raise FS_MEMORY_MAX_BYTES (0 for no bound) or delete files first.`,
    );
  }
}
