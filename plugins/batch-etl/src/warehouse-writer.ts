import { isPlatformError, type Database, type Row } from '@platform-host/contracts';
import type { EventBatch } from './batch-builder.js';
import type { TableName } from './run-settings.js';

/** The columns the job writes; the target table needs all of them. */
export const TARGET_COLUMNS = ['event_type', 'payload', 'source', 'event_date', 'created_at', 'dedup_key'] as const;

/** A row the database refused (see {@link WarehouseWriter.write}). */
export interface RejectedRow {
  readonly file: string;
  readonly line: number;
  /** The server's message on one line, quoted values replaced by `"…"`. */
  readonly message: string;
}

/** What one batch did to the target table: `inserted + alreadyPresent + duplicates + rejected.length = size`. */
export interface BatchWriteResult {
  /** Rows inserted. */
  readonly inserted: number;
  /**
   * Rows skipped because an earlier run had stored their key (a different `created_at`), counted
   * once per key and run, however often the run's input repeats the key.
   */
  readonly alreadyPresent: number;
  /** Rows skipped because this run had stored their key or counted it as already present. */
  readonly duplicates: number;
  /** Rows the database refused, each alone in its statement. */
  readonly rejected: readonly RejectedRow[];
}

/**
 * SQLSTATE classes of errors caused by the values of a row: 22 data exception (numeric overflow,
 * value too long, invalid JSON...), 23 integrity constraint violation (check, not null, another
 * unique index), 54 program limit exceeded (stack depth, index row size). Any other error is the
 * statement's or the server's, not a row's, and fails the run.
 */
const ROW_ERROR_CLASSES: ReadonlySet<string> = new Set(['22', '23', '54']);

/** True for a `PH_ERR_DB_QUERY` whose SQLSTATE says a row's values were refused (by code, never by message). */
export function isRowDataError(error: unknown): boolean {
  if (!isPlatformError(error) || error.code !== 'PH_ERR_DB_QUERY') return false;
  const { sqlState } = error as { readonly sqlState?: unknown };
  return typeof sqlState === 'string' && ROW_ERROR_CLASSES.has(sqlState.slice(0, 2));
}

/** An error message on one line, at most 300 characters, without quoted values (they may be data). */
export function redactedMessage(error: unknown): string {
  const text = (error instanceof Error ? error.message : String(error)).replace(/\s+/g, ' ').trim();
  const redacted = text.replace(/"[^"]*"/g, '"…"').replace(/'[^']*'/g, "'…'");
  return redacted.length > 300 ? `${redacted.slice(0, 299)}…` : redacted;
}

/** The two halves of a batch of at least two rows, as views on its bytes and origins. */
export function splitBatch(batch: EventBatch): [EventBatch, EventBatch] {
  const half = Math.floor(batch.size / 2);
  const bytes = batch.linesAscii;
  let newline = -1;
  for (let row = 0; row < half; row += 1) newline = bytes.indexOf(0x0a, newline + 1);
  return [
    {
      size: half,
      linesAscii: bytes.subarray(0, newline),
      origins: batch.origins.subarray(0, 2 * half),
      files: batch.files,
    },
    {
      size: batch.size - half,
      linesAscii: bytes.subarray(newline + 1),
      origins: batch.origins.subarray(2 * half),
      files: batch.files,
    },
  ];
}

/**
 * A set of 64-bit fingerprints (the first 16 hex digits of a dedup key) in an open-addressing
 * table: 16 bytes per key at most, so remembering every already-present key of a rerun over a
 * million rows takes 16 MB. Two keys share a fingerprint with probability about n² / 2^65
 * (3 × 10^-8 for a million keys).
 */
export class KeyFingerprints {
  #slots = new Uint32Array(2 * 1024);
  #size = 0;
  #hasZero = false;

  get size(): number {
    return this.#size;
  }

