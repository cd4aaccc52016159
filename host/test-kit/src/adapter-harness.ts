import { createAdapterConfig } from '@platform-host/runtime';
import {
  type AdapterConfig,
  type AdapterContext,
  type LogFields,
  type Logger,
  type LogLevel,
} from '@platform-host/contracts';

/** One entry a {@link RecordingLogger} kept. */
export interface RecordedLog {
  readonly level: LogLevel;
  readonly message: string;
  /** The entry's fields with the bindings of the child it was logged through. */
  readonly fields: LogFields;
}

/**
 * A {@link Logger} that keeps what it is given, for adapter and module unit tests (the host's own
 * loggers are tested by the logger conformance suite). Children share the entries of their root.
 */
export class RecordingLogger implements Logger {
  constructor(
    readonly entries: RecordedLog[] = [],
    private readonly bindings: LogFields = {},
  ) {}

  debug(message: string, fields?: LogFields): void {
    this.record('debug', message, fields);
  }
  info(message: string, fields?: LogFields): void {
    this.record('info', message, fields);
  }
  warn(message: string, fields?: LogFields): void {
    this.record('warn', message, fields);
  }
  error(message: string, fields?: LogFields): void {
    this.record('error', message, fields);
  }
  child(bindings: LogFields): Logger {
    return new RecordingLogger(this.entries, { ...this.bindings, ...bindings });
  }
  flush(): Promise<void> {
    return Promise.resolve();
  }

  /** The entries of one level, in order. */
  at(level: LogLevel): RecordedLog[] {
    return this.entries.filter((entry) => entry.level === level);
  }
  get infos(): RecordedLog[] {
    return this.at('info');
  }
  get warnings(): RecordedLog[] {
    return this.at('warn');
  }
  get errors(): RecordedLog[] {
    return this.at('error');
  }

  private record(level: LogLevel, message: string, fields: LogFields = {}): void {
    this.entries.push({ level, message, fields: { ...this.bindings, ...fields } });
  }
}

/**
 * An {@link AdapterConfig} over `values`, the host's own (`require` throws `PH_ERR_CONFIG_MISSING`
 * naming the key, `integer` refuses what is not a whole number). Manifest defaults are not applied:
 * give every value the test needs.
 */
export function adapterConfigForTest(
  values: Readonly<Record<string, string>>,
  adapterName = 'adapter under test',
): AdapterConfig {
  return createAdapterConfig(adapterName, new Map(Object.entries(values)));
}

/**
 * What the host hands an adapter factory selected by `flag` with config `values`, plus a
 * {@link RecordingLogger} for adapters that declare `dependencies: { logger: REFS.logging }`.
 */
export function adapterContextForTest(
  flag: string,
  values: Readonly<Record<string, string>> = {},
  logger: Logger = new RecordingLogger(),
): AdapterContext & { readonly logger: Logger } {
  return { flag, config: adapterConfigForTest(values), environment: {}, logger };
}
