import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { expect } from 'chai';
import { isRecord } from './plain-data.js';
import { adapterManifests, moduleManifests, REPO_ROOT, repoPath } from './repo-facts.js';

const STAGE_SCRIPT = repoPath('deploy', 'docker', 'stage-runtime.mjs');
const HEALTHCHECK_SCRIPT = repoPath('deploy', 'docker', 'healthcheck.mjs');

function node(
  args: readonly string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      args,
      { cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? '', ...env }, timeout: 30_000 },
      (error, stdout, stderr) => {
        resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr });
      },
    );
  });
}

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...filesUnder(path));
    else out.push(path);
  }
  return out;
}

interface MigrationChecksum {
  readonly name: string;
  readonly checksum: string;
}

/**
 * The migration runner's view (compiled runtime) of the shared migrations folder `dir`, or with
 * `module` of that module folder's set named by its manifest.
 */
async function migrationChecksums(
  dir: string,
  module?: { name: string; folder: string },
): Promise<MigrationChecksum[]> {
  const runtime: unknown = await import(pathToFileURL(repoPath('host', 'runtime', 'dist', 'index.js')).href);
  if (!isRecord(runtime)) throw new Error('the runtime exports nothing');
  const { discoverMigrations, sharedMigrationSet, moduleMigrationSet } = runtime;
  if (
    typeof discoverMigrations !== 'function' ||
    typeof sharedMigrationSet !== 'function' ||
    typeof moduleMigrationSet !== 'function'
  )
    throw new Error('the runtime does not export discoverMigrations, sharedMigrationSet and moduleMigrationSet');
  const set: unknown = module
    ? (moduleMigrationSet as (owner: string, dir: string, folder: string) => unknown)(module.name, dir, module.folder)
    : (sharedMigrationSet as (dir: string) => unknown)(dir);
  const files = (discoverMigrations as (set: unknown) => unknown)(set);
  return (Array.isArray(files) ? (files as unknown[]) : [])
    .filter(isRecord)
    .map((file) => ({ name: String(file.name), checksum: String(file.checksum) }));
}

describe('deploy/docker/stage-runtime.mjs (what the production image holds)', () => {
  let staged: string;

  before(async function () {
    this.timeout(60_000);
    staged = mkdtempSync(join(tmpdir(), 'staged-runtime-'));
    const result = await node([STAGE_SCRIPT, 'copy', staged]);
    expect(result.code, result.stderr).to.equal(0);
  });

  after(() => rmSync(staged, { recursive: true, force: true }));

  it('installs every workspace the host loads, and not the test kit or the integration tests', async () => {
    const result = await node([STAGE_SCRIPT, 'workspaces']);
    const workspaces = result.stdout.trim().split('\n');
    const plugins = [
      ...readdirSync(repoPath('adapters')).map((name) => `adapters/${name}`),
      ...readdirSync(repoPath('plugins')).map((name) => `plugins/${name}`),
    ].filter((dir) => existsSync(repoPath(dir, 'platform-adapter.json')) || existsSync(repoPath(dir, 'module.json')));
    expect(workspaces).to.include.members(['host/contracts', 'host/runtime', 'migrations', ...plugins]);
    expect(workspaces).to.not.include.members(['host/test-kit']);
    expect(workspaces).to.not.include('integration-tests');
    const flags = (await node([STAGE_SCRIPT, 'workspace-flags'])).stdout.trim().split(' ');
    expect(flags).to.deep.equal(workspaces.map((dir) => `--workspace=${dir}`));
  });

  it('stages the CLI, the compiled code and the manifest of every adapter and module', () => {
    expect(existsSync(join(staged, 'host/runtime/bin/platform-host.js'))).to.equal(true);
    expect(existsSync(join(staged, 'host/runtime/dist/cli/main.js'))).to.equal(true);
    expect(existsSync(join(staged, 'package.json'))).to.equal(true);
    const manifests = filesUnder(staged).filter((path) => /(platform-adapter|module)\.json$/.test(path));
    expect(manifests).to.have.length(adapterManifests().length + moduleManifests().size);
  });

  it('leaves out tests, sources, declarations, source maps and test fixtures', () => {
    const unwanted = filesUnder(staged)
      .map((path) => relative(staged, path))
      .filter(
        (path) =>
          /\.test\.|\.bench\.|\.d\.ts$|\.map$|\.tsbuildinfo$|test-fixtures|^integration-tests|^host\/test-kit|^env\//.test(
            path,
          ) ||
          (path.endsWith('.ts') &&
            !path.startsWith('migrations/src/') &&
            !/^plugins\/[^/]+\/src\/migrations\//.test(path)),
      );
    expect(unwanted).to.deep.equal([]);
  });

  it('keeps the migration sources, so the runner computes the same checksums in the image', async () => {
    const inRepo = await migrationChecksums(repoPath('migrations'));
    expect(inRepo.length).to.be.greaterThan(0);
    expect(await migrationChecksums(join(staged, 'migrations'))).to.deep.equal(inRepo);
    for (const { name } of inRepo)
      expect(existsSync(join(staged, 'migrations', 'dist', `${name}.js`)), name).to.equal(true);
  });

  it("keeps batch_etl's own migration sources, so its checksums match in the image too", async () => {
    const set = { name: 'batch_etl', folder: './dist/migrations/postgresql' };
    const inRepo = await migrationChecksums(repoPath('plugins', 'batch-etl'), set);
    expect(inRepo.map((file) => file.name)).to.deep.equal(['001_create_cleaned_events_table']);
    expect(await migrationChecksums(join(staged, 'plugins', 'batch-etl'), set)).to.deep.equal(inRepo);
  });

  it("ships data_quality's default checks file, which its CronJob runs from the image", () => {
    const checks = join('plugins', 'data-quality', 'checks', 'default.yml');
    expect(existsSync(join(staged, checks)), checks).to.equal(true);
    expect(readFileSync(join(staged, checks), 'utf8')).to.equal(readFileSync(repoPath(checks), 'utf8'));
  });

  it('refuses an unknown command with a usage message and exit code 2', async () => {
    const result = await node([STAGE_SCRIPT, 'stage']);
    expect(result.code).to.equal(2);
    expect(result.stderr).to.contain('usage:');
  });
});

