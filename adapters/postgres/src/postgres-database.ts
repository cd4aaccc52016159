import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import postgres from 'postgres';
import { PlatformError } from '@platform-host/contracts';
import type {
  BatchOptions,
  BatchStatement,
  BulkInsertOptions,
  Database,
  HealthCheckResult,
  Logger,
  Row,
  SqlParam,
  StreamOptions,
} from '@platform-host/contracts';
import { installArrayParsers, socketOption, untypedParam, watchRejection } from './driver-internals.js';
import { NOT_POSTGRESQL_PROTOCOL, WatchedSockets, type NotPostgresProtocolError } from './server-protocol.js';
import { queryError } from './query-error.js';
import {
  BULK_TARGET_QUERY,
  checkParamsDefined,
  copyRows,
  cursorBatches,
  DatabaseQueryError,
  jsonParam,
  notConnectedError,
  notConnectedHealth,
  PG_TYPE_OID,
  quoteIdentifier,
  quoteTableName,
  raceHealthProbe,
  readBulkTarget,
  resolveInsertColumns,
  scalarText,
  sqlStateOf,
  streamBatchSize,
  textParam,
  type ColumnKind,
} from '@platform-host/postgres-family';

/** Options of {@link PostgresDatabase}. */
export interface PostgresDatabaseOptions {
  /** `postgres://user:password@host:port/database`. Never logged or put in error messages. */
  readonly url: string;
  /** Connections `connect()` opens up front and keeps (postgres.js itself has no minimum). Default 2. */
  readonly poolMin?: number;
  /** Maximum pooled connections. Default 10. */
  readonly poolMax?: number;
  /** `statement_timeout` of every connection in milliseconds; 0 disables it. Default 30000. */
  readonly statementTimeoutMs?: number;
  /** `application_name` reported to the server. Default `platform-host`. */
  readonly applicationName?: string;
  /** How long `healthCheck()` waits for `SELECT 1`. Default 3000 ms. */
  readonly healthCheckTimeoutMs?: number;
  /**
   * Deadline of `connect()` as a whole, in seconds (every attempt, reconnect and warm-up query
   * included); also postgres.js's `connect_timeout` of each later connection. Default 10.
   */
  readonly connectTimeoutSeconds?: number;
  /**
   * `false` makes `bulkInsert` use batched multi-row INSERTs instead of COPY, for proxies that do
   * not support COPY. Default true.
   */
  readonly useCopy?: boolean;
  /**
   * Statements with parameters run as named prepared statements of each connection (postgres.js
   * `prepare: true`): the first run of a statement text on a connection parses and describes it, a
   * later run is one Bind/Execute without waiting for a description first (unprepared, postgres.js
   * asks the server to describe every statement before sending its parameters: a round trip more
   * per statement). At most {@link MAX_PREPARED_TEXTS} distinct texts are prepared, the rest run
   * unprepared, so a stream of generated texts cannot grow the server's memory. Connections get
   * `plan_cache_mode = force_custom_plan`: every run is planned with its own parameter values, as
   * an unprepared one is (a generic plan of `$1 IS NULL OR ...` filters can be far slower).
   * `false` for proxies without prepared statements (PgBouncer before 1.21 in transaction mode).
   * Default true.
   */
  readonly prepare?: boolean;
  /** Receives server notices (debug) and COPY fallbacks (info). */
  readonly logger?: Logger;
}

/** Distinct statement texts {@link PostgresDatabaseOptions.prepare} prepares; later new ones run unprepared. */
export const MAX_PREPARED_TEXTS = 500;

type Sql = postgres.Sql;
type TransactionSql = postgres.TransactionSql;
type Executor = Sql | TransactionSql;
type DriverParam = postgres.ParameterOrJSON<never>;

/** The most parameters one statement may carry (a 16-bit count in the wire protocol). */
const MAX_PARAMETERS = 65_534;
/** Rows per INSERT of the bulk-insert fallback, before the parameter limit applies. */
const INSERT_BATCH_ROWS = 1_000;
/** Rows encoded per chunk written to a COPY stream. */
const COPY_CHUNK_ROWS = 1_000;
/** SQLSTATEs with which a server refuses COPY into a target that INSERT may still accept. */
const COPY_REFUSED_STATES: ReadonlySet<string> = new Set(['0A000', '42809']);

