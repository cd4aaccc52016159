import { expect } from 'chai';
import { isPlatformError } from '@platform-host/contracts';
import type { ErrorCode } from '@platform-host/contracts';

// Helpers the conformance suites share (not part of the test kit's exports).

/** The error `promise` rejects with; fails the test when it resolves. */
export async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  expect.fail('expected the call to be rejected, but it resolved');
}

/** Asserts that `promise` rejects with a PlatformError of `code`, and returns the error. */
export async function expectCode(promise: Promise<unknown>, code: ErrorCode): Promise<Error & { hint?: string }> {
  const error = await rejectionOf(promise);
  expect(isPlatformError(error) ? error.code : error, 'error code').to.equal(code);
  return error as Error & { hint?: string };
}

/** Every batch of a stream, read to the end. */
export async function batchesOf<T>(stream: AsyncIterable<T[]>): Promise<T[][]> {
  const batches: T[][] = [];
  for await (const batch of stream) batches.push(batch);
  return batches;
}

/** The first batch of a stream, leaving the loop right after it (`undefined` when there is none). */
export async function firstBatchOf<T>(stream: AsyncIterable<T[]>): Promise<T[] | undefined> {
  for await (const batch of stream) return batch;
  return undefined;
}

/** `count` consecutive integers starting at `first`. */
export function range(count: number, first = 0): number[] {
  return Array.from({ length: count }, (_, index) => first + index);
}
