import { EXIT_CODES, newCorrelationId, PlatformError, REFS, withCorrelationId } from '@platform-host/contracts';
import type { HealthServer } from '../health/health-server.js';
import { jobStatusPath, writeJobStatus, type JobStatus } from '../health/job-status-file.js';
import { runWithDeadline } from '../lifecycle/shutdown.js';
import { recordModuleStartup, startModuleUptime, type UptimeGauge } from '../observability/module-metrics.js';
import { prepareRun, type ModuleRun, type PrepareRunOptions } from './prepare-run.js';

/** Options of {@link runModule}. */
export interface RunModuleOptions extends PrepareRunOptions {
  /** Where help text goes (default stdout). */
  readonly write?: (text: string) => void;
  /**
   * Install the process handlers (default true): SIGTERM/SIGINT start the shutdown (a second one
   * exits at once, after flushing logs); `unhandledRejection` / `uncaughtException` are logged with
   * the module's name and end the run with exit 1.
   */
  readonly handleSignals?: boolean;
  /** Called once the run is constructed, before anything connects (tests inspect and steer it). */
  readonly onPrepared?: (run: ModuleRun) => void;
  /** Called once the health server listens, with its port (`--health-port 0` picks one). */
  readonly onHealthListening?: (port: number) => void;
}

const SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT'];

/**
 * Runs a module with the production lifecycle (seed 4.3, 8, 9): prepare (env, flags, arguments,
 * adapters), connect, migrations, health server (services, workers) or status file (jobs), `run()`,
 * then graceful shutdown — stop intake (readiness 503, subscriptions paused, `onStopAccepting`
 * hooks, the signal aborts), drain of run() and tracked work up to `--drain-timeout`, close of the
 * subscriptions left open, `onShutdown` hooks in reverse, disconnect, metrics flush, log flush;
 * every hook, disconnect and flush with the `--hook-timeout` deadline.
 *
 * A signal during startup (preparing, connecting, migrating) aborts it: `run()` is never called,
 * readiness never turns green, the adapters connected so far are disconnected, and the exit code
 * is 1 for every module type (the module never ran). Exit codes (DESIGN.md decision 9): the
 * module's code; 1 when it threw, a job was interrupted by a signal before `run()` finished, the
 * drain timed out, a hook / disconnect / flush failed or missed its deadline, or an unhandled
 * rejection or uncaught exception happened. Usage errors throw PlatformError (exit 2).
 */
export async function runModule(options: RunModuleOptions): Promise<number> {
  const handleSignals = options.handleSignals ?? true;
  let run: ModuleRun | undefined;
  let signals = 0;
  let earlySignal: NodeJS.Signals | undefined;
  let interruptedBy: NodeJS.Signals | undefined;
  let runSettled = false;
  let crashed = false;

  const onSignal = (signal: NodeJS.Signals): void => {
    signals += 1;
    if (signals > 1) {
      // Exit fast, but not silently: the logs written so far (and this line) are flushed first.
      if (!run) process.exit(EXIT_CODES.FAILURE);
      run.log.error('Second signal during shutdown: exiting now without finishing it', { signal });
      void run.flushLogs(Math.min(run.hookTimeoutMs, 2000)).finally(() => process.exit(EXIT_CODES.FAILURE));
      return;
    }
    if (!runSettled) interruptedBy = signal;
    if (!run) {
      earlySignal = signal;
      return;
    }
    run.log.info('Signal received: shutting down', {
      signal,
      drainTimeoutSeconds: run.pre.options.drainTimeoutSeconds,
      hookTimeoutSeconds: run.pre.options.hookTimeoutSeconds,
    });
    run.requestShutdown(signal);
  };
  const onCrash = (kind: 'unhandledRejection' | 'uncaughtException') => (error: unknown) => {
    crashed = true;
    if (!run) {
      process.stderr.write(`${kind} while preparing the run\n`);
      process.exit(EXIT_CODES.FAILURE);
    }
    const what = kind === 'unhandledRejection' ? 'Unhandled promise rejection' : 'Uncaught exception';
    run.log.error(`${what} in module ${run.manifest.name}: shutting down`, { kind, error });
    run.requestShutdown(kind);
  };
  const onRejection = onCrash('unhandledRejection');
  const onException = onCrash('uncaughtException');
  if (handleSignals) for (const signal of SIGNALS) process.on(signal, onSignal);

  try {
    const prepared = await prepareRun(options);
    if ('help' in prepared) {
      (options.write ?? ((text: string) => process.stdout.write(text)))(prepared.help);
      return EXIT_CODES.OK;
    }
    run = prepared;
    if (handleSignals) {
      process.on('unhandledRejection', onRejection);
      process.on('uncaughtException', onException);
    }
    options.onPrepared?.(run);
    if (earlySignal) run.requestShutdown(earlySignal);
    return await lifecycle(run, options, {
      onRunSettled: () => {
        runSettled = true;
      },
      interruptedBy: () => interruptedBy,
      crashed: () => crashed,
    });
  } finally {
    if (handleSignals) {
      for (const signal of SIGNALS) process.off(signal, onSignal);
      process.off('unhandledRejection', onRejection);
      process.off('uncaughtException', onException);
    }
  }
}

/** What the process handlers of {@link runModule} saw, read by {@link lifecycle}. */
interface ProcessEvents {
  onRunSettled(): void;
  /** The signal that arrived before `run()` settled, if one did. */
  interruptedBy(): NodeJS.Signals | undefined;
  /** True once an unhandled rejection or uncaught exception happened. */
  crashed(): boolean;
}

