import { isPlatformError, type PlatformError } from '@platform-host/contracts';
import { DatabaseQueryError, statementSummary } from '@platform-host/postgres-family';

function stringField(error: unknown, name: string): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const value = (error as Record<string, unknown>)[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/**
 * Wraps whatever PGlite threw while running `statement` into a {{@link DatabaseQueryError}}; a
 * PlatformError passes through unchanged (it is already ours).
 */
export function queryError(error: unknown, statement: string): PlatformError {
  if (isPlatformError(error)) return error;
  const message = error instanceof Error ? error.message : String(error);
  const code = stringField(error, 'code');
  const sqlState = code !== undefined && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
  const constraint = stringField(error, 'constraint');
  const hint = stringField(error, 'hint');
  const where = `"${statementSummary(statement)}"`;
  return new DatabaseQueryError(
    sqlState === undefined
      ? `PGlite query ${where} failed: ${message}`
      : `PGlite rejected ${where}: ${message} (SQLSTATE ${sqlState})`,
    {
      ...(sqlState === undefined ? {} : { sqlState }),
      ...(constraint === undefined ? {} : { constraint }),
      ...(hint === undefined ? {} : { hint }),
      cause: error,
    },
  );
}
