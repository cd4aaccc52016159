import { isPlatformError, EXIT_CODES } from '@platform-host/contracts';
import { redactText } from '../redaction/redact.js';

/**
 * The text printed for an error that ends a command, and its exit code. Registered secrets and URL
 * passwords are redacted, in the message, the hint and (with --verbose) the stacks.
 */
export function formatError(error: unknown, verbose: boolean): { text: string; exitCode: number } {
  if (isPlatformError(error)) {
    const lines = [`error [${error.code}]: ${error.message}`];
    if (error.hint) lines.push(`hint: ${error.hint}`);
    if (verbose) {
      if (error.stack) lines.push('', error.stack);
      if (error.cause instanceof Error && error.cause.stack) lines.push('caused by:', error.cause.stack);
    } else if (error.cause !== undefined && error.exitCode !== EXIT_CODES.USAGE) {
      lines.push('(run with --verbose for the stack trace)');
    }
    return { text: redactText(`${lines.join('\n')}\n`), exitCode: error.exitCode };
  }
  const message = error instanceof Error ? error.message : String(error);
  const lines = [`error [PH_ERR_INTERNAL]: ${message}`];
  if (verbose && error instanceof Error && error.stack) lines.push('', error.stack);
  else lines.push('(run with --verbose for the stack trace)');
  return { text: redactText(`${lines.join('\n')}\n`), exitCode: EXIT_CODES.FAILURE };
}
