import type { Counter, Gauge, Histogram, LabelValues, Metrics } from '@platform-host/contracts';

/** Buckets of the request duration histogram, in seconds: 0.5 ms to 10 s (cached answers take about a millisecond). */
export const REQUEST_DURATION_BUCKETS: readonly number[] = Object.freeze([
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
]);

/** The instruments of api_gateway (issue 13, behaviour 4); names are fixed for the dashboards. */
export interface GatewayMetrics {
  /** Request duration by route template (`/v1/events/:id`), method and status code. */
  readonly requestDuration: Histogram<'route' | 'method' | 'status'>;
  /** Requests being handled now. */
  readonly inFlight: Gauge;
  /** Cache lookups of GET answers by result: hit, miss, stale, bypass (cache unavailable). */
  readonly cacheLookups: Counter<'result'>;
  /** Events published by `POST /v1/events`, by topic. */
  readonly eventsPublished: Counter<'topic'>;
  /** Requests refused with 503 to shed load, by reason (in_flight, event_loop, ...). */
  readonly requestsShed: Counter<'reason'>;
}

/** Every metric name api_gateway exports (the dashboard test checks panels against these). */
export const GATEWAY_METRIC_NAMES = [
  'api_gateway_request_duration_seconds',
  'api_gateway_requests_in_flight',
  'api_gateway_cache_lookups_total',
  'api_gateway_published_events_total',
  'api_gateway_shed_requests_total',
] as const;

/** Declares the instruments. */
export function declareGatewayMetrics(metrics: Metrics): GatewayMetrics {
  return {
    requestDuration: metrics.histogram({
      name: 'api_gateway_request_duration_seconds',
      help: 'Duration of HTTP requests by route template, method and status code.',
      labelNames: ['route', 'method', 'status'],
      unit: 'seconds',
      buckets: REQUEST_DURATION_BUCKETS,
    }),
    inFlight: metrics.gauge({
      name: 'api_gateway_requests_in_flight',
      help: 'HTTP requests being handled now.',
    }),
    cacheLookups: metrics.counter({
      name: 'api_gateway_cache_lookups_total',
      help: 'Cache lookups of GET answers by result: hit, miss, stale (served past its TTL), bypass (cache unavailable).',
      labelNames: ['result'],
    }),
    eventsPublished: metrics.counter({
      name: 'api_gateway_published_events_total',
      help: 'Events accepted by POST /v1/events and published, by topic.',
      labelNames: ['topic'],
      unit: 'events',
    }),
    requestsShed: metrics.counter({
      name: 'api_gateway_shed_requests_total',
      help: 'Requests refused with 503 and Retry-After to shed load, by reason.',
      labelNames: ['reason'],
      unit: 'requests',
    }),
  };
}

/** The label set of {@link GatewayMetrics.requestDuration}. */
export type DurationLabels = LabelValues<'route' | 'method' | 'status'>;

/**
 * Frozen label sets of the request duration histogram, one per route, method and status, made on
 * first use and reused: an observation then allocates nothing, and the metrics adapters check a
 * frozen label set once (`validateLabels`), not on every request. Bounded by the routes (templates),
 * the methods the HTTP parser accepts and the status codes the gateway answers with.
 */
export class DurationLabelSets {
  readonly #byRoute = new Map<string, Map<string, Map<number, DurationLabels>>>();

  /** The label set of one route template, method and status code. */
  of(route: string, method: string, status: number): DurationLabels {
    let byMethod = this.#byRoute.get(route);
    if (byMethod === undefined) this.#byRoute.set(route, (byMethod = new Map<string, Map<number, DurationLabels>>()));
    let byStatus = byMethod.get(method);
    if (byStatus === undefined) byMethod.set(method, (byStatus = new Map<number, DurationLabels>()));
    let labels = byStatus.get(status);
    if (labels === undefined) byStatus.set(status, (labels = Object.freeze({ route, method, status: String(status) })));
    return labels;
  }
}

/** The frozen label set of a cache lookup result (`api_gateway_cache_lookups_total`). */
export const LOOKUP_LABELS: Readonly<Record<'hit' | 'miss' | 'stale' | 'bypass', LabelValues<'result'>>> =
  Object.freeze({
    hit: Object.freeze({ result: 'hit' }),
    miss: Object.freeze({ result: 'miss' }),
    stale: Object.freeze({ result: 'stale' }),
    bypass: Object.freeze({ result: 'bypass' }),
  });

/** The empty label set of the in-flight gauge, frozen (checked once by the adapters). */
export const NO_LABELS: LabelValues<never> = Object.freeze({});
