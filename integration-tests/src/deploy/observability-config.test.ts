import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, posix, relative } from 'node:path';
import { expect } from 'chai';
import { MODULE_TYPES } from '@platform-host/contracts';
import { GATEWAY_METRIC_NAMES } from '@platform-host/module-api-gateway';
import { AGGREGATOR_METRIC_NAMES } from '@platform-host/module-metric-aggregator';
import { INGEST_METRIC_NAMES } from '@platform-host/module-stream-ingest';
import {
  CACHE_HIT_RATIO,
  CACHE_REQUESTS,
  DB_QUERY_DURATION,
  DEAD_LETTER_FAILURES,
  DEAD_LETTERS_UNPUBLISHED,
  MESSAGE_PROCESSING_DURATION,
  MESSAGES_PROCESSED,
  MESSAGES_PUBLISHED,
  MODULE_STARTUP_DURATION,
  MODULE_UPTIME,
} from '@platform-host/runtime';
import {
  bindMounts,
  builtDockerfile,
  commandOf,
  composeServices,
  environmentOf,
  publishedPorts,
  type ComposeService,
} from './compose-model.js';
import { arrayOf, at, cloneData, isRecord, recordOf, recordsOf, stringOf, stringsOf } from './plain-data.js';
import { isDirectory, moduleManifests, readYaml, repoPath } from './repo-facts.js';

const COMPOSE_FILE = repoPath('deploy', 'docker', 'docker-compose.yml');
const COMPOSE_DIR = dirname(COMPOSE_FILE);

/**
 * Every metric name the code exports: the standard platform metrics the host records (README maps
 * the seed 11.2 names to these) and each module's own instruments, plus Prometheus's `up`. A
 * module with instruments adds its name list here (api_gateway: GATEWAY_METRIC_NAMES,
 * metric_aggregator: AGGREGATOR_METRIC_NAMES, stream_ingest: INGEST_METRIC_NAMES).
 */
const EXPORTED_METRICS: readonly string[] = [
  MODULE_STARTUP_DURATION,
  MODULE_UPTIME,
  DB_QUERY_DURATION,
  MESSAGES_PROCESSED,
  MESSAGE_PROCESSING_DURATION,
  MESSAGES_PUBLISHED,
  DEAD_LETTER_FAILURES,
  DEAD_LETTERS_UNPUBLISHED,
  CACHE_REQUESTS,
  CACHE_HIT_RATIO,
  ...GATEWAY_METRIC_NAMES,
  ...AGGREGATOR_METRIC_NAMES,
  ...INGEST_METRIC_NAMES,
];
/** The series names a query may use: histograms also as `_bucket`, `_sum` and `_count`. */
const ALLOWED_METRICS = new Set([
  'up',
  ...EXPORTED_METRICS.flatMap((name) => [name, `${name}_bucket`, `${name}_sum`, `${name}_count`]),
]);

/**
 * The metric names a PromQL expression selects: identifiers that are not functions or keywords,
 * outside label matchers, grouping clauses, ranges and strings.
 */
function metricsOfQuery(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, '{}')
    .replace(/\[[^\]]*\]/g, '[]')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '');
  const keywords = new Set(['and', 'or', 'unless', 'offset', 'bool', 'inf', 'nan']);
  return [...bare.matchAll(/\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()/g)]
    .map((match) => match[1] ?? '')
    .filter((name) => !keywords.has(name.toLowerCase()));
}

/** Scrape jobs of the modules: one per module type with a long-running process. */
const MODULE_JOBS = new Map(MODULE_TYPES.filter((type) => type !== 'job').map((type) => [`platform-${type}s`, type]));

/** The container path a host path is mounted at in `service`, or undefined. */
function hostPathOf(service: ComposeService, containerPath: string): string | undefined {
  for (const mount of bindMounts(service, COMPOSE_DIR)) {
    const inside = posix.relative(mount.target, containerPath);
    if (!inside.startsWith('..') && !posix.isAbsolute(inside)) return join(mount.source, inside);
  }
  return undefined;
}

