import { AsyncLocalStorage } from 'node:async_hooks';
import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { PGlite, QueryOptions, Results, Transaction } from '@electric-sql/pglite';
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
  statementSummary,
  streamBatchSize,
  textParam,
  type ColumnKind,
} from '@platform-host/postgres-family';

/** Options of {@link PgliteDatabase}. */
export interface PgliteDatabaseOptions {
  /**
   * Directory of a file-backed database, created when missing (PGlite runs `initdb` in it the first
   * time). Absent: an in-memory database, empty at every `connect()`. Ignored with `instance`.
   */
  readonly dataDir?: string;
  /**
   * An already started PGlite to run on instead of starting one. `connect()` waits until it is
   * ready; `disconnect()` leaves it open, since its owner closes it. Tests use this to share one
   * instance (PGlite takes seconds to start) among many adapters.
   */
  readonly instance?: PGlite;
  /** How long `healthCheck()` waits for `SELECT 1`. Default 3000 ms. */
  readonly healthCheckTimeoutMs?: number;
  /** Receives the startup line (info). */
  readonly logger?: Logger;
}

/** What both PGlite and one of its transactions can run. */
type Runner = Pick<Transaction, 'query' | 'exec'>;

/** The transaction (or savepoint) that calls inside `transaction(work)` run in. */
interface TransactionScope {
  readonly tx: Transaction;
  /** Set when `work` has settled: a late call (one `work` did not await) is refused. */
  finished: boolean;
  /** Savepoints opened directly in this scope, chained so that they never interleave. */
  savepoints: Promise<unknown>;
}

/** The column facts `bulkInsert` needs; from one catalog query. */
interface BulkTarget {
  /** A plain or partitioned table: COPY can write it directly. */
  readonly isTable: boolean;
  readonly kinds: readonly ColumnKind[];
}

/** Rows per COPY data blob: bounds the text held in memory at once. */
const COPY_CHUNK_ROWS = 50_000;

/** Serializers by parameter type, over PGlite's own (which it picks by the type the engine infers). */
const QUERY_OPTIONS: QueryOptions = {
  serializers: {
    [PG_TYPE_OID.text]: textParam,
    [PG_TYPE_OID.varchar]: textParam,
    [PG_TYPE_OID.bpchar]: textParam,
    [PG_TYPE_OID.json]: jsonParam,
    [PG_TYPE_OID.jsonb]: jsonParam,
  },
};

/** COPY text-format data of `rows[start..end)`, as a Blob PGlite reads from `/dev/blob`. */
function copyBlob(
  rows: readonly Row[],
  start: number,
  end: number,
  columns: readonly string[],
  kinds: readonly ColumnKind[],
  context: string,
): Blob {
  return new Blob([copyRows(rows, start, end, columns, kinds, context)]);
}

