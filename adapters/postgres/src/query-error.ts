import type { PlatformError } from '@platform-host/contracts';
import { isSqlState, wrapDriverError, type DriverErrorFacts } from '@platform-host/postgres-family';

/** The fields of a postgres.js error the adapter reads (a `PostgresError` from the server has them all). */
interface DriverErrorFields {
  readonly message: string;
  readonly code?: unknown;
  readonly severity?: unknown;
  readonly constraint_name?: unknown;
}

function driverFacts(error: unknown): DriverErrorFacts {
  const fields: DriverErrorFields = error instanceof Error ? error : { message: String(error) };
  // A server error carries a severity and a five-character SQLSTATE; client errors have neither.
  const fromServer = typeof fields.severity === 'string' && isSqlState(fields.code);
  return {
    message: fields.message,
    sqlState: fromServer ? fields.code : undefined,
    constraint: typeof fields.constraint_name === 'string' ? fields.constraint_name : undefined,
    clientCode: !fromServer && typeof fields.code === 'string' ? fields.code : undefined,
  };
}

/**
 * Wraps whatever postgres.js threw while running `statement` into a `DatabaseQueryError`; a
 * PlatformError passes through unchanged (it is already ours).
 */
export function queryError(error: unknown, statement: string): PlatformError {
  return wrapDriverError('PostgreSQL', error, statement, driverFacts);
}
