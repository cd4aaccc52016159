/** Parses one element's text (for example `Number` for int4); `undefined` keeps the text. */
export type ElementParser = ((raw: string) => unknown) | undefined;

class ArrayLiteralReader {
  #index = 0;

  constructor(
    private readonly text: string,
    private readonly parseElement: ElementParser,
    private readonly delimiter: string,
  ) {}

  read(): unknown[] {
    // Arrays with lower bounds other than 1 are prefixed with their dimensions: `[0:1]={1,2}`.
    if (this.text.startsWith('[')) this.#index = this.text.indexOf('=') + 1;
    const values = this.#readLevel();
    if (this.#index !== this.text.length) throw new SyntaxError('trailing characters');
    return values;
  }

  #readLevel(): unknown[] {
    const { text } = this;
    if (text[this.#index] !== '{') throw new SyntaxError(`expected "{" at ${this.#index}`);
    this.#index += 1;
    const values: unknown[] = [];
    if (text[this.#index] === '}') {
      this.#index += 1;
      return values;
    }
    for (;;) {
      const char = text[this.#index];
      if (char === '{') values.push(this.#readLevel());
      else if (char === '"') values.push(this.#element(this.#readQuoted()));
      else values.push(this.#readUnquoted());
      const next = text[this.#index];
      this.#index += 1;
      if (next === this.delimiter) continue;
      if (next === '}') return values;
      throw new SyntaxError(`unexpected ${next === undefined ? 'end' : JSON.stringify(next)} at ${this.#index - 1}`);
    }
  }

  #readQuoted(): string {
    const { text } = this;
    let value = '';
    let start = this.#index + 1;
    for (let index = start; index < text.length; index += 1) {
      const char = text[index];
      if (char === '\\') {
        value += text.slice(start, index);
        start = index + 1;
        index += 1;
      } else if (char === '"') {
        this.#index = index + 1;
        return value + text.slice(start, index);
      }
    }
    throw new SyntaxError('unterminated quoted element');
  }

  #readUnquoted(): unknown {
    const { text } = this;
    const start = this.#index;
    while (this.#index < text.length && text[this.#index] !== this.delimiter && text[this.#index] !== '}')
      this.#index += 1;
    const raw = text.slice(start, this.#index);
    // Only an unquoted NULL is SQL NULL; a quoted "NULL" is the string.
    return raw === 'NULL' ? null : this.#element(raw);
  }

  #element(raw: string): unknown {
    return this.parseElement === undefined ? raw : this.parseElement(raw);
  }
}

/**
 * Parses PostgreSQL's text output of an array (`{1,NULL,3}`, `{{"a b","c\"d"},{e,f}}`) into nested
 * JavaScript arrays, with unquoted `NULL` elements as `null`. postgres.js 3.4 returns those as the
 * string `'NULL'` (or `NaN`, `false` after the element parser: porsager/postgres#1124, #1049).
 * `delimiter` is `;` for the box type and `,` for every other built-in type.
 */
export function parseArrayLiteral(text: string, parseElement: ElementParser, delimiter = ','): unknown[] {
  return new ArrayLiteralReader(text, parseElement, delimiter).read();
}
