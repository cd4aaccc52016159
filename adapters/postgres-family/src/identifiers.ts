import { resolveBulkInsertColumns } from '@platform-host/contracts';
import type { BulkInsertColumnErrors, Row } from '@platform-host/contracts';
import { DatabaseQueryError } from './query-error.js';

/** An unquoted SQL identifier: letters, digits, `_` and `$`, not starting with a digit or `$`. */
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_$]*$/;
/** PostgreSQL silently truncates longer identifiers (NAMEDATALEN - 1), so they are refused instead. */
const MAX_IDENTIFIER_LENGTH = 63;

function checkIdentifier(name: string, what: string, context: string): void {
  if (!IDENTIFIER.test(name) || name.length > MAX_IDENTIFIER_LENGTH) {
    throw new DatabaseQueryError(
      `${context}: ${what} ${JSON.stringify(name)} is not a valid identifier ` +
        `(letters, digits, "_" and "$", not starting with a digit, at most ${MAX_IDENTIFIER_LENGTH} characters)`,
      { hint: 'Pass plain table and column names such as "events" or "analytics.events"; quoting is done for you.' },
    );
  }
}

/**
 * `name` as a double-quoted identifier. The name is used exactly as given (quoted identifiers are
 * case-sensitive: `Events` and `events` are different tables). Anything but a plain identifier is
 * refused with `PH_ERR_DB_QUERY`, so no caller input can change the statement's structure.
 */
export function quoteIdentifier(name: string, what: string, context: string): string {
  checkIdentifier(name, what, context);
  return `"${name}"`;
}

/** A table name, optionally schema-qualified (`events`, `analytics.events`), quoted part by part. */
export function quoteTableName(name: string, context: string): string {
  const parts = name.split('.');
  if (parts.length > 2) {
    throw new DatabaseQueryError(
      `${context}: table name ${JSON.stringify(name)} has more than one "." (expected "table" or "schema.table")`,
    );
  }
  return parts.map((part) => quoteIdentifier(part, 'table name part', context)).join('.');
}

/** How the PostgreSQL family reports a bad bulk-insert column list. */
const INSERT_COLUMN_ERRORS: BulkInsertColumnErrors = {
  error: (message, hint) => new DatabaseQueryError(message, hint === undefined ? {} : { hint }),
  missingKeys: 'become NULL',
};

/** The column list: given, or the keys of the first row, which every row must then share. */
export function resolveInsertColumns(
  rows: readonly Row[],
  given: readonly string[] | undefined,
  context: string,
): readonly string[] {
  return resolveBulkInsertColumns(rows, given, context, INSERT_COLUMN_ERRORS);
}
