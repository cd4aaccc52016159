import { readFile } from 'node:fs/promises';
import { expect } from 'chai';
import { isPlatformError } from '@platform-host/contracts';
import type { AdapterConfig, LogFields, Logger } from '@platform-host/contracts';
import { adapterManifestSchema } from '@platform-host/contracts/manifest-schemas';
import { describeMetricsConformance, histogramSeries, seriesValue } from '@platform-host/test-kit';
import adapter, { PrometheusMetrics } from './index.js';
import { parseExposition, snapshotOfExposition } from './test-support/exposition.js';
import { RecordingGateway } from './test-support/recording-gateway.js';

async function scrape(metrics: PrometheusMetrics): Promise<Response> {
  if (metrics.port === undefined) throw new Error('not serving /metrics');
  return fetch(`http://127.0.0.1:${metrics.port}/metrics`);
}

// Values are read back the way Prometheus reads them: over HTTP from /metrics, parsed from the text.
describeMetricsConformance(
  'metrics-prometheus',
  {
    create: async () => {
      const metrics = new PrometheusMetrics({ port: 0, host: '127.0.0.1' });
      await metrics.connect();
      return metrics;
    },
    destroy: (metrics) => metrics.disconnect(),
  },
  {
    read: async (metrics) => {
      const response = await scrape(metrics);
      expect(response.status).to.equal(200);
      return snapshotOfExposition(await response.text());
    },
  },
);

function configOf(values: Record<string, string>): AdapterConfig {
  return {
    get: (key) => values[key],
    require: (key) => {
      const value = values[key];
      if (value === undefined) throw new Error(`${key} missing`);
      return value;
    },
    integer: (key, fallback) => (values[key] === undefined ? fallback : Number.parseInt(values[key], 10)),
  };
}

interface Entry {
  readonly level: string;
  readonly message: string;
  readonly fields: LogFields;
}

function recordingLogger(entries: Entry[] = []): Logger & { entries: Entry[] } {
  const log =
    (level: string) =>
    (message: string, fields: LogFields = {}): void => {
      entries.push({ level, message, fields });
    };
  const logger = {
    entries,
    debug: log('debug'),
    info: log('info'),
    warn: log('warn'),
    error: log('error'),
    child: () => logger,
    flush: () => Promise.resolve(),
  };
  return logger;
}

function codeOf(error: unknown): string | undefined {
  return isPlatformError(error) ? error.code : undefined;
}

