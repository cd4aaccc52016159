import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { expect } from 'chai';
import type { ModuleManifest } from '@platform-host/contracts';
import {
  bindMounts,
  builtDockerfile,
  commandOf,
  composeProblems,
  composeServices,
  dependencies,
  environmentOf,
  isOneShot,
  publishedPorts,
  type ComposeService,
} from './compose-model.js';
import { parseDockerfile } from './dockerfile-model.js';
import { cloneData, recordOf, stringOf } from './plain-data.js';
import {
  configKeyFacts,
  environmentProblems,
  moduleCommandProblems,
  moduleManifests,
  readYaml,
  REPO_ROOT,
  repoPath,
  runCli,
  type ConfigKeyFacts,
} from './repo-facts.js';

const COMPOSE_FILE = repoPath('deploy', 'docker', 'docker-compose.yml');
const COMPOSE_DIR = dirname(COMPOSE_FILE);
const PRODUCTION_DOCKERFILE = repoPath('deploy', 'docker', 'Dockerfile');

/** The infrastructure of seed 13.1: image (prefix) and the host ports each publishes. */
const SEED_SERVICES: Record<string, { image: RegExp; ports: number[] }> = {
  postgres: { image: /^postgres:16(\.|$)/, ports: [5432] },
  redis: { image: /^redis:7(\.|$)/, ports: [6379] },
  kafka: { image: /^apache\/kafka:\d/, ports: [9092] },
  minio: { image: /^minio\/minio:/, ports: [9000, 9001] },
  prometheus: { image: /^prom\/prometheus:/, ports: [9090] },
  grafana: { image: /^grafana\/grafana:/, ports: [3000] },
};

function hasHealthcheck(dockerfile: string): boolean {
  return (
    parseDockerfile(readFileSync(dockerfile, 'utf8'))
      .stages.at(-1)
      ?.instructions.some((instruction) => instruction.keyword === 'HEALTHCHECK') ?? false
  );
}

/** Services that run a module from the production image. */
function platformServices(compose: unknown): [string, ComposeService][] {
  return [...composeServices(compose)].filter(
    ([, service]) => builtDockerfile(service, COMPOSE_DIR)?.dockerfile === PRODUCTION_DOCKERFILE,
  );
}

function seconds(duration: string): number {
  let total = 0;
  for (const match of duration.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) {
    const unit = { ms: 0.001, s: 1, m: 60, h: 3600 }[match[2] as 'ms' | 's' | 'm' | 'h'];
    total += Number(match[1]) * unit;
  }
  return total;
}

function run(
  command: string,
  args: readonly string[],
  env: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      { cwd: REPO_ROOT, env: { ...process.env, ...env }, timeout: 30_000 },
      (error, stdout, stderr) => {
        resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr });
      },
    );
  });
}

