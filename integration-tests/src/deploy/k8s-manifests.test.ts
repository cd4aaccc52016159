import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix, relative } from 'node:path';
import { expect } from 'chai';
import type { ModuleManifest, ModuleType } from '@platform-host/contracts';
import { parseDockerfile } from './dockerfile-model.js';
import {
  allContainers,
  exitCodeRules,
  hostCommandOf,
  isUnder,
  loadManifests,
  mountPaths,
  podLabelsOf,
  podSecurityProblems,
  podSpecOf,
  preStopSeconds,
  resolvePort,
  schemaProblems,
  secretTemplateProblems,
  unknownFieldProblems,
  type Manifest,
} from './k8s-model.js';
import { at, cloneData, isRecord, recordOf, recordsOf, scalarText, stringOf, stringsOf } from './plain-data.js';
import {
  configKeyFacts,
  environmentProblems,
  isDirectory,
  moduleCommandProblems,
  moduleManifests,
  readYaml,
  REPO_ROOT,
  repoPath,
  type ConfigKeyFacts,
} from './repo-facts.js';

const K8S_DIR = repoPath('deploy', 'k8s');
/** The image name in the manifests; kustomization.yaml maps it to the registry and tag. */
const IMAGE = 'platform-host';
const MODULE_LABEL = 'platform-host/module';
const PROBES = {
  startupProbe: '/health/startup',
  livenessProbe: '/health/live',
  readinessProbe: '/health/ready',
} as const;

/** The workload kinds of each module type. */
const KINDS_BY_TYPE: Record<ModuleType, string[]> = {
  job: ['CronJob', 'Job'],
  service: ['Deployment'],
  worker: ['Deployment'],
};

/** Stand-in manifests for the placeholder modules of templates/ (example_service, ...). */
function templateModule(type: ModuleType): ModuleManifest {
  return {
    name: `example_${type}`,
    display_name: `Example ${type}`,
    description: 'placeholder of deploy/k8s/templates',
    type,
    version: '1.0.0',
    host_api: '^2.0.0',
    entry: './dist/index.js',
    dependencies: { interfaces: ['database', 'filesystem', 'logging'], modules: [] },
    args: [],
    dialects: ['postgresql'],
    exit_codes: {},
  };
}

/** What the workloads are checked against. */
interface Platform {
  readonly facts: ConfigKeyFacts;
  readonly modules: ReadonlyMap<string, ModuleManifest>;
  readonly config: Readonly<Record<string, string>>;
  readonly names: {
    readonly configMaps: ReadonlySet<string>;
    readonly secrets: ReadonlySet<string>;
    readonly claims: ReadonlySet<string>;
    readonly serviceAccounts: ReadonlySet<string>;
  };
  /** Where the image writes the job status file (its PLATFORM_HEALTH_FILE). */
  readonly healthFile: string;
  /** The manifests of the same folder, for Service/HPA/PDB references. */
  readonly siblings: readonly Manifest[];
}

function configMapData(manifest: Manifest | undefined): Record<string, string> {
  return Object.fromEntries(
    Object.entries(recordOf(manifest?.doc.data)).map(([key, value]) => [key, scalarText(value) ?? '']),
  );
}

