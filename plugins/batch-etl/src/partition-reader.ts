import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { FileSystem } from '@platform-host/contracts';

/** File names read as JSON Lines; `.gz` ones are gunzipped while streaming. */
const JSON_LINES_FILE = /\.(?:jsonl|ndjson|json)(?:\.gz)?$/i;

/** The files of one partition, split into the ones read and the ones skipped. */
export interface PartitionFiles {
  /** JSON Lines files, sorted. */
  readonly dataFiles: string[];
  /** Other files (`_SUCCESS` markers, `.crc` checksums, ...), not read. */
  readonly skippedFiles: string[];
}

/**
 * The files of the partition folder `partitionPath`, recursively. `FileSystem.list` treats a
 * prefix as a folder, so a sibling such as `2026-01-15-backup/` is not part of it.
 */
export async function listPartitionFiles(fs: FileSystem, partitionPath: string): Promise<PartitionFiles> {
  const files = await fs.list(partitionPath);
  const dataFiles: string[] = [];
  const skippedFiles: string[] = [];
  for (const file of files) (JSON_LINES_FILE.test(file) ? dataFiles : skippedFiles).push(file);
  return { dataFiles, skippedFiles };
}

/** True for a gzip-compressed file (by name). */
export function isGzipFile(path: string): boolean {
  return path.toLowerCase().endsWith('.gz');
}

/**
 * Streams the bytes of one file, decompressing `.gz` files on the way. Errors of the file system
 * or of decompression (a truncated or corrupt archive) reject the iteration.
 */
export async function* readFileChunks(fs: FileSystem, path: string): AsyncGenerator<Uint8Array> {
  const raw: Readable = await fs.readStream(path);
  const bytes: AsyncIterable<Uint8Array | string> = isGzipFile(path)
    ? pipeline(raw, createGunzip(), () => undefined)
    : raw;
  try {
    for await (const chunk of bytes) yield typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
  } finally {
    raw.destroy();
  }
}
