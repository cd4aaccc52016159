/**
 * Worker thread entry: splits, parses, validates, transforms and batches the lines of the files
 * the main thread streams to it. Parsing allocates a lot of short-lived memory; in a worker its
 * young generation is bounded (see ParseWorker), and the main thread stays free to drive the
 * database round trips while the next batch is parsed.
 *
 * Flow control: the main thread sends a chunk only with a credit, and the worker hands credits
 * back only while fewer than `batchWindow` of its batches wait to be written, so at most a few
 * chunks and batches are in memory whatever the speed of the database. Chunks are cut by bytes
 * (see ParseWorker) and batches by bytes as well as rows (`batchBytes`), so that bound is in bytes.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { BatchBuilder } from './batch-builder.js';
import { LineSplitter } from './line-splitter.js';
import type { FromParseWorker, ParseWorkerData, ToParseWorker } from './parse-protocol.js';

const port = parentPort;
if (port === null) throw new Error('parse-worker.js runs as a worker thread (see ParseWorker)');
const options = workerData as ParseWorkerData;

const post = (message: FromParseWorker, transfer: ArrayBuffer[] = []): void => port.postMessage(message, transfer);
let batchesWaiting = 0;
let creditsOwed = 0;
/** Buffers of processed chunks, sent back with the credits. */
let chunkBuffers: ArrayBuffer[] = [];
/** Payload buffers the main thread gave back. */
const payloadBuffers: ArrayBuffer[] = [];
let splitter = new LineSplitter();

/** A reused payload buffer when one is large enough, else a new one with some headroom. */
function allocatePayloadBytes(length: number): Uint8Array {
  const index = payloadBuffers.findIndex((buffer) => buffer.byteLength >= length);
  const buffer =
    index === -1 ? new ArrayBuffer(Math.ceil(length * 1.25)) : (payloadBuffers.splice(index, 1)[0] as ArrayBuffer);
  return new Uint8Array(buffer, 0, length);
}

const builder = new BatchBuilder({
  eventDate: options.eventDate,
  createdAt: new Date(options.createdAt),
  batchSize: options.batchSize,
  batchBytes: options.batchBytes,
  invalidLinesLogged: options.invalidLinesLogged,
  ...(options.recentKeys === undefined ? {} : { recentKeys: options.recentKeys }),
  onBatch: (batch) => {
    batchesWaiting += 1;
    post({ type: 'batch', batch, counts: builder.counts }, [
      batch.linesAscii.buffer as ArrayBuffer,
      batch.origins.buffer as ArrayBuffer,
    ]);
  },
  onInvalidLine: (notice) => post({ type: 'invalid-line', notice }),
  allocateBytes: allocatePayloadBytes,
});

function handCreditsBack(): void {
  if (creditsOwed === 0 || batchesWaiting >= options.batchWindow) return;
  const buffers = chunkBuffers;
  post({ type: 'chunk-credit', count: creditsOwed, buffers }, buffers);
  creditsOwed = 0;
  chunkBuffers = [];
}

port.on('message', (message: ToParseWorker) => {
  switch (message.type) {
    case 'file':
      splitter = new LineSplitter();
      builder.startFile(message.file);
      break;
    case 'chunk':
      builder.addLines(splitter.push(message.data));
      chunkBuffers.push(message.data.buffer as ArrayBuffer);
      creditsOwed += 1;
      handCreditsBack();
      break;
    case 'file-end':
      builder.addLines(splitter.end());
      post({ type: 'file-done', counts: builder.counts });
      break;
    case 'finish':
      builder.flush();
      post({ type: 'finished', counts: builder.counts });
      break;
    case 'batch-done':
      if (message.buffer !== undefined && payloadBuffers.length < options.batchWindow)
        payloadBuffers.push(message.buffer);
      batchesWaiting -= 1;
      handCreditsBack();
      break;
  }
});
