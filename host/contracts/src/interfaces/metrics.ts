/** Label values of one time series. Keep cardinality bounded (no user ids). */
export type MetricTags = Readonly<Record<string, string>>;

/** A running timer; `stop()` records the elapsed milliseconds once and returns them. */
export interface Timer {
  stop(): number;
}

/**
 * Metrics (seed 5.2.6). Names use dots or underscores (`platform.db.query_duration_ms`);
 * implementations translate them to their backend's rules.
 */
export interface Metrics {
  /** Adds `value` (default 1, must be >= 0) to a monotonically increasing counter. */
  counter(name: string, value?: number, tags?: MetricTags): void;
  /** Sets a gauge to `value`. */
  gauge(name: string, value: number, tags?: MetricTags): void;
  /** Records one observation in a histogram. */
  histogram(name: string, value: number, tags?: MetricTags): void;
  /** Starts a timer that records milliseconds into the histogram `name` when stopped. */
  timer(name: string, tags?: MetricTags): Timer;
  /** Pushes or writes out anything buffered; called by the host at shutdown. */
  flush(): Promise<void>;
}

/** Times `work` into the histogram `name`, also when it throws. */
export async function timed<T>(metrics: Metrics, name: string, work: () => Promise<T>, tags?: MetricTags): Promise<T> {
  const timer = metrics.timer(name, tags);
  try {
    return await work();
  } finally {
    timer.stop();
  }
}