/** int8 as a JavaScript number when it is exact, else a bigint (as PGlite returns it). */
function parseInt8(raw: string): number | bigint {
  const value = Number(raw);
  return Number.isSafeInteger(value) ? value : BigInt(raw);
}

/** Type handlers given to postgres.js: they apply to parameters by the type the server infers. */
const DRIVER_TYPES = {
  int8: {
    to: PG_TYPE_OID.int8,
    from: [PG_TYPE_OID.int8],
    serialize: (value: unknown) => String(value),
    parse: parseInt8,
  },
  // Strings bound to json/jsonb are JSON text already; everything else is serialized.
  json: {
    to: PG_TYPE_OID.jsonb,
    from: [PG_TYPE_OID.json, PG_TYPE_OID.jsonb],
    serialize: jsonParam,
    parse: (raw: string): unknown => JSON.parse(raw),
  },
  text: { to: PG_TYPE_OID.text, from: [] as number[], serialize: textParam, parse: (raw: string) => raw },
  varchar: { to: PG_TYPE_OID.varchar, from: [] as number[], serialize: textParam, parse: (raw: string) => raw },
};

/**
 * Where the URL points, for messages: `db.example.com:5432/app`. Everything up to the last `@` is
 * cut first, so no part of the credentials survives even when the password holds an unencoded `@`.
 */