/**
 * The `--db memory` and `--db pglite` {@link Database}: PostgreSQL 17 compiled to WebAssembly
 * (PGlite), in this process, in memory or in a data directory. It runs the same SQL as the
 * PostgreSQL adapter, with the same value conversions.
 *
 * - **One connection.** PGlite is a single session: statements run one at a time, in call order.
 *   While a transaction is open, calls from outside it wait until it ends (so they never see its
 *   uncommitted rows); never await such a call inside `work`, it would wait forever.
 * - **Queries**: `$n` placeholders with bound parameters. Parameters are converted by the type the
 *   engine infers for the placeholder: objects (and arrays bound to json/jsonb or text) as JSON, a
 *   string bound to json/jsonb as JSON text, arrays bound to an array type as an array literal,
 *   dates as ISO 8601. `undefined` is refused; pass `null`. A statement without parameters may hold
 *   several statements (simple protocol; the result is that of the last one). `int8` comes back as
 *   a number when exact, else a bigint; `numeric` as a string; json/jsonb parsed; timestamps and
 *   dates as `Date`; `bytea` as `Uint8Array`.
 * - **stream**: a server-side cursor, `FETCH`ed `batchSize` rows at a time. Inside `transaction()`
 *   it lives in that transaction and reads as it goes. Outside one it is declared `WITH HOLD`, so
 *   that it needs no open transaction and the loop body can use the database between batches (on
 *   one session, an open transaction would make every other call wait for the loop to end): the
 *   engine then computes the result when the cursor is declared and keeps it (in `work_mem`, then
 *   temporary files) until the loop ends; the JavaScript side holds one batch at a time. Leaving
 *   the loop early closes the cursor. Only `SELECT` and `VALUES` statements can be streamed.
 * - **Transactions**: `transaction(work)` opens a PGlite transaction; every call on this adapter
 *   inside `work` (found through AsyncLocalStorage, across awaits) runs in it. A nested
 *   `transaction()` is a savepoint: its failure rolls back only its own work, and the error
 *   still propagates. Nested transactions started in parallel inside one scope run one after the
 *   other. A statement that failed inside `work` aborts the transaction even if `work` caught it
 *   (COMMIT then fails with SQLSTATE 25P02).
 * - **bulkInsert**: `COPY ... FROM '/dev/blob'` (text format, data handed to PGlite as a Blob) in
 *   a transaction, or a savepoint of the caller's. With `onConflict: 'ignore'`, or when the target
 *   is not a table (a view), the rows are copied into a temporary table of just the listed
 *   columns, then `INSERT ... SELECT` (`ON CONFLICT DO NOTHING`). Returns the rows inserted.
 * - **Errors**: {@link DatabaseQueryError} (`PH_ERR_DB_QUERY` with `sqlState`); before `connect()`
 *   and after `disconnect()`, `PH_ERR_NOT_CONNECTED`.
 */
export class PgliteDatabase implements Database {
  readonly dialect = 'postgresql';
  readonly #dataDir: string | undefined;
  readonly #borrowed: PGlite | undefined;
  readonly #healthCheckTimeoutMs: number;
  readonly #logger: Logger | undefined;
  readonly #scopes = new AsyncLocalStorage<TransactionScope>();
  /** Top-level calls in progress; `disconnect()` waits for them. */
  readonly #running = new Set<Promise<unknown>>();
  #pg: PGlite | undefined;
  /** The open top-level transaction, for `healthCheck()` (which must not wait for it to end). */
  #openTransaction: Transaction | undefined;
  #connecting: Promise<void> | undefined;
  #closing: Promise<void> | undefined;
  /** Numbers savepoints and staging tables. */
  #sequence = 0;

  constructor(options: PgliteDatabaseOptions = {}) {
    this.#dataDir = options.dataDir === undefined ? undefined : resolve(options.dataDir);
    this.#borrowed = options.instance;
    this.#healthCheckTimeoutMs = options.healthCheckTimeoutMs ?? 3_000;
    this.#logger = options.logger;
  }

  /** Where the data lives: `memory` or the absolute data directory. */
  get location(): string {
    return this.#dataDir ?? 'memory';
  }

