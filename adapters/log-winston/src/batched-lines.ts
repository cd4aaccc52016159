/**
 * Lines gathered during one turn of the event loop and handed to the stream in one `write`, like
 * pino's sonic-boom does for a file descriptor: a busy service logs many lines per turn, and one
 * `write` (one system call on stdout) per line cost more than formatting the line. A chunk is
 * written at the end of the turn (`setImmediate`), as soon as it reaches {@link MAX_CHUNK_CHARS},
 * on {@link BatchedLines.flush}, and when the process exits (`process.on('exit')`, where writes to
 * stdout, a file or a pipe are synchronous), so a process that calls `process.exit()` keeps its
 * lines. Only a process killed by a signal it cannot handle loses the lines of its last turn.
 *
 * It writes to any Writable (not only a file descriptor, as sonic-boom does), so the lines keep
 * their order with everything else written to the same stream, and tests can pass their own.
 */
export class BatchedLines {
  private readonly stream: NodeJS.WritableStream;
  private pending = '';
  private scheduled = false;
  /** Chunks handed to the stream, and chunks whose write callback ran. */
  private submitted = 0;
  private written = 0;
  private readonly waiters: Array<{ readonly target: number; readonly resolve: () => void }> = [];
  private readonly drainNow = (): void => this.drain();

  constructor(stream: NodeJS.WritableStream) {
    this.stream = stream;
  }

  /** Queues one line (without its line break). */
  push(line: string): void {
    this.pending += `${line}\n`;
    if (this.pending.length >= MAX_CHUNK_CHARS) this.drain();
    else if (!this.scheduled) {
      this.scheduled = true;
      unwritten.add(this);
      setImmediate(this.drainNow);
    }
  }

  /** Writes what is queued and resolves once the stream has taken every line pushed so far. */
  flush(): Promise<void> {
    this.drain();
    const target = this.submitted;
    if (this.written >= target) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ target, resolve }));
  }

  /** Hands the queued lines to the stream (synchronously). */
  drain(): void {
    this.scheduled = false;
    unwritten.delete(this);
    if (this.pending === '') return;
    const chunk = this.pending;
    this.pending = '';
    this.submitted += 1;
    try {
      // Counted also when the write failed: flush() must not wait for lines that will never arrive.
      this.stream.write(chunk, () => this.onWritten());
    } catch {
      this.onWritten();
    }
  }

  private onWritten(): void {
    this.written += 1;
    while (this.waiters.length > 0 && this.waiters[0]!.target <= this.written) this.waiters.shift()!.resolve();
  }
}

/** A chunk this long (in UTF-16 units) is written at once instead of at the end of the turn. */
export const MAX_CHUNK_CHARS = 64 * 1024;

/** The batches with queued lines, written when the process exits. */
const unwritten = new Set<BatchedLines>();
process.on('exit', () => {
  for (const batch of [...unwritten]) batch.drain();
});
