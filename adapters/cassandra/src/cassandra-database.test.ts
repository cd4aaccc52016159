import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { expect } from 'chai';
import cassandra from 'cassandra-driver';
import { isOutcomeUnknown, isPlatformError, type Database } from '@platform-host/contracts';
import { adapterManifestSchema } from '@platform-host/contracts/manifest-schemas';
import {
  adapterContextForTest,
  describeCqlDatabaseConformance,
  RecordingLogger,
  useRealService,
} from '@platform-host/test-kit';
import adapter, { CassandraDatabase, isOutcomeUnknownDriverError, type CassandraDatabaseOptions } from './index.js';
import { queryError } from './query-error.js';

/** The contact points and keyspace of the real server (`useRealService('cassandra')`). */
interface Cluster {
  readonly hosts: string;
  readonly keyspace: string;
}

function describeWithCassandra(title: string, body: (cluster: () => Cluster) => void): void {
  describe(title, function () {
    const service = useRealService('cassandra');
    body(() => ({
      hosts: service().DB_CASSANDRA_HOSTS ?? '',
      keyspace: service().DB_CASSANDRA_KEYSPACE ?? 'platform',
    }));
  });
}

function databaseOn(cluster: Cluster, options: Partial<CassandraDatabaseOptions> = {}): CassandraDatabase {
  return new CassandraDatabase({ contactPoints: cluster.hosts.split(','), keyspace: cluster.keyspace, ...options });
}

async function rejectionOf(promise: Promise<unknown>): Promise<Error & { code?: string; hint?: string }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { code?: string; hint?: string };
  }
  return expect.fail('expected a rejection');
}

describe('cassandra adapter package', function () {
  it('has a valid manifest that declares every config key the adapter reads, the password as secret', async function () {
    const text = await readFile(new URL('../platform-adapter.json', import.meta.url), 'utf8');
    const manifest = adapterManifestSchema.parse(JSON.parse(text));
    expect(manifest).to.include({ interface: 'database', dialect: 'cql' });
    expect(manifest.flags).to.deep.equal(['cassandra']);
    const source = await readFile(new URL('../src/index.ts', import.meta.url), 'utf8');
    const read = [...source.matchAll(/'(DB_CASSANDRA_[A-Z_]+)'/g)].map((match) => match[1]);
    expect(manifest.config.map((key) => key.env)).to.have.members([...new Set(read)]);
    expect(manifest.config.filter((key) => key.secret).map((key) => key.env)).to.deep.equal(['DB_CASSANDRA_PASSWORD']);
    expect(manifest.config.filter((key) => key.required).map((key) => key.env)).to.deep.equal(['DB_CASSANDRA_HOSTS']);
  });

  it('builds a CassandraDatabase of dialect cql from its config, with the keyspace and replication given', async function () {
    const db = await adapter.create(
      adapterContextForTest('cassandra', {
        DB_CASSANDRA_HOSTS: '10.0.0.1:9142, 10.0.0.2',
        DB_CASSANDRA_KEYSPACE: 'analytics',
        DB_CASSANDRA_REPLICATION: "{'class': 'NetworkTopologyStrategy', 'dc1': 3}",
      }),
    );
    expect(db).to.be.instanceOf(CassandraDatabase);
    expect(db.dialect).to.equal('cql');
    expect(db.keyspace).to.deep.equal({
      name: 'analytics',
      replication: "{'class': 'NetworkTopologyStrategy', 'dc1': 3}",
    });
    expect(db.isConnected()).to.equal(false);
  });

  const refusals: ReadonlyArray<readonly [string, Record<string, string>, string, string]> = [
    ['a missing host list', { DB_CASSANDRA_KEYSPACE: 'platform' }, 'PH_ERR_CONFIG_MISSING', 'DB_CASSANDRA_HOSTS'],
    ['a port that is not a number', { DB_CASSANDRA_HOSTS: 'db:90x2' }, 'PH_ERR_CONFIG_INVALID', 'DB_CASSANDRA_HOSTS'],
    [
      'an unknown consistency',
      { DB_CASSANDRA_CONSISTENCY: 'most' },
      'PH_ERR_CONFIG_INVALID',
      'DB_CASSANDRA_CONSISTENCY',
    ],
    [
      'a timeout without unit',
      { DB_CASSANDRA_REQUEST_TIMEOUT: '12' },
      'PH_ERR_CONFIG_INVALID',
      'DB_CASSANDRA_REQUEST_TIMEOUT',
    ],
    [
      'a keyspace with a quote',
      { DB_CASSANDRA_KEYSPACE: "x'; DROP" },
      'PH_ERR_CONFIG_INVALID',
      'DB_CASSANDRA_KEYSPACE',
    ],
    [
      'a replication that is not one map',
      { DB_CASSANDRA_REPLICATION: "{'class': 'SimpleStrategy'} AND durable_writes = false" },
      'PH_ERR_CONFIG_INVALID',
      'DB_CASSANDRA_REPLICATION',
    ],
    [
      'a password without user',
      { DB_CASSANDRA_PASSWORD: 'pw-s3cr3t' },
      'PH_ERR_CONFIG_MISSING',
      'DB_CASSANDRA_USERNAME',
    ],
  ];
  for (const [what, values, code, key] of refusals) {
    it(`refuses ${what} with ${code} naming ${key}, never quoting a value`, async function () {
      const error = await rejectionOf(
        Promise.resolve().then(() =>
          adapter.create(
            adapterContextForTest(
              'cassandra',
              code === 'PH_ERR_CONFIG_MISSING' && key === 'DB_CASSANDRA_HOSTS'
                ? values
                : { DB_CASSANDRA_HOSTS: '127.0.0.1', ...values },
            ),
          ),
        ),
      );
      expect(isPlatformError(error) && error.code).to.equal(code);
      expect(error.message).to.contain(key);
      for (const value of Object.values(values)) if (value.length > 4) expect(error.message).to.not.contain(value);
    });
  }
});

