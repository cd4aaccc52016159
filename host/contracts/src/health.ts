/** Result of one adapter health check. Health checks never throw; failures are reported here. */
export interface HealthCheckResult {
  /** True when the backend answered as expected. */
  readonly ok: boolean;
  /** Short, secret-free explanation (for example the driver's error message) when `ok` is false. */
  readonly detail?: string;
}

/** Something that can report its own health; every adapter implements it. */
export interface HealthCheckable {
  /** Probes the backend. Never throws and never hangs longer than the backend's own timeout. */
  healthCheck(): Promise<HealthCheckResult>;
}

/**
 * Optional connection lifecycle. The host calls `connect()` after construction and `disconnect()`
 * during shutdown, for every adapter that has them.
 */
export interface Connectable {
  /**
   * Opens the connection(s). Must settle: the host gives up after `--connect-timeout` (default
   * 30 s) and fails the run with `PH_ERR_CONNECT` naming the adapter, so an adapter should bound its
   * own attempts more tightly and reject with a message naming its backend (host and port, never
   * credentials), rather than retry forever.
   */
  connect(): Promise<void>;
  /** Idempotent: calling it twice, or before `connect()`, is harmless. */
  disconnect(): Promise<void>;
}
