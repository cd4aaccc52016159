import type { Row } from '@platform-host/contracts';
import type { ColumnKind } from './copy-text.js';

/** OIDs of the built-in types the adapters treat specially (fixed in every PostgreSQL). */
export const PG_TYPE_OID = {
  bytea: 17,
  int8: 20,
  text: 25,
  json: 114,
  /** box[]: the one built-in array type whose elements are separated by `;`. */
  boxArray: 1020,
  bpchar: 1042,
  varchar: 1043,
  jsonb: 3802,
} as const;

/**
 * The catalog query behind `bulkInsert`: `$1` is the quoted target (`"schema"."table"`), `$2` the
 * column names as `text[]`. One row per listed column that exists (a domain reported as its base
 * type), or a single row with a null `name` when none does; no row when there is no such relation.
 */
export const BULK_TARGET_QUERY = `SELECT c.relkind::text AS relkind, a.attname::text AS name,
       (CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END)::int4 AS type_oid,
       t.typcategory::text AS category, a.attgenerated <> '' AS generated
  FROM pg_catalog.pg_class c
  LEFT JOIN pg_catalog.pg_attribute a
    ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attname = ANY($2::text[])
  LEFT JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
 WHERE c.oid = to_regclass($1)`;

/** One column of a bulk-insert target, as the catalog describes it. */
export interface TargetColumn {
  readonly name: string;
  readonly typeOid: number;
  /** `pg_type.typcategory`: `A` for arrays. */
  readonly category: string;
  /** A generated column, which COPY and INSERT may not write. */
  readonly generated: boolean;
  readonly kind: ColumnKind;
}

/** A bulk-insert target as read from {@link BULK_TARGET_QUERY}'s rows. */
export interface BulkTarget {
  /** False when the catalog has no such relation. */
  readonly found: boolean;
  /** A plain or partitioned table (not a view, foreign or other relation). */
  readonly isTable: boolean;
  /** The listed columns that exist, by name. */
  readonly columns: ReadonlyMap<string, TargetColumn>;
}

/** How values of a column of this type are written (json, array, bytea or scalar text). */
export function columnKind(typeOid: number, category: string): ColumnKind {
  if (typeOid === PG_TYPE_OID.json || typeOid === PG_TYPE_OID.jsonb) return 'json';
  if (typeOid === PG_TYPE_OID.bytea) return 'bytea';
  return category === 'A' ? 'array' : 'scalar';
}

/** Reads the rows {@link BULK_TARGET_QUERY} returned. */
export function readBulkTarget(rows: readonly Row[]): BulkTarget {
  const first = rows[0];
  if (first === undefined) return { found: false, isTable: false, columns: new Map() };
  const columns = new Map<string, TargetColumn>();
  for (const row of rows) {
    if (typeof row.name !== 'string') continue;
    const typeOid = Number(row.type_oid);
    const category = String(row.category);
    columns.set(row.name, {
      name: row.name,
      typeOid,
      category,
      generated: row.generated === true,
      kind: columnKind(typeOid, category),
    });
  }
  const relkind = String(first.relkind);
  return { found: true, isTable: relkind === 'r' || relkind === 'p', columns };
}
