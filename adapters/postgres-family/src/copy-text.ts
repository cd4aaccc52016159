/**
 * Encoding of JavaScript values into the text representation PostgreSQL parses, and into rows of
 * `COPY ... FROM STDIN` in its default text format (tab-separated, `\N` for NULL, backslash escapes).
 */
import { DatabaseQueryError } from './query-error.js';

/** How a target column wants its values written; decided from the column's type. */
export type ColumnKind = 'json' | 'array' | 'bytea' | 'scalar';

/** `JSON.rawJSON` (Node >= 21; not in TypeScript's ES2023 lib). */
const rawJson = (JSON as unknown as { rawJSON?: (text: string) => unknown }).rawJSON;

/** JSON text of a value; bigints are written as exact JSON numbers (as strings where Node lacks `JSON.rawJSON`). */
export function jsonText(value: unknown): string {
  try {
    // Without a replacer first: several times faster, and it only fails on bigints.
    return JSON.stringify(value);
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
    return JSON.stringify(value, (_key, item: unknown) => {
      if (typeof item !== 'bigint') return item;
      return rawJson === undefined ? item.toString() : rawJson(item.toString());
    });
  }
}

function byteaText(bytes: Uint8Array): string {
  return '\\x' + Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/**
 * The text PostgreSQL's input function of a scalar column parses back into `value`: strings as
 * they are, `true`/`false`, numbers and bigints in decimal, dates in ISO 8601 (UTC), byte arrays as
 * `bytea` hex, other objects and arrays as JSON.
 */
export function scalarText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return String(value);
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new TypeError('an invalid Date cannot be written');
    return value.toISOString();
  }
  if (value instanceof Uint8Array) return byteaText(value);
  if (typeof value === 'object' && value !== null) return jsonText(value);
  throw new TypeError(`a ${typeof value} value cannot be written to PostgreSQL`);
}

/** A parameter bound to a text placeholder: objects and arrays as JSON (not "[object Object]"), the rest as `String(value)`. */
export function textParam(value: unknown): string {
  return typeof value === 'object' && value !== null ? scalarText(value) : String(value);
}

/** A parameter bound to a json/jsonb placeholder: a string is JSON text already; anything else is serialized (bigints exactly). */
export function jsonParam(value: unknown): string {
  return typeof value === 'string' ? value : jsonText(value);
}

function arrayElementText(value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  if (Array.isArray(value)) return arrayLiteral(value);
  return '"' + scalarText(value).replace(/[\\"]/g, (char) => '\\' + char) + '"';
}

/** A PostgreSQL array literal (`{"a","b",NULL}`); nested arrays become multi-dimensional arrays. */
export function arrayLiteral(values: readonly unknown[]): string {
  return '{' + values.map(arrayElementText).join(',') + '}';
}

/** The text of `value` for a column of the given kind, or `null` for SQL NULL. */
export function columnText(value: unknown, kind: ColumnKind): string | null {
  if (value === null || value === undefined) return null;
  switch (kind) {
    case 'json':
      // A string is taken as JSON text already (as the driver does for parameters), so a caller can
      // pass either a parsed value or the JSON it came from.
      return typeof value === 'string' ? value : jsonText(value);
    case 'array':
      return Array.isArray(value) ? arrayLiteral(value) : scalarText(value);
    case 'bytea':
    case 'scalar':
      return scalarText(value);
  }
}

const COPY_ESCAPES: Readonly<Record<string, string>> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };
const NEEDS_COPY_ESCAPE = /[\\\n\r\t]/;

/** One field of a COPY text-format row: `\N` for NULL, otherwise the text with `\`, tab, CR and LF escaped. */
export function copyField(text: string | null): string {
  if (text === null) return '\\N';
  if (!NEEDS_COPY_ESCAPE.test(text)) return text;
  return text.replace(/[\\\n\r\t]/g, (char) => COPY_ESCAPES[char] ?? char);
}

/**
 * One COPY text-format line (with its trailing newline) for `row`. A key missing from the row is
 * written as NULL. Throws a `TypeError` naming the column when a value cannot be encoded.
 */
export function copyLine(
  row: Readonly<Record<string, unknown>>,
  columns: readonly string[],
  kinds: readonly ColumnKind[],
): string {
  let line = '';
  for (let index = 0; index < columns.length; index += 1) {
    const column = columns[index] as string;
    let text: string | null;
    try {
      text = columnText(row[column], kinds[index] ?? 'scalar');
    } catch (error) {
      throw new TypeError(`column "${column}": ${error instanceof Error ? error.message : String(error)}`, {
        cause: error,
      });
    }
    line += (index === 0 ? '' : '\t') + copyField(text);
  }
  return line + '\n';
}

/**
 * The COPY text-format lines of `rows[start..end)`, concatenated. A value that cannot be encoded
 * fails with `PH_ERR_DB_QUERY` naming `context`, the row index and the column.
 */
export function copyRows(
  rows: readonly Readonly<Record<string, unknown>>[],
  start: number,
  end: number,
  columns: readonly string[],
  kinds: readonly ColumnKind[],
  context: string,
): string {
  let text = '';
  for (let index = start; index < end; index += 1) {
    try {
      text += copyLine(rows[index] ?? {}, columns, kinds);
    } catch (error) {
      throw new DatabaseQueryError(
        `${context}: row ${index}, ${error instanceof Error ? error.message : String(error)}`,
        {
          cause: error,
        },
      );
    }
  }
  return text;
}
