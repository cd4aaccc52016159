/**
 * Everything the postgres adapter takes from postgres.js beyond its documented API, in one place.
 *
 * Why `postgres` is pinned to an exact version in this workspace's package.json (no `^`): the
 * adapter works around two driver bugs by reaching into undocumented parts of postgres.js, which a
 * patch or minor release may change without notice:
 *
 * - `sql.options.parsers` and `sql.options.shared.typeArrayMap`, to replace the array parsers that
 *   return NULL elements as `'NULL'`/`NaN`/`false` (porsager/postgres#1124). This relies on the
 *   driver filling `typeArrayMap` when its first connection opens, never replacing an array parser
 *   that exists when later connections open, and handing a parser without the `array` flag the
 *   whole literal (the driver cuts the leading `{` for its own, flagged, array parsers).
 * - A query's own `reject` property, which the connection calls when the server fails the query,
 *   to surface a COPY that the server rejects after all data was sent (porsager/postgres#1173).
 * - `sql.typed(value, 0)`: a parameter of unspecified type (OID 0), whose type the server infers.
 * - The `socket` option (documented in postgres.js's README, "Custom socket", but missing from its
 *   type declarations): called with the parsed options (`host`, `port`, `path` arrays and values)
 *   for every new connection, so the adapter can watch what the server answers first and stop the
 *   reconnect loop of a server that closes before answering (porsager/postgres#1193).
 *
 * `driver-internals.test.ts` ("the pinned postgres.js still exposes the internals the adapter
 * relies on") checks the installed version and each of these; when upgrading postgres.js, change
 * the version here and in package.json together, and make that test pass first.
 */
import type { Socket } from 'node:net';
import type postgres from 'postgres';
import type { SocketTarget } from './server-protocol.js';
import { parseArrayLiteral, PG_TYPE_OID, type ElementParser } from '@platform-host/postgres-family';

/** The postgres.js version the internals below were checked against; package.json pins exactly this. */
export const PINNED_POSTGRES_VERSION = '3.4.9';

/** A parser postgres.js keeps by OID; its own array parsers carry `array: true`. */
export type DriverParser = NonNullable<ElementParser> & { array?: boolean };

/** The parts of postgres.js's parsed options that hold its type parsers (filled when a connection opens). */
export interface DriverTypeTables {
  readonly parsers: Record<number, DriverParser | undefined>;
  readonly shared: { readonly typeArrayMap: Readonly<Record<string, number>> };
}

/** The type tables of `sql` (undocumented: `sql.options` as postgres.js keeps it). */
export function driverTypeTables(sql: postgres.Sql): DriverTypeTables {
  return sql.options as unknown as DriverTypeTables;
}

/**
 * Replaces postgres.js's array parsers by {@link parseArrayLiteral}. postgres.js registers an array
 * parser per element type when its first connection opens and never replaces one that exists, so
 * this runs once after connecting. The replacements have no `array` flag, so they get the whole
 * literal. `box[]`, whose elements are separated by `;` (which parseArrayLiteral does not split
 * on), keeps the driver's parser.
 */
export function installArrayParsers(sql: postgres.Sql): void {
  const tables = driverTypeTables(sql);
  for (const [elementOid, arrayOid] of Object.entries(tables.shared.typeArrayMap)) {
    if (arrayOid === PG_TYPE_OID.boxArray) continue;
    const element = Number(elementOid);
    tables.parsers[arrayOid] = (raw: string): unknown => {
      try {
        return parseArrayLiteral(raw, tables.parsers[element]);
      } catch {
        return raw;
      }
    };
  }
}

/**
 * A promise that rejects with the error postgres.js reports for `query`, even after the query's
 * own promise has settled. postgres.js 3.4 resolves a COPY query with its writable stream and, when
 * the server rejects the data after the stream has ended, neither settles the stream nor surfaces
 * the error (porsager/postgres#1173): the rejection it attempts is the only trace, so it is
 * intercepted here.
 */
export function watchRejection(query: object): Promise<never> {
  let fail: (error: unknown) => void = () => undefined;
  const failed = new Promise<never>((_resolve, reject) => {
    fail = reject;
  });
  failed.catch(() => undefined);
  const target = query as { reject?: unknown };
  const original = target.reject;
  if (typeof original === 'function') {
    target.reject = (error: unknown) => {
      fail(error);
      return (original as (error: unknown) => unknown)(error);
    };
  }
  return failed;
}

/**
 * `value` as a parameter of unspecified type (OID 0), so that the type the server infers for the
 * placeholder decides how it is serialized (postgres.js would otherwise type an array by its first
 * element, sending `[true, false]` as a single boolean).
 */
export function untypedParam<T>(executor: Pick<postgres.Sql, 'typed'>, value: T): postgres.Parameter<T> {
  return executor.typed(value, 0);
}

/**
 * postgres.js options that make it open its connections through `open` (its `socket` option, which
 * its type declarations lack). postgres.js writes its StartupMessage (or SSLRequest) to the socket
 * at once, so `open` returns a socket that is connecting already.
 */
export function socketOption(open: (target: SocketTarget) => Socket): Record<string, never> {
  return { socket: open } as unknown as Record<string, never>;
}
