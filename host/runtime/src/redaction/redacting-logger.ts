import type { LogFields, Logger, LogLevel } from '@platform-host/contracts';
import { redactText, redactValue } from './redact.js';

const LEVELS: ReadonlySet<string> = new Set<LogLevel>(['debug', 'info', 'warn', 'error']);

/** The proxies made here, so a logger is never wrapped twice. */
const wrapped = new WeakSet<Logger>();

function redactFields(fields: LogFields | undefined): LogFields | undefined {
  // An Error passed where fields are expected stays an Error (a redacted copy).
  return fields === undefined ? undefined : (redactValue(fields) as LogFields);
}

/**
 * `logger` behind a redacting proxy: the message text, the fields (recursively; Errors become
 * redacted copies with message, stack, cause and code) and child bindings are redacted before the
 * logger sees them, and children are wrapped too. The host wraps every constructed logger, so a
 * logger adapter — embedded or third-party — only formats and writes. The registry is read on every
 * call, so a secret registered after a child was made is still redacted. Members other than the
 * {@link Logger} methods (a memory logger's `lines()`) are the logger's own.
 */
export function redactingLogger(logger: Logger): Logger {
  if (wrapped.has(logger)) return logger;
  // The level methods are made once per proxy, not on every call (a request log line is a hot path).
  const levelMethods = new Map<string, (message: string, fields?: LogFields) => void>();
  for (const level of LEVELS) {
    levelMethods.set(level, (message: string, fields?: LogFields): void =>
      logger[level as LogLevel](redactText(String(message)), redactFields(fields)),
    );
  }
  const proxy = new Proxy(logger, {
    get(target, property) {
      if (typeof property === 'string') {
        const method = levelMethods.get(property);
        if (method !== undefined) return method;
      }
      if (property === 'child')
        return (bindings: LogFields): Logger => redactingLogger(target.child(redactFields(bindings) ?? {}));
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  wrapped.add(proxy);
  return proxy;
}
