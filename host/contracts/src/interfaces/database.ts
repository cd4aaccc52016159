import type { Connectable, HealthCheckable } from '../health.js';

/**
 * A value that can be bound to a placeholder (`$n` in `postgresql`, `?` in `cql`). In `postgresql`
 * objects and arrays are sent as JSON(B) or arrays; in `cql` they bind to map/UDT and list/set
 * columns, and every value is converted to the type of its column (prepared statements).
 */
export type SqlParam =
  | string
  | number
  | bigint
  | boolean
  | null
  | Date
  | Uint8Array
  | readonly SqlParam[]
  | { readonly [key: string]: unknown };

/** One result row, column name to value. */
export type Row = Record<string, unknown>;

/** Options of {@link Database.bulkInsert}. */
export interface BulkInsertOptions {
  /**
   * Columns to insert, in order. Defaults to the keys of the first row; every row must then have
   * the same keys.
   */
  readonly columns?: readonly string[];
  /**
   * `error` (default): a unique violation fails the whole call. `ignore`: rows that conflict with
   * an existing row (any unique constraint) are skipped, as `ON CONFLICT DO NOTHING`; the return
   * value then counts only the rows actually inserted.
   */
  readonly onConflict?: 'error' | 'ignore';
}

/**
 * How an adapter reports a bad column list in {@link resolveBulkInsertColumns}: its own
 * `PH_ERR_DB_QUERY` error class, and what it does with a listed column a row has no key for.
 */
export interface BulkInsertColumnErrors {
  /** Builds the adapter's `PH_ERR_DB_QUERY` error from a message and an optional hint. */
  readonly error: (message: string, hint?: string) => Error;
  /** What happens to a missing key when `options.columns` is given, e.g. `become NULL`. */
  readonly missingKeys: string;
}

/**
 * The column list of a {@link Database.bulkInsert} call under {@link BulkInsertOptions.columns}:
 * `given` (not empty, no column twice), or the keys of the first row, which every row must then
 * share. Throws the error built by `errors.error`, prefixed with `context` (`bulkInsert(events)`).
 */
export function resolveBulkInsertColumns(
  rows: readonly Row[],
  given: readonly string[] | undefined,
  context: string,
  errors: BulkInsertColumnErrors,
): readonly string[] {
  if (given !== undefined) {
    if (given.length === 0) throw errors.error(`${context}: options.columns is empty`);
    if (new Set(given).size !== given.length) throw errors.error(`${context}: options.columns lists a column twice`);
    return given;
  }
  const columns = Object.keys(rows[0] ?? {});
  if (columns.length === 0)
    throw errors.error(`${context}: the first row has no keys, so there are no columns to insert`);
  const expected = new Set(columns);
  rows.forEach((row, index) => {
    const keys = Object.keys(row);
    if (keys.length !== columns.length || keys.some((key) => !expected.has(key))) {
      throw errors.error(
        `${context}: row ${index} has keys (${keys.join(', ')}) but the first row has (${columns.join(', ')})`,
        `Give every row the same keys, or pass options.columns to insert those columns (missing keys ${errors.missingKeys}).`,
      );
    }
  });
  return columns;
}

/**
 * The query languages a database adapter speaks. Modules declare in `module.json` which they
 * accept; the host refuses to run a module on an adapter of another dialect.
 */
export const DATABASE_DIALECTS = ['postgresql', 'cql'] as const;
export type DatabaseDialect = (typeof DATABASE_DIALECTS)[number];

/** One statement of {@link Database.batch}. */
export interface BatchStatement {
  /** The statement, with the dialect's placeholders. */
  readonly sql: string;
  /** Its bound parameters. */
  readonly params?: readonly SqlParam[];
}

/** Options of {@link Database.batch}. */
export interface BatchOptions {
  /**
   * `true` (default): all or nothing. In `postgresql` the statements always run in one transaction
   * (this option changes nothing); in `cql` `false` sends an unlogged batch, which is faster but
   * may apply only part of the statements when it fails (use it for statements on one partition).
   */
  readonly logged?: boolean;
}

/** Where a `cql` adapter keeps its tables (see {@link Database.keyspace}). */
export interface CqlKeyspace {
  /** The keyspace statements run in: unqualified table names resolve there. */
  readonly name: string;
  /**
   * The replication map the migration runner creates the keyspace with when it is absent, a CQL
   * map literal such as `{'class': 'SimpleStrategy', 'replication_factor': 1}`.
   */
  readonly replication: string;
}

/** Options of {@link Database.stream}. */
export interface StreamOptions {
  /** Rows per batch (default 1000); memory stays bounded by one batch. */
  readonly batchSize?: number;
}

