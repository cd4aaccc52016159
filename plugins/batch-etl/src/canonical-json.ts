/**
 * Canonical JSON text of a parsed JSON value: the same JSON value always gives the same text,
 * whatever the key order or number spelling of the source. It is what the dedup key hashes and
 * what is stored, so two spellings of one event are one row.
 *
 * - Object keys are sorted by UTF-16 code units, recursively. (JavaScript always enumerates
 *   array-index keys such as `"2"` and `"10"` first, in numeric order; that order is just as
 *   deterministic.)
 * - No whitespace; strings escaped as `JSON.stringify` escapes them.
 * - Numbers are IEEE doubles (I-JSON, RFC 7493): `1`, `1.0` and `1e0` are the same number and give
 *   `1`. A number a double cannot hold — an integer beyond ±2^53 or one that overflows — is kept
 *   exactly as a decimal when the value comes from {@link parseJsonExact}; a plain `JSON.parse`
 *   result holding one makes {@link canonicalJson} throw {@link InexactNumberError}, so that the
 *   caller can parse the source again with {@link parseJsonExact} instead of storing a wrong value.
 * - Only what PostgreSQL `numeric` (hence `jsonb`) can hold is accepted: at most
 *   {@link NUMERIC_MAX_INTEGER_DIGITS} digits before the decimal point and
 *   {@link NUMERIC_MAX_SCALE} after it; beyond, {@link NumberOutOfRangeError}.
 * - Nesting is bounded: arrays and objects at most {@link MAX_JSON_DEPTH} levels deep, else
 *   {@link TooDeepError}. Every walk here is recursive only down to that bound, so a payload nested
 *   100,000 levels deep is refused, never a stack overflow.
 */

/** `JSON.rawJSON` / `JSON.isRawJSON` (V8 11.4+, Node >= 21), not yet in TypeScript's lib. */
interface RawJsonApi {
  rawJSON(text: string): object;
  isRawJSON(value: unknown): boolean;
}
interface ReviverContext {
  readonly source?: string;
}
type SourceReviver = (this: unknown, key: string, value: unknown, context?: ReviverContext) => unknown;

const RAW_JSON = JSON as unknown as JSON & RawJsonApi;
const NUMBER_PATTERN = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([-+]?\d+))?$/;

/** Thrown by {@link canonicalJson} for a number that a double may not represent exactly. */
export class InexactNumberError extends Error {
  constructor(value: number) {
    super(`The number ${String(value)} is beyond double precision; parse the source with parseJsonExact`);
    this.name = 'InexactNumberError';
  }
}

/** Deepest nesting of arrays and objects accepted in a payload (the payload object itself is level 1). */
export const MAX_JSON_DEPTH = 1000;
/** PostgreSQL numeric: up to 131072 digits before the decimal point (NUMERIC_WEIGHT_MAX). */
export const NUMERIC_MAX_INTEGER_DIGITS = 131_072;
/** PostgreSQL numeric: up to 16383 digits after the decimal point (NUMERIC_DSCALE_MAX). */
export const NUMERIC_MAX_SCALE = 16_383;

/** Thrown for a value nested deeper than {@link MAX_JSON_DEPTH}. */
export class TooDeepError extends Error {
  constructor() {
    super(`The value is nested more than ${MAX_JSON_DEPTH} levels deep`);
    this.name = 'TooDeepError';
  }
}

/** Thrown for a number PostgreSQL numeric cannot hold (it would fail with "value overflows numeric format"). */
export class NumberOutOfRangeError extends Error {
  constructor(literal: string) {
    super(
      `The number ${literal.length > 40 ? `${literal.slice(0, 40)}…` : literal} is beyond the range of PostgreSQL numeric`,
    );
    this.name = 'NumberOutOfRangeError';
  }
}

/**
 * True when `value` holds arrays or objects nested deeper than `maxDepth`. Iterative (an explicit
 * stack), so it is safe on any input `JSON.parse` accepted.
 */