describe('PrometheusMetrics /metrics', function () {
  let metrics: PrometheusMetrics | undefined;
  afterEach(async function () {
    await metrics?.disconnect();
    metrics = undefined;
  });

  it('serves the registry in the text format with its content type, label names and buckets, from connect() to disconnect()', async function () {
    const logger = recordingLogger();
    metrics = new PrometheusMetrics({ port: 0, host: '127.0.0.1', logger });
    expect((await metrics.healthCheck()).ok).to.equal(false);
    await metrics.connect();
    const port = metrics.port;
    expect(port).to.be.a('number').above(0);
    expect(logger.entries).to.deep.include({
      level: 'info',
      message: 'Serving Prometheus metrics',
      fields: { path: '/metrics', host: '127.0.0.1', port },
    });
    expect(await metrics.healthCheck()).to.deep.equal({ ok: true });
    metrics
      .histogram({
        name: 'upload_size_bytes',
        help: 'Uploads.',
        labelNames: ['kind'],
        unit: 'bytes',
        buckets: [10, 100],
      })
      .observe({ kind: 'image' }, 42);
    const response = await scrape(metrics);
    expect(response.status).to.equal(200);
    expect(response.headers.get('content-type')).to.equal(metrics.registry.contentType);
    const text = await response.text();
    expect(text).to.include('# TYPE upload_size_bytes histogram');
    expect(text).to.include('upload_size_bytes_bucket{le="10",kind="image"} 0');
    expect(text).to.include('upload_size_bytes_bucket{le="100",kind="image"} 1');
    expect(text).to.include('upload_size_bytes_bucket{le="+Inf",kind="image"} 1');
    expect(histogramSeries(snapshotOfExposition(text), 'upload_size_bytes', { kind: 'image' })).to.deep.include({
      count: 1,
      sum: 42,
    });

    await metrics.disconnect();
    await metrics.disconnect();
    expect(metrics.port).to.equal(undefined);
    expect((await metrics.healthCheck()).ok).to.equal(false);
    let refused: unknown;
    await fetch(`http://127.0.0.1:${port}/metrics`).catch((error: unknown) => (refused = error));
    expect(refused, 'the port is closed after disconnect()').to.be.instanceOf(Error);
  });

  it('records frozen label sets as they are and copies mutable ones, so a later change of the caller’s object changes no series', async function () {
    metrics = new PrometheusMetrics({ port: 0, host: '127.0.0.1', defaultMetrics: false });
    await metrics.connect();
    const requests = metrics.counter({ name: 'requests_total', help: 'Requests.', labelNames: ['route'] });
    const durations = metrics.histogram({
      name: 'request_duration_seconds',
      help: 'Durations.',
      labelNames: ['route'],
      unit: 'seconds',
      buckets: [1],
    });
    const frozen = Object.freeze({ route: '/a' });
    for (let i = 0; i < 3; i += 1) {
      requests.inc(frozen);
      durations.observe(frozen, 0.5);
    }
    const mutable = { route: '/b' };
    requests.inc(mutable);
    durations.observe(mutable, 0.5);
    mutable.route = '/changed';
    requests.inc({ route: '/b' });
    const text = await (await scrape(metrics)).text();
    expect(text).to.include('requests_total{route="/a"} 3');
    expect(text).to.include('requests_total{route="/b"} 2');
    expect(text).to.include('request_duration_seconds_count{route="/a"} 3');
    expect(text).to.include('request_duration_seconds_count{route="/b"} 1');
    expect(text).not.to.include('/changed');
  });

  it('answers 404 outside /metrics and 405 to other methods', async function () {
    metrics = new PrometheusMetrics({ port: 0, host: '127.0.0.1' });
    await metrics.connect();
    expect((await fetch(`http://127.0.0.1:${metrics.port}/`)).status).to.equal(404);
    expect((await fetch(`http://127.0.0.1:${metrics.port}/metrics`, { method: 'POST' })).status).to.equal(405);
  });

  it('exports the default process metrics unprefixed, and none when they are switched off', async function () {
    metrics = new PrometheusMetrics({ port: 0, host: '127.0.0.1' });
    await metrics.connect();
    const names = parseExposition(await (await scrape(metrics)).text()).map(
      (family) => `${family.name} ${family.type}`,
    );
    expect(names).to.include.members([
      'process_cpu_seconds_total counter',
      'process_resident_memory_bytes gauge',
      'nodejs_heap_size_used_bytes gauge',
    ]);
    await metrics.disconnect();

    metrics = new PrometheusMetrics({ port: 0, host: '127.0.0.1', defaultMetrics: false });
    await metrics.connect();
    metrics.counter({ name: 'only_this_total', help: 'Only this.' }).inc({});
    const families = parseExposition(await (await scrape(metrics)).text());
    expect(families.map((family) => family.name)).to.deep.equal(['only_this_total']);
  });

  it('refuses to declare a name a default process metric already has, with PH_ERR_METRIC_INVALID', async function () {
    metrics = new PrometheusMetrics({ port: 0, host: '127.0.0.1' });
    await metrics.connect();
    let caught: unknown;
    try {
      metrics.counter({ name: 'process_cpu_seconds_total', help: 'Mine.' });
    } catch (error) {
      caught = error;
    }
    expect(codeOf(caught)).to.equal('PH_ERR_METRIC_INVALID');
  });

  it('keeps each adapter in its own registry, so two instances in one process do not collide', async function () {
    const first = new PrometheusMetrics({ serve: false });
    const second = new PrometheusMetrics({ serve: false });
    first.counter({ name: 'shared_name_total', help: 'One.' }).inc({}, 2);
    second.counter({ name: 'shared_name_total', help: 'Other help.' }).inc({}, 5);
    expect(seriesValue(snapshotOfExposition(await first.exposition()), 'shared_name_total')).to.equal(2);
    expect(seriesValue(snapshotOfExposition(await second.exposition()), 'shared_name_total')).to.equal(5);
  });

  it('fails connect() with PH_ERR_CONNECT naming the address when the port is taken', async function () {
    metrics = new PrometheusMetrics({ port: 0, host: '127.0.0.1' });
    await metrics.connect();
    const taken = new PrometheusMetrics({ port: metrics.port, host: '127.0.0.1' });
    let caught: unknown;
    await taken.connect().catch((error: unknown) => (caught = error));
    expect(codeOf(caught)).to.equal('PH_ERR_CONNECT');
    expect((caught as Error).message)
      .to.include(`127.0.0.1:${metrics.port}`)
      .and.include('EADDRINUSE');
    await taken.disconnect();
  });

  it('does not listen at all with serve: false, and reports healthy', async function () {
    const quiet = new PrometheusMetrics({ serve: false });
    await quiet.connect();
    expect(quiet.port).to.equal(undefined);
    expect(await quiet.healthCheck()).to.deep.equal({ ok: true });
    await quiet.disconnect();
  });
});

