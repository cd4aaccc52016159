import type { Logger, PlatformContext } from '@platform-host/contracts';
import type { EventBatch, InvalidLineNotice, LineCounts } from './batch-builder.js';
import { ParseWorker, ParseWorkerError } from './parse-worker-client.js';
import { GzipVerifier, listPartitionFiles, readFileChunks, UnreadableFileError } from './partition-reader.js';
import { ProgressReporter, type ProgressOptions } from './progress-reporter.js';
import { InvalidArgumentError, readSettings, type BatchEtlSettings } from './run-settings.js';
import { MALFORMED_REASONS, type InvalidReason } from './validator.js';
import { TargetTableError, WarehouseWriter, type RejectedRow } from './warehouse-writer.js';

/** The context batch_etl runs with. */
export type BatchEtlContext = PlatformContext<'database' | 'filesystem' | 'logging'>;

/** A JSON Lines file of the partition that could not be read; the run went on with the others. */
export interface UnreadableFile {
  readonly file: string;
  /** What is wrong with it (empty, not gzip, truncated, corrupt, a file-system error). */
  readonly cause: string;
  /**
   * False when none of its rows was used: every `.gz` file is verified whole before any row of it
   * is parsed. True only when reading failed after rows of it had been sent on (a plain file whose
   * read failed midway, or a `.gz` file that changed after it was verified).
   */
  readonly partlyRead: boolean;
}

/** What a run did; also logged as the `Batch ETL complete` summary. */
export interface BatchEtlReport {
  /** JSON Lines files read. */
  files: number;
  /** Other files of the partition (not JSON Lines by name), not read. */
  skippedFiles: number;
  /** JSON Lines files that could not be read, in partition order; each one makes the exit code 1. */
  unreadableFiles: UnreadableFile[];
  /** Non-blank lines read: `raw = valid + invalid`. */
  raw: number;
  /** `valid = unique + duplicates`. */
  valid: number;
  /** Lines refused by validation, and rows the database refused (`db_rejected`). */
  invalid: number;
  invalidByReason: Partial<Record<InvalidReason, number>>;
  /**
   * Valid events whose dedup key an earlier event of this run's input had: found in memory among
   * recent events (see RecentKeys), else by the database. A dry run finds only the former.
   */
  duplicates: number;
  /** valid - duplicates: distinct events, `unique = inserted + alreadyPresent` (not in a dry run). */
  unique: number;
  inserted: number;
  /**
   * Distinct events skipped because an earlier run (also one killed midway) had stored their key,
   * each counted once however often the input repeats it; on a rerun over a complete table, the
   * number of the partition's rows in the table.
   */
  alreadyPresent: number;
  dryRun: boolean;
  /** Stopped early by a shutdown request; the rows written so far stay (rerunning is safe). */
  interrupted: boolean;
}

/** Options for tests and benchmarks; the module uses the defaults. */
export interface BatchEtlOptions {
  readonly progress?: ProgressOptions;
  /** Batches written concurrently (on as many connections) while the next ones are parsed. Default 2. */
  readonly writesInFlight?: number;
  /** Invalid lines logged one by one per reason before they are only counted. Default 20. */
  readonly invalidLinesLogged?: number;
  /** Distinct events remembered for deduplication in memory (see RecentKeys). */
  readonly recentKeys?: number;
}

/** Outcome of {@link runBatchEtl}. */
export interface BatchEtlOutcome {
  /** 0 success (also when there was no data), 1 critical error (files unreadable, database failure). */
  readonly exitCode: 0 | 1;
  readonly report: BatchEtlReport;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function emptyReport(dryRun: boolean): BatchEtlReport {
  return {
    files: 0,
    skippedFiles: 0,
    unreadableFiles: [],
    raw: 0,
    valid: 0,
    invalid: 0,
    invalidByReason: {},
    duplicates: 0,
    unique: 0,
    inserted: 0,
    alreadyPresent: 0,
    dryRun,
    interrupted: false,
  };
}

/** Unreadable files named in the summary (all are logged one by one). */
const UNREADABLE_FILES_NAMED = 20;

function summaryFields(report: BatchEtlReport): Record<string, unknown> {
  return {
    files: report.files,
    unreadable_files: report.unreadableFiles.length,
    ...(report.unreadableFiles.length > 0
      ? { unreadable: report.unreadableFiles.slice(0, UNREADABLE_FILES_NAMED).map((entry) => entry.file) }
      : {}),
    raw: report.raw,
    valid: report.valid,
    invalid: report.invalid,
    invalid_by_reason: report.invalidByReason,
    duplicates: report.duplicates,
    unique: report.unique,
    inserted: report.inserted,
    already_present: report.alreadyPresent,
    dry_run: report.dryRun,
  };
}

/**
 * One run. The main thread streams the partition's files to a parse worker (parse-worker.ts),
 * which returns batches of distinct cleaned rows; the main thread writes up to `writesInFlight`
 * of them at a time while the worker parses the next. Memory stays flat however large the
 * partition: a few chunks and batches are in flight at any time.
 */
class BatchEtlRun {
  readonly report: BatchEtlReport;
  readonly #createdAt = new Date();
  readonly #writer: WarehouseWriter | undefined;
  readonly #progress: ProgressReporter;
  readonly #writesInFlight: number;
  #lineCounts: LineCounts = { raw: 0, valid: 0, invalid: 0, invalidByReason: {}, duplicatesInMemory: 0 };
  #databaseDuplicates = 0;
  #rejectedRows = 0;
  #rejectedLogged = 0;
  #filesDone = 0;
  #filesTotal = 0;
  #batchesStarted = 0;
  #activeWrites = 0;
  readonly #waitingBatches: EventBatch[] = [];
  #writeFailed = false;
  #writesIdle: (() => void) | undefined;
  #worker: ParseWorker | undefined;

