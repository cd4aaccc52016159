import { isPlatformError, PlatformError } from '@platform-host/contracts';

/**
 * `PH_ERR_DB_QUERY` raised by every PostgreSQL-family adapter. Carries the SQLSTATE the engine
 * reported, so callers can react to a condition without parsing messages (`23505` unique violation,
 * `40001` serialization failure, `57014` statement timeout...). The message names the statement by
 * its first words and gives the engine's message; it never contains parameter values, row values,
 * a connection URL or a password. The driver error is kept as `cause`.
 */
export class DatabaseQueryError extends PlatformError {
  /** The five-character SQLSTATE, or `undefined` for client-side failures. */
  readonly sqlState: string | undefined;
  /** The constraint the engine named (unique, foreign key, check...), when there is one. */
  readonly constraint: string | undefined;

  constructor(
    message: string,
    options: { sqlState?: string; constraint?: string; cause?: unknown; hint?: string } = {},
  ) {
    super('PH_ERR_DB_QUERY', message, { cause: options.cause, hint: options.hint });
    this.name = 'DatabaseQueryError';
    this.sqlState = options.sqlState;
    this.constraint = options.constraint;
  }
}

const STATEMENT_WORDS = 6;
const STATEMENT_CHARS = 60;

/** The first words of a statement, for error messages: `INSERT INTO events (id, payload) VALUES…`. */
export function statementSummary(statement: string): string {
  const collapsed = statement.trim().replace(/\s+/g, ' ');
  let summary = collapsed.split(' ').slice(0, STATEMENT_WORDS).join(' ');
  if (summary.length > STATEMENT_CHARS) summary = summary.slice(0, STATEMENT_CHARS);
  return summary.length < collapsed.length ? `${summary}…` : summary;
}

/** A five-character SQLSTATE (`23505`, `42P01`), as a server reports it. */
export function isSqlState(code: unknown): code is string {
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code);
}

/**
 * The SQLSTATE of a `PH_ERR_DB_QUERY` error, found by its code and its `sqlState` field (never by
 * its class or message, so it also works on an error from another copy of this package, or from
 * any adapter that follows the same convention); `undefined` for any other error and for
 * client-side failures.
 */
export function sqlStateOf(error: unknown): string | undefined {
  if (!isPlatformError(error) || error.code !== 'PH_ERR_DB_QUERY') return undefined;
  const { sqlState } = error as { readonly sqlState?: unknown };
  return isSqlState(sqlState) ? sqlState : undefined;
}

/** What an adapter read off its driver's error. */
export interface DriverErrorFacts {
  readonly message: string;
  /** Set only for an error the server reported. */
  readonly sqlState?: string | undefined;
  readonly constraint?: string | undefined;
  readonly hint?: string | undefined;
  /** A client-side code (`ECONNREFUSED`, `CONNECTION_CLOSED`), quoted in the message. */
  readonly clientCode?: string | undefined;
}

/**
 * Wraps whatever the driver of `engine` (`PostgreSQL`, `PGlite`) threw while running `statement`
 * into a {@link DatabaseQueryError}, with the facts `readFacts` takes from it. A PlatformError
 * passes through unchanged (it is already ours).
 */
export function wrapDriverError(
  engine: string,
  error: unknown,
  statement: string,
  readFacts: (error: unknown) => DriverErrorFacts,
): PlatformError {
  if (isPlatformError(error)) return error;
  const { message, sqlState, constraint, hint, clientCode } = readFacts(error);
  const where = `"${statementSummary(statement)}"`;
  return new DatabaseQueryError(
    sqlState === undefined
      ? `${engine} query ${where} failed: ${message}${clientCode === undefined ? '' : ` (${clientCode})`}`
      : `${engine} rejected ${where}: ${message} (SQLSTATE ${sqlState})`,
    {
      ...(sqlState === undefined ? {} : { sqlState }),
      ...(constraint === undefined ? {} : { constraint }),
      ...(hint === undefined ? {} : { hint }),
      cause: error,
    },
  );
}

/** `PH_ERR_NOT_CONNECTED` for `<className>.<method>()` called before `connect()` or after `disconnect()`. */
export function notConnectedError(className: string, method: string): PlatformError {
  return new PlatformError(
    'PH_ERR_NOT_CONNECTED',
    `${className}.${method}() was called before connect() or after disconnect()`,
    { hint: 'The host connects adapters before running a module; in tests, await db.connect() first.' },
  );
}

/** Refuses an `undefined` parameter (`null` is SQL NULL), naming its placeholder and the statement. */
export function checkParamsDefined(params: readonly unknown[], statement: string): void {
  // A loop rather than indexOf, which skips the holes of a sparse array.
  for (let index = 0; index < params.length; index += 1) {
    if (params[index] === undefined) {
      throw new DatabaseQueryError(
        `Parameter $${index + 1} of "${statementSummary(statement)}" is undefined; pass null for SQL NULL`,
      );
    }
  }
}
