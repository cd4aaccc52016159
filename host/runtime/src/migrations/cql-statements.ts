const BATCH_START = /^BEGIN\s+(?:UNLOGGED\s+|COUNTER\s+)?BATCH\b/i;
const BATCH_END = /\bAPPLY\s+BATCH$/i;

/**
 * The statements of a `.cql` file, split on `;` outside string literals (`'...'` with `''`,
 * `$$...$$`), quoted identifiers (`"..."`) and comments (`-- ...`, `// ...`, `/* ... *\/`). A
 * `BEGIN BATCH ... APPLY BATCH` stays one statement although it holds `;`. Comments stay in the
 * statement they are part of; a piece that is only comments and blanks is dropped. No hand-written
 * CQL parser is complete: this one knows exactly these lexical forms, which are all CQL has where a
 * `;` may appear without ending a statement.
 */
export function splitCqlStatements(text: string): string[] {
  const statements: string[] = [];
  let current = '';
  /** `current` without comments, to tell what the statement is. */
  let code = '';
  let index = 0;
  const flush = (): void => {
    if (code.trim() !== '') statements.push(current.trim());
    current = '';
    code = '';
  };
  while (index < text.length) {
    const char = text[index] ?? '';
    const pair = text.slice(index, index + 2);
    if (pair === '--' || pair === '//') {
      const end = text.indexOf('\n', index);
      const stop = end === -1 ? text.length : end;
      current += text.slice(index, stop);
      index = stop;
    } else if (pair === '/*') {
      const end = text.indexOf('*/', index + 2);
      const stop = end === -1 ? text.length : end + 2;
      current += text.slice(index, stop);
      code += ' ';
      index = stop;
    } else if (pair === '$$') {
      const end = text.indexOf('$$', index + 2);
      const stop = end === -1 ? text.length : end + 2;
      current += text.slice(index, stop);
      code += text.slice(index, stop);
      index = stop;
    } else if (char === "'" || char === '"') {
      let stop = index + 1;
      while (stop < text.length) {
        if (text[stop] === char) {
          if (text[stop + 1] === char) stop += 2;
          else break;
        } else stop += 1;
      }
      stop = Math.min(stop + 1, text.length);
      current += text.slice(index, stop);
      code += text.slice(index, stop);
      index = stop;
    } else if (char === ';') {
      const trimmed = code.trim();
      if (BATCH_START.test(trimmed) && !BATCH_END.test(trimmed)) {
        current += char;
        code += char;
      } else {
        flush();
      }
      index += 1;
    } else {
      current += char;
      code += char;
      index += 1;
    }
  }
  flush();
  return statements;
}
