import type { ModuleConfig } from '@platform-host/contracts';

/** Largest accepted `--batch-size`: a batch is held in memory, so it bounds the job's memory. */
export const MAX_BATCH_SIZE = 100_000;

/** `--batch-bytes` bounds: a batch is held a few times over in memory, and the parse worker's heap is sized for it. */
export const MIN_BATCH_BYTES = 64 * 1024;
export const MAX_BATCH_BYTES = 64 * 1024 * 1024;

/** A table name checked to be a plain identifier, optionally schema-qualified. */
export interface TableName {
  /** As PostgreSQL resolves an unquoted name: lowercase, `schema.table` or `table`. */
  readonly display: string;
  /** Quoted for SQL: `"schema"."table"`. */
  readonly sql: string;
}

/** The validated arguments of a run. */
export interface BatchEtlSettings {
  /** `YYYY-MM-DD`, a real calendar date. */
  readonly date: string;
  readonly sourcePath: string;
  /** The folder read: `{source-path}/{date}`. */
  readonly partitionPath: string;
  readonly targetTable: TableName;
  readonly batchSize: number;
  /** Encoded bytes per batch, at most (a single larger row goes alone). */
  readonly batchBytes: number;
  readonly dryRun: boolean;
}

/** An argument value the job refuses; the message names the argument and what is wrong. */
export class InvalidArgumentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidArgumentError';
  }
}

const DATE_PATTERN = /^(\d{4})-(\d{2})-(\d{2})$/;
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_$]*$/;
/** PostgreSQL truncates identifiers to 63 bytes (NAMEDATALEN - 1). */
const MAX_IDENTIFIER_BYTES = 63;

/** Checks that `date` is `YYYY-MM-DD` and a day that exists (not 2026-02-30). */
export function parsePartitionDate(date: string): string {
  const match = DATE_PATTERN.exec(date);
  if (match) {
    const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
    const parsed = new Date(Date.UTC(year, month - 1, day));
    if (
      year >= 1 &&
      parsed.getUTCFullYear() === year &&
      parsed.getUTCMonth() === month - 1 &&
      parsed.getUTCDate() === day
    )
      return date;
    throw new InvalidArgumentError(`--date "${date}" is not a day of the calendar`);
  }
  throw new InvalidArgumentError(`--date "${date}" is not in YYYY-MM-DD format (for example 2026-01-15)`);
}

/** Checks a `--target-table` value: `table` or `schema.table`, letters, digits, `_` and `$`. */
export function parseTableName(name: string): TableName {
  const parts = name.split('.');
  const valid =
    parts.length <= 2 &&
    parts.every((part) => IDENTIFIER.test(part) && Buffer.byteLength(part) <= MAX_IDENTIFIER_BYTES);
  if (!valid) {
    throw new InvalidArgumentError(
      `--target-table "${name}" is not a table name: use table or schema.table, each part starting with a letter or _ and holding only letters, digits, _ or $ (at most ${MAX_IDENTIFIER_BYTES} characters)`,
    );
  }
  // Folded to lowercase as PostgreSQL folds unquoted names, then quoted so reserved words work.
  const lower = parts.map((part) => part.toLowerCase());
  return { display: lower.join('.'), sql: lower.map((part) => `"${part}"`).join('.') };
}

/** Checks `--source-path`: relative, `/`-separated, no `..`; trailing slashes are dropped. */
export function parseSourcePath(path: string): string {
  const trimmed = path.replace(/\/+$/, '');
  if (path.startsWith('/') || path.includes('\\') || trimmed.split('/').some((segment) => segment === '..')) {
    throw new InvalidArgumentError(
      `--source-path "${path}" must be a relative path inside the file system root, with / separators and no ..`,
    );
  }
  return trimmed.replace(/^(?:\.\/)+/, '');
}

/** Reads and checks the module arguments. Throws {@link InvalidArgumentError}. */
export function readSettings(config: ModuleConfig): BatchEtlSettings {
  const date = parsePartitionDate(config.string('date'));
  const sourcePath = parseSourcePath(config.string('source-path'));
  const targetTable = parseTableName(config.string('target-table'));
  const batchSize = config.integer('batch-size');
  if (batchSize < 1 || batchSize > MAX_BATCH_SIZE) {
    throw new InvalidArgumentError(`--batch-size ${batchSize} is out of range: use 1 to ${MAX_BATCH_SIZE}`);
  }
  const batchBytes = config.integer('batch-bytes');
  if (batchBytes < MIN_BATCH_BYTES || batchBytes > MAX_BATCH_BYTES) {
    throw new InvalidArgumentError(
      `--batch-bytes ${batchBytes} is out of range: use ${MIN_BATCH_BYTES} to ${MAX_BATCH_BYTES} (default 16777216, 16 MiB)`,
    );
  }
  return {
    date,
    sourcePath,
    partitionPath: sourcePath === '' || sourcePath === '.' ? date : `${sourcePath}/${date}`,
    targetTable,
    batchSize,
    batchBytes,
    dryRun: config.boolean('dry-run'),
  };
}
