import { performance } from 'node:perf_hooks';
import type { Database, Row, SqlParam, StreamOptions } from '@platform-host/contracts';
import { interceptMethods, observeCall } from './intercept.js';
import { safeRecorder, scopeLabels, secondsSince, type PlatformMetricsScope } from './scope.js';

/** The `operation` label of `platform_db_query_duration_seconds`. */
export type DatabaseOperation =
  'execute' | 'fetch_one' | 'fetch_all' | 'stream' | 'bulk_insert' | 'transaction' | 'batch';

export const DB_QUERY_DURATION = 'platform_db_query_duration_seconds';

/**
 * Wraps a constructed database so every statement is timed into `platform_db_query_duration_seconds`
 * (labels `module`, `env`, `operation`, `outcome` = `ok` | `error`). Everything else is the
 * adapter's own: return values and errors, `dialect`, connection and health methods, and the
 * transaction context — `transaction(work)` calls the adapter's with `work` unchanged, so calls
 * made inside `work` (through this proxy or not) run on the transaction's connection; a
 * transaction is timed as a whole and each statement inside it once more on its own. `stream`
 * stays lazy: it measures the time spent fetching batches (not the caller's time between them)
 * and records it when the iteration ends, fails or is left early.
 */
export function instrumentDatabase<D extends Database>(db: D, scope: PlatformMetricsScope): D {
  const histogram = scope.metrics.histogram({
    name: DB_QUERY_DURATION,
    help: 'Time the database took to run a statement, stream a query or complete a transaction.',
    labelNames: ['module', 'env', 'operation', 'outcome'],
    unit: 'seconds',
  });
  const base = scopeLabels(scope);
  const record = safeRecorder(scope);
  const observe = (operation: DatabaseOperation, outcome: 'ok' | 'error', seconds: number): void =>
    record(() => histogram.observe({ ...base, operation, outcome }, seconds));
  const timed = <T>(operation: DatabaseOperation, call: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    return observeCall(call, (outcome) => observe(operation, outcome, secondsSince(started)));
  };

  return interceptMethods<D, Database>(db, {
    execute: (...args: [sql: string, params?: readonly SqlParam[]]) => timed('execute', () => db.execute(...args)),
    fetchOne: <T extends Row = Row>(...args: [sql: string, params?: readonly SqlParam[]]) =>
      timed('fetch_one', () => db.fetchOne<T>(...args)),
    fetchAll: <T extends Row = Row>(...args: [sql: string, params?: readonly SqlParam[]]) =>
      timed('fetch_all', () => db.fetchAll<T>(...args)),
    bulkInsert: (...args: Parameters<Database['bulkInsert']>) => timed('bulk_insert', () => db.bulkInsert(...args)),
    batch: (...args: Parameters<Database['batch']>) => timed('batch', () => db.batch(...args)),
    transaction: <T>(work: () => Promise<T>) => timed('transaction', () => db.transaction(work)),
    stream: <T extends Row = Row>(...args: [sql: string, params?: readonly SqlParam[], options?: StreamOptions]) => {
      let source: AsyncIterable<T[]>;
      try {
        source = db.stream<T>(...args);
      } catch (error) {
        observe('stream', 'error', 0);
        throw error;
      }
      return timedIterable(source, (outcome, seconds) => observe('stream', outcome, seconds));
    },
  });
}

/**
 * An iterable that iterates `source` when iterated (never before) and reports, once per iteration,
 * the time spent inside `source`'s `next()`/`return()` and whether it ended in an error.
 */
function timedIterable<T>(
  source: AsyncIterable<T>,
  report: (outcome: 'ok' | 'error', seconds: number) => void,
): AsyncIterable<T> {
  return {
    [Symbol.asyncIterator](): AsyncIterator<T> {
      const iterator = source[Symbol.asyncIterator]();
      let spent = 0;
      let reported = false;
      const finish = (outcome: 'ok' | 'error'): void => {
        if (reported) return;
        reported = true;
        report(outcome, spent);
      };
      const step = async (call: () => Promise<IteratorResult<T>>): Promise<IteratorResult<T>> => {
        const started = performance.now();
        try {
          const result = await call();
          spent += secondsSince(started);
          if (result.done === true) finish('ok');
          return result;
        } catch (error) {
          spent += secondsSince(started);
          finish('error');
          throw error;
        }
      };
      const wrapped: AsyncIterator<T> = { next: (...args: [] | [unknown]) => step(() => iterator.next(...args)) };
      // Always present, so leaving a loop early reports the iteration even for a source without return().
      wrapped.return = async (value?: unknown) => {
        const result = await step(async () => (await iterator.return?.(value)) ?? { done: true, value: value as T });
        finish('ok');
        return result;
      };
      if (iterator.throw !== undefined) {
        wrapped.throw = (error?: unknown) =>
          step(async () => {
            const result = await iterator.throw?.(error);
            if (result === undefined) throw error;
            return result;
          });
      }
      return wrapped;
    },
  };
}
