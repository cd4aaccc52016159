/**
 * Redaction of secrets from everything the host prints or logs (DESIGN.md quality bar: secrets never
 * in output). Secret values reach one runtime-internal registry — the values of config keys marked
 * secret (adapters' and the secrets provider's own), every value a provider says comes from its
 * secret store (`Secrets.isSecret`: a vault), and every value a module reads through
 * `ctx.secrets` — and every text the host emits goes through {@link redactText}, which also scrubs
 * the password of any `scheme://user:password@host` URL, registered or not.
 */

/** Replacement text for redacted values. */
export const REDACTED = '[REDACTED]';

/** Values shorter than this are not registered: they would redact ordinary words. */
const MIN_SECRET_LENGTH = 4;

/** The registered secret values, longest first so a secret containing another is replaced whole. */
let secrets: string[] = [];

/**
 * `scheme://user:password@` — the password part (up to the `@` that ends the authority) is replaced.
 * The user stays, so a message still says which account failed.
 */
const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/[^\s/?#@:]*):([^\s/?#@]*)@/gi;

/**
 * Registers a secret value so every logger, error formatter, health response and `doctor` report
 * replaces it wherever it appears. For a URL with credentials, the password alone is registered
 * too (it may appear decoded or on its own).
 */
export function registerSecret(value: string | undefined | null): void {
  if (typeof value !== 'string') return;
  const found = new Set<string>();
  if (value.length >= MIN_SECRET_LENGTH) found.add(value);
  if (value.includes('://')) {
    try {
      const { password } = new URL(value);
      if (password.length >= MIN_SECRET_LENGTH) {
        found.add(password);
        found.add(decodeURIComponent(password));
      }
    } catch {
      // not a URL
    }
  }
  const fresh = [...found].filter((secret) => !secrets.includes(secret));
  if (fresh.length > 0) secrets = [...secrets, ...fresh].sort((a, b) => b.length - a.length);
}

/** How many values are registered (for tests and `doctor`). */
export function registeredSecretCount(): number {
  return secrets.length;
}

/** `text` with URL passwords and every registered secret value replaced by {@link REDACTED}. */
export function redactText(text: string): string {
  let out = text.includes('://') ? text.replace(URL_CREDENTIALS, `$1:${REDACTED}@`) : text;
  for (const secret of secrets) {
    if (out.includes(secret)) out = out.split(secret).join(REDACTED);
  }
  return out;
}

const SECRET_WORDS = new Set([
  'password',
  'passwd',
  'passphrase',
  'secret',
  'token',
  'apikey',
  'credential',
  'credentials',
  'authorization',
  'cookie',
]);
const SECRET_PAIRS = new Set(['api key', 'access key', 'private key', 'secret key', 'client secret', 'session id']);

/**
 * True for a field name that names a credential, whose value is always redacted in logs: one of its
 * words (split on `_`, `-`, `.`, spaces and camelCase) is password, secret, token, credential(s),
 * authorization, cookie..., or two adjacent words are api key, access key, private key, secret key...
 * (`dbPassword`, `api_key`, `X-Auth-Token`). Plurals and look-alikes such as `secrets` (an adapter
 * flag), `bypass` or `max_tokens` are not credentials.
 */
export function isSecretFieldName(name: string): boolean {
  const known = secretFieldNames.get(name);
  if (known !== undefined) return known;
  const answer = classifyFieldName(name);
  // Field names are few and repeat on every log line; the memo is bounded all the same.
  if (secretFieldNames.size >= MAX_REMEMBERED_FIELD_NAMES) secretFieldNames.clear();
  secretFieldNames.set(name, answer);
  return answer;
}

/** {@link isSecretFieldName}'s answers so far, by field name. */
const secretFieldNames = new Map<string, boolean>();
const MAX_REMEMBERED_FIELD_NAMES = 4096;

function classifyFieldName(name: string): boolean {
  const words = name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .split(/[\s_.-]+/)
    .filter(Boolean);
  return words.some((word, index) => SECRET_WORDS.has(word) || SECRET_PAIRS.has(`${word} ${words[index + 1] ?? ''}`));
}

/** Values nested deeper than this are replaced by a placeholder. */
const MAX_DEPTH = 12;

/**
 * A redacted copy of `value`, for logging: strings through {@link redactText}; the values of
 * credential-looking keys replaced by {@link REDACTED}; arrays, plain objects, Maps and Sets copied;
 * objects with `toJSON` (a `URL`) by their JSON form; Errors as Errors of the same prototype whose
 * `message`, `stack`, `cause`, `code` and other own fields are redacted (so a logger that formats
 * errors still sees one). Cycles are kept as cycles of the copies. The input is never modified.
 */
export function redactValue(value: unknown): unknown {
  return redactFlatRecord(value) ?? copy(value, 0, new Map());
}

/**
 * The fast path of {@link redactValue} for the usual log fields, a plain object whose values are
 * all primitives (a request log line: method, route, status, duration): the same copy, made without
 * the cycle bookkeeping. `undefined` for anything else, which takes the general path.
 */
function redactFlatRecord(value: unknown): Record<string, unknown> | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const prototype = Object.getPrototypeOf(value) as unknown;
  if (prototype !== Object.prototype && prototype !== null) return undefined;
  const source = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(source)) {
    const item = source[key];
    if ((typeof item === 'object' && item !== null) || key === 'toJSON' || key === '__proto__') return undefined;
    out[key] = isCredential(key, item) ? REDACTED : typeof item === 'string' ? redactText(item) : item;
  }
  return out;
}