  constructor(
    private readonly ctx: BatchEtlContext,
    private readonly settings: BatchEtlSettings,
    private readonly options: BatchEtlOptions,
  ) {
    this.report = emptyReport(settings.dryRun);
    this.#writesInFlight = Math.max(1, options.writesInFlight ?? 2);
    this.#writer = settings.dryRun
      ? undefined
      : new WarehouseWriter(ctx.db, settings.targetTable, settings.date, this.#createdAt);
    const disableBar = ctx.module.env === 'test' || process.env.TERM === 'dumb';
    this.#progress = new ProgressReporter(ctx.log, { disableBar, ...options.progress });
  }

  get #log(): Logger {
    return this.ctx.log;
  }

  async execute(): Promise<0 | 1> {
    const { settings } = this;
    const log = this.#log;
    log.info('Starting Batch ETL', {
      date: settings.date,
      source_path: settings.sourcePath,
      partition: settings.partitionPath,
      target_table: settings.targetTable.display,
      batch_size: settings.batchSize,
      batch_bytes: settings.batchBytes,
      dry_run: settings.dryRun,
    });
    let files: string[];
    try {
      const listed = await listPartitionFiles(this.ctx.fs, settings.partitionPath);
      files = listed.dataFiles;
      this.report.skippedFiles = listed.skippedFiles.length;
      if (listed.skippedFiles.length > 0) {
        log.warn('Skipping files that are not JSON Lines (.jsonl, .ndjson, .json, optionally .gz)', {
          count: listed.skippedFiles.length,
          files: listed.skippedFiles.slice(0, 10),
        });
      }
    } catch (error) {
      log.error('Cannot list the partition', { partition: settings.partitionPath, error: errorText(error) });
      return 1;
    }
    log.info('Files found', { partition: settings.partitionPath, files: files.length });
    if (files.length === 0) {
      log.warn('No raw data found', {
        date: settings.date,
        source_path: settings.sourcePath,
        partition: settings.partitionPath,
      });
      return 0;
    }
    if (this.#writer) {
      try {
        await this.#writer.checkTarget();
      } catch (error) {
        log.error(error instanceof TargetTableError ? error.message : 'Cannot inspect the target table', {
          target_table: settings.targetTable.display,
          error: errorText(error),
        });
        return 1;
      }
    }
    this.#filesTotal = files.length;
    const worker = new ParseWorker({
      eventDate: settings.date,
      createdAt: this.#createdAt,
      batchSize: settings.batchSize,
      batchBytes: settings.batchBytes,
      invalidLinesLogged: this.options.invalidLinesLogged ?? 20,
      recentKeys: this.options.recentKeys,
      batchWindow: this.#writesInFlight + 1,
      onBatch: (batch, counts) => this.#acceptBatch(batch, counts),
      onInvalidLine: (notice) => this.#logInvalidLine(notice),
      onFileDone: (counts) => {
        this.#lineCounts = counts;
        this.#filesDone += 1;
        this.#showProgress();
      },
    });
    this.#worker = worker;
    let failed = false;
    try {
      await this.#streamFiles(files, worker);
      this.#lineCounts = await worker.finish();
      await this.#writesSettled();
    } catch (error) {
      log.error('The parse worker failed', { error: errorText(error) });
      await this.#writesSettled();
      failed = true;
    } finally {
      await worker.close();
      this.#progress.finish();
    }
    this.#fillReport();
    if (failed || this.#writeFailed) {
      log.error(
        'Batch ETL failed; the batches written so far stay and rerunning is safe (idempotent)',
        summaryFields(this.report),
      );
      return 1;
    }
    this.#logSummary();
    const unreadable = this.report.unreadableFiles;
    if (unreadable.length > 0) {
      log.error(
        `Batch ETL skipped ${unreadable.length} unreadable file(s); every other file of the partition was read`,
        {
          unreadable_files: unreadable.length,
          files: unreadable.slice(0, UNREADABLE_FILES_NAMED).map((entry) => entry.file),
          hint: 'Replace or remove them, then rerun: rows already loaded are not inserted again, and the files stay unloaded until they are fixed',
        },
      );
    }
    if (this.report.interrupted) {
      log.warn('Batch ETL interrupted by shutdown before the end of the partition; rerun to finish (idempotent)', {
        files_done: this.#filesDone,
        files_total: this.#filesTotal,
      });
      return 1;
    }
    if (unreadable.length > 0) return 1;
    if (this.report.raw === 0)
      log.warn('No raw data found', { date: settings.date, partition: settings.partitionPath, files: files.length });
    return 0;
  }

