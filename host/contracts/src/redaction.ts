const REGISTRY_KEY = Symbol.for('platform-host.secret-values');
type GlobalWithRegistry = typeof globalThis & { [REGISTRY_KEY]?: Set<string> };

function registry(): Set<string> {
  const holder = globalThis as GlobalWithRegistry;
  holder[REGISTRY_KEY] ??= new Set<string>();
  return holder[REGISTRY_KEY];
}

/** Replacement text for redacted values. */
export const REDACTED = '[REDACTED]';

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
  const words = name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .split(/[\s_.-]+/)
    .filter(Boolean);
  return words.some((word, index) => SECRET_WORDS.has(word) || SECRET_PAIRS.has(`${word} ${words[index + 1] ?? ''}`));
}

/**
 * Registers a secret value (from a config key marked secret) so loggers and error formatters
 * replace it wherever it appears. Values shorter than 4 characters are not registered (they would
 * redact ordinary text).
 */
export function markSecret(value: string): void {
  if (value.length >= 4) registry().add(value);
  // A URL with credentials: also redact the password part on its own.
  try {
    const url = new URL(value);
    if (url.password.length >= 4) registry().add(decodeURIComponent(url.password));
  } catch {
    // not a URL
  }
}

/** `text` with every registered secret value replaced by {@link REDACTED}. */
export function redactText(text: string): string {
  let out = text;
  for (const secret of registry()) {
    if (out.includes(secret)) out = out.split(secret).join(REDACTED);
  }
  return out;
}

/** A deep copy of `value` with secret-looking fields and registered secret values redacted. */
export function redactFields(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return redactText(value);
  if (value === null || typeof value !== 'object' || depth > 8) return value;
  if (value instanceof Error) {
    return {
      name: value.name,
      message: redactText(value.message),
      ...(value.stack ? { stack: redactText(value.stack) } : {}),
    };
  }
  if (value instanceof Date) return value;
  if (Array.isArray(value)) return value.map((item) => redactFields(item, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    out[key] = isSecretFieldName(key) && item !== undefined && item !== null ? REDACTED : redactFields(item, depth + 1);
  }
  return out;
}