  async connect(): Promise<void> {
    if (this.#pg !== undefined) return;
    this.#connecting ??= this.#open().finally(() => {
      this.#connecting = undefined;
    });
    return this.#connecting;
  }

  async #open(): Promise<void> {
    await this.#closing;
    const started = performance.now();
    if (this.#borrowed !== undefined) {
      await this.#borrowed.waitReady;
      this.#pg = this.#borrowed;
      return;
    }
    const { PGlite } = await import('@electric-sql/pglite');
    if (this.#dataDir === undefined) {
      this.#pg = await PGlite.create();
    } else {
      try {
        await mkdir(this.#dataDir, { recursive: true });
      } catch (error) {
        throw new PlatformError(
          'PH_ERR_CONFIG_INVALID',
          `Cannot create the PGlite data directory ${this.#dataDir} (DB_PGLITE_DIR): ${error instanceof Error ? error.message : String(error)}`,
          { cause: error, hint: 'Set DB_PGLITE_DIR to a directory this process can write to.' },
        );
      }
      try {
        this.#pg = await PGlite.create(this.#dataDir);
      } catch (error) {
        throw new PlatformError(
          'PH_ERR_CONFIG_INVALID',
          `PGlite could not open its data directory ${this.#dataDir} (DB_PGLITE_DIR): ${error instanceof Error ? error.message : String(error)}`,
          {
            cause: error,
            hint: 'Only one process may use a data directory at a time; point DB_PGLITE_DIR at an empty or PGlite-created directory.',
          },
        );
      }
    }
    this.#logger?.info('PGlite started', {
      location: this.location,
      startupMs: Math.round(performance.now() - started),
    });
  }

  async disconnect(): Promise<void> {
    // Only awaited when connecting, so that isConnected() is false as soon as disconnect() is called.
    if (this.#connecting !== undefined) await this.#connecting.catch(() => undefined);
    const pg = this.#pg;
    this.#pg = undefined;
    if (pg !== undefined) {
      this.#closing = (async () => {
        await Promise.allSettled(this.#running);
        if (pg !== this.#borrowed) await pg.close();
      })().finally(() => {
        this.#closing = undefined;
      });
    }
    await this.#closing;
  }

  isConnected(): boolean {
    return this.#pg !== undefined;
  }

  async execute(sql: string, params: readonly SqlParam[] = []): Promise<number> {
    const result = await this.#run('execute', sql, params);
    return result.rowCount ?? 0;
  }

  async fetchOne<T extends Row = Row>(sql: string, params: readonly SqlParam[] = []): Promise<T | null> {
    const result = await this.#run('fetchOne', sql, params);
    return (result.rows[0] as T | undefined) ?? null;
  }

  async fetchAll<T extends Row = Row>(sql: string, params: readonly SqlParam[] = []): Promise<T[]> {
    const result = await this.#run('fetchAll', sql, params);
    return result.rows as T[];
  }

  stream<T extends Row = Row>(
    sql: string,
    params: readonly SqlParam[] = [],
    options?: StreamOptions,
  ): AsyncIterable<T[]> {
    // The transaction is the one open where stream() is called, as for every other method.
    return this.#stream<T>(this.#scopes.getStore(), sql, params, options);
  }

  async *#stream<T extends Row>(
    scope: TransactionScope | undefined,
    statement: string,
    params: readonly SqlParam[],
    options: StreamOptions | undefined,
  ): AsyncGenerator<T[], void, undefined> {
    if (scope === undefined) this.#requirePg('stream');
    const batchSize = streamBatchSize(options, statement);
    checkParamsDefined(params, statement);
    if (scope !== undefined) {
      const inScope = (text: string, cursorParams: readonly SqlParam[], named: string): Promise<Row[]> => {
        this.#checkOpen(scope, named);
        return this.#rowsIn(scope.tx, text, cursorParams, named);
      };
      yield* cursorBatches<T>(inScope, statement, params, { batchSize });
      return;
    }
    const outside = (text: string, cursorParams: readonly SqlParam[], named: string): Promise<Row[]> => {
      const pg = this.#requirePg('stream');
      return this.#track(() => this.#rowsIn(pg, text, cursorParams, named));
    };
    yield* cursorBatches<T>(outside, statement, params, { batchSize, withHold: true });
  }

  async transaction<T>(work: () => Promise<T>): Promise<T> {
    const outer = this.#scopes.getStore();
    if (outer !== undefined) {
      this.#checkOpen(outer, 'SAVEPOINT');
      const inSavepoint = outer.savepoints.then(
        () => this.#savepoint(outer, work),
        () => this.#savepoint(outer, work),
      );
      outer.savepoints = inSavepoint.catch(() => undefined);
      return inSavepoint;
    }
    const pg = this.#requirePg('transaction');
    let workError: { readonly error: unknown } | undefined;
    return this.#track(async () => {
      try {
        return await pg.transaction(async (tx) => {
          const scope: TransactionScope = { tx, finished: false, savepoints: Promise.resolve() };
          this.#openTransaction = tx;
          try {
            return await this.#scopes.run(scope, work);
          } catch (error) {
            workError = { error };
            throw error;
          } finally {
            scope.finished = true;
          }
        });
      } catch (error) {
        if (workError !== undefined && workError.error === error) throw error;
        throw queryError(error, 'BEGIN … COMMIT');
      } finally {
        this.#openTransaction = undefined;
      }
    });
  }

  async #savepoint<T>(outer: TransactionScope, work: () => Promise<T>): Promise<T> {
    const name = `ph_savepoint_${(this.#sequence += 1)}`;
    await this.#runIn(outer.tx, `SAVEPOINT ${name}`);
    const scope: TransactionScope = { tx: outer.tx, finished: false, savepoints: Promise.resolve() };
    let result: T;
    try {
      result = await this.#scopes.run(scope, work);
    } catch (error) {
      scope.finished = true;
      // Skipped when the outer transaction was closed meanwhile: the error of `work` is what matters.
      if (!outer.tx.closed) await this.#runIn(outer.tx, `ROLLBACK TO SAVEPOINT ${name}`).catch(() => undefined);
      throw error;
    }
    scope.finished = true;
    await this.#runIn(outer.tx, `RELEASE SAVEPOINT ${name}`);
    return result;
  }

  async batch(statements: readonly BatchStatement[], _options: BatchOptions = {}): Promise<void> {
    // Always all or nothing here: `logged` only matters to cql adapters.
    if (statements.length === 0) {
      if (this.#scopes.getStore() === undefined) this.#requirePg('batch');
      return;
    }
    await this.transaction(async () => {
      for (const statement of statements) await this.execute(statement.sql, statement.params ?? []);
    });
  }

  async bulkInsert(table: string, rows: readonly Row[], options: BulkInsertOptions = {}): Promise<number> {
    if (this.#scopes.getStore() === undefined) this.#requirePg('bulkInsert');
    const context = `bulkInsert into ${JSON.stringify(table)}`;
    const target = quoteTableName(table, context);
    if (rows.length === 0) return 0;
    const columns = resolveInsertColumns(rows, options.columns, context);
    const columnList = columns.map((column) => quoteIdentifier(column, 'column', context)).join(', ');
    const ignoreConflicts = options.onConflict === 'ignore';
    return this.transaction(async () => {
      const scope = this.#scopes.getStore() as TransactionScope;
      const info = await this.#describeTarget(scope.tx, target, columns, context);
      const copyInto = async (into: string): Promise<number> => {
        const statement = `COPY ${into} (${columnList}) FROM '/dev/blob'`;
        let copied = 0;
        for (let start = 0; start < rows.length; start += COPY_CHUNK_ROWS) {
          const end = Math.min(rows.length, start + COPY_CHUNK_ROWS);
          const blob = copyBlob(rows, start, end, columns, info.kinds, context);
          const result = await this.#runIn(scope.tx, statement, [], { blob });
          copied += result.affectedRows ?? 0;
        }
        return copied;
      };
      if (info.isTable && !ignoreConflicts) return copyInto(target);
      // Only the listed columns, without defaults or constraints: the target applies its own.
      const staging = `"ph_bulk_stage_${(this.#sequence += 1)}"`;
      await this.#runIn(
        scope.tx,
        `CREATE TEMPORARY TABLE ${staging} AS SELECT ${columnList} FROM ${target} WITH NO DATA`,
      );
      await copyInto(staging);
      const conflictClause = ignoreConflicts ? ' ON CONFLICT DO NOTHING' : '';
      const inserted = await this.#runIn(
        scope.tx,
        `INSERT INTO ${target} (${columnList}) SELECT ${columnList} FROM ${staging}${conflictClause}`,
      );
      // Dropped now, so repeated calls in one long transaction do not pile up temporary tables.
      await this.#runIn(scope.tx, `DROP TABLE ${staging}`);
      return inserted.affectedRows ?? 0;
    });
  }

  async healthCheck(): Promise<HealthCheckResult> {
    const pg = this.#pg;
    if (pg === undefined) return notConnectedHealth();
    // Inside the open transaction if there is one: outside it, SELECT 1 would wait for it to end.
    const probe = async (): Promise<void> => {
      const tx = this.#openTransaction;
      if (tx === undefined || tx.closed) {
        await pg.query('SELECT 1');
        return;
      }
      try {
        await tx.query('SELECT 1');
      } catch (error) {
        // 25P02: the transaction is aborted, yet the engine answered. A closed one: try again outside.
        if ((error as { code?: unknown }).code === '25P02') return;
        if (tx.closed) await pg.query('SELECT 1');
        else throw error;
      }
    };
    return raceHealthProbe(probe(), {
      timeoutMs: this.#healthCheckTimeoutMs,
      timeoutDetail: `PGlite did not answer SELECT 1 within ${this.#healthCheckTimeoutMs} ms`,
      failureDetail: (error) => queryError(error, 'SELECT 1').message,
    });
  }

  #requirePg(method: string): PGlite {
    const pg = this.#pg;
    if (pg === undefined) throw notConnectedError('PgliteDatabase', method);
    return pg;
  }

  #checkOpen(scope: TransactionScope, statement: string): void {
    if (scope.finished) {
      throw new DatabaseQueryError(
        `"${statementSummary(statement)}" was called after its transaction had ended (a call inside transaction() that was not awaited?)`,
      );
    }
  }

  /** Runs `operation` as a top-level call that `disconnect()` waits for. */
  async #track<T>(operation: () => Promise<T>): Promise<T> {
    const running = operation();
    this.#running.add(running);
    try {
      return await running;
    } finally {
      this.#running.delete(running);
    }
  }

  async #run(method: string, statement: string, params: readonly SqlParam[]): Promise<Results<Row>> {
    checkParamsDefined(params, statement);
    const scope = this.#scopes.getStore();
    if (scope !== undefined) {
      this.#checkOpen(scope, statement);
      return this.#runIn(scope.tx, statement, params);
    }
    const pg = this.#requirePg(method);
    return this.#track(() => this.#runIn(pg, statement, params));
  }

  /** One statement, or several when there are no parameters (simple protocol: the last one's result). */
  async #runIn(
    runner: Runner,
    statement: string,
    params: readonly SqlParam[] = [],
    options?: QueryOptions,
  ): Promise<Results<Row>> {
    try {
      if (params.length === 0 && options === undefined) {
        const results = await runner.exec(statement);
        return results[results.length - 1] ?? { rows: [], fields: [], affectedRows: 0 };
      }
      return await runner.query<Row>(statement, [...params], { ...QUERY_OPTIONS, ...options });
    } catch (error) {
      throw queryError(error, statement);
    }
  }

  /** The rows of one statement (extended protocol); a failure is reported as a failure of `named`. */
  async #rowsIn(runner: Runner, text: string, params: readonly SqlParam[], named: string): Promise<Row[]> {
    try {
      return (await runner.query<Row>(text, [...params], QUERY_OPTIONS)).rows;
    } catch (error) {
      throw queryError(error, named);
    }
  }

  async #describeTarget(
    tx: Transaction,
    target: string,
    columns: readonly string[],
    context: string,
  ): Promise<BulkTarget> {
    const found = readBulkTarget((await this.#runIn(tx, BULK_TARGET_QUERY, [target, columns])).rows);
    if (!found.found) {
      throw new DatabaseQueryError(`${context}: relation ${target} does not exist`, { sqlState: '42P01' });
    }
    const kinds = columns.map((column) => {
      const described = found.columns.get(column);
      if (described === undefined) {
        throw new DatabaseQueryError(`${context}: column "${column}" does not exist in ${target}`, {
          sqlState: '42703',
        });
      }
      return described.kind;
    });
    return { isTable: found.isTable, kinds };
  }
}