describe('deploy/docker/docker-compose.yml', () => {
  const compose = readYaml(COMPOSE_FILE);
  const services = composeServices(compose);
  let facts: ConfigKeyFacts;
  let modules: Map<string, ModuleManifest>;

  before(async () => {
    facts = await configKeyFacts();
    modules = moduleManifests();
  });

  it('references only files that exist, publishes every host port once and gives each long-running service a healthcheck', () => {
    expect(composeProblems(compose, COMPOSE_DIR, hasHealthcheck)).to.deep.equal([]);
  });

  it('runs the infrastructure of seed 13.1 with its images and ports', () => {
    for (const [name, expected] of Object.entries(SEED_SERVICES)) {
      const service = services.get(name);
      expect(service, `service ${name}`).to.not.equal(undefined);
      expect(stringOf(service?.image)).to.match(expected.image);
      expect(publishedPorts(service ?? {}).map((port) => port.host)).to.deep.equal(expected.ports);
    }
  });

  it('publishes ports on the loopback interface only', () => {
    for (const [name, service] of services) {
      for (const port of publishedPorts(service))
        expect(port.hostIp, `${name} port ${port.host}`).to.equal('127.0.0.1');
    }
  });

  it('runs Kafka in KRaft mode as one broker and controller, without ZooKeeper', () => {
    expect(
      [...services.values()]
        .map((service) => stringOf(service.image) ?? '')
        .filter((image) => /zookeeper/i.test(image)),
    ).to.deep.equal([]);
    const env = environmentOf(services.get('kafka') ?? {});
    expect(env.KAFKA_PROCESS_ROLES?.split(',').sort()).to.deep.equal(['broker', 'controller']);
    const clusterId = env.CLUSTER_ID ?? '';
    expect(Buffer.from(clusterId, 'base64url').length, 'CLUSTER_ID is a base64url UUID').to.equal(16);
    const listeners = new Map(
      (env.KAFKA_LISTENERS ?? '')
        .split(',')
        .map((listener) => [listener.split('://')[0] ?? '', listener.split(':').at(-1) ?? '']),
    );
    const voter = /^1@kafka:(\d+)$/.exec(env.KAFKA_CONTROLLER_QUORUM_VOTERS ?? '');
    expect(voter?.[1], 'the controller voter is this service on the CONTROLLER port').to.equal(
      listeners.get(env.KAFKA_CONTROLLER_LISTENER_NAMES ?? ''),
    );
    const advertised = (env.KAFKA_ADVERTISED_LISTENERS ?? '').split(',');
    const published = publishedPorts(services.get('kafka') ?? {}).map((port) => String(port.container));
    expect(
      advertised.some((listener) => /\/\/kafka:\d+$/.test(listener)),
      'advertised to the other containers as kafka:<port>',
    ).to.equal(true);
    const hostListener = advertised.find((listener) => /\/\/localhost:\d+$/.test(listener)) ?? '';
    expect(published, 'the localhost listener is the published port').to.include(
      listeners.get(hostListener.split('://')[0] ?? ''),
    );
  });

  it('creates the data-lake bucket once MinIO is healthy, with the name the adapters are pointed at', () => {
    const init = services.get('minio-init') ?? {};
    expect(isOneShot(init)).to.equal(true);
    expect(dependencies(init).get('minio')).to.equal('service_healthy');
    const bucket = environmentOf(init).LAKE_BUCKET;
    expect((commandOf(init) ?? []).join(' ')).to.contain('mc mb --ignore-existing');
    const makeFile = readFileSync(repoPath('deploy', 'docker', 'docker.mk'), 'utf8');
    expect(makeFile).to.contain(`FS_MINIO_BUCKET=${bucket ?? ''}`);
    expect(makeFile).to.contain(`FS_S3_BUCKET=${bucket ?? ''}`);
  });

  describe('platform services (modules run from the production image)', () => {
    it('has at least one, in the "platform" profile so infra-up does not start it', () => {
      const platform = platformServices(compose);
      expect(platform.length).to.be.greaterThan(0);
      for (const [name, service] of platform) expect(service.profiles, name).to.deep.equal(['platform']);
    });

    it('passes only environment keys that an adapter manifest or the host declares', () => {
      for (const [name, service] of platformServices(compose))
        expect(environmentProblems(name, environmentOf(service), facts)).to.deep.equal([]);
    });

    it('runs an existing module with only the arguments its module.json declares', () => {
      const globalFlagNames = new Set(facts.globalFlags.map((flag) => flag.name));
      for (const [name, service] of platformServices(compose))
        expect(moduleCommandProblems(name, commandOf(service) ?? [], modules, globalFlagNames)).to.deep.equal([]);
    });

    it('would start: platform-host doctor accepts its command and environment', async () => {
      for (const [name, service] of platformServices(compose)) {
        const [, ...rest] = commandOf(service) ?? [];
        const result = await runCli(['doctor', ...rest], environmentOf(service));
        expect(result.code, `${name}: ${result.stdout}${result.stderr}`).to.equal(0);
      }
    });

    it('gives jobs no restart and every module longer than the drain timeout to stop', () => {
      for (const [name, service] of platformServices(compose)) {
        const module = modules.get((commandOf(service) ?? [])[1] ?? '');
        if (module?.type === 'job') expect(service.restart, name).to.equal('no');
        const drain = Number(environmentOf(service).PLATFORM_DRAIN_TIMEOUT ?? '30');
        expect(seconds(stringOf(service.stop_grace_period) ?? '10s'), `${name} stop_grace_period`).to.be.greaterThan(
          drain,
        );
      }
    });
  });

  describe('rules that catch a broken compose file', () => {
    it('finds a host port published twice', () => {
      const broken = cloneData(compose);
      recordOf(recordOf(recordOf(broken).services).redis).ports = ['127.0.0.1:5432:6379'];
      expect(composeProblems(broken, COMPOSE_DIR, hasHealthcheck)).to.deep.equal([
        'redis: host port 5432 is already published by postgres',
      ]);
    });

    it('finds a bind mount whose source does not exist', () => {
      const broken = cloneData(compose);
      recordOf(recordOf(recordOf(broken).services).prometheus).volumes = [
        './prometheus/missing.yml:/etc/prometheus/prometheus.yml:ro',
      ];
      expect(composeProblems(broken, COMPOSE_DIR, hasHealthcheck).join('\n')).to.contain(
        'prometheus/missing.yml does not exist',
      );
    });

    it('finds a long-running service without healthcheck that another waits for', () => {
      const broken = cloneData(compose);
      delete recordOf(recordOf(recordOf(broken).services).minio).healthcheck;
      const problems = composeProblems(broken, COMPOSE_DIR, hasHealthcheck);
      expect(problems).to.include('minio: a long-running service without a healthcheck');
      expect(problems).to.include('minio-init: waits for minio to be healthy, but it has no healthcheck');
    });

    it('finds an env key no adapter declares and an adapter flag that is not installed', () => {
      expect(environmentProblems('svc', { DB_POSTGRESS_URL: 'x', PLATFORM_DB: 'mysql' }, facts)).to.have.length(2);
    });

    it('finds an argument the module does not declare and a missing required one', () => {
      const problems = moduleCommandProblems(
        'svc',
        ['run', 'batch_etl', '--date', '2026-01-15', '--sourcepath', 'raw'],
        modules,
        new Set(['db']),
      );
      expect(problems.join('\n')).to.contain('--sourcepath is not an argument of batch_etl');
      expect(problems.join('\n')).to.contain('required argument --source-path of batch_etl is missing');
    });
  });

  describe('deploy/docker/docker.mk (with a stand-in for the container engine)', () => {
    let workdir: string;
    let log: string;
    let fakeDocker: string;

    before(function () {
      workdir = mkdtempSync(join(tmpdir(), 'docker-mk-'));
      log = join(workdir, 'calls.log');
      fakeDocker = join(workdir, 'docker');
      const defaultServices = [...services]
        .filter(([, service]) => service.profiles === undefined)
        .map(([name]) => name);
      writeFileSync(join(workdir, 'services.txt'), `${defaultServices.join('\n')}\n`);
      writeFileSync(
        fakeDocker,
        `#!/bin/sh\nprintf '%s\\n' "$*" >> "${log}"\ncase "$*" in *"config --services"*) cat "${join(workdir, 'services.txt')}";; esac\n`,
      );
      chmodSync(fakeDocker, 0o755);
    });

    after(() => rmSync(workdir, { recursive: true, force: true }));

    const make = async (target: string, docker: string): Promise<{ code: number; calls: string[]; stderr: string }> => {
      rmSync(log, { force: true });
      const result = await run('make', ['-s', target, `DOCKER=${docker}`], {});
      const calls = existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : [];
      return { code: result.code, calls, stderr: result.stderr };
    };

    it('infra-up waits for every long-running service, then runs the one-shot bucket creation', async () => {
      const { code, calls } = await make('infra-up', fakeDocker);
      const compose = `compose --file ${relative(REPO_ROOT, COMPOSE_FILE)}`;
      const longRunning = [...services]
        .filter(([, service]) => service.profiles === undefined && !isOneShot(service))
        .map(([name]) => name);
      expect(code).to.equal(0);
      expect(calls).to.deep.equal([
        `${compose} config --services`,
        `${compose} up --detach --wait ${longRunning.join(' ')}`,
        `${compose} run --rm minio-init`,
      ]);
    });

    it('infra-down and infra-reset stop the platform profile too; reset drops the volumes and starts again', async () => {
      const compose = `compose --file ${relative(REPO_ROOT, COMPOSE_FILE)}`;
      expect((await make('infra-down', fakeDocker)).calls).to.deep.equal([
        `${compose} --profile platform down --remove-orphans`,
      ]);
      const reset = await make('infra-reset', fakeDocker);
      expect(reset.calls[0]).to.equal(`${compose} --profile platform down --remove-orphans --volumes`);
      expect(reset.calls.slice(1).some((call) => call.includes('up --detach --wait'))).to.equal(true);
    });

    it('docker-build builds deploy/docker/Dockerfile from the repository root', async () => {
      expect((await make('docker-build', fakeDocker)).calls).to.deep.equal([
        'build --file deploy/docker/Dockerfile --tag platform-host:local .',
      ]);
    });

    it('says what is missing, with exit code 2, when INFRA=compose and no container engine is installed', async () => {
      rmSync(log, { force: true });
      const { code, stderr } = await run(
        'make',
        ['-s', 'infra-up', 'INFRA=compose', `DOCKER=${join(workdir, 'no-such-engine')}`],
        {},
      );
      expect(code).to.equal(2);
      expect(stderr).to.contain('not found').and.to.contain('infra-native-up');
    });

    it('falls back to the native servers of deploy/native when no container engine is installed', async () => {
      // A stand-in for deploy/native/infra.sh: the shared servers are never touched.
      const fakeInfra = join(workdir, 'infra.sh');
      writeFileSync(fakeInfra, `#!/bin/sh\nprintf 'infra.sh %s\\n' "$*" >> "${log}"\n`);
      chmodSync(fakeInfra, 0o755);
      const calls = async (target: string): Promise<string[]> => {
        rmSync(log, { force: true });
        const result = await run(
          'make',
          ['-s', target, `DOCKER=${join(workdir, 'no-such-engine')}`, `NATIVE_INFRA=${fakeInfra}`],
          {},
        );
        expect(result.code, result.stderr).to.equal(0);
        return existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : [];
      };
      expect(await calls('infra-up')).to.deep.equal(['infra.sh up']);
      expect(await calls('infra-down')).to.deep.equal(['infra.sh down']);
      expect(await calls('infra-reset')).to.deep.equal(['infra.sh clean', 'infra.sh up']);
    });

    it('infra-env points every URL at a port the stack publishes on the host', async () => {
      const result = await run('make', ['-s', 'infra-env'], {});
      const ports = new Set(
        [...services.values()].flatMap((service) => publishedPorts(service).map((port) => port.host)),
      );
      const lines = result.stdout.trim().split('\n');
      expect(lines.length).to.be.greaterThan(0);
      for (const line of lines) {
        const match = /^export ([A-Z0-9_]+)=(.*)$/.exec(line);
        expect(match, line).to.not.equal(null);
        expect(
          facts.allowed.has(match?.[1] ?? '') ||
            /^FS_(S3|MINIO)_|^CACHE_REDIS_|^MQ_(KAFKA|REDIS_STREAM)_/.test(match?.[1] ?? ''),
          `${line}: a config key of an adapter or of seed 7.2`,
        ).to.equal(true);
        const port = /:(\d+)(\/|$)/.exec(match?.[2] ?? '')?.[1];
        if (port !== undefined) expect(ports.has(Number(port)), `${line}: port ${port} is published`).to.equal(true);
      }
    });
  });

  it('mounts the repository data lake for the platform services where FS_LOCAL_ROOT points', () => {
    for (const [name, service] of platformServices(compose)) {
      const root = environmentOf(service).FS_LOCAL_ROOT;
      if (root === undefined) continue;
      expect(
        bindMounts(service, COMPOSE_DIR).map((mount) => mount.target),
        name,
      ).to.include(root);
    }
  });
});
