import { connect as netConnect, type Socket } from 'node:net';

/**
 * The first byte a PostgreSQL server sends on a new connection: `S`/`N` answer the SSLRequest,
 * `R` (Authentication), `E` (ErrorResponse) or `v` (NegotiateProtocolVersion) answer the
 * StartupMessage (protocol 3.0, "Message Flow: Start-up" in the PostgreSQL documentation).
 */
const POSTGRES_FIRST_BYTES: ReadonlySet<number> = new Set([0x53, 0x4e, 0x52, 0x45, 0x76]);
/** With `sslnegotiation=direct` the server answers the TLS ClientHello: a handshake or an alert record. */
const TLS_FIRST_BYTES: ReadonlySet<number> = new Set([0x16, 0x15]);
/** A CancelRequest is 16 bytes and the server answers it by closing the connection, without a byte. */
const CANCEL_REQUEST_BYTES = 16;
/** How much of a foreign answer is quoted in the error. */
const QUOTED_CHARS = 40;

/** Client-side `code` of {@link NotPostgresProtocolError}, by which it is classified (never by message). */
export const NOT_POSTGRESQL_PROTOCOL = 'NOT_POSTGRESQL_PROTOCOL';

/**
 * What a watched socket is destroyed with when the server at the other end does not answer like
 * PostgreSQL. postgres.js rejects the pending query with it instead of reconnecting forever.
 */
export class NotPostgresProtocolError extends Error {
  readonly code = NOT_POSTGRESQL_PROTOCOL;

  constructor(
    /** Where the socket was connected: `host:port` or the Unix socket path. */
    readonly server: string,
    /** The start of what the server sent, printable characters only; `undefined` when it closed without a byte. */
    readonly answer: string | undefined,
  ) {
    super(
      answer === undefined
        ? `the server at ${server} did not speak the PostgreSQL protocol: it closed the connection without answering`
        : `the server at ${server} did not speak the PostgreSQL protocol: it answered "${answer}"`,
    );
    this.name = 'NotPostgresProtocolError';
  }
}

/** The start of a foreign answer, for a message: control characters dropped, cut at the first line break. */
function quoteAnswer(chunk: Buffer): string {
  const text = chunk.subarray(0, 256).toString('latin1').split(/\r?\n/)[0] ?? '';
  // eslint-disable-next-line no-control-regex -- dropping control characters is the point
  const printable = text.replace(/[\x00-\x1f\x7f-\x9f]/g, '');
  return printable.length > QUOTED_CHARS ? `${printable.slice(0, QUOTED_CHARS)}…` : printable;
}

/** The parts of postgres.js's parsed options a socket factory receives that say where to connect. */
export interface SocketTarget {
  readonly host: readonly string[];
  readonly port: readonly number[];
  /** Unix socket path, when the URL names one (`?host=/var/run/postgresql`). */
  readonly path?: string | false | undefined;
  readonly sslnegotiation?: string | null | undefined;
}

/**
 * A socket factory for postgres.js's documented `socket` option that opens the same TCP (or Unix)
 * connections postgres.js would, rotating over the URL's hosts, and checks the first thing the
 * server sends. A server that answers with anything a PostgreSQL server never sends first (an HTTP
 * server's `HTTP/1.1 400`), or that closes the connection before answering a StartupMessage or
 * SSLRequest, gets the socket destroyed with {@link NotPostgresProtocolError}: postgres.js 3.4.9
 * would otherwise reconnect at once, forever, on such a close (porsager/postgres#1193).
 * After the first byte the socket is left alone.
 */
export class WatchedSockets {
  #next = 0;
  #violation: NotPostgresProtocolError | undefined;
  #silent = 0;

  /** The first violation seen since {@link reset}. */
  get violation(): NotPostgresProtocolError | undefined {
    return this.#violation;
  }

  /** Sockets that connected and have not heard a byte yet (for a timeout's message). */
  get silentConnections(): number {
    return this.#silent;
  }

  reset(): void {
    this.#violation = undefined;
  }

  /** The `socket` option of postgres.js. */
  readonly open = (target: SocketTarget): Socket => {
    const index = this.#next % Math.max(1, target.host.length);
    this.#next += 1;
    const path = typeof target.path === 'string' && target.path !== '' ? target.path : undefined;
    const host = target.host[index] ?? 'localhost';
    const port = target.port[index] ?? target.port[0] ?? 5432;
    const socket = path === undefined ? netConnect({ host, port }) : netConnect({ path });
    const server = path ?? `${host}:${port}`;
    // postgres.js names the server in its connection errors from these (its own sockets have them).
    Object.assign(socket, { host: path ?? host, port });
    const firstBytes = target.sslnegotiation === 'direct' ? TLS_FIRST_BYTES : POSTGRES_FIRST_BYTES;
    let connected = false;
    const fail = (answer: string | undefined): void => {
      const error = new NotPostgresProtocolError(server, answer);
      this.#violation ??= error;
      socket.destroy(error);
    };
    const onConnect = (): void => {
      connected = true;
      this.#silent += 1;
    };
    const onData = (chunk: Buffer): void => {
      detach();
      const first = chunk[0];
      if (first === undefined || !firstBytes.has(first)) fail(quoteAnswer(chunk));
    };
    const onEnd = (): void => {
      detach();
      if (socket.bytesWritten !== CANCEL_REQUEST_BYTES) fail(undefined);
    };
    const onClose = (): void => detach();
    const detach = (): void => {
      if (connected) this.#silent -= 1;
      connected = false;
      socket.off('connect', onConnect).off('data', onData).off('end', onEnd).off('close', onClose);
    };
    // Registered before postgres.js registers its own listeners, so these run first.
    socket.once('connect', onConnect).on('data', onData).on('end', onEnd).on('close', onClose);
    return socket;
  };
}