describe('PrometheusMetrics Pushgateway', function () {
  let gateway: RecordingGateway;
  let url: string;
  beforeEach(async function () {
    gateway = new RecordingGateway();
    url = await gateway.start();
  });
  afterEach(async function () {
    await gateway.stop();
  });

  it('pushes the whole registry with PUT to /metrics/job/<job> on every flush()', async function () {
    const metrics = new PrometheusMetrics({ serve: false, pushgatewayUrl: url, jobName: 'nightly_etl' });
    await metrics.connect();
    const rows = metrics.counter({ name: 'rows_loaded_total', help: 'Rows.', labelNames: ['table'] });
    rows.inc({ table: 'events' }, 1000);
    await metrics.flush();
    rows.inc({ table: 'events' }, 5);
    await metrics.flush();
    expect(gateway.requests.map((request) => `${request.method} ${request.url}`)).to.deep.equal([
      'PUT /metrics/job/nightly_etl',
      'PUT /metrics/job/nightly_etl',
    ]);
    const [first, second] = gateway.requests.map((request) => snapshotOfExposition(request.body));
    expect(seriesValue(first ?? { families: [] }, 'rows_loaded_total', { table: 'events' })).to.equal(1000);
    expect(seriesValue(second ?? { families: [] }, 'rows_loaded_total', { table: 'events' })).to.equal(1005);
    expect(gateway.requests[0]?.body).to.include('# TYPE process_cpu_seconds_total counter');
  });

  it('sends the URL credentials as basic auth and rejects a refused push naming the Pushgateway, not the password', async function () {
    const withCredentials = url.replace('http://', 'http://pusher:s3cret-value@');
    const metrics = new PrometheusMetrics({ serve: false, pushgatewayUrl: withCredentials, defaultMetrics: false });
    metrics.gauge({ name: 'last_run_rows', help: 'Rows.' }).set({}, 3);
    gateway.status = 500;
    let caught: unknown;
    await metrics.flush().catch((error: unknown) => (caught = error));
    expect(caught).to.be.instanceOf(Error);
    const message = (caught as Error).message;
    expect(message).to.include(`Pushgateway at ${url}`).and.include('500').and.include('job platform_host');
    expect(message).not.to.include('s3cret-value');
    expect(gateway.requests[0]?.headers.authorization).to.equal(
      `Basic ${Buffer.from('pusher:s3cret-value').toString('base64')}`,
    );
  });

  it('rejects when the Pushgateway does not answer at all', async function () {
    await gateway.stop();
    const metrics = new PrometheusMetrics({ serve: false, pushgatewayUrl: url, defaultMetrics: false });
    let caught: unknown;
    await metrics.flush().catch((error: unknown) => (caught = error));
    expect((caught as Error | undefined)?.message).to.include('ECONNREFUSED');
    gateway = new RecordingGateway();
    await gateway.start();
  });
});

