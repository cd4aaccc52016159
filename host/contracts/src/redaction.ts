const REGISTRY_KEY = Symbol.for('platform-host.secret-values');
type GlobalWithRegistry = typeof globalThis & { [REGISTRY_KEY]?: Set<string> };

function registry(): Set<string> {
  const holder = globalThis as GlobalWithRegistry;
  holder[REGISTRY_KEY] ??= new Set<string>();
  return holder[REGISTRY_KEY];
}

/** Replacement text for redacted values. */
export const REDACTED = '[REDACTED]';

/** Field names whose values are always redacted in logs. */
export const SECRET_FIELD_PATTERN =
  /pass(word)?|secret|token|api[-_]?key|access[-_]?key|private[-_]?key|credential|authorization|cookie/i;

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
    out[key] =
      SECRET_FIELD_PATTERN.test(key) && item !== undefined && item !== null ? REDACTED : redactFields(item, depth + 1);
  }
  return out;
}