  /** Adds the fingerprint of `hexKey`; false when it was there already. */
  add(hexKey: string): boolean {
    const high = Number.parseInt(hexKey.slice(0, 8), 16) >>> 0;
    const low = Number.parseInt(hexKey.slice(8, 16), 16) >>> 0;
    if (high === 0 && low === 0) {
      if (this.#hasZero) return false;
      this.#hasZero = true;
      this.#size += 1;
      return true;
    }
    if (2 * (this.#size + 1) > this.#slots.length / 2) this.#grow();
    if (!this.#insert(this.#slots, high, low)) return false;
    this.#size += 1;
    return true;
  }

  #insert(slots: Uint32Array, high: number, low: number): boolean {
    const mask = slots.length / 2 - 1;
    // The key is a sha256 prefix: its low bits are already uniform.
    for (let slot = low & mask; ; slot = (slot + 1) & mask) {
      const h = slots[2 * slot] as number;
      const l = slots[2 * slot + 1] as number;
      if (h === 0 && l === 0) {
        slots[2 * slot] = high;
        slots[2 * slot + 1] = low;
        return true;
      }
      if (h === high && l === low) return false;
    }
  }

  #grow(): void {
    const old = this.#slots;
    const slots = new Uint32Array(old.length * 2);
    for (let index = 0; index < old.length; index += 2) {
      const high = old[index] as number;
      const low = old[index + 1] as number;
      if (high !== 0 || low !== 0) this.#insert(slots, high, low);
    }
    this.#slots = slots;
  }
}

/** The target table cannot take the rows; the message says what to do. */
export class TargetTableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TargetTableError';
  }
}

interface TargetShape extends Row {
  found: boolean;
  has_dedup_index: boolean;
  columns: string[] | null;
}

interface InsertCounts extends Row {
  inserted: number;
  /** Fingerprints (16 hex digits each, concatenated) of the skipped keys stored by an earlier run. */
  already_present: string | null;
}

/**
 * Writes batches of cleaned rows into the target table, idempotently: one statement per batch
 * (atomic: a batch is all in or all out) inserts with `ON CONFLICT (dedup_key) DO NOTHING`, so a
 * row whose key is stored already is skipped and a rerun after a crash converges to the same table.
 *
 * - **One round trip per batch.** The rows travel as one text parameter, a line per row with
 *   tab-separated fields (see EventBatch), split by `string_to_table` and `split_part`: the server
 *   parses each payload once, as jsonb; no staging table, no array-literal escaping. On
 *   PostgreSQL 15 this costs the server about the CPU per row of `psql \copy` into the same table
 *   (measured within 0-9%). Measured against it and slower end to end at the default batch size:
 *   `bulkInsert` with `onConflict: 'ignore'` (COPY into a temporary table, then INSERT ... SELECT,
 *   five to seven round trips), a key lookup followed by a plain COPY (as many round trips), and
 *   arrays bound as `text[]` / JSON-array parameters (more parsing on both sides).
 * - **Counting what was skipped.** Every row of a run carries the run's start time as `created_at`.
 *   The same statement counts the skipped keys whose stored row has another `created_at` (stored
 *   by an earlier run: "already present"); the other skipped rows were stored by an earlier batch
 *   of this run (duplicates within the input). The count reads the statement's snapshot, so a row
 *   committed by a concurrent run during the statement counts as a duplicate.
 * - **Counting each key once.** A key stored by an earlier run may come back in this run's input
 *   farther apart than the events remembered in memory (RecentKeys), so in several batches: the
 *   statement returns the fingerprints of its already-present keys and the writer counts a key as
 *   already present the first time only, later ones as duplicates (see {@link KeyFingerprints}).
 *   So `inserted + alreadyPresent` is the number of distinct keys written, also on a rerun.
 * - **A refused row does not refuse its batch.** When the server refuses a batch for a row's values
 *   (SQLSTATE class 22, 23 or 54: what validation could not foresee), the batch is split in halves
 *   and each is written again, down to the single rows refused, which are returned as rejected
 *   with their file, line and the server's message; every other row lands. k bad rows in a batch
 *   of n cost about 2k log2(n) more statements. Any other error fails the write.
 * - **No deadlocks.** Rows are inserted in dedup-key order, so writers running at the same time
 *   (two batches of this run, or two runs) wait for each other's keys in the same order.
 */
export class WarehouseWriter {
  readonly #insertSql: string;
  /** Keys of this run found stored by an earlier run. */
  readonly #alreadyPresent = new KeyFingerprints();