/** Ports the containers of a service listen on (from its published ports). */
function containerPorts(service: ComposeService): number[] {
  return publishedPorts(service).map((port) => port.container);
}

function prometheusProblems(config: unknown, services: ReadonlyMap<string, ComposeService>): string[] {
  const problems: string[] = [];
  const prometheus = services.get('prometheus') ?? {};
  const jobs = recordsOf(recordOf(config).scrape_configs);
  const names = jobs.map((job) => stringOf(job.job_name) ?? '');
  if (new Set(names).size !== names.length) problems.push(`job names repeat: ${names.join(', ')}`);
  for (const expected of ['prometheus', ...MODULE_JOBS.keys()])
    if (!names.includes(expected)) problems.push(`no scrape job ${expected}`);
  const moduleNames = moduleManifests();
  for (const job of jobs) {
    const name = stringOf(job.job_name) ?? '';
    for (const target of recordsOf(job.static_configs).flatMap((group) => stringsOf(group.targets))) {
      const [host = '', port = ''] = target.split(':');
      if (host === 'localhost') {
        if (name !== 'prometheus' || !containerPorts(prometheus).includes(Number(port)))
          problems.push(`${name}: localhost target ${target} is not Prometheus itself`);
      } else if (!services.has(host)) problems.push(`${name}: target ${target} is not a compose service`);
      else if (!containerPorts(services.get(host) ?? {}).includes(Number(port)))
        problems.push(`${name}: ${host} does not listen on ${port}`);
    }
    for (const pattern of recordsOf(job.file_sd_configs).flatMap((sd) => stringsOf(sd.files))) {
      const hostDir = hostPathOf(prometheus, posix.dirname(pattern));
      if (hostDir === undefined || !isDirectory(hostDir)) {
        problems.push(`${name}: ${posix.dirname(pattern)} is not a mounted folder of the prometheus service`);
        continue;
      }
      const suffix = posix.basename(pattern).replace(/^\*/, '');
      const type = MODULE_JOBS.get(name);
      for (const file of readdirSync(hostDir).filter((entry) => entry.endsWith(suffix))) {
        const groups = arrayOf(JSON.parse(readFileSync(join(hostDir, file), 'utf8')));
        for (const group of groups.filter(isRecord)) {
          const module = moduleNames.get(stringOf(recordOf(group.labels).module) ?? '');
          if (module === undefined) problems.push(`${file}: labels.module names no module`);
          else if (type !== undefined && module.type !== type)
            problems.push(`${file}: ${module.name} is a ${module.type}, not a ${type}`);
          for (const target of stringsOf(group.targets))
            if (!services.has(target.split(':')[0] ?? ''))
              problems.push(`${file}: target ${target} is not a compose service`);
        }
      }
    }
  }
  return problems;
}

function dashboardProblems(dashboard: unknown, datasourceUids: ReadonlySet<string>): string[] {
  const problems: string[] = [];
  const panels = recordsOf(recordOf(dashboard).panels);
  if (panels.length === 0) problems.push('the dashboard has no panels');
  for (const panel of panels) {
    const title = stringOf(panel.title) ?? '(untitled)';
    for (const datasource of [panel.datasource, ...recordsOf(panel.targets).map((target) => target.datasource)]) {
      const uid = stringOf(recordOf(datasource).uid);
      if (uid !== undefined && !datasourceUids.has(uid))
        problems.push(`${title}: data source ${uid} is not provisioned`);
    }
    const exprs = recordsOf(panel.targets).map((target) => stringOf(target.expr) ?? '');
    if (exprs.length === 0) problems.push(`${title}: no query`);
    for (const expr of exprs) {
      const metrics = metricsOfQuery(expr);
      if (metrics.length === 0) problems.push(`${title}: "${expr}" queries no metric by name`);
      for (const metric of metrics)
        if (!ALLOWED_METRICS.has(metric)) problems.push(`${title}: ${metric} is not a metric the code exports`);
    }
  }
  return problems;
}

