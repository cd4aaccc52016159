import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  Counter as PromCounter,
  Gauge as PromGauge,
  Histogram as PromHistogram,
  Pushgateway,
  Registry,
  collectDefaultMetrics,
  type PrometheusContentType,
} from 'prom-client';
import {
  PlatformError,
  resolveDeclaration,
  validateLabels,
  validateObservation,
  type Connectable,
  type Counter,
  type Gauge,
  type HealthCheckResult,
  type HealthCheckable,
  type Histogram,
  type HistogramOptions,
  type InstrumentDeclaration,
  type InstrumentKind,
  type InstrumentOptions,
  type LabelValues,
  type Logger,
  type Metrics,
} from '@platform-host/contracts';

/** Options of {@link PrometheusMetrics}. */
export interface PrometheusMetricsOptions {
  /** Serve `GET /metrics` from `connect()` until `disconnect()`. Default true. */
  readonly serve?: boolean;
  /** Port of `/metrics`; `0` picks a free one (read it back with {@link PrometheusMetrics.port}). Default 9090. */
  readonly port?: number;
  /** Address `/metrics` listens on. Default `0.0.0.0` (every interface, as the health server). */
  readonly host?: string;
  /** Pushgateway base URL; when set, `flush()` pushes the registry there. */
  readonly pushgatewayUrl?: string;
  /** The `job` grouping key of pushes. Default `platform_host`. */
  readonly jobName?: string;
  /** Register prom-client's default process and Node.js metrics on `connect()`. Default true. */
  readonly defaultMetrics?: boolean;
  /** Bound of one push in ms. Default 5000. */
  readonly pushTimeoutMs?: number;
  /** Where the bound port and push outcomes are logged. */
  readonly logger?: Logger;
}

type PromMetric = PromCounter | PromGauge | PromHistogram;

interface Family {
  readonly declaration: InstrumentDeclaration;
  readonly metric: PromMetric;
}

/**
 * Metrics in a private prom-client {@link Registry} (`--metrics prometheus`). Declared instruments
 * become prom-client counters, gauges and histograms with their label names and buckets, after the
 * contracts' validation (`resolveDeclaration`, `validateLabels`, `validateObservation`), so this
 * adapter refuses exactly what every other one refuses and records nothing for a refused call.
 *
 * Services and workers are scraped: `connect()` serves the registry as `GET /metrics` (text
 * exposition format) on the configured port, `disconnect()` closes it. Jobs push: with a
 * Pushgateway URL, `flush()` (which the host calls last at shutdown) replaces the job's group on the
 * Pushgateway with the registry's current content (HTTP PUT).
 */
export class PrometheusMetrics implements Metrics, Connectable, HealthCheckable {
  /** The private registry every instrument of this adapter (and the default metrics) is in. */
  readonly registry = new Registry();
  readonly #families = new Map<string, Family>();
  readonly #serve: boolean;
  readonly #port: number;
  readonly #host: string;
  readonly #jobName: string;
  readonly #defaultMetrics: boolean;
  readonly #pushgateway: Pushgateway<PrometheusContentType> | undefined;
  readonly #pushTarget: string | undefined;
  readonly #logger: Logger | undefined;
  #server: Server | undefined;
  #boundPort: number | undefined;
  #defaultMetricsRegistered = false;

