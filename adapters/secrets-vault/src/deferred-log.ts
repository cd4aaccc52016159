import type { LogFields, Logger, LogLevel } from '@platform-host/contracts';

/** One entry kept by a {@link DeferredLog} until a logger exists. */
interface KeptEntry {
  readonly level: LogLevel;
  readonly message: string;
  readonly fields: LogFields;
}

/**
 * Log entries of a component that exists before the platform logger does (the secrets provider is
 * the configuration root): kept, the last `limit` of them, until {@link DeferredLog.attach} hands
 * over the logger, then written through it in order; later entries go straight to the logger.
 */
export class DeferredLog {
  private logger: Logger | undefined;
  private readonly kept: KeptEntry[] = [];
  private dropped = 0;

  constructor(private readonly limit = 50) {}

  /** Starts writing through `logger`: first what was kept (with a count of what was not), then everything new. */
  attach(logger: Logger): void {
    this.logger = logger;
    if (this.dropped > 0) {
      logger.warn(
        `${this.dropped} earlier entries were dropped before the logger existed (the last ${this.limit} follow)`,
      );
      this.dropped = 0;
    }
    for (const entry of this.kept.splice(0)) logger[entry.level](entry.message, entry.fields);
  }

  write(level: LogLevel, message: string, fields: LogFields = {}): void {
    if (this.logger !== undefined) {
      this.logger[level](message, fields);
      return;
    }
    this.kept.push({ level, message, fields });
    if (this.kept.length > this.limit) {
      this.kept.shift();
      this.dropped += 1;
    }
  }
}
