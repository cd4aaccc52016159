import { PlatformError, isPlatformError } from '@platform-host/contracts';

/**
 * `PH_ERR_DB_QUERY` raised by the PostgreSQL adapter. Carries the server's SQLSTATE so callers can
 * react to a condition without parsing messages (`23505` unique violation, `40001` serialization
 * failure, `57014` statement timeout...). The message names the statement by its first words and
 * gives the server's message; it never contains parameter values, the connection URL or a password.
 * The driver error is kept as `cause`.
 */
export class PostgresQueryError extends PlatformError {
  /** The five-character SQLSTATE from the server, or `undefined` for client-side failures. */
  readonly sqlState: string | undefined;
  /** The constraint the server named (unique, foreign key, check...), when there is one. */
  readonly constraint: string | undefined;

  constructor(
    message: string,
    options: { sqlState?: string; constraint?: string; cause?: unknown; hint?: string } = {},
  ) {
    super('PH_ERR_DB_QUERY', message, { cause: options.cause, hint: options.hint });
    this.name = 'PostgresQueryError';
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

interface DriverErrorFields {
  readonly message: string;
  readonly code?: unknown;
  readonly severity?: unknown;
  readonly constraint_name?: unknown;
}

function driverFields(error: unknown): DriverErrorFields {
  if (error instanceof Error) return error;
  return { message: String(error) };
}

/** A server error carries a severity and a five-character SQLSTATE; client errors have neither. */
function serverSqlState(fields: DriverErrorFields): string | undefined {
  return typeof fields.severity === 'string' && typeof fields.code === 'string' && /^[0-9A-Z]{5}$/.test(fields.code)
    ? fields.code
    : undefined;
}

/**
 * Wraps whatever the driver threw while running `statement` into a {@link PostgresQueryError}.
 * PlatformErrors pass through unchanged (they are already ours).
 */
export function queryError(error: unknown, statement: string): PlatformError {
  if (isPlatformError(error)) return error;
  const fields = driverFields(error);
  const sqlState = serverSqlState(fields);
  const constraint = typeof fields.constraint_name === 'string' ? fields.constraint_name : undefined;
  const where = `"${statementSummary(statement)}"`;
  if (sqlState !== undefined) {
    return new PostgresQueryError(`PostgreSQL rejected ${where}: ${fields.message} (SQLSTATE ${sqlState})`, {
      sqlState,
      ...(constraint === undefined ? {} : { constraint }),
      cause: error,
    });
  }
  const code = typeof fields.code === 'string' ? ` (${fields.code})` : '';
  return new PostgresQueryError(`PostgreSQL query ${where} failed: ${fields.message}${code}`, { cause: error });
}
