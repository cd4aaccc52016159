/** JSON with comments (`//`, `/* *\/`) and trailing commas, as devcontainer.json and VS Code settings are written. */

/** The index after whitespace and comments from `index`. */
function skipInsignificant(text: string, index: number): number {
  let at = index;
  for (;;) {
    while (at < text.length && /\s/.test(text[at] ?? '')) at += 1;
    if (text.startsWith('//', at)) {
      while (at < text.length && text[at] !== '\n') at += 1;
    } else if (text.startsWith('/*', at)) {
      const end = text.indexOf('*/', at + 2);
      at = end < 0 ? text.length : end + 2;
    } else {
      return at;
    }
  }
}

/** Removes comments and trailing commas outside strings; the rest is left for JSON.parse. */
export function stripJsonc(text: string): string {
  let out = '';
  let index = 0;
  while (index < text.length) {
    const char = text[index] ?? '';
    if (char === '"') {
      let end = index + 1;
      while (end < text.length && text[end] !== '"') end += text[end] === '\\' ? 2 : 1;
      out += text.slice(index, end + 1);
      index = end + 1;
    } else if (text.startsWith('//', index) || text.startsWith('/*', index)) {
      index = skipInsignificant(text, index);
    } else if (char === ',' && /[}\]]/.test(text[skipInsignificant(text, index + 1)] ?? '')) {
      index += 1;
    } else {
      out += char;
      index += 1;
    }
  }
  return out;
}

/** Parses JSONC; a syntax error names the file. */
export function parseJsonc(text: string, file: string): unknown {
  try {
    return JSON.parse(stripJsonc(text)) as unknown;
  } catch (error) {
    throw new Error(
      `${file} is not valid JSON with comments: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
}