export function isNestedDeeperThan(value: unknown, maxDepth: number): boolean {
  const stack: Array<{ readonly value: unknown; readonly depth: number }> = [{ value, depth: 0 }];
  for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
    const current = top.value;
    if (typeof current !== 'object' || current === null) continue;
    const depth = top.depth + 1;
    if (depth > maxDepth) return true;
    for (const item of Array.isArray(current) ? current : Object.values(current)) {
      if (typeof item === 'object' && item !== null) stack.push({ value: item, depth });
    }
  }
  return false;
}

interface Decimal {
  readonly negative: boolean;
  /** Significant digits without leading or trailing zeros; '' for zero. */
  readonly digits: string;
  /** value = digits × 10^exponent */
  readonly exponent: number;
}

function decimalOf(literal: string): Decimal | undefined {
  const match = NUMBER_PATTERN.exec(literal);
  if (!match) return undefined;
  const fraction = match[3] ?? '';
  let digits = (match[2] ?? '') + fraction;
  let exponent = Number(match[4] ?? '0') - fraction.length;
  digits = digits.replace(/^0+/, '');
  const trimmed = digits.replace(/0+$/, '');
  exponent += digits.length - trimmed.length;
  if (trimmed === '') return { negative: false, digits: '', exponent: 0 };
  return { negative: match[1] === '-', digits: trimmed, exponent };
}

/** JavaScript's own spelling of a double, as a decimal (`1e+21` included). */
function decimalOfNumber(value: number): Decimal | undefined {
  return decimalOf(String(value).replace('e+', 'e'));
}

function sameDecimal(a: Decimal | undefined, b: Decimal | undefined): boolean {
  return (
    a !== undefined &&
    b !== undefined &&
    a.negative === b.negative &&
    a.digits === b.digits &&
    a.exponent === b.exponent
  );
}

/** One spelling per decimal value: integers in full up to 40 digits, else `d.ddde±N`. */
function decimalText(decimal: Decimal): string {
  if (decimal.digits === '') return '0';
  const sign = decimal.negative ? '-' : '';
  if (decimal.exponent >= 0 && decimal.digits.length + decimal.exponent <= 40)
    return sign + decimal.digits + '0'.repeat(decimal.exponent);
  const scientificExponent = decimal.exponent + decimal.digits.length - 1;
  const mantissa = decimal.digits.length > 1 ? `${decimal.digits[0]}.${decimal.digits.slice(1)}` : decimal.digits;
  return `${sign}${mantissa}e${scientificExponent}`;
}

/** True when PostgreSQL numeric can hold the decimal (see {@link NUMERIC_MAX_SCALE}). */
function fitsNumeric(decimal: Decimal): boolean {
  if (decimal.digits === '') return true;
  return (
    decimal.digits.length + decimal.exponent <= NUMERIC_MAX_INTEGER_DIGITS && -decimal.exponent <= NUMERIC_MAX_SCALE
  );
}

const exactReviver: SourceReviver = (_key, value, context) => {
  if (typeof value !== 'number' || context?.source === undefined) return value;
  const source = decimalOf(context.source);
  if (Number.isFinite(value) && sameDecimal(source, decimalOfNumber(value))) return value;
  // The double is not the number the source wrote (rounded, or overflowed): keep the decimal, if
  // PostgreSQL can hold it; else the number stays as it is (maybe Infinity) and canonicalJson refuses it.
  return source === undefined || !fitsNumeric(source) ? value : RAW_JSON.rawJSON(decimalText(source));
};

/**
 * `JSON.parse`, except that numbers a double cannot hold exactly are kept as raw JSON decimals
 * (`JSON.rawJSON`), which {@link canonicalJson} writes as they are. Slower than `JSON.parse`: used
 * only for the rare text that holds such a number. Throws `SyntaxError` like `JSON.parse`, and
 * {@link TooDeepError} for text nested deeper than {@link MAX_JSON_DEPTH} + 1 levels (V8 applies a
 * reviver recursively: deeper text would overflow the stack).
 */
