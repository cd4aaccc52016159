import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { answers, infraRequired } from './real-services.js';
import { waitFor } from './wait-for.js';

/** How a private Redis keeps its data across {@link PrivateRedis.stop} and {@link PrivateRedis.start}. */
export interface PrivateRedisOptions {
  /**
   * `true`: an append-only file fsynced on every write, so a restart keeps streams, consumer groups
   * and keys (a production setup). `false`: nothing is kept, as after a failover to an empty replica.
   */
  readonly persistent: boolean;
}

/**
 * A `redis-server` of one test's own, on a free loopback port, that the test may stop and start
 * again (the shared test server must never be stopped: other suites use it).
 */
export interface PrivateRedis {
  /** The port it listens on, the same after every restart. */
  readonly port: number;
  /** A connection URL for logical database `db`. */
  url(db?: number): string;
  /** Stops the server (SIGTERM, as an operator's restart) and waits until its port is closed. */
  stop(): Promise<void>;
  /** Starts it again on the same port and data directory and waits until it answers. */
  start(): Promise<void>;
}

/** True when `redis-server` can be run here (deploy/native installs it). */
function redisServerInstalled(): boolean {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

class RedisProcess implements PrivateRedis {
  #child: ChildProcess | undefined;

  constructor(
    readonly port: number,
    readonly directory: string,
    readonly options: PrivateRedisOptions,
  ) {}

  url(db = 0): string {
    return `redis://127.0.0.1:${this.port}/${db}`;
  }

  async start(): Promise<void> {
    if (this.#child !== undefined) return;
    const persistence = this.options.persistent
      ? ['--appendonly', 'yes', '--appendfsync', 'always']
      : ['--appendonly', 'no'];
    const child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', ...persistence, '--dir', this.directory],
      { stdio: 'ignore' },
    );
    this.#child = child;
    child.once('exit', () => {
      if (this.#child === child) this.#child = undefined;
    });
    await waitFor(
      () => answers('127.0.0.1', this.port, 200),
      10_000,
      `the private redis-server on port ${this.port} to answer`,
    );
  }

  async stop(): Promise<void> {
    const child = this.#child;
    if (child === undefined) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    await exited;
    this.#child = undefined;
    await waitFor(async () => !(await answers('127.0.0.1', this.port, 200)), 10_000, `port ${this.port} to close`);
  }
}

/**
 * Mocha helper: a {@link PrivateRedis} started in `before` and removed (process and data) in
 * `after`. Without `redis-server` on PATH the suite is skipped, or fails under
 * PLATFORM_TEST_REQUIRE_INFRA=1. Returns a getter for the server.
 */
export function usePrivateRedis(options: PrivateRedisOptions): () => PrivateRedis {
  let server: RedisProcess | undefined;
  before(async function () {
    this.timeout(20_000);
    if (!redisServerInstalled()) {
      const problem = 'redis-server is not installed (deploy/native/infra.sh install redis installs it)';
      if (infraRequired()) throw new Error(`${problem} — required because PLATFORM_TEST_REQUIRE_INFRA=1`);
      this.skip();
    }
    server = new RedisProcess(await freePort(), await mkdtemp(join(tmpdir(), 'private-redis-')), options);
    await server.start();
  });
  after(async function () {
    this.timeout(20_000);
    if (server === undefined) return;
    await server.stop();
    await rm(server.directory, { recursive: true, force: true });
  });
  return () => {
    if (server === undefined) throw new Error('the private redis-server was not started');
    return server;
  };
}
