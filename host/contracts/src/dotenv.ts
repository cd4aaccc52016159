import { PlatformError } from './errors.js';

const ASSIGNMENT = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=(.*)$/;
const ESCAPES: Readonly<Record<string, string>> = { n: '\n', r: '\r', t: '\t', '"': '"', '\\': '\\' };

/**
 * Parses a dotenv file: `KEY=value` lines, blank lines, `#` comments, an optional `export ` prefix,
 * values unquoted (trimmed; a `#` at the start or after a space starts a comment), in single quotes (literal) or in double quotes
 * (`\n`, `\r`, `\t`, `\"`, `\\` escapes). Quoted values may span lines. No `$VAR` interpolation.
 * A later line wins over an earlier one with the same key.
 *
 * @param file names the file in errors.
 * @throws PlatformError `PH_ERR_ENV_FILE_INVALID` naming the file and line number (never a value).
 */
export function parseDotenv(text: string, file: string): Map<string, string> {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const values = new Map<string, string>();
  const invalid = (lineNumber: number, problem: string): PlatformError =>
    new PlatformError('PH_ERR_ENV_FILE_INVALID', `${file}:${lineNumber}: line ${problem}`, {
      hint: 'Write one KEY=value per line; quote values that span lines or keep leading or trailing spaces.',
    });

  for (let index = 0; index < lines.length; index += 1) {
    const line = lines[index]!;
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const match = ASSIGNMENT.exec(line);
    if (match === null) throw invalid(index + 1, 'is not KEY=value');
    const key = match[1]!;
    const rest = match[2]!.trimStart();
    const quote = rest[0];

    if (quote !== '"' && quote !== "'") {
      values.set(key, rest.replace(/(^|\s)#.*$/, '').trimEnd());
      continue;
    }

    const openedOn = index + 1;
    let body = rest.slice(1);
    let close = closingQuote(body, quote);
    while (close === -1) {
      if (index + 1 >= lines.length)
        throw invalid(
          openedOn,
          `(key ${key}) opens a ${quote === '"' ? 'double' : 'single'} quote that is never closed`,
        );
      index += 1;
      body += `\n${lines[index]!}`;
      close = closingQuote(body, quote);
    }
    const after = body.slice(close + 1).trim();
    if (after !== '' && !after.startsWith('#'))
      throw invalid(index + 1, `(key ${key}) has text after the closing quote`);
    const quoted = body.slice(0, close);
    values.set(
      key,
      quote === '"' ? quoted.replace(/\\([\s\S])/g, (escape, char: string) => ESCAPES[char] ?? escape) : quoted,
    );
  }
  return values;
}

/** Index of the quote that closes `body`, skipping backslash escapes inside double quotes; -1 if none. */
function closingQuote(body: string, quote: '"' | "'"): number {
  if (quote === "'") return body.indexOf("'");
  for (let index = 0; index < body.length; index += 1) {
    if (body[index] === '\\') index += 1;
    else if (body[index] === '"') return index;
  }
  return -1;
}
