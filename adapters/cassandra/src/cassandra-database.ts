import cassandra, { type Host } from 'cassandra-driver';
import { PlatformError } from '@platform-host/contracts';
import type {
  BatchOptions,
  BatchStatement,
  BulkInsertOptions,
  CqlKeyspace,
  Database,
  HealthCheckResult,
  Logger,
  Row,
  SqlParam,
  StreamOptions,
} from '@platform-host/contracts';
import { CassandraQueryError, notConnectedError, queryError, statementSummary } from './query-error.js';
import { driverParam, plainRows } from './values.js';
import { cqlTableName, insertStatement, resolveInsertColumns } from './statements.js';

/** Options of {@link CassandraDatabase}. */
export interface CassandraDatabaseOptions {
  /** `host:port` contact points; the driver discovers the rest of the cluster from them. */
  readonly contactPoints: readonly string[];
  /** The keyspace statements run in. Default `platform`. */
  readonly keyspace?: string;
  /** The data center whose nodes are queried (the load-balancing policy's local DC). Default `datacenter1`. */
  readonly localDataCenter?: string;
  /** Password authentication, when both are set. The password is never logged or put in messages. */
  readonly username?: string;
  readonly password?: string;
  /** Consistency of every statement (a `cassandra.types.consistencies` value). Default LOCAL_QUORUM. */
  readonly consistency?: number;
  /** Serial consistency of lightweight transactions. Default SERIAL. */
  readonly serialConsistency?: number;
  /** How long the driver waits for a node to answer one request. Default 12000 ms. */
  readonly requestTimeoutMs?: number;
  /** How long opening one connection may take. Default 5000 ms. */
  readonly connectTimeoutMs?: number;
  /** How long a schema change waits for every node to agree on the schema. Default 10000 ms. */
  readonly schemaAgreementTimeoutMs?: number;
  /** Replication the migration runner creates the keyspace with. Default SimpleStrategy, factor 1. */
  readonly replication?: string;
  /** INSERTs `bulkInsert` keeps in flight. Default 32. */
  readonly bulkConcurrency?: number;
  /** How long `healthCheck()` waits for its query. Default 3000 ms. */
  readonly healthCheckTimeoutMs?: number;
  /** Receives the driver's warnings and errors, and keyspace notes. */
  readonly logger?: Logger;
}

/** Rows per page of `fetchAll` and `fetchOne` (the driver's default fetch size). */
const FETCH_PAGE_ROWS = 5_000;
const DEFAULT_STREAM_BATCH_SIZE = 1_000;
const MAX_STREAM_BATCH_SIZE = 2_147_483_647;
const APPLIED = '[applied]';
const CREATE_KEYSPACE = /^\s*CREATE\s+KEYSPACE\b/i;
const NO_KEYSPACE = /no keyspace has been specified|keyspace \S+ does not exist/i;
/** How often, and how far apart, `USE` is tried for a keyspace that is listed but not loaded yet. */
const USE_KEYSPACE_ATTEMPTS = 40;
const USE_KEYSPACE_RETRY_MS = 250;

function messageOfError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

type ResultSet = cassandra.types.ResultSet;

/** True when `result` is the answer to a lightweight transaction (it has an `[applied]` column). */
function isConditional(result: ResultSet): boolean {
  return (result.columns ?? []).some((column) => column.name === APPLIED);
}

