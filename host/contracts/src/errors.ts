/**
 * Every error the platform raises on purpose carries a stable code from this catalogue, so that
 * scripts and tests can match on the code instead of the wording. Codes never change meaning;
 * new conditions get new codes.
 */
export const ERROR_CODES = {
  PH_ERR_USAGE: 'The command line is malformed (unknown command, missing positional).',
  PH_ERR_ARGS_INVALID: 'One or more module arguments are missing, of the wrong type or not allowed.',
  PH_ERR_FLAG_UNKNOWN_ADAPTER: 'A global flag names an adapter that no discovered plugin provides.',
  PH_ERR_CONFIG_MISSING: 'A required configuration key of an adapter is not set.',
  PH_ERR_CONFIG_INVALID: 'A configuration value cannot be parsed (for example a port that is not a number).',
  PH_ERR_ENV_FILE_INVALID: 'An env file has a line that is not KEY=value.',
  PH_ERR_MANIFEST_INVALID: 'A plugin manifest is not valid JSON or does not match its schema.',
  PH_ERR_PLUGIN_INCOMPATIBLE: "A plugin's host_api range does not include this host's API version.",
  PH_ERR_PLUGIN_DUPLICATE: 'Two plugins declare the same module name or the same (interface, flag) pair.',
  PH_ERR_PLUGIN_LOAD: "A plugin's entry could not be imported or does not export what its kind requires.",
  PH_ERR_MODULE_NOT_FOUND: 'No discovered module has the requested name.',
  PH_ERR_MODULE_DEPENDENCY: 'A module needs an interface or module that the host cannot provide.',
  PH_ERR_DB_DIALECT: 'The selected database adapter speaks a dialect the module does not accept.',
  PH_ERR_MODULE_FAILED: 'A module run threw or returned a non-zero exit code.',
  PH_ERR_CONNECT:
    "An adapter's connect() failed, or did not finish within its deadline (--connect-timeout), so nothing ran.",
  PH_ERR_NOT_CONNECTED: 'An adapter method was called before connect() or after disconnect().',
  PH_ERR_DB_QUERY: 'The database rejected a statement.',
  PH_ERR_DB_TIMEOUT:
    'A write was sent but the database did not confirm it (a timeout, or the connection closed after sending): its outcome is unknown, it may have been applied or be applied later.',
  PH_ERR_DB_UNSUPPORTED:
    'The selected database adapter cannot do what was asked (for example a multi-statement transaction on Cassandra).',
  PH_ERR_FS_PATH_INVALID: 'A file-system path is absolute, escapes the root or is otherwise not allowed.',
  PH_ERR_FS_NOT_FOUND: 'A file-system path does not exist.',
  PH_ERR_FS_EXISTS: 'A write-once file-system path is already taken.',
  PH_ERR_FILE_UNREADABLE:
    'A file cannot be read to its end, or its content fails an integrity check (a compressed file that is empty, truncated, corrupt or not compressed).',
  PH_ERR_METRIC_INVALID:
    'A metric instrument is declared with an invalid name, label or bucket, declared twice differently, or used with other labels.',
  PH_ERR_MIGRATION: 'A migration failed, is missing, or was changed after it was applied.',
  PH_ERR_SHUTDOWN:
    'Graceful shutdown did not complete (drain timeout, a hook or disconnect that failed or missed its deadline).',
  PH_ERR_INTERNAL: 'A bug in the platform: please report it with the stack trace from --verbose.',
} as const;

/** A stable error code; see {@link ERROR_CODES} for what each one means. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** Process exit codes (DESIGN.md decision 9). */
export const EXIT_CODES = {
  /** Success, including a clean drain after SIGTERM/SIGINT. */
  OK: 0,
  /** Module failure, failed checks, a drain timeout or failing shutdown hooks. */
  FAILURE: 1,
  /** Usage or configuration error: nothing ran. */
  USAGE: 2,
} as const;

export type ExitCode = (typeof EXIT_CODES)[keyof typeof EXIT_CODES];

const USAGE_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'PH_ERR_USAGE',
  'PH_ERR_ARGS_INVALID',
  'PH_ERR_FLAG_UNKNOWN_ADAPTER',
  'PH_ERR_CONFIG_MISSING',
  'PH_ERR_CONFIG_INVALID',
  'PH_ERR_ENV_FILE_INVALID',
  'PH_ERR_MANIFEST_INVALID',
  'PH_ERR_PLUGIN_INCOMPATIBLE',
  'PH_ERR_PLUGIN_DUPLICATE',
  'PH_ERR_MODULE_NOT_FOUND',
  'PH_ERR_MODULE_DEPENDENCY',
  'PH_ERR_DB_DIALECT',
]);

export interface PlatformErrorOptions {
  /** What the user can do about it, one sentence. */
  readonly hint?: string;
  /** The underlying error, kept for `--verbose`. */
  readonly cause?: unknown;
  /** Overrides the exit code derived from the error code. */
  readonly exitCode?: ExitCode;
}

/**
 * Base class of every error the platform raises on purpose. The message names what failed and
 * where (file, flag, env key); it never contains secret values.
 */
export class PlatformError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  readonly exitCode: ExitCode;

  constructor(code: ErrorCode, message: string, options: PlatformErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PlatformError';
    this.code = code;
    this.hint = options.hint;
    this.exitCode = options.exitCode ?? (USAGE_CODES.has(code) ? EXIT_CODES.USAGE : EXIT_CODES.FAILURE);
  }
}

/**
 * True for an error whose outcome is unknown (`PH_ERR_DB_TIMEOUT`): the statement or batch may
 * have been applied, or may still be applied later (on Cassandra, a logged batch from the
 * batchlog). Re-sending the same idempotent writes is the way to settle it; a syntax or
 * invalid-request error is not in doubt.
 */
export function isOutcomeUnknown(error: unknown): boolean {
  return isPlatformError(error) && error.code === 'PH_ERR_DB_TIMEOUT';
}

/** True for any {@link PlatformError}, also one created by another copy of this package. */
export function isPlatformError(error: unknown): error is PlatformError {
  if (error instanceof PlatformError) return true;
  if (!(error instanceof Error)) return false;
  const { code, exitCode } = error as Error & { code?: unknown; exitCode?: unknown };
  return typeof code === 'string' && code in ERROR_CODES && typeof exitCode === 'number';
}
