import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import { isPlatformError } from '@platform-host/contracts';
import postgres from 'postgres';
import { useRealService } from '@platform-host/test-kit';
import { socketOption } from './driver-internals.js';
import { PostgresDatabase } from './index.js';
import { WatchedSockets } from './server-protocol.js';

/** A server on 127.0.0.1 that counts the connections it accepted. */
interface CountingServer {
  readonly port: number;
  readonly accepted: () => number;
  readonly close: () => Promise<void>;
}

async function listen(server: Server, onSocket: (socket: Socket) => void = () => undefined): Promise<CountingServer> {
  let accepted = 0;
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    accepted += 1;
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
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the promise to reject');
}

const PASSWORD = 'pw-must-not-leak';

describe('a database that does not answer like PostgreSQL fails connect() fast', function () {
  this.timeout(20_000);
  let server: CountingServer | undefined;

  afterEach(async function () {
    await server?.close();
    server = undefined;
  });

  it('against an HTTP server: says it did not speak the protocol, names host:port, opens each pooled connection once', async function () {
    server = await listen(createHttpServer((_request, response) => response.end()));
    const db = new PostgresDatabase({ url: `postgres://app:${PASSWORD}@127.0.0.1:${server.port}/appdb`, poolMin: 2 });
    const error = await rejection(db.connect());
    expect(isPlatformError(error) && error.code).to.equal('PH_ERR_DB_QUERY');
    expect(error.message).to.equal(
      `Could not connect to PostgreSQL at 127.0.0.1:${server.port}/appdb: the server did not speak the PostgreSQL protocol (it answered "HTTP/1.1 400 Bad Request")`,
    );
    expect(`${error.message} ${String((error as { hint?: string }).hint)}`).not.to.contain(PASSWORD);
    expect(db.isConnected()).to.equal(false);
    // postgres.js 3.4.9 alone reconnects at once, forever, to such a server (porsager/postgres#1193).
    await sleep(300);
    expect(server.accepted()).to.equal(2);
    await db.disconnect();
  });

  it('against a server that closes the connection without a byte: the same, and no reconnect loop', async function () {
    server = await listen(createServer(), (socket) => socket.end());
    const db = new PostgresDatabase({ url: `postgres://app:${PASSWORD}@127.0.0.1:${server.port}/appdb`, poolMin: 1 });
    const error = await rejection(db.connect());
    expect(error.message).to.equal(
      `Could not connect to PostgreSQL at 127.0.0.1:${server.port}/appdb: the server did not speak the PostgreSQL protocol (it closed the connection without answering)`,
    );
    await sleep(300);
    expect(server.accepted()).to.equal(1);
  });

  it('against a server that accepts and never answers: gives up after the connect timeout (DB_POSTGRES_CONNECT_TIMEOUT)', async function () {
    server = await listen(createServer());
    const db = new PostgresDatabase({
      url: `postgres://app:${PASSWORD}@127.0.0.1:${server.port}/appdb`,
      connectTimeoutSeconds: 1,
    });
    const error = await rejection(db.connect());
    expect(isPlatformError(error) && error.code).to.equal('PH_ERR_DB_QUERY');
    expect(error.message).to.equal(
      `Could not connect to PostgreSQL at 127.0.0.1:${server.port}/appdb: no answer within 1 s (the server accepted the connection but sent nothing)`,
    );
    expect((error as { hint?: string }).hint).to.contain('DB_POSTGRES_CONNECT_TIMEOUT');
    expect(db.isConnected()).to.equal(false);
  });

  it('disconnect() during a connect() that waits for an answer ends both at once', async function () {
    let connected: () => void = () => undefined;
    const reached = new Promise<void>((resolve) => {
      connected = resolve;
    });
    server = await listen(createServer(), () => connected());
    // Far beyond this test's timeout: only disconnect() can end the connect in time.
    const db = new PostgresDatabase({
      url: `postgres://app@127.0.0.1:${server.port}/appdb`,
      connectTimeoutSeconds: 600,
    });
    const connecting = rejection(db.connect());
    await reached;
    await db.disconnect();
    const error = await connecting;
    expect(error.message).to.equal(
      `Connecting to PostgreSQL at 127.0.0.1:${server.port}/appdb was cancelled by disconnect()`,
    );
    expect(db.isConnected()).to.equal(false);
  });

  it('refuses a connect timeout that is not a positive number', function () {
    expect(() => new PostgresDatabase({ url: 'postgres://x@h/d', connectTimeoutSeconds: 0 })).to.throw(RangeError);
  });
});

describe('watched sockets on a real PostgreSQL server', function () {
  const service = useRealService('postgres');

  it('leave a query cancel alone: the server closes a CancelRequest without a byte, and that is no violation', async function () {
    const sockets = new WatchedSockets();
    const sql = postgres(service().DB_POSTGRES_URL ?? '', {
      max: 1,
      onnotice: () => undefined,
      ...socketOption(sockets.open),
    });
    try {
      await sql.unsafe('SELECT 1');
      const sleeping = sql.unsafe('SELECT pg_sleep(30)');
      const settled = rejection(sleeping);
      await sleep(200);
      // Sends a CancelRequest on a connection of its own (typed void, though it returns a promise).
      sleeping.cancel();
      const error = (await settled) as Error & { code?: unknown };
      expect(error.code).to.equal('57014');
      expect(sockets.violation).to.equal(undefined);
    } finally {
      await sql.end({ timeout: 0 });
    }
  });
});