/**
 * The `--db cassandra` {@link Database} (dialect `cql`): Apache Cassandra 4+/5 through the
 * DataStax/Apache cassandra-driver.
 *
 * - **Statements** use `?` markers. A statement with parameters is prepared (once per client, by
 *   the driver), so every value is encoded as its column's type: a JavaScript number binds to int,
 *   bigint, varint, float, double or decimal alike. Values come back as described in `values.ts`
 *   (bigint/varint as `bigint`, timestamp as `Date`, uuid as `string`, decimal as `string`,
 *   collections as arrays and objects).
 * - **execute** returns 1 for an applied lightweight transaction (`IF NOT EXISTS`, `IF col = ?`) and
 *   0 otherwise: Cassandra does not report affected rows. `fetchOne` of a lightweight transaction
 *   returns its `[applied]` row (with the current values when it was not applied).
 * - **fetchAll** reads every page; **fetchOne** the first row (paging on past empty pages);
 *   **stream** pages with `fetchSize` = `batchSize` and the paging state, one page per batch.
 * - **Schema changes** wait for schema agreement (the driver's wait, bounded by
 *   `schemaAgreementTimeoutMs`); a change the cluster did not agree on in time is an error.
 * - **transaction** is refused with `PH_ERR_DB_UNSUPPORTED` (no multi-statement transactions);
 *   **batch** is a logged batch (or unlogged with `logged: false`), prepared; a conditional batch
 *   that was not applied rejects.
 * - **bulkInsert**: one prepared INSERT per row through the driver's `executeConcurrent`, at most
 *   `bulkConcurrency` in flight. Not atomic. A key a row lacks is left unset (no tombstone).
 *   `onConflict: 'ignore'` adds `IF NOT EXISTS` (a lightweight transaction per row, several times
 *   slower) and counts the rows applied; without it an INSERT overwrites an existing row (upsert).
 * - **Keyspace**: `connect()` checks that the keyspace exists and switches to it; when it does not,
 *   the adapter stays connected without one (unqualified tables fail with a hint) until a
 *   `CREATE KEYSPACE` through it creates it — what the migration runner does.
 * - **fetchAllOnEachNode** reads a node-local table (such as `system.batches`) on every node of the
 *   local data center.
 * - **Errors**: {@link CassandraQueryError} (`PH_ERR_DB_QUERY` with `responseCode`;
 *   `PH_ERR_DB_TIMEOUT` when the outcome is unknown: a write timeout, a client-side timeout or a
 *   connection closed after sending, see `isOutcomeUnknownDriverError`); before
 *   `connect()` and after `disconnect()`, `PH_ERR_NOT_CONNECTED`. Parameters are never logged.
 */
export class CassandraDatabase implements Database {
  readonly dialect = 'cql';
  readonly keyspace: CqlKeyspace;
  readonly #contactPoints: readonly string[];
  readonly #localDataCenter: string;
  readonly #credentials: { readonly username: string; readonly password: string } | undefined;
  readonly #consistency: number;
  readonly #serialConsistency: number;
  readonly #requestTimeoutMs: number;
  readonly #connectTimeoutMs: number;
  readonly #schemaAgreementTimeoutMs: number;
  readonly #bulkConcurrency: number;
  readonly #healthCheckTimeoutMs: number;
  readonly #logger: Logger | undefined;
  #client: cassandra.Client | undefined;
  #connecting: Promise<void> | undefined;
  #inKeyspace = false;

  constructor(options: CassandraDatabaseOptions) {
    if (options.contactPoints.length === 0) throw new RangeError('CassandraDatabase needs at least one contact point');
    const positive = (name: string, value: number): number => {
      if (!Number.isSafeInteger(value) || value < 1)
        throw new RangeError(`CassandraDatabase ${name} must be a positive integer, got ${value}`);
      return value;
    };
    this.keyspace = {
      name: options.keyspace ?? 'platform',
      replication: options.replication ?? "{'class': 'SimpleStrategy', 'replication_factor': 1}",
    };
    this.#contactPoints = options.contactPoints;
    this.#localDataCenter = options.localDataCenter ?? 'datacenter1';
    this.#credentials =
      options.username !== undefined && options.password !== undefined
        ? { username: options.username, password: options.password }
        : undefined;
    this.#consistency = options.consistency ?? cassandra.types.consistencies.localQuorum;
    this.#serialConsistency = options.serialConsistency ?? cassandra.types.consistencies.serial;
    this.#requestTimeoutMs = positive('requestTimeoutMs', options.requestTimeoutMs ?? 12_000);
    this.#connectTimeoutMs = positive('connectTimeoutMs', options.connectTimeoutMs ?? 5_000);
    this.#schemaAgreementTimeoutMs = positive('schemaAgreementTimeoutMs', options.schemaAgreementTimeoutMs ?? 10_000);
    this.#bulkConcurrency = positive('bulkConcurrency', options.bulkConcurrency ?? 32);
    this.#healthCheckTimeoutMs = positive('healthCheckTimeoutMs', options.healthCheckTimeoutMs ?? 3_000);
    this.#logger = options.logger;
  }