describe('metrics-prometheus adapter', function () {
  it('has a host API 2 manifest that declares every config key it reads', async function () {
    const raw: unknown = JSON.parse(await readFile(new URL('../platform-adapter.json', import.meta.url), 'utf8'));
    const manifest = adapterManifestSchema.parse(raw);
    expect(manifest).to.deep.include({ interface: 'metrics', flags: ['prometheus'], host_api: '^2.0.0' });
    expect(manifest.config.map((key) => key.env)).to.have.members([
      'METRICS_PROMETHEUS_SERVE',
      'METRICS_PROMETHEUS_PORT',
      'METRICS_PROMETHEUS_HOST',
      'METRICS_PROMETHEUS_PUSHGATEWAY_URL',
      'METRICS_PROMETHEUS_JOB',
      'METRICS_PROMETHEUS_DEFAULT_METRICS',
    ]);
    expect(manifest.config.find((key) => key.env === 'METRICS_PROMETHEUS_PORT')).to.deep.include({
      default: '9090',
      format: 'integer',
    });
    expect(manifest.config.find((key) => key.env === 'METRICS_PROMETHEUS_PUSHGATEWAY_URL')?.format).to.equal('url');
  });

  async function create(values: Record<string, string>): Promise<PrometheusMetrics> {
    const metrics = await adapter.create({
      flag: 'prometheus',
      config: configOf(values),
      environment: {},
      logger: recordingLogger(),
    });
    expect(metrics).to.be.instanceOf(PrometheusMetrics);
    return metrics as PrometheusMetrics;
  }

  it('serves on METRICS_PROMETHEUS_PORT by default and pushes instead when a Pushgateway URL is set (SERVE=auto)', async function () {
    const serving = await create({ METRICS_PROMETHEUS_PORT: '0', METRICS_PROMETHEUS_HOST: '127.0.0.1' });
    await serving.connect();
    expect(serving.port).to.be.a('number');
    await serving.disconnect();

    const gateway = new RecordingGateway();
    const url = await gateway.start();
    try {
      const pushing = await create({
        METRICS_PROMETHEUS_PORT: '0',
        METRICS_PROMETHEUS_PUSHGATEWAY_URL: url,
        METRICS_PROMETHEUS_JOB: 'my_job',
        METRICS_PROMETHEUS_DEFAULT_METRICS: 'false',
      });
      await pushing.connect();
      expect(pushing.port, 'auto: no /metrics when pushing').to.equal(undefined);
      await pushing.flush();
      expect(gateway.requests.map((request) => request.url)).to.deep.equal(['/metrics/job/my_job']);

      const both = await create({
        METRICS_PROMETHEUS_PORT: '0',
        METRICS_PROMETHEUS_HOST: '127.0.0.1',
        METRICS_PROMETHEUS_PUSHGATEWAY_URL: url,
        METRICS_PROMETHEUS_SERVE: 'true',
      });
      await both.connect();
      expect(both.port).to.be.a('number');
      await both.disconnect();
    } finally {
      await gateway.stop();
    }
  });

  it('refuses a port out of range and SERVE or DEFAULT_METRICS values it does not know, with PH_ERR_CONFIG_INVALID', async function () {
    const refused: Array<Record<string, string>> = [
      { METRICS_PROMETHEUS_PORT: '70000' },
      { METRICS_PROMETHEUS_PORT: '-1' },
      { METRICS_PROMETHEUS_SERVE: 'yes' },
      { METRICS_PROMETHEUS_DEFAULT_METRICS: 'off' },
    ];
    for (const values of refused) {
      let caught: unknown;
      await create(values).catch((error: unknown) => (caught = error));
      expect(codeOf(caught), JSON.stringify(values)).to.equal('PH_ERR_CONFIG_INVALID');
    }
  });
});
