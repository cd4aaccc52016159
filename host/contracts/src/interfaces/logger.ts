/** Structured fields attached to a log entry. Values must be JSON-serializable. */
export type LogFields = Readonly<Record<string, unknown>>;

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/**
 * Structured logging (seed 5.2.5, 11.1). Every entry carries timestamp, level, module, message, the
 * caller's fields and the current correlation id (see `withCorrelationId`). Redaction is the host's:
 * it wraps every logger in a redacting proxy (registered secret values, URL passwords, fields whose
 * names look like credentials, inside errors too), so an implementation only formats and writes.
 */
export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** A logger that adds `bindings` to every entry. */
  child(bindings: LogFields): Logger;
  /** Resolves once every entry logged so far has been written. */
  flush(): Promise<void>;
}