function copy(value: unknown, depth: number, seen: Map<object, unknown>): unknown {
  if (typeof value === 'string') return redactText(value);
  if (value === null || typeof value !== 'object') return value;
  const known = seen.get(value);
  if (known !== undefined) return known;
  if (value instanceof Date || ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return value;
  if (depth >= MAX_DEPTH) return Array.isArray(value) ? '[Array]' : '[Object]';
  if (value instanceof Error) return copyError(value, depth, seen);
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    seen.set(value, out);
    for (const item of value) out.push(copy(item, depth + 1, seen));
    return out;
  }
  if (value instanceof Map) {
    const out = new Map<unknown, unknown>();
    seen.set(value, out);
    for (const [key, item] of value)
      out.set(key, isCredential(String(key), item) ? REDACTED : copy(item, depth + 1, seen));
    return out;
  }
  if (value instanceof Set) {
    const out = new Set<unknown>();
    seen.set(value, out);
    for (const item of value) out.add(copy(item, depth + 1, seen));
    return out;
  }
  const toJSON = (value as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === 'function') {
    try {
      return copy(toJSON.call(value), depth + 1, seen);
    } catch {
      return '[Unserializable]';
    }
  }
  const out: Record<string, unknown> = {};
  seen.set(value, out);
  for (const [key, item] of Object.entries(value)) {
    out[key] = isCredential(key, item) ? REDACTED : copy(item, depth + 1, seen);
  }
  return out;
}

function isCredential(key: string, item: unknown): boolean {
  return item !== undefined && item !== null && isSecretFieldName(key);
}

function copyError(error: Error, depth: number, seen: Map<object, unknown>): Error {
  const out = Object.create(Object.getPrototypeOf(error) as object | null) as Error;
  seen.set(error, out);
  const define = (key: string, item: unknown): void => {
    Object.defineProperty(out, key, { value: item, enumerable: true, writable: true, configurable: true });
  };
  for (const [key, item] of Object.entries(error)) {
    define(key, isCredential(key, item) ? REDACTED : copy(item, depth + 1, seen));
  }
  // message, stack and cause are own but not enumerable: kept so, as on a real Error.
  for (const key of ['name', 'message', 'stack', 'cause'] as const) {
    if (!Object.hasOwn(error, key) || Object.prototype.propertyIsEnumerable.call(error, key)) continue;
    Object.defineProperty(out, key, {
      value: copy(error[key], depth + 1, seen),
      enumerable: false,
      writable: true,
      configurable: true,
    });
  }
  return out;
}
