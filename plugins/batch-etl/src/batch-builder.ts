import { cleanLine } from './event-cleaning.js';
import type { SplitLine } from './line-splitter.js';
import type { InvalidReason } from './validator.js';

/**
 * Cleaned rows of one batch, sorted by dedup key, as the one text parameter the writer binds (see
 * WarehouseWriter): one line per row, `dedup_key TAB event_type TAB source TAB payload`, the event
 * type and source as JSON strings, the payload in canonical JSON. JSON text never holds a raw tab
 * or newline, so the fields split unambiguously. The text is ASCII (see {@link asciiJson}) and
 * travels as bytes: from the worker to the main thread without a copy, and there into a string
 * that can live outside the JavaScript heap (see {@link encodeBatchLines}).
 */
export interface EventBatch {
  readonly size: number;
  readonly linesAscii: Uint8Array;
  /** Where each row came from, in row order: `origins[2i]` indexes `files`, `origins[2i + 1]` is the line number. */
  readonly origins: Uint32Array;
  readonly files: readonly string[];
}

/**
 * Default bound on the encoded bytes of one batch (`--batch-bytes`): 16 MiB. A batch is cut when
 * the next row would take it past this, or at `--batch-size` rows, whichever comes first; a row
 * larger than the bound on its own makes a batch of one.
 */
export const DEFAULT_BATCH_BYTES = 16 * 1024 * 1024;

/** Characters beyond ASCII (UTF-16 code units, so surrogate pairs become two escapes, as JSON wants). */
const NON_ASCII = /[\u0080-\uffff]/g;

/**
 * Node keeps a string decoded from Latin-1 bytes outside the JavaScript heap when it has at least
 * this many characters (`EXTERN_APEX` in Node's src/string_bytes.cc, unchanged since Node 0.x).
 */
export const OFF_HEAP_STRING_LENGTH = 0xfbee9;
/** Batch texts from this length on are padded to {@link OFF_HEAP_STRING_LENGTH}: at most 2x the bytes. */
const PAD_FROM_LENGTH = 512 * 1024;