describe('Prometheus and Grafana of the compose stack', () => {
  const services = composeServices(readYaml(COMPOSE_FILE));
  const prometheus = services.get('prometheus') ?? {};
  const grafana = services.get('grafana') ?? {};

  describe('deploy/docker/prometheus/prometheus.yml', () => {
    const configFlag =
      (commandOf(prometheus) ?? []).find((arg) => arg.startsWith('--config.file='))?.split('=')[1] ?? '';
    const configPath = hostPathOf(prometheus, configFlag) ?? '';

    it('is the file the prometheus service is started with', () => {
      expect(relative(COMPOSE_DIR, configPath)).to.equal(join('prometheus', 'prometheus.yml'));
    });

    it('scrapes Prometheus, the services that export metrics and one job per long-running module type, at targets of the stack', () => {
      expect(prometheusProblems(readYaml(configPath), services)).to.deep.equal([]);
    });

    it('has a target file for every service or worker module that the compose stack runs', () => {
      const config = readYaml(configPath);
      const modules = moduleManifests();
      for (const [name, service] of services) {
        if (builtDockerfile(service, COMPOSE_DIR) === undefined) continue;
        const module = modules.get((commandOf(service) ?? [])[1] ?? '');
        if (module === undefined || module.type === 'job') continue;
        const job = recordsOf(recordOf(config).scrape_configs).find(
          (candidate) => candidate.job_name === `platform-${module.type}s`,
        );
        const pattern = stringsOf(recordsOf(job?.file_sd_configs)[0]?.files)[0] ?? '';
        const file = join(
          hostPathOf(prometheus, posix.dirname(pattern)) ?? '',
          `${module.name}${posix.basename(pattern).replace(/^\*/, '')}`,
        );
        expect(existsSync(file), `${name} runs ${module.name}: ${file}`).to.equal(true);
        expect(environmentOf(service).METRICS_PROMETHEUS_PORT, `${name} sets METRICS_PROMETHEUS_PORT`).to.not.equal(
          undefined,
        );
      }
    });

    it('finds a static target that is not a compose service and a job missing for a module type', () => {
      const broken = cloneData(readYaml(configPath));
      const jobs = recordsOf(recordOf(broken).scrape_configs);
      const grafanaJob = jobs.find((job) => job.job_name === 'grafana');
      if (grafanaJob) grafanaJob.static_configs = [{ targets: ['grafanna:3000'] }];
      recordOf(broken).scrape_configs = jobs.filter((job) => job.job_name !== 'platform-workers');
      expect(prometheusProblems(broken, services)).to.deep.equal([
        'no scrape job platform-workers',
        'grafana: target grafanna:3000 is not a compose service',
      ]);
    });
  });

  describe('deploy/docker/grafana', () => {
    const provisioning = hostPathOf(grafana, '/etc/grafana/provisioning') ?? '';
    const datasources = recordsOf(at(readYaml(join(provisioning, 'datasources', 'prometheus.yml')), 'datasources'));
    const uids = new Set(datasources.map((datasource) => stringOf(datasource.uid) ?? ''));
    const providers = recordsOf(at(readYaml(join(provisioning, 'dashboards', 'platform.yml')), 'providers'));

    it('provisions the stack Prometheus as the default data source', () => {
      expect(datasources).to.have.length(1);
      const url = new URL(stringOf(datasources[0]?.url) ?? '');
      expect(services.has(url.hostname), `${url.hostname} is a compose service`).to.equal(true);
      expect(containerPorts(services.get(url.hostname) ?? {})).to.include(Number(url.port));
      expect(datasources[0]?.isDefault).to.equal(true);
    });

    it('loads the dashboards from a mounted folder that holds them, and opens platform-overview at home', () => {
      const path = stringOf(at(providers[0], 'options.path')) ?? '';
      const folder = hostPathOf(grafana, path);
      expect(folder !== undefined && isDirectory(folder), `${path} is mounted`).to.equal(true);
      expect(readdirSync(folder ?? '').filter((file) => file.endsWith('.json'))).to.include('platform-overview.json');
      const home = environmentOf(grafana).GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH ?? '';
      expect(existsSync(hostPathOf(grafana, home) ?? ''), `${home} is a mounted file`).to.equal(true);
    });

    it('has dashboards that query only metrics the code exports, through provisioned data sources', () => {
      const folder = hostPathOf(grafana, stringOf(at(providers[0], 'options.path')) ?? '') ?? '';
      const seenUids = new Set<string>();
      for (const file of readdirSync(folder).filter((name) => name.endsWith('.json'))) {
        const dashboard: unknown = JSON.parse(readFileSync(join(folder, file), 'utf8'));
        const uid = stringOf(recordOf(dashboard).uid) ?? '';
        expect(seenUids.has(uid), `${file}: uid ${uid} is unique`).to.equal(false);
        seenUids.add(uid);
        expect(dashboardProblems(dashboard, uids), file).to.deep.equal([]);
      }
    });

    it('shows on the overview which modules are up, messages processed, database query duration and dead letters not published', () => {
      const folder = hostPathOf(grafana, stringOf(at(providers[0], 'options.path')) ?? '') ?? '';
      const text = readFileSync(join(folder, 'platform-overview.json'), 'utf8');
      for (const metric of [
        'up{',
        'platform_messages_processed_total',
        'platform_db_query_duration_seconds_bucket',
        DEAD_LETTERS_UNPUBLISHED,
        DEAD_LETTER_FAILURES,
      ])
        expect(text).to.contain(metric);
    });

    it('finds a panel that queries an unknown metric or an unprovisioned data source', () => {
      const dashboard = {
        panels: [
          { title: 'Bad', datasource: { uid: 'other' }, targets: [{ expr: 'rate(platform_db_queries_total[5m])' }] },
        ],
      };
      expect(dashboardProblems(dashboard, uids)).to.deep.equal([
        'Bad: data source other is not provisioned',
        'Bad: platform_db_queries_total is not a metric the code exports',
      ]);
      expect(
        metricsOfQuery('sum by (le, route) (rate(api_gateway_request_duration_seconds_bucket{status=~"5.."}[5m]))'),
      ).to.deep.equal(['api_gateway_request_duration_seconds_bucket']);
      expect(metricsOfQuery('rate({__name__=~"platform_.*"}[5m])')).to.deep.equal([]);
    });

    /** The metric names the panels of one dashboard file query, without histogram suffixes. */
    const queriedBy = (file: string): Set<string> => {
      const folder = hostPathOf(grafana, stringOf(at(providers[0], 'options.path')) ?? '') ?? '';
      const dashboard: unknown = JSON.parse(readFileSync(join(folder, file), 'utf8'));
      return new Set(
        recordsOf(recordOf(dashboard).panels)
          .flatMap((panel) => recordsOf(panel.targets))
          .flatMap((target) => metricsOfQuery(stringOf(target.expr) ?? ''))
          .map((name) => name.replace(/_(bucket|sum|count)$/, '')),
      );
    };

    it('has a panel on the api_gateway dashboard for every metric api_gateway exports', () => {
      const queried = queriedBy('api-gateway.json');
      expect(GATEWAY_METRIC_NAMES.filter((name) => !queried.has(name))).to.deep.equal([]);
    });

    it('has a panel on the metric_aggregator dashboard for every metric metric_aggregator exports', () => {
      const queried = queriedBy('metric-aggregator.json');
      expect(AGGREGATOR_METRIC_NAMES.length).to.be.greaterThan(0);
      expect(AGGREGATOR_METRIC_NAMES.filter((name) => !queried.has(name))).to.deep.equal([]);
    });

    it('has a panel on the stream_ingest dashboard for every metric stream_ingest exports', () => {
      const queried = queriedBy('stream-ingest.json');
      expect(INGEST_METRIC_NAMES.length).to.be.greaterThan(0);
      expect(INGEST_METRIC_NAMES.filter((name) => !queried.has(name))).to.deep.equal([]);
    });
  });
});
