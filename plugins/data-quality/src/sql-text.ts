/** A plain SQL identifier from the checks file: letters, digits, `_` and `$`, not starting with a digit or `$`. */
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_$]*$/;
/** PostgreSQL truncates identifiers to 63 bytes (NAMEDATALEN - 1); longer ones are refused instead. */
const MAX_IDENTIFIER_BYTES = 63;

/** A validated identifier, as PostgreSQL resolves it unquoted (lowercase), and quoted for SQL. */
export interface SqlName {
  /** `cleaned_events`, `analytics.events`: what the report and the history show. */
  readonly display: string;
  /** `"cleaned_events"`, `"analytics"."events"`. */
  readonly sql: string;
}

/** Why `name` is not a plain identifier, or `undefined` when it is one. */
export function identifierProblem(name: string): string | undefined {
  if (!IDENTIFIER.test(name))
    return `${JSON.stringify(name)} is not a plain identifier (letters, digits, _ and $, starting with a letter or _)`;
  if (Buffer.byteLength(name) > MAX_IDENTIFIER_BYTES)
    return `${JSON.stringify(name)} is longer than ${MAX_IDENTIFIER_BYTES} bytes`;
  return undefined;
}

/**
 * A column name (validated beforehand with {@link identifierProblem}), folded to lowercase as
 * PostgreSQL folds unquoted names, then double-quoted so reserved words work as names.
 */
export function columnName(name: string): SqlName {
  const lower = name.toLowerCase();
  return { display: lower, sql: `"${lower}"` };
}

/** Why `name` is not `table` or `schema.table`, or `undefined` when it is. */
export function tableNameProblem(name: string): string | undefined {
  const parts = name.split('.');
  if (parts.length > 2) return `${JSON.stringify(name)} has more than one "." (write table or schema.table)`;
  for (const part of parts) {
    const problem = identifierProblem(part);
    if (problem) return parts.length === 1 ? problem : `in ${JSON.stringify(name)}: ${problem}`;
  }
  return undefined;
}

/** A table name validated with {@link tableNameProblem}, part by part as {@link columnName}. */
export function tableName(name: string): SqlName {
  const parts = name.split('.').map(columnName);
  return { display: parts.map((part) => part.display).join('.'), sql: parts.map((part) => part.sql).join('.') };
}

/**
 * A string as an SQL literal. The escape-string form (`E'...'`, backslashes and quotes doubled)
 * means the same whatever `standard_conforming_strings` is, so no value can end the literal.
 * NUL cannot be sent to PostgreSQL in text and is refused.
 */
export function quoteLiteral(value: string): string {
  if (value.includes('\0')) throw new Error('an SQL literal cannot contain a NUL character');
  return `E'${value.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

/** SQL from the checks file with trailing semicolons and blanks removed, so it can be a subquery. */
export function trimStatement(sql: string): string {
  return sql.trim().replace(/[\s;]+$/, '');
}
