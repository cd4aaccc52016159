import winston from 'winston';
import { PlatformError, currentCorrelationId } from '@platform-host/contracts';
import type { LogFields, LogLevel, Logger } from '@platform-host/contracts';
import { formatJsonLine, formatPrettyLine } from './line-format.js';
import type { LineFormat } from './line-format.js';
import { LineTransport, MESSAGE } from './line-transport.js';
import { buildContext } from './log-record.js';
import type { LogRecord } from './log-record.js';

/** Log levels, most severe first (winston's numbering: a level is enabled when its number <= the threshold). */
const LEVELS: Readonly<Record<LogLevel, number>> = { error: 0, warn: 1, info: 2, debug: 3 };
const LEVEL_NAMES: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

/** Module name of entries made before the host binds one with `child({ module })`. */
export const DEFAULT_MODULE = 'platform-host';

/**
 * Parses `LOG_LEVEL` (case-insensitive; unset or empty means `info`).
 * @throws PlatformError `PH_ERR_CONFIG_INVALID` naming LOG_LEVEL and the allowed values.
 */
export function parseLogLevel(value: string | undefined): LogLevel {
  const normalized = (value ?? '').trim().toLowerCase();
  if (normalized === '') return 'info';
  if (Object.hasOwn(LEVELS, normalized)) return normalized as LogLevel;
  throw new PlatformError(
    'PH_ERR_CONFIG_INVALID',
    `LOG_LEVEL ${JSON.stringify(value)} is not a log level; expected one of ${LEVEL_NAMES.join(', ')}`,
    { hint: 'Set LOG_LEVEL to debug, info, warn or error (case-insensitive), or leave it unset for info.' },
  );
}

/** Options of {@link WinstonLogger}; every one has a default. */
export interface WinstonLoggerOptions {
  /** `json` (default): one JSON object per line. `pretty`: a human-readable line. */
  readonly format?: LineFormat;
  /** Entries below this level are dropped. Default `info`. At `debug`, logged errors include their stack. */
  readonly level?: LogLevel;
  /** Where lines go. Default `process.stdout`. */
  readonly stream?: NodeJS.WritableStream;
  /** ANSI colors in the pretty format. Default: when the stream is a TTY and `NO_COLOR` is unset or empty. */
  readonly colors?: boolean;
  /** Module name until a child binds `module`. Default {@link DEFAULT_MODULE}. */
  readonly module?: string;
}

/** The winston pipeline shared by a logger and all its children, with the bookkeeping for flush(). */
class LogOutput {
  readonly level: LogLevel;
  readonly defaultModule: string;
  private readonly winston: winston.Logger;
  private readonly includeStacks: boolean;
  private submitted = 0;
  private written = 0;
  private readonly waiters: Array<{ readonly target: number; readonly resolve: () => void }> = [];

  constructor(options: WinstonLoggerOptions) {
    this.level = options.level ?? 'info';
    this.defaultModule = options.module ?? DEFAULT_MODULE;
    this.includeStacks = this.level === 'debug';
    const stream = options.stream ?? process.stdout;
    const format = options.format ?? 'json';
    const colors = options.colors ?? ((stream as { isTTY?: boolean }).isTTY === true && !process.env['NO_COLOR']);
    const render = format === 'pretty' ? (record: LogRecord) => formatPrettyLine(record, colors) : formatJsonLine;
    this.winston = winston.createLogger({
      levels: LEVELS,
      level: this.level,
      format: winston.format((info) => {
        (info as { [MESSAGE]?: string })[MESSAGE] = render(info['record'] as LogRecord);
        return info;
      })(),
      transports: [new LineTransport(stream, () => this.onWritten())],
    });
  }

  enabled(level: LogLevel): boolean {
    return LEVELS[level] <= LEVELS[this.level];
  }

  write(level: LogLevel, message: string, fields: LogFields | undefined, bindings: LogFields): void {
    if (!this.enabled(level)) return;
    // Everything that can change later (correlation context, caller objects, registered secrets) is
    // captured now; winston may format the entry on a later tick.
    const module = bindings['module'];
    const record: LogRecord = {
      timestamp: new Date().toISOString(),
      level,
      module:
        typeof module === 'string'
          ? module
          : module === undefined || module === null
            ? this.defaultModule
            : JSON.stringify(module),
      correlationId: currentCorrelationId(),
      message: String(message),
      context: buildContext(bindings, fields, this.includeStacks),
    };
    this.submitted += 1;
    this.winston.log({ level, message: record.message, record });
  }

  flush(): Promise<void> {
    const target = this.submitted;
    if (this.written >= target) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ target, resolve }));
  }

  private onWritten(): void {
    this.written += 1;
    while (this.waiters.length > 0 && this.waiters[0]!.target <= this.written) this.waiters.shift()!.resolve();
  }
}

/** A logger bound to extra fields; what {@link WinstonLogger.child} returns. */
class BoundLogger implements Logger {
  constructor(
    private readonly output: LogOutput,
    private readonly bindings: LogFields,
  ) {}

  debug(message: string, fields?: LogFields): void {
    this.output.write('debug', message, fields, this.bindings);
  }
  info(message: string, fields?: LogFields): void {
    this.output.write('info', message, fields, this.bindings);
  }
  warn(message: string, fields?: LogFields): void {
    this.output.write('warn', message, fields, this.bindings);
  }
  error(message: string, fields?: LogFields): void {
    this.output.write('error', message, fields, this.bindings);
  }
  child(bindings: LogFields): Logger {
    return new BoundLogger(this.output, { ...this.bindings, ...bindings });
  }
  flush(): Promise<void> {
    return this.output.flush();
  }
}

/**
 * Structured logger on winston (seed 5.2.5, 11.1), serving `--log json` and `--log pretty`.
 *
 * JSON: one object per line with `timestamp` (ISO 8601), `level` (DEBUG/INFO/WARN/ERROR), `module`,
 * `correlation_id` (from `withCorrelationId`; omitted outside one), `message` and `context` (child
 * bindings and caller fields; omitted when empty). Pretty: the same as one readable line, colorized
 * on a TTY unless `NO_COLOR` is set.
 *
 * It only formats: the host wraps every logger in its redacting proxy, so secrets are gone before an
 * entry gets here. Errors print their name and message (and stack at debug level); cycles, BigInts, Dates, Maps and Sets are printed safely.
 * The module name is bound by the host with `child({ module })`.
 */
export class WinstonLogger implements Logger {
  private readonly output: LogOutput;
  private readonly root: BoundLogger;

  constructor(options: WinstonLoggerOptions = {}) {
    this.output = new LogOutput(options);
    this.root = new BoundLogger(this.output, {});
  }

  /** The configured level; entries below it are dropped. */
  get level(): LogLevel {
    return this.output.level;
  }

  debug(message: string, fields?: LogFields): void {
    this.root.debug(message, fields);
  }
  info(message: string, fields?: LogFields): void {
    this.root.info(message, fields);
  }
  warn(message: string, fields?: LogFields): void {
    this.root.warn(message, fields);
  }
  error(message: string, fields?: LogFields): void {
    this.root.error(message, fields);
  }
  /** A logger writing to the same output with `bindings` added to every entry (`module` names the module). */
  child(bindings: LogFields): Logger {
    return this.root.child(bindings);
  }
  /** Resolves once every entry logged so far (by this logger or its children) was taken by the stream. */
  flush(): Promise<void> {
    return this.output.flush();
  }
}
