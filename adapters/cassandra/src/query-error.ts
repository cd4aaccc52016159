import cassandra from 'cassandra-driver';
import { isPlatformError, PlatformError } from '@platform-host/contracts';

const { errors, types } = cassandra;

/** The names of Cassandra's protocol error codes, for messages (`invalid`, `already_exists`...). */
const RESPONSE_CODE_NAMES: ReadonlyMap<number, string> = new Map(
  Object.entries(types.responseErrorCodes)
    .filter((entry): entry is [string, number] => typeof entry[1] === 'number')
    .map(([name, code]) => [code, name.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`)]),
);

/**
 * `PH_ERR_DB_QUERY` raised by the Cassandra adapter (`PH_ERR_DB_TIMEOUT` when the outcome is
 * unknown: see {@link isOutcomeUnknownDriverError}). `responseCode` is the protocol error code the
 * server answered with (`0x2200` invalid, `0x2000` syntax error, `0x2400` already exists, `0x1100`
 * write timeout...), `undefined` for client-side failures (no host available, timeouts, a
 * parameter that does not fit its column). The message names the statement by its first words; it
 * never contains parameter values or credentials. The driver error is kept as `cause`.
 */
export class CassandraQueryError extends PlatformError {
  readonly responseCode: number | undefined;

  constructor(
    message: string,
    options: {
      responseCode?: number;
      cause?: unknown;
      hint?: string;
      code?: 'PH_ERR_DB_QUERY' | 'PH_ERR_DB_TIMEOUT';
    } = {},
  ) {
    super(options.code ?? 'PH_ERR_DB_QUERY', message, { cause: options.cause, hint: options.hint });
    this.name = 'CassandraQueryError';
    this.responseCode = options.responseCode;
  }
}

const STATEMENT_WORDS = 6;
const STATEMENT_CHARS = 60;

/** The first words of a statement, for messages: `INSERT INTO events (id, payload) VALUES…`. */
export function statementSummary(statement: string): string {
  const collapsed = statement.trim().replace(/\s+/g, ' ');
  let summary = collapsed.split(' ').slice(0, STATEMENT_WORDS).join(' ');
  if (summary.length > STATEMENT_CHARS) summary = summary.slice(0, STATEMENT_CHARS);
  return summary.length < collapsed.length ? `${summary}…` : summary;
}

/** The driver's message without the value it quotes (`..., obtained 'secret'`). */
function withoutValue(message: string): string {
  return message.replace(/,?\s*(?:obtained|got|provided)\b[\s\S]*$/i, '').trim();
}

/** Why no host answered, per host, without the driver's stack of wrappers. */
function noHostReason(error: InstanceType<typeof errors.NoHostAvailableError>): string {
  const inner = Object.entries((error.innerErrors ?? {}) as Record<string, unknown>).map(
    ([host, cause]) => `${host}: ${cause instanceof Error ? cause.message : String(cause)}`,
  );
  return inner.length === 0 ? error.message : `no host answered (${inner.join('; ')})`;
}

/** Server answers that say the coordinator sent the write on but cannot tell whether it was applied. */
const IN_DOUBT_RESPONSE_CODES: ReadonlySet<number> = new Set([
  types.responseErrorCodes.writeTimeout, // also of a logged batch (write type BATCH_LOG or BATCH): the batchlog may replay it
  types.responseErrorCodes.writeFailure,
]);

/**
 * Whether a driver error leaves the outcome of the request unknown: it may have been applied, or
 * (a logged batch whose batchlog entry was written) be applied later. A server-side write timeout
 * or write failure, a client-side timeout (`OperationTimedOutError`: no answer within the request
 * timeout), a connection closed after the request was written, or a "no host available" whose
 * hosts failed that way. A syntax error, an invalid request, "unavailable" (the coordinator
 * refused before writing) or a socket error before the request was written are not in doubt.
 */
export function isOutcomeUnknownDriverError(error: unknown): boolean {
  if (error instanceof errors.ResponseError) return IN_DOUBT_RESPONSE_CODES.has(error.code);
  if (error instanceof errors.OperationTimedOutError) return true;
  if (error instanceof errors.NoHostAvailableError) {
    return Object.values((error.innerErrors ?? {}) as Record<string, unknown>).some(isOutcomeUnknownDriverError);
  }
  if (error instanceof Error) {
    const socket = error as Error & { isSocketError?: boolean; requestNotWritten?: boolean };
    return socket.isSocketError === true && socket.requestNotWritten !== true;
  }
  return false;
}

const IN_DOUBT_HINT =
  'The write may have been applied, or may still be applied later (a logged batch from the batchlog): re-send the same idempotent statements, or read before writing anything that depends on it.';

/** Wraps what the driver threw while running `statement` into a {@link CassandraQueryError}. */
export function queryError(error: unknown, statement: string, hint?: string): PlatformError {
  if (isPlatformError(error)) return error;
  const where = `"${statementSummary(statement)}"`;
  const extra = hint === undefined ? {} : { hint };
  if (isOutcomeUnknownDriverError(error)) {
    const responseCode = error instanceof errors.ResponseError ? error.code : undefined;
    const reason = error instanceof errors.NoHostAvailableError ? noHostReason(error) : (error as Error).message;
    return new CassandraQueryError(`Cassandra did not confirm ${where}, its outcome is unknown: ${reason}`, {
      code: 'PH_ERR_DB_TIMEOUT',
      ...(responseCode === undefined ? {} : { responseCode }),
      cause: error,
      hint: hint ?? IN_DOUBT_HINT,
    });
  }
  if (error instanceof errors.ResponseError) {
    const name = RESPONSE_CODE_NAMES.get(error.code) ?? `0x${error.code.toString(16)}`;
    return new CassandraQueryError(`Cassandra rejected ${where}: ${error.message} (${name})`, {
      responseCode: error.code,
      cause: error,
      ...extra,
    });
  }
  if (error instanceof errors.NoHostAvailableError) {
    return new CassandraQueryError(`Cassandra query ${where} failed: ${noHostReason(error)}`, {
      cause: error,
      ...extra,
    });
  }
  if (error instanceof TypeError || error instanceof errors.ArgumentError) {
    return new CassandraQueryError(
      `Cassandra query ${where} has a parameter that does not fit its column: ${withoutValue(error.message)}`,
      {
        cause: error,
        hint: hint ?? 'Bind a value of the column type (see the adapter README for the JavaScript types it takes).',
      },
    );
  }
  const message = error instanceof Error ? error.message : String(error);
  return new CassandraQueryError(`Cassandra query ${where} failed: ${message}`, { cause: error, ...extra });
}

/** `PH_ERR_NOT_CONNECTED` for `CassandraDatabase.<method>()` before `connect()` or after `disconnect()`. */
export function notConnectedError(method: string): PlatformError {
  return new PlatformError(
    'PH_ERR_NOT_CONNECTED',
    `CassandraDatabase.${method}() was called before connect() or after disconnect()`,
    { hint: 'The host connects adapters before running a module; in tests, await db.connect() first.' },
  );
}
