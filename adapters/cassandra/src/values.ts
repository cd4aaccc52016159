import cassandra from 'cassandra-driver';
import type { Row } from '@platform-host/contracts';

const { types } = cassandra;

/**
 * A parameter as the driver should encode it. Statements with parameters are prepared, so the driver
 * knows each column's type and converts a JavaScript number to int, bigint, varint, float, double or
 * decimal as the column needs. Only what it would refuse is changed here:
 * - a `bigint` becomes its decimal text, which the driver encodes into bigint, counter, varint and
 *   decimal columns alike (it takes a bigint only for bigint columns, and only in another mode);
 * - a `Uint8Array` that is not a Buffer becomes a Buffer over the same bytes (blob);
 * - arrays and plain objects are converted element by element (list/set/tuple, map/UDT).
 * Strings for uuid/timeuuid/inet/date/time columns and Dates for timestamp/date columns are taken
 * by the driver as they are.
 */
export function driverParam(value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value === null || typeof value !== 'object') return value;
  if (Buffer.isBuffer(value) || value instanceof Date) return value;
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (Array.isArray(value)) return value.map(driverParam);
  if (Object.getPrototypeOf(value) === Object.prototype || Object.getPrototypeOf(value) === null) {
    return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, driverParam(inner)]));
  }
  return value;
}

/**
 * A value the driver decoded, as this adapter returns it:
 * bigint/counter/varint → `bigint`; int/smallint/tinyint/float/double → `number`; decimal → `string`
 * (exact); timestamp → `Date`; date → `YYYY-MM-DD`; time → `HH:MM:SS[.fraction]`; uuid/timeuuid →
 * `string` (lower-case); inet → `string`; duration → its CQL text (`1h30m`); blob → `Buffer`;
 * boolean, text, ascii → themselves; list/set/tuple → arrays; map/UDT → plain objects; vector →
 * array of numbers; null → `null`.
 */
export function jsValue(value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (typeof value !== 'object') return value;
  if (value instanceof Date || Buffer.isBuffer(value)) return value;
  if (value instanceof types.Long) return BigInt(value.toString());
  if (value instanceof types.Integer) return BigInt(value.toString());
  if (value instanceof types.BigDecimal) return value.toString();
  if (value instanceof types.Uuid) return value.toString();
  if (value instanceof types.InetAddress) return value.toString();
  if (value instanceof types.LocalDate || value instanceof types.LocalTime || value instanceof types.Duration)
    return value.toString();
  if (value instanceof types.Tuple) return value.values().map(jsValue);
  if (value instanceof types.Vector) return Array.from(value as Iterable<unknown>, jsValue);
  if (Array.isArray(value)) return value.map(jsValue);
  if (value instanceof Map) return Object.fromEntries([...value].map(([key, inner]) => [String(key), jsValue(inner)]));
  if (value instanceof Set) return [...value].map(jsValue);
  return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, jsValue(inner)]));
}

/** The rows of a result as plain objects, with {@link jsValue} applied to every column. */
export function plainRows<T extends Row>(result: cassandra.types.ResultSet): T[] {
  const names = (result.columns ?? []).map((column) => column.name);
  return (result.rows ?? []).map((row) => {
    const plain: Row = {};
    for (const name of names) plain[name] = jsValue(row.get(name));
    return plain as T;
  });
}
