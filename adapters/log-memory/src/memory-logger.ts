import {
  currentCorrelationId,
  PlatformError,
  type LogFields,
  type Logger,
  type LogLevel,
} from '@platform-host/contracts';

/** One kept entry. */
export interface MemoryLogEntry {
  readonly timestamp: Date;
  readonly level: LogLevel;
  readonly message: string;
  readonly correlationId: string | undefined;
  /** Bindings of the logger (child) merged with the call's fields. */
  readonly fields: Readonly<Record<string, unknown>>;
}

const LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

/** Parses a LOG_LEVEL value; throws PH_ERR_CONFIG_INVALID naming the key and the allowed values. */
export function parseLogLevel(value: string): LogLevel {
  const level = value.trim().toLowerCase();
  if ((LEVELS as readonly string[]).includes(level)) return level as LogLevel;
  throw new PlatformError('PH_ERR_CONFIG_INVALID', `LOG_LEVEL must be one of ${LEVELS.join(', ')}, got "${value}"`);
}

/**
 * A {@link Logger} that keeps entries in an array shared by its children (seed 8.2's MemoryLogger):
 * tests run a module with `--log memory` and assert on what it logged. Through the host, entries
 * arrive redacted (the host wraps every logger in its redacting proxy), so a test can also prove a
 * secret never reaches the logs.
 */
export class MemoryLogger implements Logger {
  constructor(
    private readonly minimum: LogLevel = 'debug',
    private readonly bindings: LogFields = {},
    /** Shared with children. */
    readonly entries: MemoryLogEntry[] = [],
  ) {}

  private write(level: LogLevel, message: string, fields: LogFields | undefined): void {
    if (LEVELS.indexOf(level) < LEVELS.indexOf(this.minimum)) return;
    this.entries.push({
      timestamp: new Date(),
      level,
      message,
      correlationId: currentCorrelationId(),
      fields: { ...this.bindings, ...fields },
    });
  }

  debug(message: string, fields?: LogFields): void {
    this.write('debug', message, fields);
  }

  info(message: string, fields?: LogFields): void {
    this.write('info', message, fields);
  }

  warn(message: string, fields?: LogFields): void {
    this.write('warn', message, fields);
  }

  error(message: string, fields?: LogFields): void {
    this.write('error', message, fields);
  }

  child(bindings: LogFields): Logger {
    return new MemoryLogger(this.minimum, { ...this.bindings, ...bindings }, this.entries);
  }

  flush(): Promise<void> {
    return Promise.resolve();
  }

  /** The entries as one line of text each (`LEVEL message {fields} correlation_id=...`), for simple assertions. */
  lines(): string[] {
    return this.entries.map((entry) =>
      [
        entry.level.toUpperCase(),
        entry.message,
        JSON.stringify(entry.fields),
        ...(entry.correlationId ? [`correlation_id=${entry.correlationId}`] : []),
      ].join(' '),
    );
  }
}
