import { EXIT_CODES, type PlatformContext } from '@platform-host/contracts';
import { MetricAggregator } from './aggregator.js';
import { InvalidArgumentError, readSettings, type AggregatorSettings } from './settings.js';

/** The context metric_aggregator runs with. */
export type MetricAggregatorContext = PlatformContext<'database' | 'message_queue' | 'logging' | 'metrics'>;

/**
 * The module's `run` (issue 11): consumes until shutdown starts, then writes the pending aggregates
 * in one transaction, acknowledges them and resolves with 0. A bad argument value is a usage error
 * (exit 2) naming the argument. On Cassandra, a batch whose outcome stayed unknown makes it reject
 * (exit 1) without writing anything more.
 */
export async function run(ctx: MetricAggregatorContext): Promise<number> {
  let settings: AggregatorSettings;
  try {
    settings = readSettings(ctx.config);
  } catch (error) {
    if (!(error instanceof InvalidArgumentError)) throw error;
    ctx.log.error(`Invalid argument: ${error.message}`, { code: 'PH_ERR_ARGS_INVALID' });
    return EXIT_CODES.USAGE;
  }
  const aggregator = new MetricAggregator({
    db: ctx.db,
    mq: ctx.mq,
    log: ctx.log,
    metrics: ctx.metrics,
    lifecycle: ctx.lifecycle,
    settings,
  });
  const { signal } = ctx.lifecycle;
  let failure: Error | undefined;
  if (!signal.aborted) {
    await aggregator.start();
    failure = await new Promise<Error | undefined>((resolve) => {
      if (signal.aborted) resolve(undefined);
      else signal.addEventListener('abort', () => resolve(undefined), { once: true });
      void aggregator.failed.then(resolve);
    });
  }
  await aggregator.stop();
  // A write whose outcome stayed unknown: exit non-zero, the host (Deployment, compose) restarts the worker.
  if (failure !== undefined) throw failure;
  return EXIT_CODES.OK;
}