  constructor(options: PrometheusMetricsOptions = {}) {
    this.#serve = options.serve ?? true;
    this.#port = options.port ?? 9090;
    this.#host = options.host ?? '0.0.0.0';
    this.#jobName = options.jobName ?? 'platform_host';
    this.#defaultMetrics = options.defaultMetrics ?? true;
    this.#logger = options.logger;
    if (options.pushgatewayUrl !== undefined) {
      this.#pushTarget = describeUrl(options.pushgatewayUrl);
      this.#pushgateway = new Pushgateway(
        options.pushgatewayUrl,
        { timeout: options.pushTimeoutMs ?? 5_000 },
        this.registry,
      );
    }
  }

  /** The port `/metrics` is bound to while served, else `undefined`. */
  get port(): number | undefined {
    return this.#boundPort;
  }

  counter<L extends string = never>(options: InstrumentOptions<L>): Counter<L> {
    const { declaration, metric } = this.#declare('counter', options);
    const counter = metric as PromCounter;
    return {
      inc: (labels, value = 1) => {
        validateObservation(declaration.name, value, 'counter');
        validateLabels(declaration.name, declaration.labelNames, labels);
        counter.inc(labelsOf(labels), value);
      },
    };
  }

  gauge<L extends string = never>(options: InstrumentOptions<L>): Gauge<L> {
    const { declaration, metric } = this.#declare('gauge', options);
    const gauge = metric as PromGauge;
    const check = (labels: LabelValues<L>, value: number): void => {
      validateObservation(declaration.name, value, 'gauge');
      validateLabels(declaration.name, declaration.labelNames, labels);
    };
    return {
      set: (labels, value) => {
        check(labels, value);
        gauge.set(labelsOf(labels), value);
      },
      inc: (labels, value = 1) => {
        check(labels, value);
        gauge.inc(labelsOf(labels), value);
      },
      dec: (labels, value = 1) => {
        check(labels, value);
        gauge.dec(labelsOf(labels), value);
      },
    };
  }

  histogram<L extends string = never>(options: HistogramOptions<L>): Histogram<L> {
    const { declaration, metric } = this.#declare('histogram', options);
    const histogram = metric as PromHistogram;
    return {
      observe: (labels, value) => {
        validateObservation(declaration.name, value, 'histogram');
        validateLabels(declaration.name, declaration.labelNames, labels);
        histogram.observe(labelsOf(labels), value);
      },
      startTimer: (labels) => {
        validateLabels(declaration.name, declaration.labelNames, labels);
        // prom-client's timer observes on every call; the contract records once.
        const end = histogram.startTimer(labelsOf(labels));
        let elapsed: number | undefined;
        return () => (elapsed ??= end());
      },
    };
  }

  /** The registry in the text exposition format, as `/metrics` serves it. */
  exposition(): Promise<string> {
    return this.registry.metrics();
  }

  /**
   * Registers the default metrics (once) and, when serving, listens on the configured port and
   * logs it. Rejects with `PH_ERR_CONNECT` naming the address when the port cannot be bound.
   */
  async connect(): Promise<void> {
    if (this.#defaultMetrics && !this.#defaultMetricsRegistered) {
      collectDefaultMetrics({ register: this.registry });
      this.#defaultMetricsRegistered = true;
    }
    if (!this.#serve || this.#server !== undefined) return;
    const server = createServer((request, response) => {
      const path = (request.url ?? '/').split('?')[0];
      const send = (status: number, contentType: string, body: string): void => {
        response.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store' });
        response.end(request.method === 'HEAD' ? undefined : body);
      };
      if (request.method !== 'GET' && request.method !== 'HEAD') return send(405, 'text/plain', 'method not allowed\n');
      if (path !== '/metrics') return send(404, 'text/plain', 'not found; metrics are at /metrics\n');
      this.registry.metrics().then(
        (text) => send(200, this.registry.contentType, text),
        (error: unknown) => send(500, 'text/plain', `collecting metrics failed: ${messageOf(error)}\n`),
      );
    });
    server.keepAliveTimeout = 1000;
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(this.#port, this.#host, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (error) {
      throw new PlatformError(
        'PH_ERR_CONNECT',
        `Cannot serve Prometheus metrics on ${this.#host}:${this.#port}: ${messageOf(error)}`,
        {
          cause: error,
          hint: 'Set METRICS_PROMETHEUS_PORT to a free port (0: any), or METRICS_PROMETHEUS_SERVE=false to not serve /metrics.',
        },
      );
    }
    this.#server = server;
    this.#boundPort = (server.address() as AddressInfo).port;
    this.#logger?.info('Serving Prometheus metrics', { path: '/metrics', host: this.#host, port: this.#boundPort });
  }

  /** Closes `/metrics` and its open connections. Idempotent. Recorded values stay (for a final push). */
  async disconnect(): Promise<void> {
    const server = this.#server;
    if (server === undefined) return;
    this.#server = undefined;
    this.#boundPort = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }

  /**
   * With a Pushgateway URL: replaces the group `job=<job name>` on the Pushgateway with the
   * registry's current content (PUT), within the push timeout; rejects naming the Pushgateway
   * (without credentials) when it fails. Without one: nothing to do.
   */
  async flush(): Promise<void> {
    if (this.#pushgateway === undefined) return;
    try {
      await this.#pushgateway.push({ jobName: this.#jobName });
    } catch (error) {
      // The host reports a failed flush by name (PH_ERR_SHUTDOWN); this message says where it went.
      throw new Error(
        `Pushing metrics to the Pushgateway at ${this.#pushTarget} (job ${this.#jobName}) failed: ${messageOf(error)}`,
        { cause: error },
      );
    }
    this.#logger?.debug('Pushed metrics to the Pushgateway', { pushgateway: this.#pushTarget, job: this.#jobName });
  }

  /**
   * When serving: ok while `/metrics` is listening. Otherwise ok (a Pushgateway is only contacted
   * at `flush()`). Answers from local state, so at once; never throws.
   */
  healthCheck(): Promise<HealthCheckResult> {
    if (!this.#serve || this.#boundPort !== undefined) return Promise.resolve({ ok: true });
    return Promise.resolve({ ok: false, detail: 'not serving /metrics (not connected, or disconnected)' });
  }

  #declare(kind: InstrumentKind, options: HistogramOptions<string>): Family {
    const existing = this.#families.get(options.name);
    const declaration = resolveDeclaration(kind, options, existing?.declaration);
    if (existing !== undefined) return existing;
    const config = {
      name: declaration.name,
      help: declaration.help,
      labelNames: [...declaration.labelNames],
      registers: [this.registry],
    };
    let metric: PromMetric;
    try {
      if (kind === 'counter') metric = new PromCounter(config);
      else if (kind === 'gauge') metric = new PromGauge(config);
      else metric = new PromHistogram({ ...config, buckets: [...(declaration.buckets ?? [])] });
    } catch (error) {
      // A name the registry already holds (a default process metric such as process_cpu_seconds_total).
      throw new PlatformError('PH_ERR_METRIC_INVALID', `Metric ${declaration.name}: ${messageOf(error)}`, {
        cause: error,
        hint: 'Pick another name: this one is taken by a default process metric of the Prometheus adapter.',
      });
    }
    const family: Family = { declaration, metric };
    this.#families.set(declaration.name, family);
    return family;
  }
}

const NO_LABELS: Readonly<Record<string, string>> = Object.freeze({});

/**
 * Validated label values as prom-client takes them: a frozen label set as it is (prom-client keeps
 * the object of a new series, and a frozen one cannot change after), anything else copied, so a
 * caller's later change does not reach a stored series. Callers on a hot path record with frozen
 * label sets made once (the host's queue, database and cache metrics; api_gateway's per request).
 */
function labelsOf(labels: unknown): Record<string, string> {
  if (labels === undefined || labels === null) return NO_LABELS;
  if (Object.isFrozen(labels)) return labels as Record<string, string>;
  return { ...(labels as Record<string, string>) };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** `scheme://host:port/path` of a URL, without credentials, for messages. */
function describeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname === '/' ? '' : parsed.pathname}`;
  } catch {
    return '(invalid URL)';
  }
}