/** Everything after preparation: startup, `run()`, shutdown. Returns the exit code. */
async function lifecycle(run: ModuleRun, options: RunModuleOptions, events: ProcessEvents): Promise<number> {
  const { manifest, log, lifecycle: hostLifecycle } = run;
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
  let health: HealthServer | undefined;
  let uptime: UptimeGauge | undefined;
  let exitCode: number;
  let usageError: PlatformError | undefined;
  const startAndRun = async (): Promise<number> => {
    reportJob('starting');
    const starting = run.start();
    const first = await Promise.race([starting, run.shutdownRequested.then(() => 'shutdown' as const)]);
    if (first !== true) {
      // A signal during startup: wait (bounded) for the step in progress, so what it connected
      // is disconnected below; run() is never called.
      const unfinished = await runWithDeadline(
        { name: 'startup step in progress', run: () => starting },
        run.hookTimeoutMs,
      );
      log.error('Startup aborted: run() was not called', {
        reason: run.shutdownReason,
        ...(unfinished ? { error: unfinished } : {}),
      });
      return EXIT_CODES.FAILURE;
    }
    if (!isJob) {
      // Imported only for services and workers: importing node:http costs tens of milliseconds.
      const { HealthServer } = await import('../health/health-server.js');
      health = new HealthServer(hostLifecycle, run.healthTargets());
      const port = await health.listen(run.pre.options.healthPort);
      log.info('Health server listening', { port });
      options.onHealthListening?.(port);
    }
    if (run.shutdownReason !== undefined) {
      log.error('Startup aborted: run() was not called', { reason: run.shutdownReason });
      return EXIT_CODES.FAILURE;
    }
    const context = run.context();
    log.info('Module starting', {
      type: manifest.type,
      version: manifest.version,
      env: run.pre.options.env,
      adapters: Object.fromEntries(run.constructed.map((adapter) => [adapter.interface, adapter.flag])),
    });
    // Standard platform metrics: startup time (process start until run() is called) and uptime.
    const metricsScope = {
      metrics: run.services.resolve(REFS.metrics),
      module: manifest.name,
      env: run.pre.options.env,
      log,
    };
    recordModuleStartup(metricsScope, performance.now() / 1000);
    uptime = startModuleUptime(metricsScope);
    hostLifecycle.started = true;
    hostLifecycle.phase = 'running';
    reportJob('running');
    let outcome: { code: number } | { error: unknown } | undefined;
    const settled = withCorrelationId(newCorrelationId(), () => run.definition.run(context)).then(
      (code) => {
        outcome = { code: typeof code === 'number' ? code : EXIT_CODES.OK };
        events.onRunSettled();
      },
      (error: unknown) => {
        outcome = { error };
        events.onRunSettled();
      },
    );
    const reason = await Promise.race([settled.then(() => 'module finished'), run.shutdownRequested]);
    run.requestShutdown(reason);
    let code: number = EXIT_CODES.OK;
    if ((await run.stopIntake()) > 0) code = EXIT_CODES.FAILURE;
    // run() itself is in-flight work: after a signal the drain waits for it to resolve.
    const drained = await hostLifecycle.drain(drainTimeoutSeconds * 1000, [settled]);
    if (outcome && 'code' in outcome && code === EXIT_CODES.OK) code = outcome.code;
    if (outcome && 'error' in outcome) {
      code = EXIT_CODES.FAILURE;
      log.error('Module failed', { error: outcome.error });
    }
    if (!drained) {
      code = EXIT_CODES.FAILURE;
      log.error('Drain timed out: in-flight work did not finish', { code: 'PH_ERR_SHUTDOWN', drainTimeoutSeconds });
    }
    const signal = events.interruptedBy();
    if (isJob && signal && code === EXIT_CODES.OK) {
      // It did not complete: an orchestrator must retry it (DESIGN.md decision 9).
      log.warn('Job interrupted by a signal before run() finished: exit 1', { signal });
      code = EXIT_CODES.FAILURE;
    }
    return code;
  };
  try {
    exitCode = await startAndRun();
  } catch (error) {
    exitCode = EXIT_CODES.FAILURE;
    if (error instanceof PlatformError && error.exitCode === EXIT_CODES.USAGE) usageError = error;
    else log.error(error instanceof PlatformError ? error.message : 'Module failed', { error });
    // A backend that did not connect: the module's own "infrastructure unavailable" code, if it has one.
    const unavailable = manifest.exit_codes.unavailable;
    if (unavailable !== undefined && error instanceof PlatformError && error.code === 'PH_ERR_CONNECT') {
      exitCode = unavailable;
    }
  }
  uptime?.stop();
  if ((await run.close()) > 0) exitCode = EXIT_CODES.FAILURE;
  if (events.crashed()) exitCode = EXIT_CODES.FAILURE;
  const server = health;
  if (server) await runWithDeadline({ name: 'health server close', run: () => server.close() }, run.hookTimeoutMs);
  reportJob(exitCode === EXIT_CODES.OK ? 'succeeded' : 'failed', { exitCode });
  log.info('Module stopped', { exitCode });
  if (!(await run.flushLogs())) exitCode = EXIT_CODES.FAILURE;
  if (usageError) throw usageError;
  return exitCode;
}
