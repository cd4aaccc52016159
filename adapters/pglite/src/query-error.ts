import type { PlatformError } from '@platform-host/contracts';
import { isSqlState, wrapDriverError, type DriverErrorFacts } from '@platform-host/postgres-family';

function stringField(error: unknown, name: string): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const value = (error as Record<string, unknown>)[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function driverFacts(error: unknown): DriverErrorFacts {
  const code = stringField(error, 'code');
  return {
    message: error instanceof Error ? error.message : String(error),
    sqlState: isSqlState(code) ? code : undefined,
    constraint: stringField(error, 'constraint'),
    hint: stringField(error, 'hint'),
  };
}

/**
 * Wraps whatever PGlite threw while running `statement` into a `DatabaseQueryError`; a
 * PlatformError passes through unchanged (it is already ours).
 */
export function queryError(error: unknown, statement: string): PlatformError {
  return wrapDriverError('PGlite', error, statement, driverFacts);
}