describe('Cassandra errors whose outcome is unknown', function () {
  const { errors, types } = cassandra;
  const socketError = (written: boolean): Error =>
    Object.assign(new Error('Socket was closed'), { isSocketError: true, requestNotWritten: !written });
  const cases: Array<[string, Error, boolean]> = [
    [
      'a write timeout (a logged batch: BATCH_LOG or BATCH)',
      new errors.ResponseError(
        types.responseErrorCodes.writeTimeout,
        'Operation timed out - received only 0 responses.',
      ),
      true,
    ],
    ['a write failure', new errors.ResponseError(types.responseErrorCodes.writeFailure, 'Operation failed'), true],
    [
      'a client-side timeout',
      new errors.OperationTimedOutError('The host 127.0.0.1:9042 did not reply before timeout 12000 ms'),
      true,
    ],
    ['a connection closed after the request was written', socketError(true), true],
    [
      'no host available, the host timed out',
      new errors.NoHostAvailableError({ '127.0.0.1:9042': new errors.OperationTimedOutError('timeout') }),
      true,
    ],
    [
      'a syntax error',
      new errors.ResponseError(types.responseErrorCodes.syntaxError, 'line 1:0 no viable alternative'),
      false,
    ],
    ['an invalid request', new errors.ResponseError(types.responseErrorCodes.invalid, 'Batch too large'), false],
    [
      'unavailable (refused before writing)',
      new errors.ResponseError(types.responseErrorCodes.unavailableException, 'Cannot achieve consistency level'),
      false,
    ],
    ['a connection closed before the request was written', socketError(false), false],
    [
      'no host available, connection refused',
      new errors.NoHostAvailableError({ '127.0.0.1:9042': new Error('connect ECONNREFUSED') }),
      false,
    ],
  ];
  for (const [what, driverError, unknown] of cases) {
    it(`${what}: ${unknown ? 'PH_ERR_DB_TIMEOUT (in doubt)' : 'PH_ERR_DB_QUERY (not in doubt)'}`, function () {
      expect(isOutcomeUnknownDriverError(driverError)).to.equal(unknown);
      const wrapped = queryError(driverError, 'BATCH INSERT INTO metric_rollup_parts (window_seconds) VALUES (?)');
      expect(wrapped.code).to.equal(unknown ? 'PH_ERR_DB_TIMEOUT' : 'PH_ERR_DB_QUERY');
      expect(isOutcomeUnknown(wrapped)).to.equal(unknown);
      expect(wrapped.message).to.contain('BATCH INSERT INTO metric_rollup_parts');
    });
  }
});

describe('CassandraDatabase without a server', function () {
  let silent: Server;
  const sockets = new Set<Socket>();
  let port = 0;

  before(async function () {
    // Accepts connections and never answers: the driver's connect timeout must end connect().
    silent = createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    port = (silent.address() as { port: number }).port;
  });

  after(async function () {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
  });

  it('fails connect() with PH_ERR_DB_QUERY naming the hosts and a hint, never the password', async function () {
    const password = `pw-${randomBytes(6).toString('hex')}`;
    const db = new CassandraDatabase({
      contactPoints: [`127.0.0.1:${port}`],
      username: 'cassandra',
      password,
      connectTimeoutMs: 300,
      requestTimeoutMs: 300,
    });
    const error = await rejectionOf(db.connect());
    expect(error.code).to.equal('PH_ERR_DB_QUERY');
    expect(error.message).to.contain(`127.0.0.1:${port}`);
    expect(error.hint).to.contain('DB_CASSANDRA_HOSTS');
    expect(JSON.stringify({ message: error.message, hint: error.hint, stack: error.stack })).to.not.contain(password);
    expect(db.isConnected()).to.equal(false);
    expect(await db.healthCheck()).to.include({ ok: false });
  });

  it('rejects queries with PH_ERR_NOT_CONNECTED before connect()', async function () {
    const db = new CassandraDatabase({ contactPoints: [`127.0.0.1:${port}`] });
    expect((await rejectionOf(db.fetchAll('SELECT now() FROM system.local'))).code).to.equal('PH_ERR_NOT_CONNECTED');
    expect((await rejectionOf(db.batch([{ sql: 'SELECT 1' }]))).code).to.equal('PH_ERR_NOT_CONNECTED');
  });
});

