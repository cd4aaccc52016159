import type { Readable } from 'node:stream';
import { pipeline as pipeStreams, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { parse as parseCsv } from 'csv-parse/sync';
import { parquetReadObjects } from 'hyparquet';
import { PlatformError, type FileSystem } from '@platform-host/contracts';

/**
 * File names read: JSON Lines (`.gz` ones are gunzipped while streaming), parquet and CSV with a
 * header line (both turned into JSON Lines, one object per row, before parsing).
 */
const JSON_LINES_FILE = /\.(?:(?:jsonl|ndjson|json)(?:\.gz)?|parquet|csv)$/i;

/** True for a parquet file (by name). */
export function isParquetFile(path: string): boolean {
  return path.toLowerCase().endsWith('.parquet');
}

/** True for a CSV file (by name). */
export function isCsvFile(path: string): boolean {
  return path.toLowerCase().endsWith('.csv');
}

/** A parquet or CSV value as JSON: 64-bit integers as numbers (exact below 2^53) or strings, times as ISO 8601. */
function jsonValue(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
  return value;
}

/** Rows per chunk handed on as JSON Lines. */
const ROWS_PER_CHUNK = 1000;

/**
 * The rows of a parquet file (read whole with hyparquet, a pure JavaScript reader: a parquet footer
 * is at the end, so the file is not streamed) or of an RFC 4180 CSV file with a header (csv-parse),
 * as JSON Lines chunks. Timestamps become ISO 8601 text (Date.toJSON).
 */
async function* tableFileAsJsonLines(fs: FileSystem, path: string): AsyncGenerator<Uint8Array> {
  const bytes = await fs.read(path);
  let rows: ReadonlyArray<Record<string, unknown>>;
  try {
    if (isParquetFile(path)) {
      const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
      rows = await parquetReadObjects({ file: buffer });
    } else {
      rows = parseCsv<Record<string, string>>(Buffer.from(bytes), { columns: true, skip_empty_lines: true, bom: true });
    }
  } catch (error) {
    throw new UnreadableFileError(
      path,
      `not a readable ${isParquetFile(path) ? 'parquet' : 'CSV'} file: ${errorMessage(error)}`,
    );
  }
  for (let start = 0; start < rows.length; start += ROWS_PER_CHUNK) {
    const lines = rows
      .slice(start, start + ROWS_PER_CHUNK)
      .map((row) => `${JSON.stringify(row, jsonValue)}\n`)
      .join('');
    yield Buffer.from(lines, 'utf8');
  }
}

/** The first two bytes of every gzip member (RFC 1952, ID1 ID2). */
const GZIP_MAGIC = [0x1f, 0x8b] as const;

/** What a rejected file's rows became, for the hint of {@link UnreadableFileError}s. */
const NOT_LOADED_HINT =
  'No row of this file was loaded. Replace it with a complete copy (or remove it) and rerun; rows already loaded are not inserted again.';

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

/** What {@link verifyGzipFile} read. */
export interface GzipCheck {
  readonly compressedBytes: number;
  readonly decompressedBytes: number;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function zlibCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('Z_') ? code : undefined;
}

/** Why the gzip data of a file was refused, in words; `error` is zlib's (classified by its code). */
function gzipFailure(error: unknown, head: readonly number[], compressedBytes: number): string {
  if (compressedBytes === 0)
    return 'empty file: no gzip data (a .gz file has at least a 20-byte gzip header and trailer)';
  if (head[0] !== GZIP_MAGIC[0] || (head.length > 1 && head[1] !== GZIP_MAGIC[1]))
    return 'not gzip data (it does not start with the gzip signature 1f 8b): if it is plain JSON Lines, name it without .gz';
  const zlib = errorMessage(error);
  switch (zlibCode(error)) {
    case 'Z_BUF_ERROR':
      return `truncated gzip data: the file ends inside the compressed stream, before its CRC-32 and length (zlib: ${zlib})`;
    case 'Z_DATA_ERROR':
      return `corrupt gzip data: a CRC-32 or length mismatch, damaged compressed data, or bytes after the end of the gzip data that are not gzip (zlib: ${zlib})`;
    default:
      return `cannot decompress it (zlib: ${zlib})`;
  }
}

/** A file of the partition cannot be read (its name and the cause are in the message). */
export class UnreadableFileError extends PlatformError {
  constructor(
    readonly file: string,
    readonly reason: string,
    options: { readonly cause?: unknown; readonly hint?: string } = {},
  ) {
    super('PH_ERR_FILE_UNREADABLE', `${file}: ${reason}`, {
      hint: options.hint ?? NOT_LOADED_HINT,
      cause: options.cause,
    });
    this.name = 'UnreadableFileError';
  }
}

/**
 * Checks the integrity of a gzip file before any of its rows is used: decompresses the whole file
 * in a streaming pass to nowhere (memory: a few stream buffers, whatever the size), so that zlib
 * verifies every member's CRC-32 and length (ISIZE). Several members (concatenated gzip files)
 * are accepted, as is padding that starts with a zero byte after the last one (zlib's gunzip in
 * Node stops there); anything else after the end of the gzip data is corruption.
 *
 * Throws {@link UnreadableFileError} naming the file and the cause (empty, not gzip, truncated,
 * corrupt); errors of the file system (a file that disappeared: `PH_ERR_FS_NOT_FOUND`, ...) and an
 * abort by `signal` propagate as they are.
 */
export async function verifyGzipFile(fs: FileSystem, path: string, signal?: AbortSignal): Promise<GzipCheck> {
  const raw: Readable = await fs.readStream(path);
  const head: number[] = [];
  let compressedBytes = 0;
  let decompressedBytes = 0;
  let sourceFailed = false;
  const counted = async function* (source: AsyncIterable<Buffer | string>): AsyncGenerator<Buffer> {
    try {
      for await (const chunk of source) {
        const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
        for (let index = 0; head.length < GZIP_MAGIC.length && index < bytes.length; index += 1)
          head.push(bytes[index] as number);
        compressedBytes += bytes.length;
        yield bytes;
      }
    } catch (error) {
      sourceFailed = true;
      throw error;
    }
  };
  const discard = new Writable({
    write(chunk: Buffer, _encoding, done) {
      decompressedBytes += chunk.length;
      done();
    },
  });
  try {
    await pipeline(raw, counted, createGunzip(), discard, signal === undefined ? {} : { signal });
  } catch (error) {
    if (sourceFailed || signal?.aborted === true || zlibCode(error) === undefined) throw error;
    throw new UnreadableFileError(path, gzipFailure(error, head, compressedBytes), {
      cause: error,
    });
  } finally {
    raw.destroy();
  }
  return { compressedBytes, decompressedBytes };
}

/** A failed verification: the error {@link verifyGzipFile} threw. */
export interface GzipCheckFailure {
  readonly error: unknown;
}

/**
 * Verifies the `.gz` files of a partition one file ahead of the reader: checking file i + 1
 * overlaps with parsing file i (zlib runs on libuv's thread pool, parsing on the parse worker), so
 * the verification pass costs wall time only for the first file. At most one verification runs
 * besides the file being read; {@link close} stops it.
 */
export class GzipVerifier {
  readonly #pending = new Map<string, Promise<GzipCheckFailure | undefined>>();
  readonly #stop = new AbortController();
  readonly #signal: AbortSignal;

  constructor(
    private readonly fs: FileSystem,
    signal: AbortSignal,
  ) {
    this.#signal = AbortSignal.any([signal, this.#stop.signal]);
  }

  /**
   * Verifies `file` (or waits for its verification, started earlier) and then starts verifying
   * `next`. Resolves with the failure, or undefined when `file` is intact or not gzip.
   */
  async check(file: string, next: string | undefined): Promise<GzipCheckFailure | undefined> {
    const outcome = await (this.#pending.get(file) ?? this.#start(file));
    this.#pending.delete(file);
    if (next !== undefined && isGzipFile(next) && !this.#pending.has(next)) this.#pending.set(next, this.#start(next));
    return outcome;
  }

  /** Stops a verification still running. */
  close(): void {
    this.#stop.abort();
    this.#pending.clear();
  }

  #start(file: string): Promise<GzipCheckFailure | undefined> {
    if (!isGzipFile(file)) return Promise.resolve(undefined);
    return verifyGzipFile(this.fs, file, this.#signal).then(
      () => undefined,
      (error: unknown) => ({ error }),
    );
  }
}

/**
 * Streams the bytes of one file, decompressing `.gz` files on the way. Errors of the file system
 * or of decompression reject the iteration; call {@link verifyGzipFile} first so that a `.gz`
 * file's bytes are used only once its integrity is known. Decompression failing after that means
 * the file changed in between: an {@link UnreadableFileError} that says so.
 */
export async function* readFileChunks(fs: FileSystem, path: string): AsyncGenerator<Uint8Array> {
  if (isParquetFile(path) || isCsvFile(path)) {
    yield* tableFileAsJsonLines(fs, path);
    return;
  }
  const raw: Readable = await fs.readStream(path);
  const bytes: AsyncIterable<Uint8Array | string> = isGzipFile(path)
    ? pipeStreams(raw, createGunzip(), () => undefined)
    : raw;
  try {
    for await (const chunk of bytes) yield typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
  } catch (error) {
    if (zlibCode(error) === undefined) throw error;
    throw new UnreadableFileError(
      path,
      `its gzip data failed while being read after it had been verified, so it changed during the run (zlib: ${errorMessage(error)})`,
      { cause: error, hint: 'Rerun once the file is complete.' },
    );
  } finally {
    raw.destroy();
  }
}
