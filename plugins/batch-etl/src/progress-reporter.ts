import type { Logger } from '@platform-host/contracts';

/** The counts progress shows. */
export interface ProgressCounts {
  readonly filesDone: number;
  readonly filesTotal: number;
  readonly raw: number;
  readonly valid: number;
  readonly invalid: number;
  readonly inserted: number;
}

/** Where a terminal progress line is drawn. */
export interface ProgressTerminal {
  readonly isTTY?: boolean;
  readonly columns?: number;
  write(text: string): boolean;
}

export interface ProgressOptions {
  /** `process.stderr` by default; a bar is drawn only when it is a TTY. */
  readonly terminal?: ProgressTerminal;
  /** Never draw a bar (tests, `--env test`, `TERM=dumb`). */
  readonly disableBar?: boolean;
  /** Without a bar: a log line at least this often. Default 10 s. */
  readonly logEveryMs?: number;
  /** Without a bar: also a log line every this many raw records. Default 1,000,000. */
  readonly logEveryRecords?: number;
  readonly now?: () => number;
}

const BAR_REFRESH_MS = 200;

function formatCount(value: number): string {
  return value.toLocaleString('en-US');
}

/**
 * Progress of a run: on a terminal (stderr is a TTY) one line redrawn in place with counts and the
 * rate; otherwise structured `Batch ETL progress` log lines every `logEveryMs` or
 * `logEveryRecords`, whichever comes first. `update()` is cheap enough to call per chunk.
 */
export class ProgressReporter {
  readonly #log: Logger;
  readonly #terminal: ProgressTerminal;
  readonly #bar: boolean;
  readonly #logEveryMs: number;
  readonly #logEveryRecords: number;
  readonly #now: () => number;
  readonly #startedAt: number;
  #counts: ProgressCounts = { filesDone: 0, filesTotal: 0, raw: 0, valid: 0, invalid: 0, inserted: 0 };
  #lastShownAt: number;
  #lastLoggedRaw = 0;
  #drawn = false;

  constructor(log: Logger, options: ProgressOptions = {}) {
    this.#log = log;
    this.#terminal = options.terminal ?? process.stderr;
    this.#bar = this.#terminal.isTTY === true && options.disableBar !== true;
    this.#logEveryMs = options.logEveryMs ?? 10_000;
    this.#logEveryRecords = options.logEveryRecords ?? 1_000_000;
    this.#now = options.now ?? (() => performance.now());
    this.#startedAt = this.#now();
    this.#lastShownAt = this.#startedAt;
  }

  /** Records the latest counts and shows them when it is time. */
  update(counts: ProgressCounts): void {
    this.#counts = counts;
    const now = this.#now();
    if (this.#bar) {
      if (now - this.#lastShownAt >= BAR_REFRESH_MS) this.#draw(now);
      return;
    }
    if (now - this.#lastShownAt >= this.#logEveryMs || counts.raw - this.#lastLoggedRaw >= this.#logEveryRecords) {
      this.#lastShownAt = now;
      this.#lastLoggedRaw = counts.raw;
      this.#log.info('Batch ETL progress', {
        files_done: counts.filesDone,
        files_total: counts.filesTotal,
        raw: counts.raw,
        valid: counts.valid,
        invalid: counts.invalid,
        inserted: counts.inserted,
        records_per_second: Math.round(this.#rate(now)),
      });
    }
  }

  /** Clears the bar (the final summary is logged by the caller). */
  finish(): void {
    if (this.#bar && this.#drawn) this.#terminal.write('\r\u001b[2K');
    this.#drawn = false;
  }

  #rate(now: number): number {
    const seconds = (now - this.#startedAt) / 1000;
    return seconds > 0 ? this.#counts.raw / seconds : 0;
  }

  #draw(now: number): void {
    this.#lastShownAt = now;
    const c = this.#counts;
    const width = Math.max(20, (this.#terminal.columns ?? 100) - 2);
    const filesPart = `files ${c.filesDone}/${c.filesTotal}`;
    const fraction = c.filesTotal > 0 ? c.filesDone / c.filesTotal : 0;
    const barWidth = 20;
    const filled = Math.round(fraction * barWidth);
    const bar = `[${'#'.repeat(filled)}${'.'.repeat(barWidth - filled)}]`;
    const line = `batch_etl ${bar} ${filesPart} | ${formatCount(c.raw)} records, ${formatCount(Math.round(this.#rate(now)))}/s | valid ${formatCount(c.valid)} invalid ${formatCount(c.invalid)} inserted ${formatCount(c.inserted)}`;
    this.#terminal.write(`\r\u001b[2K${line.slice(0, width)}`);
    this.#drawn = true;
  }
}