export function parseJsonExact(text: string): unknown {
  const plain: unknown = JSON.parse(text);
  if (isNestedDeeperThan(plain, MAX_JSON_DEPTH + 1)) throw new TooDeepError();
  return JSON.parse(text, exactReviver);
}

/** True for a number a double may not represent exactly (see {@link InexactNumberError}). */
function isInexact(value: number): boolean {
  return !Number.isFinite(value) || (Number.isInteger(value) && !Number.isSafeInteger(value));
}

/**
 * `value` with object keys in sorted order, sharing every part that is already sorted. `depth` is
 * the nesting level of `value`'s container; recursion stops at {@link MAX_JSON_DEPTH}. With
 * `exact`, the value comes from {@link parseJsonExact}: a plain number left inexact is out of range.
 */
function sortedCopy(value: unknown, depth: number, exact: boolean): unknown {
  if (typeof value === 'number') {
    // From parseJsonExact, a number that stayed a double is exact unless it overflowed (see exactReviver).
    if (exact ? !Number.isFinite(value) : isInexact(value))
      throw exact ? new NumberOutOfRangeError(String(value)) : new InexactNumberError(value);
    return value;
  }
  if (typeof value !== 'object' || value === null) return value;
  depth += 1;
  if (depth > MAX_JSON_DEPTH) throw new TooDeepError();
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let index = 0; index < value.length; index += 1) {
      const item: unknown = value[index];
      const sorted = sortedCopy(item, depth, exact);
      if (sorted !== item) {
        copy ??= value.slice();
        copy[index] = sorted;
      }
    }
    return copy ?? value;
  }
  const object = value as Record<string, unknown>;
  const keys = Object.keys(object);
  // A JSON.rawJSON number (see parseJsonExact) looks like an object with one key, rawJSON.
  if (keys.length === 1 && keys[0] === 'rawJSON' && RAW_JSON.isRawJSON(value)) return value;
  let inOrder = true;
  for (let index = 1; index < keys.length; index += 1) {
    if ((keys[index - 1] as string) > (keys[index] as string)) {
      inOrder = false;
      break;
    }
  }
  if (inOrder) {
    let copy: Record<string, unknown> | undefined;
    for (const key of keys) {
      const item = object[key];
      const sorted = sortedCopy(item, depth, exact);
      if (sorted !== item) {
        copy ??= { ...object };
        copy[key] = sorted;
      }
    }
    return copy ?? object;
  }
  keys.sort();
  // A plain object: JSON.stringify is about twice as fast on it as on a prototype-less one.
  const copy: Record<string, unknown> = {};
  for (const key of keys) {
    // Assigning __proto__ would set the prototype instead of adding the key.
    if (key === '__proto__')
      Object.defineProperty(copy, key, {
        value: sortedCopy(object[key], depth, exact),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    else copy[key] = sortedCopy(object[key], depth, exact);
  }
  return copy;
}

/** Options of {@link canonicalJson}. */
export interface CanonicalJsonOptions {
  /** The value comes from {@link parseJsonExact}: a number still inexact is out of numeric range. */
  readonly exactNumbers?: boolean;
}

/**
 * The canonical JSON text of a value parsed from JSON (see the module comment). Throws
 * {@link InexactNumberError} when it holds a plain number beyond double precision (without
 * `exactNumbers`), {@link NumberOutOfRangeError} for one PostgreSQL numeric cannot hold (with it),
 * and {@link TooDeepError} when it is nested deeper than {@link MAX_JSON_DEPTH}.
 */
export function canonicalJson(value: unknown, options: CanonicalJsonOptions = {}): string {
  const text = JSON.stringify(sortedCopy(value, 0, options.exactNumbers ?? false));
  if (text === undefined) throw new TypeError('canonicalJson: the value has no JSON form');
  return text;
}
