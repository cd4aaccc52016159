import { EXIT_CODES, newCorrelationId, PlatformError, withCorrelationId } from '@platform-host/contracts';
import type { HealthServer } from '../health/health-server.js';
import { jobStatusPath, writeJobStatus, type JobStatus } from '../health/job-status-file.js';
import { prepareRun, type ModuleRun, type PrepareRunOptions } from './prepare-run.js';

/** Options of {@link runModule}. */
export interface RunModuleOptions extends PrepareRunOptions {
  /** Where help text goes (default stdout). */
  readonly write?: (text: string) => void;
  /** Install SIGTERM/SIGINT handlers (default true). */
  readonly handleSignals?: boolean;
  /** Called once the run is constructed, before anything connects (tests inspect and steer it). */
  readonly onPrepared?: (run: ModuleRun) => void;
  /** Called once the health server listens, with its port (`--health-port 0` picks one). */
  readonly onHealthListening?: (port: number) => void;
}

/**
 * Runs a module with the production lifecycle (seed 4.3, 8, 9): prepare (env, flags, arguments,
 * adapters), connect, migrations, health server (services, workers) or status file (jobs), `run()`,
 * then graceful shutdown — readiness off, drain of run() and tracked work up to the drain timeout,
 * hooks in reverse, disconnect, flush. Returns the exit code (DESIGN.md decision 9): the module's
 * code; 1 when it threw, the drain timed out or a hook failed. Usage errors throw PlatformError.
 */
export async function runModule(options: RunModuleOptions): Promise<number> {
  const prepared = await prepareRun(options);
  if ('help' in prepared) {
    (options.write ?? ((text: string) => process.stdout.write(text)))(prepared.help);
    return EXIT_CODES.OK;
  }
  const run = prepared;
  options.onPrepared?.(run);
  const { manifest, log, lifecycle } = run;
  const drainTimeoutSeconds = run.pre.options.drainTimeoutSeconds;
  const isJob = manifest.type === 'job';
  const statusPath = jobStatusPath(manifest.name, run.pre.env.values);
  const startedAt = new Date().toISOString();
  const reportJob = (status: JobStatus['status'], extra: Partial<JobStatus> = {}): void => {
    if (!isJob) return;
    try {
      writeJobStatus(statusPath, {
        module: manifest.name,
        status,
        pid: process.pid,
        startedAt,
        updatedAt: new Date().toISOString(),
        ...extra,
      });
    } catch (error) {
      log.warn('Cannot write the job status file', { path: statusPath, error });
    }
  };
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals += 1;
    if (signals > 1) {
      log.error('Second signal during shutdown: exiting now', { signal });
      process.exit(EXIT_CODES.FAILURE);
    }
    log.info('Signal received: shutting down', { signal, drainTimeoutSeconds });
    run.requestShutdown(signal);
  };
  const handleSignals = options.handleSignals ?? true;
  if (handleSignals) {
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  }
  let health: HealthServer | undefined;
  let exitCode: number = EXIT_CODES.OK;
  try {
    reportJob('starting');
    await run.start();
    if (!isJob) {
      // Imported only for services and workers: importing node:http costs tens of milliseconds.
      const { HealthServer } = await import('../health/health-server.js');
      health = new HealthServer(lifecycle, run.healthTargets());
      const port = await health.listen(run.pre.options.healthPort);
      log.info('Health server listening', { port });
      options.onHealthListening?.(port);
    }
    const context = run.context();
    log.info('Module starting', {
      type: manifest.type,
      version: manifest.version,
      env: run.pre.options.env,
      adapters: Object.fromEntries(run.constructed.map((adapter) => [adapter.interface, adapter.flag])),
    });
    lifecycle.started = true;
    lifecycle.phase = 'running';
    reportJob('running');
    let outcome: { code: number } | { error: unknown } | undefined;
    const settled = withCorrelationId(newCorrelationId(), () => run.definition.run(context)).then(
      (code) => {
        outcome = { code: typeof code === 'number' ? code : EXIT_CODES.OK };
      },
      (error: unknown) => {
        outcome = { error };
      },
    );
    const reason = await Promise.race([settled.then(() => 'module finished'), run.shutdownRequested]);
    run.requestShutdown(reason);
    // run() itself is in-flight work: after a signal the drain waits for it to resolve.
    const drained = await lifecycle.drain(drainTimeoutSeconds * 1000, [settled]);
    if (outcome && 'code' in outcome) exitCode = outcome.code;
    if (outcome && 'error' in outcome) {
      exitCode = EXIT_CODES.FAILURE;
      log.error('Module failed', { error: outcome.error });
    }
    if (!drained) {
      exitCode = EXIT_CODES.FAILURE;
      log.error('Drain timed out: in-flight work did not finish', { drainTimeoutSeconds });
    }
  } catch (error) {
    if (error instanceof PlatformError && error.exitCode === EXIT_CODES.USAGE) throw error;
    exitCode = EXIT_CODES.FAILURE;
    log.error(error instanceof PlatformError ? error.message : 'Module failed', { error });
  } finally {
    if ((await run.close()) > 0) exitCode = EXIT_CODES.FAILURE;
    await health?.close();
    reportJob(exitCode === EXIT_CODES.OK ? 'succeeded' : 'failed', { exitCode });
    log.info('Module stopped', { exitCode });
    await run.flushLogs();
    if (handleSignals) {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
    }
  }
  return exitCode;
}