function describeServer(url: string): string {
  const withoutScheme = url.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  const afterCredentials = withoutScheme.slice(withoutScheme.lastIndexOf('@') + 1);
  const hostAndPath = afterCredentials.split(/[?#]/)[0] ?? '';
  return hostAndPath === '' ? 'localhost' : hostAndPath;
}

/** What `bulkInsert` needs to know about its target before choosing COPY or INSERT. */
interface CopyPlan {
  /** False when the catalog has no such relation (the statement then reports the server's error). */
  readonly found: boolean;
  /** COPY into it is possible: a table (not a view), and no listed column is generated. */
  readonly copyable: boolean;
  /** Kind of every listed column, in order. */
  readonly kinds: readonly ColumnKind[];
}

/**
 * The `--db postgres` {@link Database}: PostgreSQL through postgres.js.
 *
 * - **Pool**: postgres.js opens connections lazily up to `poolMax`. `connect()` opens `poolMin`
 *   connections at once (at least one), so a wrong URL, password or database fails at startup, and
 *   they stay open (no idle timeout). Every connection gets `statement_timeout` and
 *   `application_name` as startup parameters.
 * - **Connecting** has one deadline (`connectTimeoutSeconds`) for all of `connect()`, and every
 *   connection checks the first byte the server sends ({@link WatchedSockets}): a server that does
 *   not speak the PostgreSQL protocol (an HTTP server) fails it at once, saying so, instead of
 *   postgres.js reconnecting forever. `disconnect()` cancels a `connect()` under way.
 * - **Queries**: `$n` placeholders with bound parameters only (`sql.unsafe(text, params)`).
 *   Objects are sent as JSON, arrays as a PostgreSQL array or as JSON depending on the type the
 *   server infers for the placeholder; a string bound to json/jsonb is taken as JSON text. A
 *   statement without parameters may hold several statements (simple protocol; the result is that
 *   of the last one). `int8` comes back as a number when exact, else a bigint; `numeric` as a string;
 *   json/jsonb parsed; timestamps and dates as `Date`; `bytea` as `Buffer`.
 * - **stream**: outside a transaction, postgres.js's cursor (`unsafe(...).cursor(batchSize)`: the
 *   portal is executed `batchSize` rows at a time) on a connection of the pool, held until the loop
 *   ends; leaving the loop early closes the portal and returns the connection. Queries made in the
 *   loop body run on other pooled connections (so with `poolMax` 1 they wait for the loop to end).
 *   Inside `transaction()`, a `DECLARE ... CURSOR` / `FETCH` on the transaction's connection, so
 *   the loop body can keep querying in the same transaction. Only `SELECT` and `VALUES` statements
 *   are accepted there.
 * - **Transactions**: `transaction(work)` runs `work` on one reserved connection (postgres.js
 *   `begin`), found by every call inside `work` through AsyncLocalStorage; nested calls are
 *   savepoints. A statement that failed inside `work` fails the transaction even if `work` caught it
 *   (the server has aborted it anyway).
 * - **batch**: the statements in one transaction (a savepoint inside `transaction()`).
 * - **bulkInsert**: `COPY ... FROM STDIN` in text format inside a transaction (or a savepoint of the
 *   caller's). With `onConflict: 'ignore'` the rows are copied into a temporary table holding just
 *   the listed columns, then `INSERT ... SELECT ... ON CONFLICT DO NOTHING`. When COPY cannot be used
 *   (a view, a generated column listed, or the server refusing COPY with 0A000/42809) it falls back
 *   to batched multi-row INSERTs in the same transaction.
 * - **Errors**: {@link DatabaseQueryError} (`PH_ERR_DB_QUERY` with `sqlState`); before `connect()`
 *   and after `disconnect()`, `PH_ERR_NOT_CONNECTED`. Parameters are never logged.
 */
export class PostgresDatabase implements Database {
  readonly dialect = 'postgresql';
  readonly #url: string;
  readonly #server: string;
  readonly #poolMin: number;
  readonly #poolMax: number;
  readonly #statementTimeoutMs: number;
  readonly #applicationName: string;
  readonly #healthCheckTimeoutMs: number;
  readonly #connectTimeoutSeconds: number;
  readonly #useCopy: boolean;
  readonly #prepare: boolean;
  /** The statement texts prepared so far (at most {@link MAX_PREPARED_TEXTS}; see `prepare`). */
  readonly #preparedTexts = new Set<string>();
  readonly #logger: Logger | undefined;
  readonly #transactions = new AsyncLocalStorage<TransactionSql>();
  #sql: Sql | undefined;
  #connecting: Promise<void> | undefined;
  /** Aborted by disconnect() while connect() is still under way, which then gives up at once. */
  #cancelConnect: AbortController | undefined;
  #closing: Promise<void> | undefined;

  constructor(options: PostgresDatabaseOptions) {
    const poolMin = options.poolMin ?? 2;
    const poolMax = options.poolMax ?? 10;
    const statementTimeoutMs = options.statementTimeoutMs ?? 30_000;
    if (!Number.isSafeInteger(poolMax) || poolMax < 1)
      throw new RangeError(`PostgresDatabase poolMax must be an integer of at least 1, got ${poolMax}`);
    if (!Number.isSafeInteger(poolMin) || poolMin < 0 || poolMin > poolMax) {
      throw new RangeError(
        `PostgresDatabase poolMin must be an integer from 0 to poolMax (${poolMax}), got ${poolMin}`,
      );
    }
    if (!Number.isSafeInteger(statementTimeoutMs) || statementTimeoutMs < 0) {
      throw new RangeError(
        `PostgresDatabase statementTimeoutMs must be an integer of at least 0, got ${statementTimeoutMs}`,
      );
    }
    const connectTimeoutSeconds = options.connectTimeoutSeconds ?? 10;
    if (!(connectTimeoutSeconds > 0) || !Number.isFinite(connectTimeoutSeconds)) {
      throw new RangeError(
        `PostgresDatabase connectTimeoutSeconds must be a positive number, got ${connectTimeoutSeconds}`,
      );
    }
    this.#url = options.url;
    this.#server = describeServer(options.url);
    this.#poolMin = poolMin;
    this.#poolMax = poolMax;
    this.#statementTimeoutMs = statementTimeoutMs;
    this.#applicationName = options.applicationName ?? 'platform-host';
    this.#healthCheckTimeoutMs = options.healthCheckTimeoutMs ?? 3_000;
    this.#connectTimeoutSeconds = connectTimeoutSeconds;
    this.#useCopy = options.useCopy ?? true;
    this.#prepare = options.prepare ?? true;
    this.#logger = options.logger;
  }

  async connect(): Promise<void> {
    if (this.#sql !== undefined) return;
    this.#connecting ??= this.#open().finally(() => {
      this.#connecting = undefined;
    });
    return this.#connecting;
  }

  async #open(): Promise<void> {
    const cancel = new AbortController();
    this.#cancelConnect = cancel;
    await this.#closing;
    const sockets = new WatchedSockets();
    let sql: Sql;
    try {
      sql = postgres(this.#url, {
        max: this.#poolMax,
        idle_timeout: 0,
        connect_timeout: this.#connectTimeoutSeconds,
        connection: {
          application_name: this.#applicationName,
          statement_timeout: this.#statementTimeoutMs,
          ...(this.#prepare ? { plan_cache_mode: 'force_custom_plan' } : {}),
        },
        types: DRIVER_TYPES,
        onnotice: (notice) =>
          this.#logger?.debug('PostgreSQL notice', {
            severity: notice.severity,
            code: notice.code,
            message: notice.message,
          }),
        ...socketOption(sockets.open),
      });
    } catch {
      // The driver's URL errors can quote the URL (and its password): none of it is passed on.
      throw new PlatformError('PH_ERR_CONFIG_INVALID', 'DB_POSTGRES_URL is not a valid PostgreSQL connection URL', {
        hint: 'Use postgres://user:password@host:port/database (percent-encode special characters in the password).',
      });
    }
    const warm = Math.max(1, this.#poolMin);
    // Every warm-up query settles before the failure is classified, so an early ECONNRESET on one
    // connection does not hide what another one saw (the server's answer).
    const warming = Promise.allSettled(Array.from({ length: warm }, () => sql.unsafe('SELECT 1')));
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.#connectTimeoutSeconds * 1000);
    });
    const cancelled = new Promise<'cancelled'>((resolve) => {
      if (cancel.signal.aborted) resolve('cancelled');
      cancel.signal.addEventListener('abort', () => resolve('cancelled'), { once: true });
    });
    const outcome = await Promise.race([warming, deadline, cancelled]).finally(() => {
      clearTimeout(timer);
      this.#cancelConnect = undefined;
    });
    const failed = typeof outcome === 'string' ? undefined : outcome.find((result) => result.status === 'rejected');
    if (typeof outcome === 'string' || failed !== undefined) {
      const silent = sockets.silentConnections > 0;
      await sql.end({ timeout: 0 }).catch(() => undefined);
      if (outcome === 'cancelled') {
        throw new DatabaseQueryError(`Connecting to PostgreSQL at ${this.#server} was cancelled by disconnect()`);
      }
      throw this.#connectError(failed?.reason, sockets.violation, silent);
    }
    installArrayParsers(sql);
    this.#sql = sql;
  }

  /**
   * Why connect() failed, classified by what was observed and by the driver's error code (never
   * its message): a server that did not speak the protocol, no answer within the deadline, or the
   * driver's or server's own error (a server error keeps its SQLSTATE: 28P01, 3D000...).
   */
  #connectError(error: unknown, violation: NotPostgresProtocolError | undefined, silent: boolean): DatabaseQueryError {
    const where = `Could not connect to PostgreSQL at ${this.#server}`;
    const code = (error as { readonly code?: unknown } | undefined)?.code;
    const seconds = this.#connectTimeoutSeconds;
    if (violation !== undefined || code === NOT_POSTGRESQL_PROTOCOL) {
      const answer = violation?.answer;
      return new DatabaseQueryError(
        `${where}: the server did not speak the PostgreSQL protocol (${answer === undefined ? 'it closed the connection without answering' : `it answered "${answer}"`})`,
        {
          cause: violation ?? error,
          hint: 'DB_POSTGRES_URL names a host and port where something else listens (an HTTP server, a proxy?): check them.',
        },
      );
    }
    if (error === undefined || code === 'CONNECT_TIMEOUT') {
      return new DatabaseQueryError(
        `${where}: no answer within ${seconds} s${silent ? ' (the server accepted the connection but sent nothing)' : ''}`,
        {
          ...(error === undefined ? {} : { cause: error }),
          hint: `Check DB_POSTGRES_URL and that the server is running; raise DB_POSTGRES_CONNECT_TIMEOUT (now ${seconds}) if it is just slow.`,
        },
      );
    }
    const sqlState = sqlStateOf(queryError(error, 'SELECT 1'));
    const reason = error instanceof Error ? error.message : 'the driver failed without an error object';
    return new DatabaseQueryError(`${where}: ${reason}`, {
      ...(sqlState === undefined ? {} : { sqlState }),
      cause: error,
      hint: 'Check DB_POSTGRES_URL (host, port, database, user, password) and that the server is running.',
    });
  }

  async disconnect(): Promise<void> {
    // A connect() still under way (a shutdown during startup) gives up at once instead of running
    // to its deadline.
    this.#cancelConnect?.abort();
    await this.#connecting?.catch(() => undefined);
    const sql = this.#sql;
    this.#sql = undefined;
    if (sql !== undefined) {
      this.#closing = sql.end({ timeout: 5 }).finally(() => {
        this.#closing = undefined;
      });
    }
    await this.#closing;
  }

  isConnected(): boolean {
    return this.#sql !== undefined;
  }

  async execute(sql: string, params: readonly SqlParam[] = []): Promise<number> {
    const result = await this.#run('execute', sql, params);
    return result.count ?? 0;
  }

  async fetchOne<T extends Row = Row>(sql: string, params: readonly SqlParam[] = []): Promise<T | null> {
    const result = await this.#run('fetchOne', sql, params);
    return (result[0] as T | undefined) ?? null;
  }

  async fetchAll<T extends Row = Row>(sql: string, params: readonly SqlParam[] = []): Promise<T[]> {
    const result = await this.#run('fetchAll', sql, params);
    return Array.from(result) as T[];
  }

  stream<T extends Row = Row>(
    sql: string,
    params: readonly SqlParam[] = [],
    options?: StreamOptions,
  ): AsyncIterable<T[]> {
    // The transaction is the one open where stream() is called, as for every other method.
    return this.#stream<T>(this.#transactions.getStore(), sql, params, options);
  }

  async *#stream<T extends Row>(
    tx: TransactionSql | undefined,
    statement: string,
    params: readonly SqlParam[],
    options: StreamOptions | undefined,
  ): AsyncGenerator<T[], void, undefined> {
    const pool = this.#requireSql('stream');
    const batchSize = streamBatchSize(options, statement);
    checkParamsDefined(params, statement);
    if (tx !== undefined) {
      yield* cursorBatches<T>(
        // Never prepared: every DECLARE names a cursor of its own, so each text is new.
        (text, cursorParams, named) => this.#runOn(tx, text, cursorParams, named, false),
        statement,
        params,
        { batchSize },
      );
      return;
    }
    const driverParams = params.map((value) => driverParam(pool, value));
    try {
      // A for-await that ends early calls the cursor's return(), which closes the portal.
      for await (const rows of pool.unsafe<T[]>(statement, driverParams).cursor(batchSize)) yield Array.from(rows);
    } catch (error) {
      throw queryError(error, statement);
    }
  }

  async transaction<T>(work: () => Promise<T>): Promise<T> {
    const outer = this.#transactions.getStore();
    const sql = this.#requireSql('transaction');
    let workError: { readonly error: unknown } | undefined;
    const scope = (tx: TransactionSql): Promise<{ readonly value: T }> =>
      this.#transactions.run(tx, async () => {
        try {
          // Wrapped so postgres.js does not treat a returned array as a list of queries.
          return { value: await work() };
        } catch (error) {
          workError = { error };
          throw error;
        }
      });
    try {
      const result = outer === undefined ? await sql.begin(scope) : await outer.savepoint(scope);
      return result.value;
    } catch (error) {
      if (workError !== undefined && workError.error === error) throw error;
      throw queryError(error, outer === undefined ? 'BEGIN … COMMIT' : 'SAVEPOINT … RELEASE');
    }
  }

  async batch(statements: readonly BatchStatement[], _options: BatchOptions = {}): Promise<void> {
    // Always all or nothing here: \`logged\` only matters to cql adapters.
    if (statements.length === 0) {
      this.#requireSql('batch');
      return;
    }
    await this.transaction(async () => {
      for (const statement of statements) await this.execute(statement.sql, statement.params ?? []);
    });
  }

  async bulkInsert(table: string, rows: readonly Row[], options: BulkInsertOptions = {}): Promise<number> {
    this.#requireSql('bulkInsert');
    const context = `bulkInsert into ${JSON.stringify(table)}`;
    const target = quoteTableName(table, context);
    if (rows.length === 0) return 0;
    const columns = resolveInsertColumns(rows, options.columns, context);
    const columnList = columns.map((column) => quoteIdentifier(column, 'column', context)).join(', ');
    const ignoreConflicts = options.onConflict === 'ignore';
    return this.transaction(async () => {
      const info = this.#useCopy ? await this.#planCopy(target, columns) : undefined;
      if (info !== undefined && (info.copyable || !info.found)) {
        try {
          // A savepoint, so that a refused COPY leaves the transaction usable for the fallback.
          return await this.transaction(() =>
            ignoreConflicts
              ? this.#copyIgnoringConflicts(target, columnList, columns, rows, info.kinds, context)
              : this.#copy(target, columnList, columns, rows, info.kinds, context).then(() => rows.length),
          );
        } catch (error) {
          const sqlState = sqlStateOf(error);
          if (sqlState === undefined || !COPY_REFUSED_STATES.has(sqlState)) throw error;
          this.#logger?.info('COPY refused, falling back to batched INSERT', { table, sqlState });
        }
      }
      return this.#insertBatches(target, columnList, columns, rows, ignoreConflicts);
    });
  }

  async healthCheck(): Promise<HealthCheckResult> {
    const sql = this.#sql;
    if (sql === undefined) return notConnectedHealth();
    const query = sql.unsafe('SELECT 1');
    return raceHealthProbe(query, {
      timeoutMs: this.#healthCheckTimeoutMs,
      timeoutDetail: `PostgreSQL at ${this.#server} did not answer SELECT 1 within ${this.#healthCheckTimeoutMs} ms`,
      onTimeout: () => query.cancel(),
      failureDetail: (error) => queryError(error, 'SELECT 1').message,
    });
  }

  #requireSql(method: string): Sql {
    const sql = this.#sql;
    if (sql === undefined) throw notConnectedError('PostgresDatabase', method);
    return sql;
  }

  /** The transaction's connection inside `transaction()`, else the pool. */
  #executor(method: string): Executor {
    const sql = this.#requireSql(method);
    return this.#transactions.getStore() ?? sql;
  }

  async #run(
    method: string,
    statement: string,
    params: readonly unknown[],
    preparable = true,
  ): Promise<postgres.RowList<Row[]>> {
    const executor = this.#executor(method);
    checkParamsDefined(params, statement);
    return this.#runOn(executor, statement, params, statement, preparable);
  }

  /** Whether `text` runs as a prepared statement (see {@link PostgresDatabaseOptions.prepare}). */
  #prepares(text: string, parameters: number): boolean {
    // Without parameters postgres.js sends the simple protocol (several statements allowed), unprepared.
    if (!this.#prepare || parameters === 0) return false;
    if (this.#preparedTexts.has(text)) return true;
    if (this.#preparedTexts.size >= MAX_PREPARED_TEXTS) return false;
    this.#preparedTexts.add(text);
    return true;
  }

  /**
   * Runs `text` on `executor`; a failure is reported as a failure of `named`. `preparable` false
   * keeps it unprepared (a text made once, such as a cursor's `DECLARE`).
   */
  async #runOn(
    executor: Executor,
    text: string,
    params: readonly unknown[],
    named: string,
    preparable = true,
  ): Promise<postgres.RowList<Row[]>> {
    const driverParams = params.map((value) => driverParam(executor, value));
    try {
      return await executor.unsafe<Row[]>(text, driverParams, {
        prepare: preparable && this.#prepares(text, params.length),
      });
    } catch (error) {
      throw queryError(error, named);
    }
  }

  async #planCopy(target: string, columns: readonly string[]): Promise<CopyPlan> {
    const found = readBulkTarget(await this.#run('bulkInsert', BULK_TARGET_QUERY, [target, columns]));
    const anyGenerated = columns.some((column) => found.columns.get(column)?.generated === true);
    return {
      found: found.found,
      copyable: found.isTable && !anyGenerated,
      kinds: columns.map((column) => found.columns.get(column)?.kind ?? 'scalar'),
    };
  }

  async #copy(
    target: string,
    columnList: string,
    columns: readonly string[],
    rows: readonly Row[],
    kinds: readonly ColumnKind[],
    context: string,
  ): Promise<void> {
    const statement = `COPY ${target} (${columnList}) FROM STDIN`;
    const executor = this.#executor('bulkInsert');
    const query = executor.unsafe(statement);
    const serverFailure = watchRejection(query);
    try {
      const stream = await query.writable();
      const written = pipeline(Readable.from(copyChunks(rows, columns, kinds, context)), stream);
      written.catch(() => undefined);
      await Promise.race([written, serverFailure]);
    } catch (error) {
      throw queryError(error, statement);
    }
  }

  async #copyIgnoringConflicts(
    target: string,
    columnList: string,
    columns: readonly string[],
    rows: readonly Row[],
    kinds: readonly ColumnKind[],
    context: string,
  ): Promise<number> {
    // Only the listed columns, without defaults: a serial default copied along would draw from the
    // target's sequence once more per row.
    const staging = `"ph_bulk_${randomBytes(6).toString('hex')}"`;
    await this.#run(
      'bulkInsert',
      `CREATE TEMPORARY TABLE ${staging} ON COMMIT DROP AS SELECT ${columnList} FROM ${target} WITH NO DATA`,
      [],
    );
    await this.#copy(staging, columnList, columns, rows, kinds, context);
    const inserted = await this.#run(
      'bulkInsert',
      `INSERT INTO ${target} (${columnList}) SELECT ${columnList} FROM ${staging} ON CONFLICT DO NOTHING`,
      [],
    );
    // Dropped now rather than at commit, so repeated calls in one long transaction do not pile up.
    await this.#run('bulkInsert', `DROP TABLE ${staging}`, []);
    return inserted.count ?? 0;
  }

  async #insertBatches(
    target: string,
    columnList: string,
    columns: readonly string[],
    rows: readonly Row[],
    ignoreConflicts: boolean,
  ): Promise<number> {
    const rowsPerBatch = Math.max(1, Math.min(INSERT_BATCH_ROWS, Math.floor(MAX_PARAMETERS / columns.length)));
    const conflictClause = ignoreConflicts ? ' ON CONFLICT DO NOTHING' : '';
    let inserted = 0;
    for (let start = 0; start < rows.length; start += rowsPerBatch) {
      const batch = rows.slice(start, start + rowsPerBatch);
      const params: unknown[] = [];
      const tuples = batch.map((row) => {
        const placeholders = columns.map((column) => {
          params.push(bulkValue(row[column]));
          return `$${params.length}`;
        });
        return `(${placeholders.join(', ')})`;
      });
      const result = await this.#run(
        'bulkInsert',
        `INSERT INTO ${target} (${columnList}) VALUES ${tuples.join(', ')}${conflictClause}`,
        params,
        false, // thousands of placeholders, a text per batch size: not worth a prepared statement
      );
      inserted += result.count ?? 0;
    }
    return inserted;
  }
}

/**
 * A parameter as postgres.js should bind it. Arrays are sent untyped so that the type the server
 * infers decides between an array literal and JSON (postgres.js would otherwise type them by their
 * first element, sending `[true, false]` as a single boolean).
 */
function driverParam(executor: Executor, value: unknown): DriverParam {
  if (Array.isArray(value)) return untypedParam(executor, value);
  return value as DriverParam;
}

/**
 * A bulk-insert value for the INSERT fallback, written as COPY would write it: missing means NULL
 * and dates go as ISO text that the column's own type parses (a timestamp without time zone then
 * gets the same value from both paths, whatever the session time zone).
 */
function bulkValue(value: unknown): unknown {
  if (value === undefined) return null;
  if (value instanceof Date) return scalarText(value);
  return value;
}

/** COPY text of the rows, in chunks of {@link COPY_CHUNK_ROWS} lines. */
function* copyChunks(
  rows: readonly Row[],
  columns: readonly string[],
  kinds: readonly ColumnKind[],
  context: string,
): Generator<string> {
  for (let start = 0; start < rows.length; start += COPY_CHUNK_ROWS) {
    yield copyRows(rows, start, Math.min(rows.length, start + COPY_CHUNK_ROWS), columns, kinds, context);
  }
}
