import { PlatformError } from '@platform-host/contracts';

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
