import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import { cliEnv, platformHost, type CliRun } from './support/cli.js';

/** A server on 127.0.0.1 that is not PostgreSQL, counting the connections it accepted. */
interface ImpostorServer {
  readonly port: number;
  readonly accepted: () => number;
  /** Resolves once the first connection was accepted. */
  readonly reached: Promise<void>;
  readonly close: () => Promise<void>;
}

async function impostor(server: Server, onSocket: (socket: Socket) => void = () => undefined): Promise<ImpostorServer> {
  let accepted = 0;
  let reach: () => void = () => undefined;
  const reached = new Promise<void>((resolve) => {
    reach = resolve;
  });
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    accepted += 1;
    reach();
    sockets.add(socket);
    socket.on('error', () => undefined).on('close', () => sockets.delete(socket));
    onSocket(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return {
    port: address.port,
    accepted: () => accepted,
    reached,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Answers everything with `HTTP/1.1 400 Bad Request` and closes, as node:http does with bytes it cannot parse. */
const httpServer = (): Promise<ImpostorServer> => impostor(createHttpServer((_request, response) => response.end()));
/** Accepts connections and never sends a byte. */
const silentServer = (): Promise<ImpostorServer> => impostor(createServer());

/** Runs the CLI and sends SIGTERM once `ready` resolved and at least 500 ms after the start. */
function runAndSignal(args: readonly string[], env: NodeJS.ProcessEnv, ready: Promise<void>): Promise<CliRun> {
  return platformHost(args, env, undefined, (child) => {
    void Promise.all([ready, sleep(500)]).then(() => child.kill('SIGTERM'));
  });
}

const PASSWORD = 'pw-must-not-leak';
const RUN = ['run', 'batch_etl', '--db', 'postgres', '--fs', 'local', '--log', 'json'];
const MODULE_ARGS = ['--date', '2026-01-15', '--source-path', 'raw/events'];
const MIGRATE_UP = ['migrate', 'up', '--db', 'postgres', '--log', 'json'];

describe('a database that does not answer like PostgreSQL fails fast, and SIGTERM always works', function () {
  // Generous: a case waits at most for one --hook-timeout or connect timeout (1 s) and a process
  // start on a busy machine. No case asserts how long anything took.
  this.timeout(60_000);
  let lake: string;
  let server: ImpostorServer | undefined;

  beforeEach(() => {
    lake = mkdtempSync(join(tmpdir(), 'ph-connect-'));
  });
  afterEach(async () => {
    await server?.close();
    server = undefined;
    rmSync(lake, { recursive: true, force: true });
  });

  const env = (port: number, extra: Record<string, string> = {}): NodeJS.ProcessEnv =>
    cliEnv({
      DB_POSTGRES_URL: `postgresql://app:${PASSWORD}@127.0.0.1:${port}/platform`,
      FS_LOCAL_ROOT: lake,
      ...extra,
    });

  it('batch_etl against an HTTP port exits 1 at once, saying it is not PostgreSQL, naming host:port, without reconnecting', async () => {
    server = await httpServer();
    const result = await platformHost([...RUN, ...MODULE_ARGS], env(server.port));
    const output = result.stdout + result.stderr;
    expect(result.code, output).to.equal(1);
    expect(output)
      .to.contain(
        `Cannot connect database adapter postgres (--db postgres): Could not connect to PostgreSQL at 127.0.0.1:${server.port}/platform: the server did not speak the PostgreSQL protocol (it answered \\"HTTP/1.1 400 Bad Request\\")`,
      )
      .and.contain('"code":"PH_ERR_CONNECT"')
      .and.not.contain(PASSWORD);
    // One connection per pooled connection opened at startup (DB_POSTGRES_POOL_MIN, 2), not ~700 a second.
    expect(server.accepted()).to.equal(2);
  });

  it('migrate up against an HTTP port exits 1 with PH_ERR_CONNECT, saying it is not PostgreSQL', async () => {
    server = await httpServer();
    const result = await platformHost(MIGRATE_UP, env(server.port));
    expect(result.code, result.stderr).to.equal(1);
    expect(result.stderr)
      .to.contain(
        `error [PH_ERR_CONNECT]: Cannot connect database adapter postgres (--db postgres): Could not connect to PostgreSQL at 127.0.0.1:${server.port}/platform: the server did not speak the PostgreSQL protocol`,
      )
      .and.not.contain(PASSWORD);
    expect(server.accepted()).to.equal(2);
  });

  it('batch_etl against a port that never answers exits 1 after DB_POSTGRES_CONNECT_TIMEOUT', async () => {
    server = await silentServer();
    const result = await platformHost([...RUN, ...MODULE_ARGS], env(server.port, { DB_POSTGRES_CONNECT_TIMEOUT: '1' }));
    expect(result.code, result.stderr).to.equal(1);
    expect(result.stdout).to.contain(
      `Could not connect to PostgreSQL at 127.0.0.1:${server.port}/platform: no answer within 1 s (the server accepted the connection but sent nothing)`,
    );
  });

  // Against the HTTP port the run has usually failed by the time the signal comes (it fails fast);
  // against the silent port the signal lands while connect() waits, with a 600 s connect timeout.
  for (const [name, start] of [
    ['an HTTP port', httpServer],
    ['a port that never answers', silentServer],
  ] as const) {
    it(`SIGTERM 500 ms after start ends batch_etl against ${name} with exit 1`, async () => {
      server = await start();
      const result = await runAndSignal(
        [...RUN, '--hook-timeout', '1', ...MODULE_ARGS],
        env(server.port, { DB_POSTGRES_CONNECT_TIMEOUT: '600' }),
        server.reached,
      );
      expect(result.code, result.stdout + result.stderr).to.equal(1);
      expect(result.stdout).not.to.contain('Module starting');
    });

    it(`SIGTERM 500 ms after start ends migrate up against ${name} with exit 1`, async () => {
      server = await start();
      const result = await runAndSignal(
        [...MIGRATE_UP, '--hook-timeout', '1'],
        env(server.port, { DB_POSTGRES_CONNECT_TIMEOUT: '600' }),
        server.reached,
      );
      expect(result.code, result.stdout + result.stderr).to.equal(1);
    });
  }
});
