/**
 * How a conformance suite obtains the adapter under test: `create()` returns a ready (connected)
 * instance, `destroy()` releases it (disconnect, drop temporary resources).
 */
export interface ConformanceSubject<T> {
  create(): Promise<T>;
  destroy?(subject: T): Promise<void>;
}
