import { Worker } from 'node:worker_threads';
import type { EventBatch, InvalidLineNotice, LineCounts } from './batch-builder.js';
import type { FromParseWorker, ParseWorkerData, ToParseWorker } from './parse-protocol.js';

/** Messages of file bytes sent to the worker and not yet processed, at most. */
const CHUNK_WINDOW = 4;
/** File chunks (64 kB from a local file) are gathered into messages of about this size. */
const MESSAGE_BYTES = 256 * 1024;
/**
 * Heap bounds of the worker. Parsing allocates fast, and V8 sizes a busy isolate's heap by its
 * allocation rate: left alone, the young generation grows to 128 MB, most of the job's memory.
 * Measured on the benchmark: at 16 MB scavenges take about 10% of the worker's busy time (8 MB: 16%).
 * The old generation holds little besides the batch being built; its bound leaves room for the
 * longest accepted line (MAX_LINE_BYTES, parsed and copied a few times over).
 */
const YOUNG_GENERATION_MB = 16;
const OLD_GENERATION_MB = 128;
/**
 * Old generation per MiB of `batchBytes` beyond the base: the batch being built is held as strings
 * (1x), and the longest line is parsed, sorted, serialized and hashed (a few times its size).
 */
const OLD_GENERATION_PER_BATCH_MB = 4;

/** The worker's old-generation bound for batches of `batchBytes`: 128 MB at the 16 MiB default, more beyond. */
export function oldGenerationMb(batchBytes: number): number {
  return Math.max(OLD_GENERATION_MB, 64 + OLD_GENERATION_PER_BATCH_MB * Math.ceil(batchBytes / (1024 * 1024)));
}

/** The parse worker crashed or exited; the run cannot go on. */
export class ParseWorkerError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ParseWorkerError';
  }
}

export interface ParseWorkerOptions extends Omit<ParseWorkerData, 'createdAt'> {
  readonly createdAt: Date;
  /** A batch is ready; call {@link ParseWorker.batchDone} once it is written (or dropped). */
  readonly onBatch: (batch: EventBatch, counts: LineCounts) => void;
  readonly onInvalidLine: (notice: InvalidLineNotice) => void;
  readonly onFileDone: (counts: LineCounts) => void;
}

/**
 * The main thread's side of the parse worker (parse-worker.ts): streams file chunks to it under
 * flow control and receives batches, invalid-line notices and counts.
 */
export class ParseWorker {
  readonly #worker: Worker;
  readonly #options: ParseWorkerOptions;
  #credits = CHUNK_WINDOW;
  #creditWaiter: (() => void) | undefined;
  #failure: Error | undefined;
  #finishing: { resolve: (counts: LineCounts) => void; reject: (error: Error) => void } | undefined;
  #closed = false;
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  /** Message buffers the worker gave back. */
  readonly #freeBuffers: ArrayBuffer[] = [];

