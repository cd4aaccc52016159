import { isPlatformError, type PlatformError } from '@platform-host/contracts';
import { DatabaseQueryError, statementSummary } from '@platform-host/postgres-family';

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
 * Wraps whatever the driver threw while running `statement` into a {{@link DatabaseQueryError}}.
 * PlatformErrors pass through unchanged (they are already ours).
 */
export function queryError(error: unknown, statement: string): PlatformError {
  if (isPlatformError(error)) return error;
  const fields = driverFields(error);
  const sqlState = serverSqlState(fields);
  const constraint = typeof fields.constraint_name === 'string' ? fields.constraint_name : undefined;
  const where = `"${statementSummary(statement)}"`;
  if (sqlState !== undefined) {
    return new DatabaseQueryError(`PostgreSQL rejected ${where}: ${fields.message} (SQLSTATE ${sqlState})`, {
      sqlState,
      ...(constraint === undefined ? {} : { constraint }),
      cause: error,
    });
  }
  const code = typeof fields.code === 'string' ? ` (${fields.code})` : '';
  return new DatabaseQueryError(`PostgreSQL query ${where} failed: ${fields.message}${code}`, { cause: error });
}
