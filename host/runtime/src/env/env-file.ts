import { parse } from 'dotenv';
import { PlatformError } from '@platform-host/contracts';

/** What dotenv reads as an assignment: optional `export`, a name of word characters, `.` or `-`, then `=` or `: `. */
const ASSIGNMENT = /^\s*(?:export\s+)?[\w.-]+\s*(?:=|:\s)\s*(.*)$/;

/**
 * Parses an env file (seed 7.1) with the `dotenv` package's `parse` — its syntax exactly: `KEY=value`
 * lines, `#` comments (also after an unquoted value), an optional `export ` prefix, single, double
 * or backtick quotes (quoted values may span lines; `\n` and `\r` are expanded in double quotes),
 * no `$VAR` interpolation, a later line winning over an earlier one.
 *
 * dotenv skips what it cannot read without a word, so a mistyped line would silently drop a key.
 * Before parsing, every line is checked to be blank, a comment, an assignment or part of a quoted
 * value that spans lines; anything else is refused.
 *
 * @param file names the file in errors.
 * @throws PlatformError `PH_ERR_ENV_FILE_INVALID` naming the file and line number (never a value).
 */
export function parseEnvFile(text: string, file: string): Map<string, string> {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const invalid = (lineNumber: number, problem: string): PlatformError =>
    new PlatformError('PH_ERR_ENV_FILE_INVALID', `${file}:${lineNumber}: line ${problem}`, {
      hint: 'Write one KEY=value per line; quote values that span lines or contain #.',
    });
  let openQuote: { char: string; line: number } | undefined;
  for (const [index, line] of lines.entries()) {
    if (openQuote) {
      if (closingQuote(line, openQuote.char, 0) !== -1) openQuote = undefined;
      continue;
    }
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const match = ASSIGNMENT.exec(line);
    if (match === null) throw invalid(index + 1, 'is not KEY=value');
    const value = match[1] ?? '';
    const quote = value[0];
    if (quote === '"' || quote === "'" || quote === '`') {
      const close = closingQuote(value, quote, 1);
      if (close === -1) openQuote = { char: quote, line: index + 1 };
      else if (!/^\s*(#.*)?$/.test(value.slice(close + 1)))
        throw invalid(index + 1, 'has text after the closing quote');
    }
  }
  if (openQuote) throw invalid(openQuote.line, 'opens a quote that is never closed');
  return new Map(Object.entries(parse(text)));
}

/** Index of the first `quote` at or after `from` not escaped by a backslash (dotenv's rule), or -1. */
function closingQuote(text: string, quote: string, from: number): number {
  for (let index = from; index < text.length; index += 1) {
    if (text[index] === '\\') index += 1;
    else if (text[index] === quote) return index;
  }
  return -1;
}