describe('deploy/docker/healthcheck.mjs (the image HEALTHCHECK)', () => {
  let dir: string;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'healthcheck-'));
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  const writeStatus = (name: string, status: Record<string, unknown>): string => {
    const path = join(dir, name);
    writeFileSync(
      path,
      JSON.stringify({
        module: 'batch_etl',
        startedAt: '2026-01-15T00:00:00Z',
        updatedAt: '2026-01-15T00:00:01Z',
        ...status,
      }),
    );
    return path;
  };

  /** A process id that no longer exists: a child that has exited. */
  const deadPid = (): Promise<number> =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['-e', '0']);
      child.on('error', reject);
      child.on('exit', () => resolve(child.pid ?? -1));
    });

  const listen = (status: number): Promise<{ server: Server; port: number; paths: string[] }> =>
    new Promise((resolve) => {
      const paths: string[] = [];
      const server = createServer((request, response) => {
        paths.push(request.url ?? '');
        response.writeHead(status, { 'content-type': 'application/json' });
        response.end('{}');
      });
      server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as AddressInfo).port, paths }));
    });

  it('reports a running job healthy while its process is alive', async () => {
    const path = writeStatus('running.json', { status: 'running', pid: process.pid });
    const result = await node([HEALTHCHECK_SCRIPT], { PLATFORM_HEALTH_FILE: path });
    expect(result.code).to.equal(0);
    expect(result.stdout).to.equal('healthy: batch_etl is running\n');
  });

  it('reports a failed job unhealthy with its exit code', async () => {
    const path = writeStatus('failed.json', { status: 'failed', pid: process.pid, exitCode: 1 });
    const result = await node([HEALTHCHECK_SCRIPT], { PLATFORM_HEALTH_FILE: path });
    expect(result.code).to.equal(1);
    expect(result.stdout).to.equal('unhealthy: batch_etl is failed (exit code 1)\n');
  });

  it('reports a job unhealthy when the process that wrote "running" is gone', async () => {
    const pid = await deadPid();
    const path = writeStatus('orphan.json', { status: 'running', pid });
    const result = await node([HEALTHCHECK_SCRIPT], { PLATFORM_HEALTH_FILE: path });
    expect(result.code).to.equal(1);
    expect(result.stdout).to.contain(`process ${pid} is gone`);
  });

  it('asks /health/live on PLATFORM_HEALTH_PORT when there is no job status file', async () => {
    const { server, port, paths } = await listen(200);
    try {
      const result = await node([HEALTHCHECK_SCRIPT], {
        PLATFORM_HEALTH_FILE: join(dir, 'absent.json'),
        PLATFORM_HEALTH_PORT: String(port),
      });
      expect(result.code, result.stdout).to.equal(0);
      expect(paths).to.deep.equal(['/health/live']);
    } finally {
      server.close();
    }
  });

  it('reports a service unhealthy when /health/live does not answer 200', async () => {
    const { server, port } = await listen(503);
    try {
      const result = await node([HEALTHCHECK_SCRIPT], {
        PLATFORM_HEALTH_FILE: join(dir, 'absent.json'),
        PLATFORM_HEALTH_PORT: String(port),
      });
      expect(result.code).to.equal(1);
      expect(result.stdout).to.contain('answered 503');
    } finally {
      server.close();
    }
  });

  it('reports unhealthy when neither a status file nor a health server exists', async () => {
    const { server, port } = await listen(200);
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const result = await node([HEALTHCHECK_SCRIPT], {
      PLATFORM_HEALTH_FILE: join(dir, 'absent.json'),
      PLATFORM_HEALTH_PORT: String(port),
    });
    expect(result.code).to.equal(1);
    expect(result.stdout).to.contain('did not answer');
  });
});
