import { connect } from 'node:net';
import type * as Testcontainers from 'testcontainers';
import type { StartedTestContainer } from 'testcontainers';

/** The real servers integration tests use. */
export type ServiceName = 'postgres' | 'redis' | 'kafka' | 'cassandra' | 'object-store' | 'vault';

interface ContainerRecipe {
  readonly image: string;
  readonly port: number;
  readonly environment?: Readonly<Record<string, string>>;
  readonly command?: readonly string[];
  /** A log line that means the server is ready. */
  readonly readyLog: RegExp;
  /** The env vars that point adapters at the started container. */
  toEnv(host: string, port: number): Record<string, string>;
}

interface ServiceSpec {
  /** Env vars that, when all set, point at an existing server (native or remote). */
  readonly envKeys: readonly string[];
  /** host:port of the server named by those env vars, to check that it answers. */
  address(env: NodeJS.ProcessEnv): { host: string; port: number } | undefined;
  readonly container: ContainerRecipe;
}

const SERVICES: Readonly<Record<ServiceName, ServiceSpec>> = {
  postgres: {
    envKeys: ['DB_POSTGRES_URL'],
    address: (env) => urlAddress(env.DB_POSTGRES_URL, 5432),
    container: {
      image: 'postgres:16',
      port: 5432,
      environment: { POSTGRES_PASSWORD: 'platform', POSTGRES_DB: 'platform' },
      readyLog: /database system is ready to accept connections[\s\S]*database system is ready to accept connections/,
      toEnv: (host, port) => ({ DB_POSTGRES_URL: `postgresql://postgres:platform@${host}:${port}/platform` }),
    },
  },
  redis: {
    envKeys: ['CACHE_REDIS_URL'],
    address: (env) => urlAddress(env.CACHE_REDIS_URL, 6379),
    container: {
      image: 'redis:7',
      port: 6379,
      readyLog: /Ready to accept connections/,
      toEnv: (host, port) => ({
        CACHE_REDIS_URL: `redis://${host}:${port}/0`,
        MQ_REDIS_STREAM_URL: `redis://${host}:${port}/1`,
      }),
    },
  },
  kafka: {
    envKeys: ['MQ_KAFKA_BOOTSTRAP_SERVERS'],
    address: (env) => hostPort(env.MQ_KAFKA_BOOTSTRAP_SERVERS?.split(',')[0], 9092),
    container: {
      image: 'apache/kafka:3.9.1',
      port: 9092,
      readyLog: /Kafka Server started/,
      toEnv: (host, port) => ({ MQ_KAFKA_BOOTSTRAP_SERVERS: `${host}:${port}` }),
    },
  },
  cassandra: {
    envKeys: ['DB_CASSANDRA_HOSTS'],
    address: (env) => hostPort(env.DB_CASSANDRA_HOSTS?.split(',')[0], 9042),
    container: {
      image: 'cassandra:5.0',
      port: 9042,
      environment: { MAX_HEAP_SIZE: '1G', HEAP_NEWSIZE: '200M' },
      readyLog: /Startup complete/,
      toEnv: (host, port) => ({ DB_CASSANDRA_HOSTS: `${host}:${port}`, DB_CASSANDRA_KEYSPACE: 'platform' }),
    },
  },
  'object-store': {
    envKeys: ['FS_MINIO_ENDPOINT', 'FS_MINIO_ACCESS_KEY', 'FS_MINIO_SECRET_KEY'],
    address: (env) => urlAddress(env.FS_MINIO_ENDPOINT, 9000),
    container: {
      image: 'minio/minio:latest',
      port: 9000,
      command: ['server', '/data'],
      environment: { MINIO_ROOT_USER: 'minioadmin', MINIO_ROOT_PASSWORD: 'minioadmin' },
      readyLog: /API:/,
      toEnv: (host, port) => ({
        FS_MINIO_ENDPOINT: `http://${host}:${port}`,
        FS_MINIO_ACCESS_KEY: 'minioadmin',
        FS_MINIO_SECRET_KEY: 'minioadmin',
        FS_MINIO_BUCKET: 'platform-test',
      }),
    },
  },
  // A Vault-compatible server: OpenBao in dev mode (deploy/native/vault.sh), KV v2 at secret/.
  vault: {
    envKeys: ['SECRETS_VAULT_ADDR'],
    address: (env) => urlAddress(env.SECRETS_VAULT_ADDR, 8200),
    container: {
      image: 'openbao/openbao:2.7.2',
      port: 8200,
      environment: { BAO_DEV_ROOT_TOKEN_ID: 'platform-test-root-token' },
      command: ['server', '-dev', '-dev-no-store-token', '-dev-listen-address=0.0.0.0:8200'],
      readyLog: /Development mode should NOT be used/,
      toEnv: (host, port) => ({
        SECRETS_VAULT_ADDR: `http://${host}:${port}`,
        SECRETS_VAULT_TOKEN: 'platform-test-root-token',
      }),
    },
  },
};

