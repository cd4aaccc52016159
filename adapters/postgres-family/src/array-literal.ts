import { parse } from 'postgres-array';

/** Parses one element's text (for example `Number` for int4); `undefined` keeps the text. */
export type ElementParser = ((raw: string) => unknown) | undefined;

/**
 * Parses PostgreSQL's text output of an array (`{1,NULL,3}`, `{{"a b","c\"d"},{e,f}}`,
 * `[0:1]={5,6}`) into nested JavaScript arrays, with unquoted `NULL` elements as `null` and
 * `parseElement` applied to every other element. postgres.js 3.4 returns those NULLs as the string
 * `'NULL'` (or `NaN`, `false` after the element parser: porsager/postgres#1124, #1049).
 *
 * Done by the `postgres-array` package, which:
 * - splits elements on `,` only, so it is not for `box[]` (the one built-in type separated by `;`);
 * - trusts its input: give it only text a PostgreSQL server produced. Some malformed text throws an
 *   `Error` (`Invalid array text - ...`), some is accepted, and an unterminated quoted element
 *   (`{"open}`) makes it loop until memory runs out.
 */
export function parseArrayLiteral(text: string, parseElement: ElementParser): unknown[] {
  return parseElement === undefined ? parse(text) : parse<unknown>(text, parseElement);
}
