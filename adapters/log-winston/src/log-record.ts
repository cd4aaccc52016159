import type { LogLevel } from '@platform-host/contracts';

/**
 * One log entry as plain JSON data. Secrets were redacted before the logger saw the entry: the
 * host wraps every logger in its redacting proxy, so this adapter only formats.
 */
export interface LogRecord {
  /** ISO 8601, taken when the entry was logged. */
  readonly timestamp: string;
  readonly level: LogLevel;
  readonly module: string;
  readonly correlationId: string | undefined;
  readonly message: string;
  /** Child bindings and caller fields (caller wins on a name clash); empty when there are none. */
  readonly context: Readonly<Record<string, unknown>>;
}

/** Plain objects that stand for an `Error`, so the pretty format can print them as errors. */
const serializedErrors = new WeakSet<object>();

/** Fields deeper than this are replaced by a placeholder. */
const MAX_DEPTH = 10;

/** The error's `name`, `message`, `stack` (when asked) as a {@link serializedErrors} object. */
export interface SerializedError {
  readonly name: string;
  readonly message: string;
  readonly code?: string;
  readonly stack?: string;
  readonly cause?: unknown;
}

/** True when `value` is the serialized form of an `Error` made by {@link toLoggable}. */
export function isSerializedError(value: unknown): value is SerializedError {
  return typeof value === 'object' && value !== null && serializedErrors.has(value);
}

interface WalkState {
  readonly includeStacks: boolean;
  /** Objects on the path from the root to the current value (a repeat means a cycle). */
  readonly ancestors: Set<object>;
}

/**
 * A copy of `value` that `JSON.stringify` can print: cycles become `"[Circular]"`, BigInts strings,
 * Errors `{ name, message, code?, stack?, cause? }`, Dates ISO strings, Maps objects, Sets arrays.
 */
export function toLoggable(value: unknown, includeStacks: boolean): unknown {
  return walk(value, 0, { includeStacks, ancestors: new Set() });
}

function walk(value: unknown, depth: number, state: WalkState): unknown {
  switch (typeof value) {
    case 'string':
      return value;
    case 'number':
      return Number.isFinite(value) ? value : String(value);
    case 'bigint':
      return value.toString();
    case 'boolean':
    case 'undefined':
      return value;
    case 'symbol':
      return value.toString();
    case 'function':
      return `[Function ${value.name || 'anonymous'}]`;
  }
  if (value === null) return null;
  const object = value as object;
  if (state.ancestors.has(object)) return '[Circular]';
  if (object instanceof Date) return Number.isNaN(object.getTime()) ? 'Invalid Date' : object.toISOString();
  if (ArrayBuffer.isView(object)) return `[${object.constructor.name} ${object.byteLength} bytes]`;
  if (depth >= MAX_DEPTH) return Array.isArray(object) ? '[Array]' : '[Object]';

  state.ancestors.add(object);
  try {
    if (object instanceof Error) return walkError(object, depth, state);
    if (Array.isArray(object)) return object.map((item: unknown) => walk(item, depth + 1, state));
    if (object instanceof Set) return [...object].map((item: unknown) => walk(item, depth + 1, state));
    if (object instanceof Map)
      return walkEntries(
        [...object].map(([key, item]) => [String(key), item]),
        depth,
        state,
      );
    const toJSON = (object as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') return walk(toJSON.call(object), depth + 1, state);
    return walkEntries(Object.entries(object), depth, state);
  } finally {
    state.ancestors.delete(object);
  }
}

function walkEntries(
  entries: ReadonlyArray<readonly [string, unknown]>,
  depth: number,
  state: WalkState,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, item] of entries) {
    out[key] = walk(item, depth + 1, state);
  }
  return out;
}

function walkError(error: Error, depth: number, state: WalkState): SerializedError {
  const { code } = error as Error & { code?: unknown };
  const out: { -readonly [K in keyof SerializedError]: SerializedError[K] } = {
    name: error.name,
    message: error.message,
  };
  if (typeof code === 'string') out.code = code;
  if (state.includeStacks && typeof error.stack === 'string') out.stack = error.stack;
  if (error.cause !== undefined) out.cause = walk(error.cause, depth + 1, state);
  serializedErrors.add(out);
  return out;
}

/** `target[key] = value` as an own data property, also for a key named `__proto__` (as spread does). */
function setField(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__')
    Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
}

/** True for a value that `JSON.stringify` prints exactly as {@link toLoggable}'s copy of it. */
function isJsonPrimitive(value: unknown): boolean {
  switch (typeof value) {
    case 'string':
    case 'boolean':
    case 'undefined':
      return true;
    case 'number':
      return Number.isFinite(value);
    default:
      return value === null;
  }
}

/**
 * Merges child bindings and caller fields into the loggable `context` of one entry. The `module`
 * binding is not part of the context (it becomes the entry's `module`).
 *
 * The result is what `toLoggable({ ...bindings, ...fields })` (without `module`) gives, with the
 * same key order. When every value is a string, a boolean, a finite number, null or undefined (a
 * request log line), the merged object is that copy already and is returned without walking it.
 */
export function buildContext(
  bindings: Readonly<Record<string, unknown>>,
  fields: Readonly<Record<string, unknown>> | undefined,
  includeStacks: boolean,
): Record<string, unknown> {
  // An Error passed where fields are expected has no enumerable fields worth printing.
  const callerFields = fields instanceof Error ? { error: fields } : fields;
  try {
    const keepModule = callerFields !== undefined && Object.hasOwn(callerFields, 'module');
    // Built key by key rather than spread-then-delete: `delete` turns the object into a slow
    // dictionary that JSON.stringify and every later read handle more slowly.
    const merged: Record<string, unknown> = {};
    let flat = true;
    for (const key of Object.keys(bindings)) {
      if (key === 'module' && !keepModule) continue;
      setField(merged, key, bindings[key]);
    }
    if (callerFields !== undefined) {
      for (const key of Object.keys(callerFields)) setField(merged, key, callerFields[key]);
    }
    for (const key in merged) {
      if (key === 'toJSON' || !isJsonPrimitive(merged[key])) {
        flat = false;
        break;
      }
    }
    return flat ? merged : (toLoggable(merged, includeStacks) as Record<string, unknown>);
  } catch (error) {
    // A getter that throws, a Proxy that refuses: log the entry anyway and say why the fields are missing.
    return { log_fields_error: `fields could not be serialized: ${String(error)}` };
  }
}
