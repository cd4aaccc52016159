import type { Readable } from 'node:stream';
import type { Connectable, HealthCheckable } from '../health.js';

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