describeWithCassandra('CassandraDatabase (real server)', function (cluster) {
  describeCqlDatabaseConformance('cassandra', {
    create: async () => {
      const db = databaseOn(cluster());
      await db.connect();
      return db;
    },
    destroy: (db: Database) => db.disconnect(),
  });

  it('fetchAllOnEachNode reads a node-local table on every node of the local data center (here the single node)', async function () {
    this.timeout(60_000);
    const db = databaseOn(cluster());
    await db.connect();
    try {
      const byNode = await db.fetchAllOnEachNode<{ host_id: string; written_at?: Date }>(
        'SELECT host_id FROM system.local',
      );
      expect(byNode.size).to.equal(1);
      const [address, rows] = [...byNode][0] ?? ['', []];
      expect(address).to.match(/^127\.0\.0\.1:\d+$/);
      expect(rows).to.have.length(1);
      expect(rows[0]?.host_id).to.be.a('string');
      const batches = await db.fetchAllOnEachNode('SELECT toUnixTimestamp(id) AS written_at FROM system.batches');
      expect([...batches.values()].every(Array.isArray)).to.equal(true);
    } finally {
      await db.disconnect();
    }
  });

  describe('keyspace', function () {
    this.timeout(60_000);
    const keyspace = `ph_test_ks_${randomBytes(4).toString('hex')}`;
    let db: CassandraDatabase | undefined;

    afterEach(async function () {
      if (db?.isConnected()) await db.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`);
      await db?.disconnect();
      db = undefined;
    });

    it('connects to a keyspace that does not exist yet, names it in errors, and switches to it once CREATE KEYSPACE made it', async function () {
      const logger = new RecordingLogger();
      db = databaseOn(cluster(), { keyspace, logger });
      await db.connect();
      expect(logger.infos.map((entry) => entry.fields['keyspace'])).to.include(keyspace);
      const health = await db.healthCheck();
      expect(health).to.include({ ok: true });
      expect(health.detail).to.contain(keyspace);
      const early = await rejectionOf(db.execute('CREATE TABLE early (id int PRIMARY KEY)'));
      expect(early.code).to.equal('PH_ERR_DB_QUERY');
      expect(early.hint).to.contain(keyspace).and.contain('migrate up');
      await db.execute(`CREATE KEYSPACE IF NOT EXISTS ${keyspace} WITH replication = ${db.keyspace.replication}`);
      await db.execute('CREATE TABLE items (id int PRIMARY KEY, name text)');
      await db.execute('INSERT INTO items (id, name) VALUES (?, ?)', [1, 'in the new keyspace']);
      const found = await db.fetchOne(`SELECT name FROM ${keyspace}.items WHERE id = ?`, [1]);
      expect(found).to.deep.equal({ name: 'in the new keyspace' });
      expect(await db.healthCheck()).to.deep.equal({ ok: true });
    });
  });

  describe('bulkInsert concurrency', function () {
    this.timeout(60_000);
    const table = `ph_test_bulk_${randomBytes(4).toString('hex')}`;
    let db: CassandraDatabase;
    let tracked: cassandra.Client;

    before(async function () {
      db = databaseOn(cluster(), { bulkConcurrency: 4 });
      await db.connect();
      await db.execute(`CREATE TABLE ${table} (id int PRIMARY KEY, name text)`);
      tracked = new cassandra.Client({
        contactPoints: cluster().hosts.split(','),
        localDataCenter: 'datacenter1',
        keyspace: cluster().keyspace,
      });
      await tracked.connect();
    });

    after(async function () {
      await db.execute(`DROP TABLE IF EXISTS ${table}`);
      await db.disconnect();
      await tracked.shutdown();
    });

    it('keeps at most bulkConcurrency INSERTs in flight and inserts every row', async function () {
      // The driver's own per-host counter of requests in flight, sampled while the insert runs.
      let most = 0;
      const sample = setInterval(() => {
        most = Math.max(most, requestsInFlight(db));
      }, 1);
      try {
        const rows = Array.from({ length: 600 }, (_, id) => ({ id, name: `n${id}` }));
        expect(await db.bulkInsert(table, rows)).to.equal(600);
      } finally {
        clearInterval(sample);
      }
      const count = await tracked.execute(`SELECT count(*) AS n FROM ${table}`);
      expect(Number(count.first().get('n'))).to.equal(600);
      expect(most, 'requests in flight seen while inserting').to.be.within(1, 4);
    });
  });
});

/** Requests in flight on every host of the adapter's client (the driver's `getState()`). */
function requestsInFlight(db: CassandraDatabase): number {
  const state = db.driverState();
  if (state === undefined) return 0;
  return state.getConnectedHosts().reduce((sum, host) => sum + state.getInFlightQueries(host), 0);
}