  constructor(
    private readonly db: Database,
    private readonly table: TableName,
    private readonly eventDate: string,
    private readonly runStartedAt: Date,
  ) {
    const target = table.sql;
    // dedup_key as bpchar: compared with text, the CHAR(64) column would be cast and its index unused.
    this.#insertSql = `WITH input AS (
  SELECT split_part(line, E'\\t', 1)::bpchar AS dedup_key, split_part(line, E'\\t', 2)::json #>> '{}' AS event_type,
         split_part(line, E'\\t', 3)::json #>> '{}' AS source, split_part(line, E'\\t', 4) AS payload
    FROM string_to_table($1::text, E'\\n') AS line
), inserted AS (
  INSERT INTO ${target} (event_type, payload, source, event_date, created_at, dedup_key)
  SELECT event_type, payload::jsonb, source, $2::date, $3::timestamptz, dedup_key FROM input ORDER BY dedup_key COLLATE "C"
  ON CONFLICT (dedup_key) DO NOTHING
  RETURNING dedup_key
)
SELECT (SELECT count(*) FROM inserted)::int AS inserted,
       (SELECT string_agg(left(stored.dedup_key, 16), '') FROM ${target} AS stored
         WHERE stored.dedup_key IN (SELECT dedup_key FROM input EXCEPT SELECT dedup_key FROM inserted)
           AND stored.created_at <> $3::timestamptz) AS already_present`;
  }

  /**
   * Checks that the target table exists, has every column written and a unique index on
   * `dedup_key` alone (without it, reruns would duplicate rows). Throws {@link TargetTableError}.
   */
  async checkTarget(): Promise<void> {
    const shape = await this.db.fetchOne<TargetShape>(
      `SELECT to_regclass($1) IS NOT NULL AS found,
              EXISTS (SELECT 1 FROM pg_catalog.pg_index i
                        JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
                       WHERE i.indrelid = to_regclass($1) AND i.indisunique AND i.indimmediate AND i.indnkeyatts = 1
                         AND i.indpred IS NULL AND a.attname = 'dedup_key') AS has_dedup_index,
              (SELECT array_agg(attname::text) FROM pg_catalog.pg_attribute
                WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped) AS columns`,
      [this.table.sql],
    );
    const name = this.table.display;
    if (!shape?.found) {
      throw new TargetTableError(
        `Target table ${name} does not exist: apply the migrations (platform-host migrate up) or pass --target-table`,
      );
    }
    const missing = TARGET_COLUMNS.filter((column) => !(shape.columns ?? []).includes(column));
    if (missing.length > 0)
      throw new TargetTableError(
        `Target table ${name} has no column ${missing.join(', ')}; it needs ${TARGET_COLUMNS.join(', ')}`,
      );
    if (!shape.has_dedup_index) {
      throw new TargetTableError(
        `Target table ${name} has no unique index on dedup_key alone, so reruns would insert duplicates; create one (see migration 003)`,
      );
    }
  }

  /**
   * Writes one batch (rows with distinct dedup keys) in one statement; when the server refuses
   * it for a row's values, in halves down to the refused rows (see the class comment). Throws
   * what the database threw for any other error.
   */
  async write(batch: EventBatch): Promise<BatchWriteResult> {
    let inserted = 0;
    let alreadyPresent = 0;
    let duplicates = 0;
    const rejected: RejectedRow[] = [];
    const pending = [batch];
    for (let part = pending.pop(); part !== undefined; part = pending.pop()) {
      if (part.size === 0) continue;
      let counts: InsertCounts | null;
      try {
        counts = await this.#insert(part);
      } catch (error) {
        if (!isRowDataError(error)) throw error;
        if (part.size > 1) {
          // The first half next: rows stay in dedup-key order (see No deadlocks).
          const [first, second] = splitBatch(part);
          pending.push(second, first);
          continue;
        }
        const file = part.files[part.origins[0] as number] ?? '';
        rejected.push({ file, line: part.origins[1] as number, message: redactedMessage(error) });
        continue;
      }
      const partInserted = Number(counts?.inserted ?? 0);
      const fingerprints = counts?.already_present ?? '';
      let partPresent = 0;
      for (let offset = 0; offset + 16 <= fingerprints.length; offset += 16)
        if (this.#alreadyPresent.add(fingerprints.slice(offset, offset + 16))) partPresent += 1;
      inserted += partInserted;
      alreadyPresent += partPresent;
      duplicates += part.size - partInserted - partPresent;
    }
    return { inserted, alreadyPresent, duplicates, rejected };
  }

  #insert(batch: EventBatch): Promise<InsertCounts | null> {
    const ascii = batch.linesAscii;
    // Latin-1 of ASCII bytes is exact; a large one becomes a string outside the JS heap (see encodeBatchLines).
    const lines = Buffer.from(ascii.buffer, ascii.byteOffset, ascii.byteLength).toString('latin1');
    return this.db.fetchOne<InsertCounts>(this.#insertSql, [lines, this.eventDate, this.runStartedAt]);
  }
}
