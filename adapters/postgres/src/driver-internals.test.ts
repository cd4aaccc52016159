import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { expect } from 'chai';
import postgres from 'postgres';
import { useRealService } from '@platform-host/test-kit';
import {
  driverTypeTables,
  installArrayParsers,
  PINNED_POSTGRES_VERSION,
  socketOption,
  untypedParam,
  watchRejection,
  type DriverParser,
} from './driver-internals.js';
import type { SocketTarget } from './server-protocol.js';

const INT4 = 23;
const INT4_ARRAY = 1007;
const BOOL = 16;

async function readJson(url: URL): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(url, 'utf8')) as Record<string, unknown>;
}

async function rejection(promise: PromiseLike<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the promise to reject');
}

describe('the pinned postgres.js still exposes the internals the adapter relies on', function () {
  describe('without a server', function () {
    let sql: postgres.Sql;

    before(function () {
      // Never connects: every query here is built, not run.
      sql = postgres('postgres://nobody@127.0.0.1:1/none', { max: 1, connect_timeout: 2 });
    });

    after(async function () {
      await sql.end({ timeout: 0 });
    });

    it('is the exact version package.json pins, without a range', async function () {
      const installed = await readJson(new URL('../package.json', import.meta.resolve('postgres')));
      const own = await readJson(new URL('../package.json', import.meta.url));
      expect(installed.name).to.equal('postgres');
      expect(installed.version).to.equal(PINNED_POSTGRES_VERSION);
      expect((own.dependencies as Record<string, string>).postgres).to.equal(PINNED_POSTGRES_VERSION);
    });

    it('keeps its parsers by OID on sql.options.parsers and shared.typeArrayMap, empty before connecting', function () {
      const tables = driverTypeTables(sql);
      expect(tables.parsers).to.be.an('object');
      expect(tables.parsers[BOOL]).to.be.a('function');
      expect(tables.shared).to.be.an('object');
      expect(tables.shared.typeArrayMap).to.deep.equal({});
      expect(Object.getPrototypeOf(tables.shared.typeArrayMap)).to.equal(Object.prototype);
    });

    it("gives every query an own, writable 'reject' function property, besides writable() and cancel()", function () {
      // Built only: a postgres.js query runs when it is awaited.
      const query = sql.unsafe('SELECT 1');
      expect(query).to.be.instanceOf(Promise);
      const descriptor = Object.getOwnPropertyDescriptor(query, 'reject');
      expect(descriptor?.writable, 'reject is an own writable property').to.equal(true);
      expect(descriptor?.value).to.be.a('function');
      expect(typeof query.writable).to.equal('function');
      expect(typeof query.cancel).to.equal('function');
    });

    it('makes sql.typed(value, 0) a parameter of unspecified type carrying the value as is', function () {
      const value = [true, false];
      const parameter = untypedParam(sql, value) as unknown as Record<string, unknown>;
      expect(parameter.value).to.equal(value);
      expect(parameter.type).to.equal(0);
      // Without the array-type map sql.array() adds, the type stays 0 when the statement is built.
      expect(parameter.array).to.equal(undefined);
    });

    it('reports a client-side failure with a string code and no severity', async function () {
      const error = (await rejection(sql.unsafe('SELECT 1'))) as Record<string, unknown>;
      expect(error).to.be.instanceOf(Error);
      expect(error.code).to.be.a('string');
      expect(error.code).to.not.match(/^[0-9A-Z]{5}$/);
      expect(error.severity).to.equal(undefined);
    });

    it('opens every connection through the socket option, handing it the parsed hosts, ports and path', async function () {
      const targets: SocketTarget[] = [];
      const custom = postgres('postgres://nobody@127.0.0.1:1/none', {
        max: 1,
        connect_timeout: 2,
        ...socketOption((target) => {
          targets.push(target);
          return connect({ host: target.host[0] ?? '', port: target.port[0] ?? 0 });
        }),
      });
      try {
        const error = (await rejection(custom.unsafe('SELECT 1'))) as Record<string, unknown>;
        expect(error.code).to.equal('ECONNREFUSED');
      } finally {
        await custom.end({ timeout: 0 });
      }
      expect(targets).to.have.length(1);
      expect(targets[0]).to.deep.include({ host: ['127.0.0.1'], port: [1], path: false });
    });
  });

  describe('with a server', function () {
    const service = useRealService('postgres');
    const applicationName = `ph_pin_${randomBytes(4).toString('hex')}`;
    let sql: postgres.Sql;

    before(async function () {
      sql = postgres(service().DB_POSTGRES_URL ?? '', {
        max: 2,
        idle_timeout: 0,
        connection: { application_name: applicationName },
        onnotice: () => undefined,
      });
      await sql.unsafe('SELECT 1');
    });

    after(async function () {
      await sql?.end({ timeout: 5 });
    });

    it('fills typeArrayMap on the first connection, with flagged array parsers of its own', function () {
      const tables = driverTypeTables(sql);
      expect(tables.shared.typeArrayMap[INT4]).to.equal(INT4_ARRAY);
      expect(tables.parsers[INT4_ARRAY]).to.be.a('function');
      expect(tables.parsers[INT4_ARRAY]?.array).to.equal(true);
    });

    it('hands a replaced array parser (without the array flag) the whole literal, and keeps it when another connection opens', async function () {
      const tables = driverTypeTables(sql);
      const seen: string[] = [];
      const original = tables.parsers[INT4_ARRAY];
      const replacement: DriverParser = (raw: string) => {
        seen.push(raw);
        return raw;
      };
      tables.parsers[INT4_ARRAY] = replacement;
      try {
        // Two at once, so the pool opens its second connection (which fetches the types again).
        await Promise.all([sql.unsafe('SELECT pg_sleep(0.2)'), sql.unsafe('SELECT pg_sleep(0.2)')]);
        const [{ connections }] = await sql.unsafe<[{ connections: number }]>(
          'SELECT count(*)::int4 AS connections FROM pg_stat_activity WHERE application_name = $1',
          [applicationName],
        );
        expect(connections).to.equal(2);
        expect(tables.parsers[INT4_ARRAY]).to.equal(replacement);
        const rows = await sql.unsafe(`SELECT '{1,NULL,3}'::int4[] AS a, '{{1},{2}}'::int4[] AS b`);
        expect(rows[0]).to.deep.equal({ a: '{1,NULL,3}', b: '{{1},{2}}' });
        expect(seen).to.deep.equal(['{1,NULL,3}', '{{1},{2}}']);
      } finally {
        tables.parsers[INT4_ARRAY] = original;
      }
    });

    it('lets installArrayParsers return NULL elements as null', async function () {
      const own = postgres(service().DB_POSTGRES_URL ?? '', { max: 1, onnotice: () => undefined });
      try {
        await own.unsafe('SELECT 1');
        installArrayParsers(own);
        const rows = await own.unsafe(
          `SELECT ARRAY[1, NULL]::int4[] AS ints, ARRAY[true, NULL] AS bools, ARRAY[box '((1,2),(0,0))', box '((3,4),(1,1))'] AS boxes`,
        );
        expect(rows[0]).to.deep.equal({ ints: [1, null], bools: [true, null], boxes: ['(1,2),(0,0)', '(3,4),(1,1)'] });
      } finally {
        await own.end({ timeout: 5 });
      }
    });

    it("calls a query's own 'reject' property when the server fails it", async function () {
      const query = sql.unsafe('SELECT 1/0');
      const watched = watchRejection(query);
      const error = await rejection(query);
      expect(await rejection(watched)).to.equal(error);
    });

    it('reports a COPY the server rejects after all data was sent through reject (porsager/postgres#1173)', async function () {
      await sql
        .begin(async (tx) => {
          await tx.unsafe('CREATE TEMPORARY TABLE ph_pin_copy (n int4) ON COMMIT DROP');
          const query = tx.unsafe('COPY ph_pin_copy (n) FROM STDIN');
          const watched = watchRejection(query);
          const stream = await query.writable();
          stream.on('error', () => undefined);
          // Not awaited: in this version the stream never finishes once the server has refused the data.
          stream.end('not a number\n');
          let timer: NodeJS.Timeout | undefined;
          const late = new Promise((resolve) => {
            timer = setTimeout(() => resolve('no rejection within 5 s'), 5_000);
          });
          try {
            const error = (await Promise.race([rejection(watched), late])) as Record<string, unknown>;
            expect(error.code).to.equal('22P02');
          } finally {
            clearTimeout(timer);
          }
        })
        .catch((error: unknown) => {
          // The failed COPY aborts the transaction; only that failure may end it.
          const code = (error as { code?: unknown }).code;
          if (code !== '22P02' && code !== '25P02') throw error;
        });
    });

    it('reports server errors with a severity, a five-character SQLSTATE as code, and constraint_name', async function () {
      const reserved = await sql.reserve();
      try {
        const error = (await rejection(
          reserved.unsafe(
            'CREATE TEMPORARY TABLE ph_pin_unique (id int4 PRIMARY KEY); INSERT INTO ph_pin_unique VALUES (1), (1)',
          ),
        )) as Record<string, unknown>;
        expect(error).to.be.instanceOf(postgres.PostgresError);
        expect(error.severity).to.equal('ERROR');
        expect(error.code).to.equal('23505');
        expect(error.constraint_name).to.equal('ph_pin_unique_pkey');
      } finally {
        await reserved.unsafe('DROP TABLE IF EXISTS ph_pin_unique').catch(() => undefined);
        reserved.release();
      }
    });

    it('serializes a sql.typed(value, 0) parameter by the type the server infers for its placeholder', async function () {
      const rows = await sql.unsafe('SELECT $1::int4[] AS ints, $2::jsonb AS doc, $3::bool[] AS flags', [
        untypedParam(sql, [1, 2]),
        untypedParam(sql, [true, false]),
        untypedParam(sql, [true, false]),
      ]);
      expect(rows[0]).to.deep.equal({ ints: [1, 2], doc: [true, false], flags: [true, false] });
    });
  });
});
