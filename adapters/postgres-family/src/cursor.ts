import { randomBytes } from 'node:crypto';
import type { Row, SqlParam, StreamOptions } from '@platform-host/contracts';
import { DatabaseQueryError, statementSummary } from './query-error.js';

/** Rows per batch of `Database.stream` when the caller gives none. */
export const DEFAULT_STREAM_BATCH_SIZE = 1000;
/** The largest row count a FETCH (and the wire protocol's Execute) takes: a signed 32-bit integer. */
const MAX_STREAM_BATCH_SIZE = 2_147_483_647;

/**
 * The batch size of a `stream` call: `options.batchSize`, else {@link DEFAULT_STREAM_BATCH_SIZE}.
 * Anything but an integer from 1 to 2^31 - 1 is refused with `PH_ERR_DB_QUERY` naming the statement.
 */
export function streamBatchSize(options: StreamOptions | undefined, statement: string): number {
  const batchSize = options?.batchSize ?? DEFAULT_STREAM_BATCH_SIZE;
  if (!Number.isSafeInteger(batchSize) || batchSize < 1 || batchSize > MAX_STREAM_BATCH_SIZE) {
    throw new DatabaseQueryError(
      `stream of "${statementSummary(statement)}": batchSize must be an integer from 1 to ${MAX_STREAM_BATCH_SIZE}, got ${batchSize}`,
    );
  }
  return batchSize;
}

/**
 * Runs one statement on the connection (session) a cursor lives on and returns its rows. It must
 * use the extended protocol (one statement, bound parameters), and reject with a `PH_ERR_DB_QUERY`
 * error that names `named` — the caller's statement, not the cursor's plumbing around it.
 */
export type CursorStatementRunner = (
  text: string,
  params: readonly SqlParam[],
  named: string,
) => Promise<readonly Row[]>;

/** Options of {@link cursorBatches}. */
export interface CursorBatchOptions {
  readonly batchSize: number;
  /**
   * `WITH HOLD`: the cursor outlives the transaction that declares it, so it can be declared and
   * fetched outside any transaction, with other statements running between fetches on the same
   * session. PostgreSQL then computes the whole result when the declaring transaction commits and
   * keeps it server-side (in `work_mem`, then temporary files) until the cursor is closed.
   * Without it, the cursor reads as it goes but only lives inside the current transaction.
   */
  readonly withHold?: boolean;
}

/**
 * Reads `statement` (a `SELECT` or `VALUES`) through a server-side cursor: `DECLARE ... CURSOR
 * FOR statement`, then `FETCH FORWARD batchSize` until a short batch, then `CLOSE`. Yields batches
 * of 1 to `batchSize` rows (none for an empty result). Statements on the same session may run
 * between two batches (the loop body may query). Leaving early (`break`, `return`, a throw in the
 * loop body) closes the cursor; a failed FETCH does not try to (its transaction is aborted), except
 * for a `WITH HOLD` cursor, which outlives it and is closed on a best-effort basis.
 */
export async function* cursorBatches<T extends Row = Row>(
  run: CursorStatementRunner,
  statement: string,
  params: readonly SqlParam[],
  options: CursorBatchOptions,
): AsyncGenerator<T[], void, undefined> {
  const { batchSize } = options;
  // Unique per session without coordination: two adapters may share one session (PGlite).
  const cursor = `ph_stream_${randomBytes(8).toString('hex')}`;
  const hold = options.withHold === true ? 'WITH HOLD ' : '';
  await run(`DECLARE ${cursor} NO SCROLL CURSOR ${hold}FOR ${statement}`, params, statement);
  let fetchFailed = false;
  try {
    for (;;) {
      let rows: readonly Row[];
      try {
        rows = await run(`FETCH FORWARD ${batchSize} FROM ${cursor}`, [], statement);
      } catch (error) {
        fetchFailed = true;
        throw error;
      }
      if (rows.length > 0) yield rows as T[];
      if (rows.length < batchSize) return;
    }
  } finally {
    const close = (): Promise<readonly Row[]> => run(`CLOSE ${cursor}`, [], `CLOSE ${cursor}`);
    if (!fetchFailed) await close();
    else if (options.withHold === true) await close().catch(() => undefined);
  }
}
