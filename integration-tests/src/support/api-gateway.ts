import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { waitFor } from '@platform-host/test-kit';
import { CLI, REPO_ROOT, cliEnv } from './cli.js';
import type { LogLine } from './batch-etl.js';

/** One `platform-host run api_gateway` subprocess on free ports, with its JSON log lines. */
export interface RunningGateway {
  readonly child: ChildProcess;
  /** `http://127.0.0.1:<port>` of the API. */
  readonly url: string;
  /** `http://127.0.0.1:<port>` of the host's health server. */
  readonly healthUrl: string;
  /** `http://127.0.0.1:<port>` of `/metrics` (with `--metrics prometheus`). */
  readonly metricsUrl: string | undefined;
  /** Every JSON log line so far. */
  logs(): LogLine[];
  /** Everything written to stdout and stderr so far. */
  output(): string;
  /** Resolves with the exit code once the process ended. */
  readonly exited: Promise<number | null>;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
}

/** What a gateway run needs: the database, the cache and the queue, and extra module arguments. */
export interface GatewayRunOptions {
  readonly databaseUrl: string;
  readonly redisUrl: string;
  /** Key prefix of the cache (unique per test: other suites share the server). */
  readonly cachePrefix: string;
  readonly topic: string;
  readonly streamRedisUrl?: string;
  /** The queue it publishes to: Redis Streams (the default), or Kafka at these bootstrap servers. */
  readonly kafkaBootstrapServers?: string;
  readonly args?: readonly string[];
}

/** A random suffix for names on shared servers. */
export function uniqueSuffix(): string {
  return randomBytes(4).toString('hex');
}

/**
 * Starts api_gateway through the real CLI (`--db postgres --cache redis --mq redis-stream|kafka
 * --metrics prometheus --log json --env test`), every port chosen by the system, and waits until
 * it listens. The child is killed by {@link RunningGateway.stop}.
 */
export async function startGateway(options: GatewayRunOptions): Promise<RunningGateway> {
  const args = [
    CLI,
    'run',
    'api_gateway',
    '--db',
    'postgres',
    '--cache',
    'redis',
    '--mq',
    options.kafkaBootstrapServers === undefined ? 'redis-stream' : 'kafka',
    '--metrics',
    'prometheus',
    '--log',
    'json',
    '--env',
    'test',
    '--health-port',
    '0',
    '--port',
    '0',
    '--host',
    '127.0.0.1',
    '--topic',
    options.topic,
    ...(options.args ?? []),
  ];
  const env = cliEnv({
    DB_POSTGRES_URL: options.databaseUrl,
    CACHE_REDIS_URL: options.redisUrl,
    CACHE_REDIS_KEY_PREFIX: options.cachePrefix,
    MQ_REDIS_STREAM_URL: options.streamRedisUrl ?? options.redisUrl,
    ...(options.kafkaBootstrapServers === undefined
      ? {}
      : { MQ_KAFKA_BOOTSTRAP_SERVERS: options.kafkaBootstrapServers }),
    METRICS_PROMETHEUS_PORT: '0',
    METRICS_PROMETHEUS_HOST: '127.0.0.1',
  });
  const child = spawn(process.execPath, args, { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let ended = false;
  void exited.then(() => (ended = true));
  const logs = (): LogLine[] =>
    output
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as LogLine);
  const portOf = (message: string): number | undefined => {
    const port = logs().find((line) => line.message === message)?.context?.port;
    return typeof port === 'number' ? port : undefined;
  };
  await waitFor(() => ended || portOf('API gateway listening') !== undefined, 60_000, 'api_gateway to listen');
  if (ended) throw new Error(`api_gateway exited before listening:\n${output}`);
  const metricsPort = logs().find((line) => /metrics/i.test(line.message) && typeof line.context?.port === 'number')
    ?.context?.port;
  return {
    child,
    url: `http://127.0.0.1:${portOf('API gateway listening') ?? 0}`,
    healthUrl: `http://127.0.0.1:${portOf('Health server listening') ?? 0}`,
    metricsUrl: typeof metricsPort === 'number' ? `http://127.0.0.1:${metricsPort}` : undefined,
    logs,
    output: () => output,
    exited,
    stop: async () => {
      if (!ended) child.kill('SIGTERM');
      return exited;
    },
  };
}

/** redis-cli connection arguments for `url` (this redis-cli does not read the database from `-u`). */
function redisCliTarget(url: string): string[] {
  const parsed = new URL(url);
  const database = parsed.pathname.replace('/', '') || '0';
  return ['-h', parsed.hostname, '-p', parsed.port || '6379', '-n', database];
}

/**
 * Removes the keys matching `pattern` from the Redis at `url` (a server-side SCAN + UNLINK: the
 * cache's stale keys hold NUL bytes, which cannot be passed as command-line arguments).
 */
export function cleanRedis(url: string, pattern: string): void {
  const script =
    "local cursor = '0' repeat local page = redis.call('SCAN', cursor, 'MATCH', ARGV[1], 'COUNT', 1000) " +
    "cursor = page[1] for _, key in ipairs(page[2]) do redis.call('UNLINK', key) end until cursor == '0' return 0";
  redisCli(url, ['EVAL', script, '0', pattern]);
}

/** Runs a redis-cli command against `url` and returns its raw output lines. */
export function redisCli(url: string, args: readonly string[]): string[] {
  const result = spawnSync('redis-cli', [...redisCliTarget(url), ...args], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`redis-cli ${args.join(' ')} failed: ${result.stderr}`);
  return result.stdout.split('\n').filter((line) => line !== '');
}