/** Problems of one workload (Deployment, CronJob, ...) of a module. */
function workloadProblems(manifest: Manifest, platform: Platform): string[] {
  const where = `${manifest.kind}/${manifest.name}`;
  const problems: string[] = [];
  const pod = podSpecOf(manifest.doc);
  if (pod === undefined) return [`${where}: no pod template`];
  problems.push(...podSecurityProblems(where, pod));
  const moduleName = stringOf(recordOf(at(manifest.doc, 'metadata.labels'))[MODULE_LABEL]) ?? '';
  const module = platform.modules.get(moduleName);
  if (module === undefined) return [...problems, `${where}: label ${MODULE_LABEL}="${moduleName}" names no module`];
  if (podLabelsOf(manifest.doc)[MODULE_LABEL] !== module.name)
    problems.push(`${where}: the pod template is not labelled ${MODULE_LABEL}=${module.name}`);
  if (!KINDS_BY_TYPE[module.type].includes(manifest.kind))
    problems.push(
      `${where}: ${module.name} is a ${module.type}, which runs as ${KINDS_BY_TYPE[module.type].join(' or ')}`,
    );

  const drain = Number(platform.config.PLATFORM_DRAIN_TIMEOUT ?? '30');
  const grace = typeof pod.terminationGracePeriodSeconds === 'number' ? pod.terminationGracePeriodSeconds : 30;
  const containers = recordsOf(pod.containers);
  const pause = Math.max(0, ...containers.map(preStopSeconds));
  if (grace <= drain + pause)
    problems.push(
      `${where}: terminationGracePeriodSeconds ${grace} is not longer than the drain timeout ${drain} s${pause > 0 ? ` + preStop ${pause} s` : ''}`,
    );
  const account = stringOf(pod.serviceAccountName);
  if (account !== undefined && !platform.names.serviceAccounts.has(account))
    problems.push(`${where}: service account ${account} is not defined`);

  for (const volume of recordsOf(pod.volumes)) {
    const secret = stringOf(at(volume, 'secret.secretName'));
    if (secret !== undefined) {
      if (!platform.names.secrets.has(secret))
        problems.push(
          `${where}: volume ${stringOf(volume.name) ?? ''} uses secret ${secret}, which no template defines`,
        );
      const mode = at(volume, 'secret.defaultMode');
      if (typeof mode !== 'number' || (mode & 0o007) !== 0)
        problems.push(`${where}: secret volume ${secret} is readable by others (defaultMode ${String(mode)})`);
    }
    const claim = stringOf(at(volume, 'persistentVolumeClaim.claimName'));
    if (claim !== undefined && !platform.names.claims.has(claim))
      problems.push(`${where}: claim ${claim} is not defined`);
  }

  for (const container of allContainers(pod)) {
    const name = `${where} container ${stringOf(container.name) ?? '?'}`;
    if (container.image !== IMAGE)
      problems.push(`${name}: image ${String(container.image)} is not ${IMAGE} (the kustomize image name)`);
    const configRefs = recordsOf(container.envFrom).map((source) => stringOf(at(source, 'configMapRef.name')));
    for (const ref of configRefs)
      if (ref !== undefined && !platform.names.configMaps.has(ref))
        problems.push(`${name}: envFrom config map ${ref} is not defined`);
    if (!configRefs.includes('platform-config'))
      problems.push(`${name}: does not take its configuration from platform-config`);
    const ownEnv = Object.fromEntries(
      recordsOf(container.env).map((variable) => [stringOf(variable.name) ?? '', stringOf(variable.value) ?? '']),
    );
    problems.push(...environmentProblems(name, ownEnv, platform.facts));
    const env = { ...platform.config, ...ownEnv };
    const mounts = recordsOf(container.volumeMounts);
    const secretsPath = env.SECRETS_FILE_PATH;
    if (env.PLATFORM_SECRETS === 'file') {
      const mount = mounts.find((candidate) => candidate.mountPath === secretsPath);
      const volume = recordsOf(pod.volumes).find((candidate) => candidate.name === mount?.name);
      if (mount === undefined || volume?.secret === undefined)
        problems.push(`${name}: no secret volume at SECRETS_FILE_PATH ${secretsPath ?? '(unset)'}`);
      else if (mount.readOnly !== true) problems.push(`${name}: the secret volume is mounted writable`);
    }
    if (!mountPaths(container).some((path) => isUnder(posix.dirname(platform.healthFile), path))) {
      problems.push(
        `${name}: nothing writable is mounted for the job status file ${platform.healthFile} (read-only root file system)`,
      );
    }
    const fsRoot = env.FS_LOCAL_ROOT;
    if (
      module.dependencies.interfaces.includes('filesystem') &&
      env.PLATFORM_FS === 'local' &&
      stringOf(container.name) === manifest.name &&
      !mountPaths(container).some((path) => isUnder(fsRoot ?? '', path))
    ) {
      problems.push(`${name}: FS_LOCAL_ROOT ${fsRoot ?? ''} is not on a mounted volume`);
    }
  }

  const migrate = recordsOf(pod.initContainers).find((container) => container.name === 'migrate');
  if (module.dependencies.interfaces.includes('database') !== (migrate !== undefined)) {
    problems.push(
      `${where}: ${migrate ? 'runs migrations for a module without the database interface' : 'has no migrate init container, but the module uses the database'}`,
    );
  }
  if (migrate !== undefined && JSON.stringify(stringsOf(migrate.args)) !== JSON.stringify(['migrate', 'up']))
    problems.push(`${where}: the migrate init container does not run "migrate up"`);

  const main = containers.find((container) => container.name === manifest.name);
  if (main === undefined) return [...problems, `${where}: no container named ${manifest.name}`];
  const command = hostCommandOf(main);
  if ('problem' in command) problems.push(`${where}: ${command.problem}`);
  else {
    const globalFlagNames = new Set(platform.facts.globalFlags.map((flag) => flag.name));
    problems.push(...moduleCommandProblems(where, command.argv, platform.modules, globalFlagNames));
    if (command.argv[1] !== module.name)
      problems.push(`${where}: runs ${command.argv[1] ?? '?'} but is labelled ${module.name}`);
  }

  if (module.type === 'job') {
    const jobSpec = manifest.kind === 'CronJob' ? at(manifest.doc, 'spec.jobTemplate.spec') : at(manifest.doc, 'spec');
    for (const probe of Object.keys(PROBES))
      if (main[probe] !== undefined) problems.push(`${where}: a job has no health server, but has a ${probe}`);
    if (!['Never', 'OnFailure'].includes(stringOf(pod.restartPolicy) ?? ''))
      problems.push(`${where}: restartPolicy must be Never or OnFailure`);
    if (
      !exitCodeRules(jobSpec).some(
        (rule) => rule.action === 'FailJob' && rule.container === manifest.name && rule.codes.includes(2),
      )
    ) {
      problems.push(
        `${where}: exit code 2 (usage or configuration error) is retried; add a podFailurePolicy FailJob rule`,
      );
    }
    if (manifest.kind === 'CronJob') {
      if (at(manifest.doc, 'spec.concurrencyPolicy') !== 'Forbid')
        problems.push(`${where}: concurrencyPolicy is not Forbid`);
      if (stringOf(at(manifest.doc, 'spec.timeZone')) === undefined)
        problems.push(`${where}: no timeZone: the schedule would follow the controller's zone`);
      if (!('problem' in command) && command.script?.includes('date ')) {
        const [minute = '', hour = ''] = (stringOf(at(manifest.doc, 'spec.schedule')) ?? '').split(/\s+/);
        const deadline = at(jobSpec, 'activeDeadlineSeconds');
        const start = Number(hour) * 3600 + Number(minute) * 60;
        if (typeof deadline !== 'number' || !(start + deadline < 86_400))
          problems.push(
            `${where}: a retry may start after midnight and compute another date (schedule ${hour}:${minute} + activeDeadlineSeconds ${String(deadline)})`,
          );
      }
    }
  } else {
    const healthPort = Number(platform.config.PLATFORM_HEALTH_PORT ?? '8080');
    for (const [probe, path] of Object.entries(PROBES)) {
      const httpGet = at(main, `${probe}.httpGet`);
      if (!isRecord(httpGet)) problems.push(`${where}: no ${probe} with httpGet`);
      else {
        if (httpGet.path !== path)
          problems.push(`${where}: ${probe} asks ${String(httpGet.path)}, the host serves ${path}`);
        const port = resolvePort(main, httpGet.port);
        if (port !== healthPort)
          problems.push(`${where}: ${probe} port ${String(httpGet.port)} is not the health port ${healthPort}`);
      }
    }
    const readinessTimeout = at(main, 'readinessProbe.timeoutSeconds');
    if (typeof readinessTimeout !== 'number' || readinessTimeout <= 5)
      problems.push(
        `${where}: readinessProbe.timeoutSeconds must exceed the 5 s the host gives each adapter health check`,
      );
  }
  if (module.type === 'service') {
    const podLabels = podLabelsOf(manifest.doc);
    const matches = (selector: unknown): boolean =>
      Object.entries(recordOf(selector)).every(([key, value]) => podLabels[key] === value);
    const service = platform.siblings.find(
      (sibling) => sibling.kind === 'Service' && matches(at(sibling.doc, 'spec.selector')),
    );
    if (service === undefined) problems.push(`${where}: no Service selects its pods`);
    for (const port of recordsOf(at(service?.doc, 'spec.ports'))) {
      if (resolvePort(main, port.targetPort ?? port.port) === undefined)
        problems.push(`${where}: Service port ${String(port.name)} targets no container port`);
    }
    const hpa = platform.siblings.find(
      (sibling) =>
        sibling.kind === 'HorizontalPodAutoscaler' && at(sibling.doc, 'spec.scaleTargetRef.name') === manifest.name,
    );
    if (hpa === undefined || at(hpa.doc, 'spec.scaleTargetRef.kind') !== manifest.kind)
      problems.push(`${where}: no HorizontalPodAutoscaler scales it`);
    if (
      !platform.siblings.some(
        (sibling) => sibling.kind === 'PodDisruptionBudget' && matches(at(sibling.doc, 'spec.selector.matchLabels')),
      )
    )
      problems.push(`${where}: no PodDisruptionBudget covers it`);
  }
  return problems;
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
      { cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? '', ...env }, timeout: 60_000 },
      (error, stdout, stderr) => {
        resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr });
      },
    );
  });
}

