import type { EventBatch, InvalidLineNotice, LineCounts } from './batch-builder.js';

/** What the parse worker is started with. */
export interface ParseWorkerData {
  readonly eventDate: string;
  /** The run's start, epoch milliseconds. */
  readonly createdAt: number;
  readonly batchSize: number;
  /** Encoded bytes per batch, at most (see BatchBuilder). */
  readonly batchBytes: number;
  readonly invalidLinesLogged: number;
  readonly recentKeys: number | undefined;
  /** Batches the worker may have emitted and not yet seen written before it stops taking chunks. */
  readonly batchWindow: number;
}

/**
 * Messages to the parse worker. Buffers travel back and forth (transferred, not copied) and are
 * reused: the job allocates no memory per chunk or per batch for them.
 */
export type ToParseWorker =
  | { readonly type: 'file'; readonly file: string }
  | { readonly type: 'chunk'; readonly data: Uint8Array }
  | { readonly type: 'file-end' }
  | { readonly type: 'finish' }
  /** A batch was written; its payload buffer comes back for reuse. */
  | { readonly type: 'batch-done'; readonly buffer?: ArrayBuffer | undefined };

/** Messages from the parse worker. */
export type FromParseWorker =
  | { readonly type: 'batch'; readonly batch: EventBatch; readonly counts: LineCounts }
  | { readonly type: 'invalid-line'; readonly notice: InvalidLineNotice }
  /** Room for `count` more chunks; the processed chunks' buffers come back for reuse. */
  | { readonly type: 'chunk-credit'; readonly count: number; readonly buffers: ArrayBuffer[] }
  | { readonly type: 'file-done'; readonly counts: LineCounts }
  | { readonly type: 'finished'; readonly counts: LineCounts };