  /**
   * Sends every file to the worker. A file that cannot be read is reported and skipped, and the
   * next files are read; a `.gz` file is verified whole before it is read (see GzipVerifier), so
   * a corrupt one contributes no row. Throws only when the worker fails.
   */
  async #streamFiles(files: readonly string[], worker: ParseWorker): Promise<void> {
    const signal = this.ctx.lifecycle.signal;
    const verifier = new GzipVerifier(this.ctx.fs, signal);
    try {
      for (const [index, file] of files.entries()) {
        if (this.#writeFailed) return;
        if (signal.aborted) {
          this.report.interrupted = true;
          return;
        }
        const failure = await verifier.check(file, files[index + 1]);
        if (failure !== undefined) {
          if (signal.aborted) {
            this.report.interrupted = true;
            return;
          }
          this.#skipUnreadable(file, failure.error, false);
          this.#filesDone += 1;
          this.#showProgress();
          continue;
        }
        worker.startFile(file);
        let sent = false;
        try {
          for await (const chunk of readFileChunks(this.ctx.fs, file)) {
            sent = true;
            await worker.sendChunk(chunk);
            if (this.#writeFailed || signal.aborted) break;
          }
        } catch (error) {
          if (error instanceof ParseWorkerError) throw error;
          this.#skipUnreadable(file, error, sent);
          await worker.endFile();
          continue;
        }
        await worker.endFile();
        if (signal.aborted && !this.#writeFailed) {
          this.report.interrupted = true;
          return;
        }
        this.report.files += 1;
      }
    } finally {
      verifier.close();
    }
  }

  #skipUnreadable(file: string, error: unknown, partlyRead: boolean): void {
    const cause = error instanceof UnreadableFileError ? error.reason : errorText(error);
    this.report.unreadableFiles.push({ file, cause, partlyRead });
    this.#log.error('Unreadable file skipped', {
      file,
      error: cause,
      rows_of_it_loaded: partlyRead ? 'those read before the failure' : 'none',
      hint: partlyRead
        ? 'Rows read from it before the failure may be loaded; rerun once the file is complete (rows already loaded are not inserted again)'
        : 'No row of it was loaded: replace it with a complete copy (or remove it) and rerun (rows already loaded are not inserted again)',
    });
  }

  #acceptBatch(batch: EventBatch, counts: LineCounts): void {
    this.#lineCounts = counts;
    this.#showProgress();
    if (this.#writer === undefined || this.#writeFailed) {
      this.#worker?.batchDone(batch);
      return;
    }
    this.#waitingBatches.push(batch);
    this.#startWrites();
  }

  #startWrites(): void {
    const writer = this.#writer;
    if (writer === undefined) return;
    while (this.#activeWrites < this.#writesInFlight && this.#waitingBatches.length > 0) {
      const batch = this.#waitingBatches.shift() as EventBatch;
      if (this.#writeFailed) {
        this.#worker?.batchDone(batch);
        continue;
      }
      this.#activeWrites += 1;
      this.#batchesStarted += 1;
      const batchNumber = this.#batchesStarted;
      writer.write(batch).then(
        (result) => {
          this.report.inserted += result.inserted;
          this.report.alreadyPresent += result.alreadyPresent;
          this.#databaseDuplicates += result.duplicates;
          this.#rejectedRows += result.rejected.length;
          for (const row of result.rejected) this.#logRejectedRow(row);
          this.#writeDone(batch);
        },
        (error: unknown) => {
          if (!this.#writeFailed) {
            this.#log.error('Writing a batch to the target table failed', {
              target_table: this.settings.targetTable.display,
              batch: batchNumber,
              rows: batch.size,
              error: errorText(error),
            });
          }
          this.#writeFailed = true;
          this.#writeDone(batch);
        },
      );
    }
  }

  #writeDone(batch: EventBatch): void {
    this.#activeWrites -= 1;
    this.#worker?.batchDone(batch);
    this.#showProgress();
    this.#startWrites();
    if (this.#activeWrites === 0 && this.#waitingBatches.length === 0) {
      const idle = this.#writesIdle;
      this.#writesIdle = undefined;
      idle?.();
    }
  }

  /** Resolves once no write is running or waiting. */
  #writesSettled(): Promise<void> {
    if (this.#activeWrites === 0 && this.#waitingBatches.length === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.#writesIdle = resolve;
    });
  }

  #logInvalidLine(notice: InvalidLineNotice): void {
    const fields = {
      file: notice.file,
      line: notice.line,
      reason: notice.reason,
      ...(notice.note === undefined ? {} : { note: notice.note }),
    };
    if (MALFORMED_REASONS.has(notice.reason)) this.#log.error('Invalid event: malformed input', fields);
    else this.#log.warn('Invalid event skipped', fields);
  }

  /** A row the database refused: logged like an invalid line, the first few only. */
  #logRejectedRow(row: RejectedRow): void {
    const limit = this.options.invalidLinesLogged ?? 20;
    if (this.#rejectedLogged >= limit) return;
    this.#rejectedLogged += 1;
    this.#log.warn('Invalid event skipped', {
      file: row.file,
      line: row.line,
      reason: 'db_rejected',
      error: row.message,
      ...(this.#rejectedLogged === limit ? { note: 'further db_rejected lines are only counted' } : {}),
    });
  }

  #fillReport(): void {
    const r = this.report;
    const counts = this.#lineCounts;
    // Rows the database refused passed validation in the worker: they move from valid to invalid.
    const rejected = this.#rejectedRows;
    r.raw = counts.raw;
    r.valid = counts.valid - rejected;
    r.invalid = counts.invalid + rejected;
    r.invalidByReason = rejected === 0 ? counts.invalidByReason : { ...counts.invalidByReason, db_rejected: rejected };
    r.duplicates = counts.duplicatesInMemory + this.#databaseDuplicates;
    r.unique = r.valid - r.duplicates;
  }

  #showProgress(): void {
    const counts = this.#lineCounts;
    this.#progress.update({
      filesDone: this.#filesDone,
      filesTotal: this.#filesTotal,
      raw: counts.raw,
      valid: counts.valid,
      invalid: counts.invalid,
      inserted: this.report.inserted,
    });
  }

  #logSummary(): void {
    const r = this.report;
    const log = this.#log;
    log.info('Read complete', {
      files: r.files,
      skipped_files: r.skippedFiles,
      unreadable_files: r.unreadableFiles.length,
      raw: r.raw,
    });
    log.info('Validation complete', { valid: r.valid, invalid: r.invalid, invalid_by_reason: r.invalidByReason });
    log.info('Deduplication complete', {
      before: r.valid,
      after: r.unique,
      duplicates: r.duplicates,
      ...(r.dryRun ? { scope: 'among recent events only (dry run)' } : {}),
    });
    if (!r.dryRun)
      log.info('Write complete', {
        target_table: this.settings.targetTable.display,
        inserted: r.inserted,
        skipped_already_present: r.alreadyPresent,
      });
    log.info('Batch ETL complete', summaryFields(r));
  }
}

/** Runs the job and returns its exit code and report (tests and benchmarks use the report). */
export async function runBatchEtl(ctx: BatchEtlContext, options: BatchEtlOptions = {}): Promise<BatchEtlOutcome> {
  let settings: BatchEtlSettings;
  try {
    settings = readSettings(ctx.config);
  } catch (error) {
    if (!(error instanceof InvalidArgumentError)) throw error;
    ctx.log.error(`Invalid argument: ${error.message}`);
    return { exitCode: 1, report: emptyReport(ctx.config.get('dry-run') === true) };
  }
  const run = new BatchEtlRun(ctx, settings, options);
  const exitCode = await run.execute();
  return { exitCode, report: run.report };
}

/** The module's `run` (seed 6.4): 0 success, including "no data" (with a warning); 1 critical error. */
export async function run(ctx: BatchEtlContext): Promise<number> {
  return (await runBatchEtl(ctx)).exitCode;
}