  /** Where the cluster is, for messages: the contact points and the keyspace. */
  get #where(): string {
    return `${this.#contactPoints.join(',')} (keyspace ${this.keyspace.name})`;
  }

  async connect(): Promise<void> {
    if (this.#client !== undefined) return;
    this.#connecting ??= this.#open().finally(() => {
      this.#connecting = undefined;
    });
    return this.#connecting;
  }

  async #open(): Promise<void> {
    const client = new cassandra.Client({
      contactPoints: [...this.#contactPoints],
      localDataCenter: this.#localDataCenter,
      ...(this.#credentials === undefined ? {} : { credentials: { ...this.#credentials } }),
      queryOptions: { consistency: this.#consistency, serialConsistency: this.#serialConsistency },
      socketOptions: { readTimeout: this.#requestTimeoutMs, connectTimeout: this.#connectTimeoutMs },
      protocolOptions: { maxSchemaAgreementWaitSeconds: Math.ceil(this.#schemaAgreementTimeoutMs / 1000) },
    });
    client.on('log', (level: string, className: string, message: string) => {
      if (level === 'warning') this.#logger?.warn(`cassandra-driver: ${message}`, { component: className });
      else if (level === 'error') this.#logger?.error(`cassandra-driver: ${message}`, { component: className });
    });
    try {
      await client.connect();
      this.#inKeyspace = false;
      this.#client = client;
      await this.#useKeyspaceIfPresent(client);
    } catch (error) {
      this.#client = undefined;
      await client.shutdown().catch(() => undefined);
      const reason = queryError(error, 'connect').message.replace(
        /^Cassandra (?:query|rejected) "connect"( failed)?:\s*/,
        '',
      );
      throw new CassandraQueryError(`Could not connect to Cassandra at ${this.#where}: ${reason}`, {
        cause: error,
        hint: 'Check DB_CASSANDRA_HOSTS, DB_CASSANDRA_LOCAL_DC and the credentials, and that the nodes are running.',
      });
    }
    if (!this.#inKeyspace) {
      this.#logger?.info('Cassandra keyspace does not exist yet; platform-host migrate up creates it', {
        keyspace: this.keyspace.name,
      });
    }
  }

  /** Switches the client to the keyspace when it exists (every pooled connection follows). */
  async #useKeyspaceIfPresent(client: cassandra.Client): Promise<void> {
    if (this.#inKeyspace) return;
    const found = await client.execute(
      'SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = ?',
      [this.keyspace.name],
      { prepare: true },
    );
    if (found.rowLength === 0) return;
    // A keyspace another process is creating can be listed in system_schema before the node has
    // loaded it, when `USE` still answers that it does not exist: wait for the node a little.
    for (let attempt = 1; ; attempt += 1) {
      try {
        await client.execute(`USE ${this.keyspace.name}`);
        break;
      } catch (error) {
        if (attempt >= USE_KEYSPACE_ATTEMPTS || !NO_KEYSPACE.test(messageOfError(error))) throw error;
        await new Promise((resolve) => setTimeout(resolve, USE_KEYSPACE_RETRY_MS));
      }
    }
    this.#inKeyspace = true;
  }

  async disconnect(): Promise<void> {
    await this.#connecting?.catch(() => undefined);
    const client = this.#client;
    this.#client = undefined;
    this.#inKeyspace = false;
    await client?.shutdown();
  }

  isConnected(): boolean {
    return this.#client !== undefined;
  }

  async execute(sql: string, params: readonly SqlParam[] = []): Promise<number> {
    const result = await this.#run('execute', sql, params);
    if (!isConditional(result)) return 0;
    return result.wasApplied() ? 1 : 0;
  }

  async fetchOne<T extends Row = Row>(sql: string, params: readonly SqlParam[] = []): Promise<T | null> {
    for await (const rows of this.#pages<T>('fetchOne', sql, params, FETCH_PAGE_ROWS)) {
      if (rows.length > 0) return rows[0] ?? null;
    }
    return null;
  }

  async fetchAll<T extends Row = Row>(sql: string, params: readonly SqlParam[] = []): Promise<T[]> {
    const all: T[] = [];
    for await (const rows of this.#pages<T>('fetchAll', sql, params, FETCH_PAGE_ROWS)) all.push(...rows);
    return all;
  }

  stream<T extends Row = Row>(
    sql: string,
    params: readonly SqlParam[] = [],
    options?: StreamOptions,
  ): AsyncIterable<T[]> {
    const batchSize = options?.batchSize ?? DEFAULT_STREAM_BATCH_SIZE;
    const pages = (method: string, statement: string, values: readonly SqlParam[], fetchSize: number) =>
      this.#pages<T>(method, statement, values, fetchSize);
    return {
      async *[Symbol.asyncIterator]() {
        if (!Number.isSafeInteger(batchSize) || batchSize < 1 || batchSize > MAX_STREAM_BATCH_SIZE) {
          throw new CassandraQueryError(
            `stream of "${statementSummary(sql)}": batchSize must be an integer from 1 to ${MAX_STREAM_BATCH_SIZE}, got ${batchSize}`,
          );
        }
        for await (const rows of pages('stream', sql, params, batchSize)) if (rows.length > 0) yield rows;
      },
    };
  }

  /** The pages of a query, `fetchSize` rows at most each, following the paging state. */
  async *#pages<T extends Row>(
    method: string,
    statement: string,
    params: readonly SqlParam[],
    fetchSize: number,
  ): AsyncGenerator<T[], void, undefined> {
    let pageState: string | undefined;
    do {
      const result = await this.#run(method, statement, params, { fetchSize, pageState });
      yield plainRows<T>(result);
      pageState = result.pageState ?? undefined;
    } while (pageState !== undefined);
  }

  /** The driver's request timeout (ms, `DB_CASSANDRA_REQUEST_TIMEOUT`): how long a request sent may stay unanswered. */
  get requestTimeoutMs(): number {
    return this.#requestTimeoutMs;
  }

  /**
   * Runs a read on every node of the local data center, each pinned to its node (the driver's
   * `host` execution option), for node-local tables such as `system.batches` (every node keeps the
   * batchlog entries it was sent). Returns the rows per node address; a node that does not answer
   * is an error naming it (`PH_ERR_DB_QUERY`), since its rows cannot be known.
   */
  async fetchAllOnEachNode<T extends Row = Row>(
    sql: string,
    params: readonly SqlParam[] = [],
  ): Promise<Map<string, T[]>> {
    const client = this.#requireClient('fetchAllOnEachNode');
    const nodes = client.hosts.values().filter((host) => host.datacenter === this.#localDataCenter);
    const byNode = new Map<string, T[]>();
    for (const host of nodes) {
      const rows: T[] = [];
      let pageState: string | undefined;
      try {
        do {
          const result = await this.#run('fetchAllOnEachNode', sql, params, {
            fetchSize: FETCH_PAGE_ROWS,
            pageState,
            host,
          });
          rows.push(...plainRows<T>(result));
          pageState = result.pageState ?? undefined;
        } while (pageState !== undefined);
      } catch (error) {
        throw new CassandraQueryError(
          `Cassandra node ${host.address} did not answer "${statementSummary(sql)}": ${error instanceof Error ? error.message : String(error)}`,
          { cause: error },
        );
      }
      byNode.set(host.address, rows);
    }
    return byNode;
  }

  async transaction<T>(_work: () => Promise<T>): Promise<T> {
    throw new PlatformError(
      'PH_ERR_DB_UNSUPPORTED',
      'CassandraDatabase.transaction() is not supported: Cassandra (dialect cql) has no multi-statement transactions',
      {
        hint: 'Use db.batch([...]) for writes that must apply together (a logged batch), or a lightweight transaction (INSERT ... IF NOT EXISTS, UPDATE ... IF col = ?) for a conditional write.',
      },
    );
  }

  async batch(statements: readonly BatchStatement[], options: BatchOptions = {}): Promise<void> {
    const client = this.#requireClient('batch');
    if (statements.length === 0) return;
    const named = `BATCH ${statements[0]?.sql ?? ''}`;
    statements.forEach((statement) => checkParamsDefined(statement.params ?? [], statement.sql));
    let result: ResultSet;
    try {
      result = await client.batch(
        statements.map((statement) => ({
          query: statement.sql,
          params: (statement.params ?? []).map(driverParam),
        })),
        { prepare: true, logged: options.logged ?? true },
      );
    } catch (error) {
      throw queryError(error, named, this.#keyspaceHint(error));
    }
    if (isConditional(result) && !result.wasApplied()) {
      throw new CassandraQueryError(
        `Cassandra did not apply the conditional batch "${statementSummary(named)}": a condition did not hold, so none of its ${statements.length} statements took effect`,
        { hint: 'Read the current values and retry, or drop the IF conditions if the writes need not be conditional.' },
      );
    }
  }

  async bulkInsert(table: string, rows: readonly Row[], options: BulkInsertOptions = {}): Promise<number> {
    const client = this.#requireClient('bulkInsert');
    const context = `bulkInsert into ${JSON.stringify(table)}`;
    const ignoreConflicts = options.onConflict === 'ignore';
    if (rows.length === 0) {
      cqlTableName(table, context);
      return 0;
    }
    const columns = resolveInsertColumns(rows, options.columns, context);
    const statement = insertStatement(table, columns, ignoreConflicts, context);
    // A key the row lacks is left unset (the driver's `undefined`), which writes no tombstone.
    const params = rows.map((row) => columns.map((column) => driverParam(row[column])));
    let outcome: cassandra.concurrent.ResultSetGroup;
    try {
      outcome = await cassandra.concurrent.executeConcurrent(client, statement, params, {
        concurrencyLevel: this.#bulkConcurrency,
        collectResults: ignoreConflicts,
        raiseOnFirstError: true,
      });
    } catch (error) {
      throw queryError(error, statement, this.#keyspaceHint(error));
    }
    if (!ignoreConflicts) return rows.length;
    return (outcome.resultItems as ResultSet[]).filter((result) => result.wasApplied()).length;
  }

  async healthCheck(): Promise<HealthCheckResult> {
    const client = this.#client;
    if (client === undefined)
      return { ok: false, detail: 'not connected (connect() has not run, or disconnect() has)' };
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<HealthCheckResult>((resolve) => {
      timer = setTimeout(
        () =>
          resolve({
            ok: false,
            detail: `Cassandra at ${this.#contactPoints.join(',')} did not answer within ${this.#healthCheckTimeoutMs} ms`,
          }),
        this.#healthCheckTimeoutMs,
      );
      timer.unref();
    });
    const probe = client
      .execute('SELECT release_version FROM system.local', [], { readTimeout: this.#healthCheckTimeoutMs })
      .then(
        (): HealthCheckResult =>
          this.#inKeyspace
            ? { ok: true }
            : { ok: true, detail: `keyspace ${this.keyspace.name} does not exist yet (run migrate up)` },
        (error: unknown): HealthCheckResult => ({
          ok: false,
          detail: queryError(error, 'SELECT release_version FROM system.local').message,
        }),
      );
    try {
      return await Promise.race([probe, timedOut]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * The driver's snapshot of its connections and requests in flight per host (`Client.getState()`),
   * for diagnostics and tests; `undefined` when not connected.
   */
  driverState(): cassandra.metadata.ClientState | undefined {
    return this.#client?.getState();
  }

  #requireClient(method: string): cassandra.Client {
    const client = this.#client;
    if (client === undefined) throw notConnectedError(method);
    return client;
  }

  /** The hint for a statement that failed because the keyspace is not there (yet). */
  #keyspaceHint(error: unknown): string | undefined {
    if (this.#inKeyspace || !(error instanceof Error) || !NO_KEYSPACE.test(error.message)) return undefined;
    return `Keyspace ${this.keyspace.name} does not exist: run platform-host migrate up --db cassandra, which creates it with DB_CASSANDRA_REPLICATION.`;
  }

  async #run(
    method: string,
    statement: string,
    params: readonly SqlParam[],
    paging: {
      readonly fetchSize?: number;
      readonly pageState?: string | undefined;
      readonly host?: Host;
    } = {},
  ): Promise<ResultSet> {
    const client = this.#requireClient(method);
    checkParamsDefined(params, statement);
    let result: ResultSet;
    try {
      result = await client.execute(statement, params.map(driverParam), {
        prepare: params.length > 0,
        ...(paging.fetchSize === undefined ? {} : { fetchSize: paging.fetchSize }),
        ...(paging.pageState === undefined ? {} : { pageState: paging.pageState }),
        ...(paging.host === undefined ? {} : { host: paging.host }),
      });
    } catch (error) {
      throw queryError(error, statement, this.#keyspaceHint(error));
    }
    const agreed = (result.info as { readonly isSchemaInAgreement?: boolean }).isSchemaInAgreement;
    if (agreed === false) {
      throw new CassandraQueryError(
        `Cassandra applied "${statementSummary(statement)}" but the nodes did not agree on the schema within ${this.#schemaAgreementTimeoutMs} ms`,
        {
          hint: 'Check that every node is up (nodetool describecluster), then run the statement again if it is idempotent.',
        },
      );
    }
    if (!this.#inKeyspace && CREATE_KEYSPACE.test(statement)) {
      await this.#useKeyspaceIfPresent(client).catch((error: unknown) => {
        throw queryError(error, `USE ${this.keyspace.name}`);
      });
    }
    return result;
  }
}

/** Refuses an `undefined` parameter (`null` is CQL NULL), naming its marker and the statement. */
function checkParamsDefined(params: readonly unknown[], statement: string): void {
  for (let index = 0; index < params.length; index += 1) {
    if (params[index] === undefined) {
      throw new CassandraQueryError(
        `Parameter ${index + 1} (the ${ordinal(index + 1)} ?) of "${statementSummary(statement)}" is undefined; pass null for CQL NULL`,
      );
    }
  }
}

function ordinal(n: number): string {
  const suffix = n % 100 >= 11 && n % 100 <= 13 ? 'th' : (['th', 'st', 'nd', 'rd'][n % 10] ?? 'th');
  return `${n}${suffix}`;
}