/**
 * Database access (seed 5.2.1). Placeholders are per {@link DatabaseDialect}: numbered (`$1`,
 * `$2`, ...) for `postgresql`, `?` for `cql`. Bound parameters only; implementations never
 * interpolate values into statement text.
 *
 * Every query method throws a `PlatformError` with code `PH_ERR_NOT_CONNECTED` when called before
 * {@link Database.connect} or after {@link Database.disconnect}, and `PH_ERR_DB_QUERY` (with the
 * driver error as `cause`) when the server rejects the statement.
 */
export interface Database extends Connectable, HealthCheckable {
  /** The query language this adapter speaks (`postgresql` for PostgreSQL and PGlite, `cql` for Cassandra). */
  readonly dialect: DatabaseDialect;
  /**
   * `cql` adapters only: the keyspace they work in. `connect()` succeeds when it does not exist yet
   * (statements on unqualified tables then fail until it is created); the migration runner creates
   * it, and the adapter switches to it as soon as a `CREATE KEYSPACE` through it has made it exist.
   */
  readonly keyspace?: CqlKeyspace;
  /** Opens the connection pool. Calling it when already connected is a no-op. */
  connect(): Promise<void>;
  /** Closes the pool, waiting for running queries. Idempotent. */
  disconnect(): Promise<void>;
  /** True between a successful `connect()` and `disconnect()`. */
  isConnected(): boolean;
  /**
   * Runs a statement and returns the number of rows it affected (0 for DDL). `cql` servers do not
   * report affected rows: there it returns 1 for an applied lightweight transaction (`IF ...`), else
   * 0.
   */
  execute(sql: string, params?: readonly SqlParam[]): Promise<number>;
  /** Returns the first row, or `null` when the query returns none. */
  fetchOne<T extends Row = Row>(sql: string, params?: readonly SqlParam[]): Promise<T | null>;
  /** Returns all rows (an empty array when none). */
  fetchAll<T extends Row = Row>(sql: string, params?: readonly SqlParam[]): Promise<T[]>;
  /**
   * Reads the rows of a query in batches of at most `batchSize` (a server-side cursor or paging), for
   * results too large to hold in memory. Yields no batch for an empty result. Breaking out of the
   * loop releases the cursor. Inside {@link Database.transaction} it reads on that transaction's
   * connection (the transaction open where `stream` is called). The loop body may use the database
   * between batches; inside a transaction its calls run in that transaction.
   */
  stream<T extends Row = Row>(sql: string, params?: readonly SqlParam[], options?: StreamOptions): AsyncIterable<T[]>;
  /**
   * Runs `work` in one transaction on one connection: every call on this database made inside
   * `work` (found through AsyncLocalStorage, also across awaits) uses that connection. Commits when
   * `work` resolves, rolls back and rethrows when it rejects. Nested calls run inside the outer
   * transaction (as a savepoint where the backend supports it). Calls made inside `work` without
   * awaiting one another run in the order they were made (the postgres adapter pipelines them on
   * the connection: one round trip for the lot); when one fails, the transaction fails. A `cql` adapter has no
   * multi-statement transactions: it throws `PH_ERR_DB_UNSUPPORTED` without running `work` (use
   * {@link Database.batch} or lightweight transactions instead).
   */
  transaction<T>(work: () => Promise<T>): Promise<T>;
  /**
   * Runs `statements` together, in order, all or nothing by default (see {@link BatchOptions}).
   * `postgresql`: one transaction (inside {@link Database.transaction} it joins that one).
   * `cql`: one logged batch (`logged: false`: unlogged), every statement prepared. An empty list
   * does nothing. A failure whose outcome is unknown (a timeout, or the connection closed after
   * sending) is `PH_ERR_DB_TIMEOUT` (see `isOutcomeUnknown`): the batch may have been applied, and
   * on `cql` a logged batch may still be applied later from the batchlog.
   */
  batch(statements: readonly BatchStatement[], options?: BatchOptions): Promise<void>;
  /**
   * Inserts many rows efficiently (COPY where the backend has it) and returns the number of rows
   * inserted. Inside {@link Database.transaction} it joins that transaction. `cql`: one prepared
   * INSERT per row with bounded concurrency (not atomic; an INSERT there is an upsert, so without
   * `onConflict: 'ignore'` an existing row is overwritten), `onConflict: 'ignore'` is
   * `IF NOT EXISTS`, a lightweight transaction per row.
   */
  bulkInsert(table: string, rows: readonly Row[], options?: BulkInsertOptions): Promise<number>;
}
