import { EXIT_CODES, type PlatformContext } from '@platform-host/contracts';
import { StreamIngester } from './ingester.js';
import { InvalidArgumentError, readSettings, type IngestSettings } from './settings.js';

/** The context stream_ingest runs with. */
export type StreamIngestContext = PlatformContext<'database' | 'filesystem' | 'message_queue' | 'logging' | 'metrics'>;

/**
 * The module's `run` (issue 12): consumes until shutdown starts (the host has then paused intake
 * and turned readiness to 503), then commits every open file, acknowledges it, logs the drain time
 * and resolves with 0. A bad argument, or a queue without partitions, is a usage error (exit 2).
 */
export async function run(ctx: StreamIngestContext): Promise<number> {
  let settings: IngestSettings;
  try {
    settings = readSettings(ctx.config);
  } catch (error) {
    if (!(error instanceof InvalidArgumentError)) throw error;
    ctx.log.error(`Invalid argument: ${error.message}`, { code: 'PH_ERR_ARGS_INVALID' });
    return EXIT_CODES.USAGE;
  }
  if (!ctx.mq.capabilities.partitioned) {
    ctx.log.error(
      'stream_ingest needs a partitioned queue (--mq kafka or memory): its exactly-once commit fences writers per partition and resumes from per-partition offsets',
      { code: 'PH_ERR_CONFIG_INVALID' },
    );
    return EXIT_CODES.USAGE;
  }
  const ingester = new StreamIngester({
    db: ctx.db,
    fs: ctx.fs,
    mq: ctx.mq,
    log: ctx.log,
    metrics: ctx.metrics,
    lifecycle: ctx.lifecycle,
    settings,
  });
  const { signal } = ctx.lifecycle;
  if (!signal.aborted) {
    await ingester.start();
    await new Promise<void>((resolve) => {
      if (signal.aborted) resolve();
      else signal.addEventListener('abort', () => resolve(), { once: true });
    });
  }
  const drainStarted = performance.now();
  await ingester.stop();
  ctx.log.info('Stream ingest drained', { drain_ms: Math.round(performance.now() - drainStarted) });
  return EXIT_CODES.OK;
}
