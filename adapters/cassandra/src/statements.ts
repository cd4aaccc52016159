import { resolveBulkInsertColumns } from '@platform-host/contracts';
import type { BulkInsertColumnErrors, Row } from '@platform-host/contracts';
import { CassandraQueryError } from './query-error.js';

/** A CQL identifier used unquoted: letters, digits and `_`, starting with a letter, at most 48. */
const IDENTIFIER = /^[A-Za-z][A-Za-z0-9_]{0,47}$/;

/**
 * `name` checked to be a plain identifier and written as it is (unquoted: CQL folds it to lower
 * case, as it does in the statements that created the table). Anything else is refused with
 * `PH_ERR_DB_QUERY`, so no caller input can change a statement's structure.
 */
export function cqlIdentifier(name: string, what: string, context: string): string {
  if (!IDENTIFIER.test(name)) {
    throw new CassandraQueryError(
      `${context}: ${what} ${JSON.stringify(name)} is not a valid identifier (letters, digits and "_", starting with a letter, at most 48 characters)`,
      { hint: 'Pass plain table and column names such as "events" or "platform.events".' },
    );
  }
  return name;
}

/** A table name, optionally keyspace-qualified (`events`, `platform.events`). */
export function cqlTableName(name: string, context: string): string {
  const parts = name.split('.');
  if (parts.length > 2) {
    throw new CassandraQueryError(
      `${context}: table name ${JSON.stringify(name)} has more than one "." (expected "table" or "keyspace.table")`,
    );
  }
  return parts.map((part) => cqlIdentifier(part, 'table name part', context)).join('.');
}

/** `INSERT INTO table (columns) VALUES (?, ...)`, with `IF NOT EXISTS` when conflicts are ignored. */
export function insertStatement(
  table: string,
  columns: readonly string[],
  ifNotExists: boolean,
  context: string,
): string {
  const target = cqlTableName(table, context);
  const list = columns.map((column) => cqlIdentifier(column, 'column', context));
  return `INSERT INTO ${target} (${list.join(', ')}) VALUES (${list.map(() => '?').join(', ')})${ifNotExists ? ' IF NOT EXISTS' : ''}`;
}

/** How the Cassandra adapter reports a bad bulk-insert column list. */
const INSERT_COLUMN_ERRORS: BulkInsertColumnErrors = {
  error: (message, hint) => new CassandraQueryError(message, hint === undefined ? {} : { hint }),
  missingKeys: 'are left unset',
};

/** The column list: given, or the keys of the first row, which every row must then share. */
export function resolveInsertColumns(
  rows: readonly Row[],
  given: readonly string[] | undefined,
  context: string,
): readonly string[] {
  return resolveBulkInsertColumns(rows, given, context, INSERT_COLUMN_ERRORS);
}