describe('deploy/k8s', () => {
  const manifests = loadManifests(K8S_DIR);
  const configMap = manifests.find((manifest) => manifest.kind === 'ConfigMap' && manifest.name === 'platform-config');
  const config = configMapData(configMap);
  const secretTemplates = manifests.filter((manifest) => manifest.kind === 'Secret');
  const workloads = manifests.filter((manifest) => podSpecOf(manifest.doc) !== undefined);
  const underModules = (manifest: Manifest): boolean => manifest.file.startsWith(join('deploy', 'k8s', 'modules'));
  let facts: ConfigKeyFacts;
  let modules: Map<string, ModuleManifest>;
  let platformFor: (manifest: Manifest) => Platform;

  before(async () => {
    facts = await configKeyFacts();
    modules = moduleManifests();
    const withTemplates = new Map([
      ...modules,
      ...(['job', 'service', 'worker'] as const).map((type) => [`example_${type}`, templateModule(type)] as const),
    ]);
    const namesOf = (kind: string): Set<string> =>
      new Set(manifests.filter((manifest) => manifest.kind === kind).map((manifest) => manifest.name));
    const dockerfile = parseDockerfile(readFileSync(repoPath('deploy', 'docker', 'Dockerfile'), 'utf8'));
    const envLine = dockerfile.stages
      .at(-1)
      ?.instructions.find(
        (instruction) => instruction.keyword === 'ENV' && instruction.args.includes('PLATFORM_HEALTH_FILE='),
      );
    const healthFile =
      /PLATFORM_HEALTH_FILE=(\S+)/.exec(envLine?.args ?? '')?.[1] ?? '/tmp/platform-host/job-status.json';
    platformFor = (manifest) => ({
      facts,
      modules: underModules(manifest) ? modules : withTemplates,
      config,
      names: {
        configMaps: namesOf('ConfigMap'),
        secrets: namesOf('Secret'),
        claims: namesOf('PersistentVolumeClaim'),
        serviceAccounts: namesOf('ServiceAccount'),
      },
      healthFile,
      siblings: manifests.filter((sibling) => dirname(sibling.file) === dirname(manifest.file)),
    });
  });

  it('has the platform objects and at least the batch_etl CronJob', () => {
    expect(configMap, 'ConfigMap platform-config').to.not.equal(undefined);
    expect(secretTemplates.map((manifest) => manifest.file)).to.deep.equal([
      join('deploy', 'k8s', 'platform', 'secret.template.yaml'),
    ]);
    expect(workloads.filter(underModules).map((manifest) => `${manifest.kind}/${manifest.name}`)).to.include(
      'CronJob/batch-etl',
    );
  });

  it('validates every manifest against the Kubernetes JSON schemas of kubernetes-models', async () => {
    const problems = (await Promise.all(manifests.map((manifest) => schemaProblems(manifest)))).flat();
    expect(problems).to.deep.equal([]);
  });

  it('uses no field that the Kubernetes API does not define (type-checked against the kubernetes-models types)', function () {
    this.timeout(60_000);
    expect(unknownFieldProblems(manifests)).to.deep.equal([]);
  });

  it('runs every module workload as the platform expects: security, config, secrets, probes, grace period, module and arguments', () => {
    for (const manifest of workloads)
      expect(workloadProblems(manifest, platformFor(manifest)), manifest.file).to.deep.equal([]);
  });

  it('probes the paths the host health server serves', () => {
    const source = readFileSync(repoPath('host', 'runtime', 'src', 'health', 'health-server.ts'), 'utf8');
    for (const path of Object.values(PROBES)) expect(source, path).to.contain(`'${path}'`);
  });

  it('puts only config keys of adapters and host flags in the ConfigMap, none of them secret, for production', () => {
    expect(environmentProblems('platform-config', config, facts)).to.deep.equal([]);
    expect(Object.keys(config).filter((key) => facts.secret.has(key))).to.deep.equal([]);
    expect(config).to.include({ PLATFORM_ENV: 'production', PLATFORM_LOG: 'json', PLATFORM_SECRETS: 'file' });
  });

  it('has a Secret template with placeholders only, for secret keys that adapters declare', () => {
    for (const template of secretTemplates) {
      expect(secretTemplateProblems(template)).to.deep.equal([]);
      for (const key of Object.keys(recordOf(template.doc.stringData)))
        expect(facts.secret.has(key), `${key} is a secret config key`).to.equal(true);
    }
  });

  it('puts in the Secret template every required secret key of the adapters the ConfigMap selects', () => {
    const keys = new Set(secretTemplates.flatMap((template) => Object.keys(recordOf(template.doc.stringData))));
    for (const flag of facts.globalFlags.filter((candidate) => candidate.selects !== undefined)) {
      const chosen = config[flag.env];
      if (chosen === undefined) continue;
      for (const adapter of readdirSync(repoPath('adapters')).filter((dir) =>
        existsSync(repoPath('adapters', dir, 'platform-adapter.json')),
      )) {
        const manifest: unknown = JSON.parse(
          readFileSync(repoPath('adapters', adapter, 'platform-adapter.json'), 'utf8'),
        );
        if (recordOf(manifest).interface !== flag.selects || !stringsOf(recordOf(manifest).flags).includes(chosen))
          continue;
        for (const key of recordsOf(recordOf(manifest).config).filter(
          (candidate) => candidate.secret === true && candidate.required === true,
        )) {
          expect(keys.has(stringOf(key.env) ?? ''), `${String(key.env)} of ${adapter}`).to.equal(true);
        }
      }
    }
  });

  it('would start every module: platform-host doctor accepts the container command (wrapper included), ConfigMap and Secret', async function () {
    this.timeout(60_000);
    const secrets = mkdtempSync(join(tmpdir(), 'k8s-secrets-'));
    try {
      for (const template of secretTemplates) {
        for (const [key, value] of Object.entries(recordOf(template.doc.stringData)))
          writeFileSync(join(secrets, key), `${scalarText(value) ?? ''}\n`);
      }
      mkdirSync(join(secrets, '..data'), { recursive: true });
      for (const manifest of workloads.filter(underModules)) {
        const main =
          recordsOf(podSpecOf(manifest.doc)?.containers).find((container) => container.name === manifest.name) ?? {};
        const ownEnv = Object.fromEntries(
          recordsOf(main.env).map((variable) => [stringOf(variable.name) ?? '', stringOf(variable.value) ?? '']),
        );
        const env = {
          ...config,
          ...ownEnv,
          SECRETS_FILE_PATH: secrets,
          FS_LOCAL_ROOT: join(secrets, 'lake'),
          PLATFORM_ROOT: REPO_ROOT,
        };
        const command = hostCommandOf(main);
        if ('problem' in command) throw new Error(command.problem);
        const args = stringsOf(main.args).map((arg, index) => (index === 0 && arg === 'run' ? 'doctor' : arg));
        const result =
          command.script === undefined
            ? await run(process.execPath, [repoPath('host', 'runtime', 'bin', 'platform-host.js'), ...args], env)
            : await run(
                '/bin/sh',
                [
                  '-c',
                  command.script.replace(/exec node \/app\//, `exec "${process.execPath}" "${REPO_ROOT}"`),
                  'platform-host',
                  ...args,
                ],
                env,
              );
        expect(result.code, `${manifest.file}: ${result.stdout}${result.stderr}`).to.equal(0);
        expect(result.stdout).to.contain('would start');
        if (command.script?.includes('date ')) {
          const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
          expect(result.stdout, 'the wrapper passes yesterday (UTC) as --date').to.contain(`--date=${yesterday}`);
        }
      }
    } finally {
      rmSync(secrets, { recursive: true, force: true });
    }
  });

  describe('kustomize layout', () => {
    const kustomizations = (): string[] => {
      const out: string[] = [];
      const walk = (dir: string): void => {
        for (const entry of readdirSync(dir, { withFileTypes: true })) {
          if (entry.isDirectory()) walk(join(dir, entry.name));
          else if (entry.name === 'kustomization.yaml') out.push(join(dir, entry.name));
        }
      };
      walk(K8S_DIR);
      return out;
    };

    it('lists resources that exist, every manifest of each folder, and never a template', () => {
      for (const file of kustomizations()) {
        const folder = dirname(file);
        const resources = stringsOf(recordOf(readYaml(file)).resources);
        for (const resource of resources) {
          const path = join(folder, resource);
          expect(
            existsSync(path) && (!isDirectory(path) || existsSync(join(path, 'kustomization.yaml'))),
            `${relative(REPO_ROOT, file)}: ${resource}`,
          ).to.equal(true);
          expect(resource, 'templates are copied, not applied').to.not.match(/\.template\.ya?ml$/);
        }
        const local = readdirSync(folder).filter(
          (name) => /\.ya?ml$/.test(name) && name !== 'kustomization.yaml' && !/\.template\.ya?ml$/.test(name),
        );
        expect(resources, relative(REPO_ROOT, folder)).to.include.members(local);
      }
    });

    it('deploys every module folder and maps the image name to a registry', () => {
      const root = recordOf(readYaml(join(K8S_DIR, 'kustomization.yaml')));
      const moduleFolders = readdirSync(join(K8S_DIR, 'modules')).map((name) => `modules/${name}`);
      expect(stringsOf(root.resources)).to.include.members(['platform', ...moduleFolders]);
      expect(stringsOf(root.resources).some((resource) => resource.startsWith('templates'))).to.equal(false);
      expect(recordsOf(root.images).map((image) => image.name)).to.include(IMAGE);
    });

    it('renders with kustomize (kubectl kustomize) when kubectl is installed', async function () {
      this.timeout(60_000);
      const probe = await run('kubectl', ['version', '--client'], { HOME: tmpdir() });
      if (probe.code !== 0) this.skip();
      const result = await run('kubectl', ['kustomize', K8S_DIR], { HOME: tmpdir() });
      expect(result.code, result.stderr).to.equal(0);
      const rendered = result.stdout.split(/^---$/m).filter((doc) => doc.trim() !== '');
      const applied = manifests.filter(
        (manifest) => !manifest.file.includes('templates') && !manifest.file.endsWith('.template.yaml'),
      );
      expect(rendered).to.have.length(applied.length);
      expect(result.stdout).to.not.match(/^\s+image: platform-host$/m);
    });
  });

  describe('rules that catch a broken manifest', () => {
    const batchEtl = (): Manifest => {
      const manifest = workloads.find((candidate) => candidate.name === 'batch-etl');
      if (manifest === undefined) throw new Error('CronJob batch-etl is missing');
      return { ...manifest, doc: cloneData(manifest.doc) };
    };
    const container = (manifest: Manifest): Record<string, unknown> =>
      recordsOf(podSpecOf(manifest.doc)?.containers)[0] ?? {};
    const serviceTemplate = (): Manifest => {
      const manifest = workloads.find((candidate) => candidate.name === 'example-service');
      if (manifest === undefined) throw new Error('templates/service/deployment.yaml is missing');
      return { ...manifest, doc: cloneData(manifest.doc) };
    };

    it('fails schema validation for a wrong type and for a missing required field', async () => {
      const broken = batchEtl();
      recordOf(recordsOf(container(broken).volumeMounts)[0]).mountPath = 42;
      delete container(broken).name;
      const problems = (await schemaProblems(broken)).join('\n');
      expect(problems).to.contain('mountPath must be string');
      expect(problems).to.contain('containers/0 must have required property name');
    });

    it('finds a misspelt field that the JSON schema lets through', async function () {
      this.timeout(60_000);
      const broken = batchEtl();
      container(broken).livenesProbe = { httpGet: { path: '/health/live', port: 8080 } };
      expect(await schemaProblems(broken)).to.deep.equal([]);
      expect(unknownFieldProblems([broken]).join('\n')).to.contain(
        "'\"livenesProbe\"' does not exist in type 'IContainer'",
      );
    });

    it('finds probes on the wrong path or port and a grace period shorter than the drain', () => {
      const broken = serviceTemplate();
      const main = container(broken);
      recordOf(at(main, 'livenessProbe.httpGet')).path = '/healthz';
      recordOf(at(main, 'readinessProbe.httpGet')).port = 9090;
      recordOf(podSpecOf(broken.doc)).terminationGracePeriodSeconds = 30;
      const problems = workloadProblems(broken, platformFor(broken)).join('\n');
      expect(problems).to.contain('livenessProbe asks /healthz, the host serves /health/live');
      expect(problems).to.contain('readinessProbe port 9090 is not the health port 8080');
      expect(problems).to.contain(
        'terminationGracePeriodSeconds 30 is not longer than the drain timeout 30 s + preStop 5 s',
      );
    });

    it('finds an argument batch_etl does not declare and a wrapper that does not exec the host', () => {
      const broken = batchEtl();
      const main = container(broken);
      main.args = ['run', 'batch_etl', '--source-path', 'raw/events', '--batchsize', '500'];
      expect(workloadProblems(broken, platformFor(broken)).join('\n')).to.contain(
        '--batchsize is not an argument of batch_etl',
      );
      main.command = ['/bin/sh', '-c', 'node /app/host/runtime/bin/platform-host.js "$@" --date "$(date +%F)"', 'x'];
      expect(workloadProblems(broken, platformFor(broken)).join('\n')).to.contain('does not "exec node');
    });

    it('finds a container that may run as root with a writable root file system', () => {
      const broken = batchEtl();
      delete recordOf(podSpecOf(broken.doc)).securityContext;
      recordOf(container(broken).securityContext).readOnlyRootFilesystem = false;
      const problems = workloadProblems(broken, platformFor(broken)).join('\n');
      expect(problems).to.contain('runAsNonRoot is not true');
      expect(problems).to.contain('the root file system is writable');
    });

    it('finds a daily date wrapper whose retries could cross midnight', () => {
      const broken = batchEtl();
      recordOf(broken.doc.spec).schedule = '30 22 * * *';
      expect(workloadProblems(broken, platformFor(broken)).join('\n')).to.contain('a retry may start after midnight');
    });

    it('finds real-looking credentials in a Secret template', () => {
      const template = secretTemplates[0];
      if (template === undefined) throw new Error('no Secret template');
      const broken = { ...template, doc: cloneData(template.doc) };
      recordOf(broken.doc.stringData).DB_POSTGRES_URL = 'postgresql://etl:S3cretPassw0rd@db.internal:5432/platform';
      recordOf(broken.doc.stringData).API_TOKEN = 'REPLACE_WITH_TOKEN ghp_a1B2c3D4e5F6g7H8i9J0k1L2m3N4';
      const problems = secretTemplateProblems(broken).join('\n');
      expect(problems).to.contain('DB_POSTGRES_URL is not a placeholder');
      expect(problems).to.contain('DB_POSTGRES_URL holds a password that is not a placeholder');
      expect(problems).to.contain('API_TOKEN holds a long token');
    });
  });
});