function urlAddress(value: string | undefined, defaultPort: number): { host: string; port: number } | undefined {
  if (!value) return undefined;
  try {
    const url = new URL(value);
    return { host: url.hostname, port: url.port === '' ? defaultPort : Number(url.port) };
  } catch {
    return undefined;
  }
}

function hostPort(value: string | undefined, defaultPort: number): { host: string; port: number } | undefined {
  if (!value) return undefined;
  const [host = '', port] = value.trim().split(':');
  return { host, port: port === undefined ? defaultPort : Number(port) };
}

/** True when a TCP connection to host:port succeeds within `timeoutMs`. */
export function answers(host: string, port: number, timeoutMs = 2000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** True when CI demands real servers: a missing one fails instead of skipping. */
export function infraRequired(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.PLATFORM_TEST_REQUIRE_INFRA === '1' || env.PLATFORM_TEST_REQUIRE_INFRA === 'true';
}

const started = new Map<ServiceName, Promise<Record<string, string> | undefined>>();
const containers: StartedTestContainer[] = [];

async function startContainer(name: ServiceName): Promise<Record<string, string> | undefined> {
  let testcontainers: typeof Testcontainers;
  try {
    testcontainers = await import('testcontainers');
    await testcontainers.getContainerRuntimeClient();
  } catch {
    return undefined; // no container runtime here
  }
  const recipe = SERVICES[name].container;
  let container = new testcontainers.GenericContainer(recipe.image)
    .withExposedPorts(recipe.port)
    .withEnvironment({ ...recipe.environment })
    .withWaitStrategy(testcontainers.Wait.forLogMessage(recipe.readyLog))
    .withStartupTimeout(180_000);
  if (recipe.command) container = container.withCommand([...recipe.command]);
  const running = await container.start();
  containers.push(running);
  return recipe.toEnv(running.getHost(), running.getMappedPort(recipe.port));
}

/**
 * The env vars pointing at a real `name` server: the ones already in the environment (a native
 * server from deploy/native, or any reachable one), else a testcontainers container when a
 * container runtime is available, else `undefined` (the caller skips, or fails under
 * PLATFORM_TEST_REQUIRE_INFRA=1). Containers are started once per test run.
 */
export function realService(
  name: ServiceName,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Record<string, string> | undefined> {
  const spec = SERVICES[name];
  const present = spec.envKeys.every((key) => (env[key] ?? '') !== '');
  if (present)
    return Promise.resolve(
      Object.fromEntries(
        Object.keys(spec.container.toEnv('h', 1))
          .filter((key) => env[key])
          .map((key) => [key, env[key] ?? '']),
      ),
    );
  let pending = started.get(name);
  if (!pending) {
    pending = startContainer(name);
    started.set(name, pending);
  }
  return pending;
}

/** The message for a missing server: what to set, and how to get one. */
export function missingServiceMessage(name: ServiceName): string {
  return `${name} is not available: set ${SERVICES[name].envKeys.join(', ')} (e.g. \`make infra-native-up\` prints them) or provide a container runtime for testcontainers`;
}

/**
 * Mocha helper for a suite that needs a real server: in `before`, resolves its env vars; skips the
 * suite with the reason when it is missing, or fails when PLATFORM_TEST_REQUIRE_INFRA=1.
 * Returns a getter for the env vars.
 */
export function useRealService(name: ServiceName): () => Record<string, string> {
  let resolved: Record<string, string> | undefined;
  before(async function () {
    this.timeout(240_000);
    resolved = await realService(name);
    const address = resolved ? SERVICES[name].address(resolved) : undefined;
    let problem = resolved ? undefined : missingServiceMessage(name);
    if (address && !(await answers(address.host, address.port))) {
      problem = `${name} at ${address.host}:${address.port} (from ${SERVICES[name].envKeys[0] ?? ''}) does not answer`;
      resolved = undefined;
    }
    if (problem === undefined) return;
    if (infraRequired()) throw new Error(`${problem} — required because PLATFORM_TEST_REQUIRE_INFRA=1`);
    this.skip();
  });
  return () => {
    if (!resolved) throw new Error(missingServiceMessage(name));
    return resolved;
  };
}

/** Stops containers started by {@link realService}; call once after all tests (a root hook). */
export async function stopRealServices(): Promise<void> {
  await Promise.allSettled(containers.splice(0).map((container) => container.stop()));
}