/** `json` with every character beyond ASCII written as a `\uXXXX` escape: the same JSON value. */
export function asciiJson(json: string): string {
  // UTF-8 takes more bytes than characters exactly when a character is beyond ASCII (a native count).
  return Buffer.byteLength(json, 'utf8') === json.length
    ? json
    : json.replace(NON_ASCII, (character) => `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** One row of a batch, before encoding. */
export interface BatchRow {
  readonly dedupKey: string;
  readonly eventType: string;
  readonly source: string;
  readonly payloadJson: string;
}

/**
 * The batch text (see {@link EventBatch}) in one buffer from `allocate`, written field by field
 * without building the text as a string. Once it reaches 512 kB it is padded at the end with
 * spaces (JSON whitespace, ignored) to {@link OFF_HEAP_STRING_LENGTH} bytes. Why: the main thread
 * turns these bytes into the statement parameter, a string that lives until the statement
 * completes. On the JavaScript heap, strings that survive collections make V8 grow the main
 * thread's young generation towards its 128 MB maximum; off the heap they do not (measured: peak
 * RSS 275 MB -> 230 MB on the 200,000-event benchmark).
 */
export function encodeBatchLines(
  rows: readonly BatchRow[],
  allocate: (length: number) => Uint8Array = (length) => new Uint8Array(length),
): Uint8Array {
  return encodeRows(rows.map(encodeRow), allocate);
}

/** A row's four fields as they go into the batch text, and the bytes they take with their separators. */
interface EncodedRow {
  readonly fields: readonly [string, string, string, string];
  /** Bytes of the fields plus three tabs (the newline between rows is counted by the batch). */
  readonly length: number;
}

function encodeRow(row: BatchRow): EncodedRow {
  const fields = [
    row.dedupKey,
    asciiJson(JSON.stringify(row.eventType)),
    asciiJson(JSON.stringify(row.source)),
    asciiJson(row.payloadJson),
  ] as const;
  return { fields, length: fields[0].length + fields[1].length + fields[2].length + fields[3].length + 3 };
}

function encodeRows(rows: readonly EncodedRow[], allocate: (length: number) => Uint8Array): Uint8Array {
  let textLength = Math.max(0, rows.length - 1);
  for (const row of rows) textLength += row.length;
  const length = textLength >= PAD_FROM_LENGTH ? Math.max(textLength, OFF_HEAP_STRING_LENGTH) : textLength;
  const memory = allocate(length);
  const bytes = Buffer.from(memory.buffer, memory.byteOffset, length);
  let offset = 0;
  rows.forEach((row, index) => {
    if (index > 0) bytes[offset++] = 0x0a;
    row.fields.forEach((field, fieldIndex) => {
      if (fieldIndex > 0) bytes[offset++] = 0x09;
      offset += bytes.write(field, offset, 'latin1');
    });
  });
  bytes.fill(0x20, offset);
  return new Uint8Array(memory.buffer, memory.byteOffset, length);
}

/** What the lines read so far contained. */
export interface LineCounts {
  /** Non-blank lines. */
  raw: number;
  valid: number;
  invalid: number;
  invalidByReason: Partial<Record<InvalidReason, number>>;
  /** Valid events whose dedup key a recent earlier event had (see {@link RecentKeys}). */
  duplicatesInMemory: number;
}

/** An invalid line worth a log entry (the first few of each reason). */
export interface InvalidLineNotice {
  readonly file: string;
  readonly line: number;
  readonly reason: InvalidReason;
  /** Set on the last one logged for that reason. */
  readonly note?: string;
}

export interface BatchBuilderOptions {
  /** The processing date, `YYYY-MM-DD`. */
  readonly eventDate: string;
  /** The run's start (what `created_at` will be); stamped on every row. */
  readonly createdAt: Date;
  /** Distinct rows per batch, at most. */
  readonly batchSize: number;
  /** Encoded bytes per batch, at most (a single larger row goes alone). Default {@link DEFAULT_BATCH_BYTES}. */
  readonly batchBytes?: number;
  /** Invalid lines reported one by one per reason before they are only counted. */
  readonly invalidLinesLogged: number;
  /** Distinct events remembered for deduplication in memory. Default {@link RECENT_KEYS}; at least the batch size. */
  readonly recentKeys?: number;
  readonly onBatch: (batch: EventBatch) => void;
  readonly onInvalidLine: (notice: InvalidLineNotice) => void;
  /** Memory for a batch's payload bytes, at least `length` bytes (default: a new buffer). */
  readonly allocateBytes?: (length: number) => Uint8Array;
}

/** Distinct events remembered for deduplication in memory, at least (and at most twice that). */
export const RECENT_KEYS = 50_000;

/**
 * The dedup keys of the last `capacity` to `2 × capacity` distinct events, in two generations:
 * when the current one is full it becomes the previous one and the oldest is dropped. Bounded
 * memory (about 10 MB at 50,000), whatever the size of the partition.
 */
export class RecentKeys {
  #current = new Set<string>();
  #previous = new Set<string>();

  constructor(private readonly capacity: number) {}

  has(key: string): boolean {
    return this.#current.has(key) || this.#previous.has(key);
  }

  add(key: string): void {
    if (this.#current.size >= this.capacity) {
      this.#previous = this.#current;
      this.#current = new Set();
    }
    this.#current.add(key);
  }
}

/**
 * Turns lines into batches of distinct cleaned rows (seed 6.3 steps 2-4), counting raw, valid and
 * invalid lines and the duplicates found in memory: within the current batch always, and among
 * the last {@link RECENT_KEYS} distinct events (duplicates in real feeds are mostly near each
 * other: retries, at-least-once delivery). The database's unique dedup_key index catches the
 * rest, so memory does not grow with the partition, and each duplicate found here is one row the
 * database does not have to parse.
 */
export class BatchBuilder {
  readonly counts: LineCounts = { raw: 0, valid: 0, invalid: 0, invalidByReason: {}, duplicatesInMemory: 0 };
  readonly #options: BatchBuilderOptions;
  readonly #logged = new Map<InvalidReason, number>();
  readonly #recentKeys: RecentKeys;
  #batch: Array<{ readonly key: string; readonly row: EncodedRow; readonly file: number; readonly line: number }> = [];
  #batchBytes = 0;
  #files: string[] = [];
  #file = '';
  #line = 0;

  constructor(options: BatchBuilderOptions) {
    this.#options = options;
    this.#recentKeys = new RecentKeys(Math.max(options.batchSize, options.recentKeys ?? RECENT_KEYS));
  }

  /** Lines that follow belong to `file`, from line 1. */
  startFile(file: string): void {
    this.#file = file;
    this.#line = 0;
  }

  #fileIndex(): number {
    const last = this.#files.length - 1;
    if (this.#files[last] === this.#file) return last;
    this.#files.push(this.#file);
    return last + 1;
  }

  /** Processes the next lines of the current file; emits every batch that fills up. */
  addLines(lines: readonly SplitLine[]): void {
    const { eventDate, createdAt, batchSize } = this.#options;
    const batchBytes = this.#options.batchBytes ?? DEFAULT_BATCH_BYTES;
    const counts = this.counts;
    for (const line of lines) {
      this.#line += 1;
      if (typeof line !== 'string') {
        counts.raw += 1;
        this.#invalid(line.reason);
        continue;
      }
      if (line.trim() === '') continue;
      counts.raw += 1;
      const outcome = cleanLine(line, eventDate, createdAt);
      if (outcome.event === undefined) {
        this.#invalid(outcome.reason);
        continue;
      }
      counts.valid += 1;
      const event = outcome.event;
      if (this.#recentKeys.has(event.dedupKey)) {
        counts.duplicatesInMemory += 1;
        continue;
      }
      this.#recentKeys.add(event.dedupKey);
      const row = encodeRow(event);
      // Cut by bytes before the row that would overflow the bound, by count after the row that fills the batch.
      if (this.#batch.length > 0 && this.#batchBytes + row.length + 1 > batchBytes) this.flush();
      this.#batch.push({ key: event.dedupKey, row, file: this.#fileIndex(), line: this.#line });
      this.#batchBytes += row.length + 1;
      if (this.#batch.length >= batchSize || this.#batchBytes >= batchBytes) this.flush();
    }
  }

  /** Emits the current batch, if it has rows. */
  flush(): void {
    const rows = this.#batch;
    if (rows.length === 0) return;
    const files = this.#files;
    this.#batch = [];
    this.#batchBytes = 0;
    this.#files = [];
    // In dedup-key order: the order the writer inserts in (see WarehouseWriter), cheaper to sort here.
    rows.sort((a, b) => (a.key < b.key ? -1 : 1));
    const origins = new Uint32Array(rows.length * 2);
    rows.forEach((row, index) => {
      origins[2 * index] = row.file;
      origins[2 * index + 1] = row.line;
    });
    this.#options.onBatch({
      size: rows.length,
      linesAscii: encodeRows(
        rows.map((row) => row.row),
        this.#options.allocateBytes ?? ((length) => new Uint8Array(length)),
      ),
      origins,
      files,
    });
  }

  #invalid(reason: InvalidReason): void {
    const counts = this.counts;
    counts.invalid += 1;
    counts.invalidByReason[reason] = (counts.invalidByReason[reason] ?? 0) + 1;
    const logged = this.#logged.get(reason) ?? 0;
    const limit = this.#options.invalidLinesLogged;
    if (logged >= limit) return;
    this.#logged.set(reason, logged + 1);
    this.#options.onInvalidLine({
      file: this.#file,
      line: this.#line,
      reason,
      ...(logged + 1 === limit ? { note: `further ${reason} lines are only counted` } : {}),
    });
  }
}
