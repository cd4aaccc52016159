import winston from 'winston';
import { PlatformError, currentCorrelationId } from '@platform-host/contracts';
import type { LogFields, LogLevel, Logger } from '@platform-host/contracts';
import { BatchedLines } from './batched-lines.js';
import { formatPrettyLine, jsonLine } from './line-format.js';
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

/** `new Date().toISOString()`, computed once per millisecond (a busy logger writes many lines in one). */
let lastMillis = Number.NaN;
let lastIso = '';
function isoNow(): string {
  const now = Date.now();
  if (now !== lastMillis) {
    lastMillis = now;
    lastIso = new Date(now).toISOString();
  }
  return lastIso;
}

/** The module name of a logger with these bindings (bound with `child({ module })`). */
function moduleOf(bindings: LogFields, defaultModule: string): string {
  const module = bindings['module'];
  return typeof module === 'string'
    ? module
    : module === undefined || module === null
      ? defaultModule
      : JSON.stringify(module);
}

/**
 * The output shared by a logger and all its children. JSON lines are formatted when logged and
 * written in batches ({@link BatchedLines}); pretty lines go through winston as one entry each.
 */
class LogOutput {
  readonly level: LogLevel;
  readonly defaultModule: string;
  readonly format: LineFormat;
  private readonly threshold: number;
  private readonly includeStacks: boolean;
  private readonly batched: BatchedLines | undefined;
  private readonly winston: winston.Logger | undefined;
  private submitted = 0;
  private written = 0;
  private readonly waiters: Array<{ readonly target: number; readonly resolve: () => void }> = [];

  constructor(options: WinstonLoggerOptions) {
    this.level = options.level ?? 'info';
    this.threshold = LEVELS[this.level];
    this.defaultModule = options.module ?? DEFAULT_MODULE;
    this.includeStacks = this.level === 'debug';
    const stream = options.stream ?? process.stdout;
    this.format = options.format ?? 'json';
    if (this.format === 'json') {
      // The hot path (a request log line per request): no winston pipeline, see BatchedLines.
      this.batched = new BatchedLines(stream);
      return;
    }
    const colors = options.colors ?? ((stream as { isTTY?: boolean }).isTTY === true && !process.env['NO_COLOR']);
    this.winston = winston.createLogger({
      levels: LEVELS,
      level: this.level,
      format: winston.format((info) => {
        (info as { [MESSAGE]?: string })[MESSAGE] = formatPrettyLine(info['record'] as LogRecord, colors);
        return info;
      })(),
      transports: [new LineTransport(stream, () => this.onWritten())],
    });
  }

  /**
   * Formats and queues one entry. `module` is the logger's module name and `moduleJson` its JSON
   * form (both fixed per logger). Everything that can change later (correlation context, caller
   * objects, registered secrets) is captured now.
   */
  write(
    level: LogLevel,
    message: string,
    fields: LogFields | undefined,
    bindings: LogFields,
    module: string,
    moduleJson: string,
  ): void {
    if (LEVELS[level] > this.threshold) return;
    const context = buildContext(bindings, fields, this.includeStacks);
    const text = String(message);
    if (this.batched !== undefined) {
      this.batched.push(jsonLine(isoNow(), level, moduleJson, currentCorrelationId(), text, context));
      return;
    }
    const record: LogRecord = {
      timestamp: new Date().toISOString(),
      level,
      module,
      correlationId: currentCorrelationId(),
      message: text,
      context,
    };
    this.submitted += 1;
    this.winston!.log({ level, message: record.message, record });
  }

  flush(): Promise<void> {
    if (this.batched !== undefined) return this.batched.flush();
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
  private readonly module: string;
  private readonly moduleJson: string;

  constructor(
    private readonly output: LogOutput,
    private readonly bindings: LogFields,
  ) {
    this.module = moduleOf(bindings, output.defaultModule);
    this.moduleJson = JSON.stringify(this.module);
  }

  debug(message: string, fields?: LogFields): void {
    this.output.write('debug', message, fields, this.bindings, this.module, this.moduleJson);
  }
  info(message: string, fields?: LogFields): void {
    this.output.write('info', message, fields, this.bindings, this.module, this.moduleJson);
  }
  warn(message: string, fields?: LogFields): void {
    this.output.write('warn', message, fields, this.bindings, this.module, this.moduleJson);
  }
  error(message: string, fields?: LogFields): void {
    this.output.write('error', message, fields, this.bindings, this.module, this.moduleJson);
  }
  child(bindings: LogFields): Logger {
    return new BoundLogger(this.output, { ...this.bindings, ...bindings });
  }
  flush(): Promise<void> {
    return this.output.flush();
  }
}

/**
 * Structured logger (seed 5.2.5, 11.1), serving `--log json` and `--log pretty`. Pretty lines go
 * through winston; JSON lines, the hot path of a service that logs every request, are formatted by
 * a hand serializer and written in batches, one `write` per event-loop turn (see the README's
 * measurements), byte for byte the lines winston's JSON pipeline wrote before.
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