  constructor(options: ParseWorkerOptions) {
    this.#options = options;
    const workerData: ParseWorkerData = {
      eventDate: options.eventDate,
      createdAt: options.createdAt.getTime(),
      batchSize: options.batchSize,
      batchBytes: options.batchBytes,
      invalidLinesLogged: options.invalidLinesLogged,
      recentKeys: options.recentKeys,
      batchWindow: options.batchWindow,
    };
    this.#worker = new Worker(new URL('./parse-worker.js', import.meta.url), {
      workerData,
      resourceLimits: {
        maxYoungGenerationSizeMb: YOUNG_GENERATION_MB,
        maxOldGenerationSizeMb: oldGenerationMb(options.batchBytes),
      },
    });
    this.#worker.on('message', (message: FromParseWorker) => this.#receive(message));
    this.#worker.on('error', (error: Error) =>
      this.#fail(new ParseWorkerError(`The parse worker failed: ${error.message}`, { cause: error })),
    );
    this.#worker.on('exit', (code) => {
      if (!this.#closed) this.#fail(new ParseWorkerError(`The parse worker exited unexpectedly with code ${code}`));
    });
  }

  /** Lines that follow belong to `file`. */
  startFile(file: string): void {
    this.#post({ type: 'file', file });
  }

  /** Queues the next chunk of the current file; sends the queued bytes once there are enough and the worker has room. */
  async sendChunk(chunk: Uint8Array): Promise<void> {
    this.#throwIfFailed();
    this.#pending.push(chunk);
    this.#pendingBytes += chunk.byteLength;
    if (this.#pendingBytes >= MESSAGE_BYTES) await this.#sendPending();
  }

  /** The current file has no more chunks. */
  async endFile(): Promise<void> {
    await this.#sendPending();
    this.#post({ type: 'file-end' });
  }

  async #sendPending(): Promise<void> {
    if (this.#pendingBytes === 0) return;
    while (this.#credits === 0) {
      this.#throwIfFailed();
      await new Promise<void>((resolve) => {
        this.#creditWaiter = resolve;
      });
    }
    this.#throwIfFailed();
    this.#credits -= 1;
    // Copied into a buffer of the job's own (a chunk may be a view on a larger or shared buffer),
    // which is moved to the worker, not cloned, and comes back with a credit.
    const reusable = this.#freeBuffers.findIndex((buffer) => buffer.byteLength >= this.#pendingBytes);
    const buffer =
      reusable === -1
        ? new ArrayBuffer(Math.max(this.#pendingBytes, 2 * MESSAGE_BYTES))
        : (this.#freeBuffers.splice(reusable, 1)[0] as ArrayBuffer);
    const data = new Uint8Array(buffer, 0, this.#pendingBytes);
    let offset = 0;
    for (const chunk of this.#pending) {
      data.set(chunk, offset);
      offset += chunk.byteLength;
    }
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#worker.postMessage({ type: 'chunk', data } satisfies ToParseWorker, [buffer]);
  }

  /**
   * A batch given to `onBatch` was written or dropped: the worker may parse further. Its payload
   * bytes are given back for reuse (they must not be used afterwards).
   */
  batchDone(batch: EventBatch): void {
    if (this.#closed || this.#failure !== undefined) return;
    const buffer = batch.linesAscii.buffer as ArrayBuffer;
    this.#worker.postMessage({ type: 'batch-done', buffer } satisfies ToParseWorker, [buffer]);
  }

  /** Emits the last batch and resolves with the final counts. */
  finish(): Promise<LineCounts> {
    this.#throwIfFailed();
    const finished = new Promise<LineCounts>((resolve, reject) => {
      this.#finishing = { resolve, reject };
    });
    this.#post({ type: 'finish' });
    return finished;
  }

  /** Stops the worker. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#worker.terminate();
  }

  #post(message: ToParseWorker): void {
    this.#throwIfFailed();
    this.#worker.postMessage(message);
  }

  #receive(message: FromParseWorker): void {
    switch (message.type) {
      case 'batch':
        this.#options.onBatch(message.batch, message.counts);
        break;
      case 'invalid-line':
        this.#options.onInvalidLine(message.notice);
        break;
      case 'chunk-credit':
        this.#credits += message.count;
        for (const buffer of message.buffers)
          if (this.#freeBuffers.length < CHUNK_WINDOW) this.#freeBuffers.push(buffer);
        this.#wake();
        break;
      case 'file-done':
        this.#options.onFileDone(message.counts);
        break;
      case 'finished':
        this.#finishing?.resolve(message.counts);
        this.#finishing = undefined;
        break;
    }
  }

  #fail(error: Error): void {
    this.#failure ??= error;
    this.#finishing?.reject(error);
    this.#finishing = undefined;
    this.#wake();
  }

  #wake(): void {
    const waiter = this.#creditWaiter;
    this.#creditWaiter = undefined;
    waiter?.();
  }

  #throwIfFailed(): void {
    if (this.#failure !== undefined) throw this.#failure;
  }
}
