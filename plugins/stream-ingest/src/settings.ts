import type { ModuleConfig } from '@platform-host/contracts';

/** The lake file formats and their file extensions (fixed by issue 12). */
export const OUTPUT_FORMATS = { parquet: 'parquet', json: 'jsonl', csv: 'csv' } as const;
/** One `--output-format`. */
export type OutputFormat = keyof typeof OUTPUT_FORMATS;

/** The validated arguments of a run. */
export interface IngestSettings {
  readonly topic: string;
  readonly group: string;
  readonly batchSize: number;
  readonly outputFormat: OutputFormat;
  readonly flushIntervalMs: number;
  readonly maxFileBytes: number;
  /** `--lake-prefix` without trailing slashes. */
  readonly lakePrefix: string;
}

/** An argument value the module refuses; the message names the argument. Reported as exit 2. */
export class InvalidArgumentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidArgumentError';
  }
}

/** Reads and checks the module arguments. Throws {@link InvalidArgumentError}. */
export function readSettings(config: ModuleConfig): IngestSettings {
  const format = config.string('output-format');
  if (!(format in OUTPUT_FORMATS)) {
    throw new InvalidArgumentError(`--output-format "${format}" is not one of parquet, json, csv`);
  }
  const flushIntervalMs = config.durationMs('flush-interval');
  if (!(flushIntervalMs > 0)) throw new InvalidArgumentError('--flush-interval must be a duration greater than zero');
  const lakePrefix = config.string('lake-prefix').replace(/\/+$/, '');
  if (lakePrefix === '') throw new InvalidArgumentError('--lake-prefix must name a folder (it is empty)');
  return {
    topic: config.string('topic'),
    group: config.string('group'),
    batchSize: config.integer('batch-size'),
    outputFormat: format as OutputFormat,
    flushIntervalMs,
    maxFileBytes: config.integer('max-file-bytes'),
    lakePrefix,
  };
}
