import { isUtf8 } from 'node:buffer';

/** A line that could not be read as text; counted as invalid, never fatal. */
export class UnreadableLine {
  constructor(readonly reason: 'invalid_utf8' | 'line_too_long') {}
}

/** A line of the file: its text (without the line ending), or why it could not be read. */
export type SplitLine = string | UnreadableLine;

/** Lines longer than this (in bytes) are skipped as `line_too_long` instead of being buffered. */
export const MAX_LINE_BYTES = 8 * 1024 * 1024;

const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;
const BOM = [0xef, 0xbb, 0xbf] as const;
const INVALID_UTF8 = new UnreadableLine('invalid_utf8');
const TOO_LONG = new UnreadableLine('line_too_long');

function withoutCarriageReturn(line: string): string {
  return line.length > 0 && line.charCodeAt(line.length - 1) === CARRIAGE_RETURN ? line.slice(0, -1) : line;
}

function asBuffer(chunk: Uint8Array | string): Buffer {
  if (typeof chunk === 'string') return Buffer.from(chunk, 'utf8');
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

/**
 * Splits a byte stream into lines, chunk by chunk, holding no more than one chunk and one partial
 * line. Accepts `\n` and `\r\n` endings and a UTF-8 byte order mark at the start; a last line
 * without a newline counts. Blank lines are kept (the caller counts line numbers). A line that is
 * not valid UTF-8 or longer than `maxLineBytes` comes as an {@link UnreadableLine}.
 */
export class LineSplitter {
  #carry: Buffer | undefined;
  #atStart = true;
  #skippingLongLine = false;

  constructor(private readonly maxLineBytes: number = MAX_LINE_BYTES) {}

  /**
   * The lines completed by `chunk`. Nothing returned refers to `chunk`'s memory, so the caller
   * may reuse it at once.
   */
  push(chunk: Uint8Array | string): SplitLine[] {
    let bytes = asBuffer(chunk);
    if (bytes.length === 0) return [];
    if (this.#skippingLongLine) {
      const end = bytes.indexOf(NEWLINE);
      if (end === -1) return [];
      this.#skippingLongLine = false;
      bytes = bytes.subarray(end + 1);
    }
    const lines: SplitLine[] = [];
    if (this.#carry !== undefined || this.#atStart) {
      // Only the line that started in an earlier chunk is joined (a small copy, not the whole chunk).
      const end = bytes.indexOf(NEWLINE);
      let head =
        this.#carry === undefined
          ? bytes.subarray(0, end === -1 ? bytes.length : end)
          : Buffer.concat([this.#carry, bytes.subarray(0, end === -1 ? bytes.length : end)]);
      this.#carry = undefined;
      if (this.#atStart) {
        if (end === -1 && head.length < BOM.length && head.every((byte, index) => byte === BOM[index])) {
          this.#carry = Buffer.from(head);
          return [];
        }
        this.#atStart = false;
        if (head[0] === BOM[0] && head[1] === BOM[1] && head[2] === BOM[2]) head = head.subarray(BOM.length);
      }
      if (end === -1) {
        if (head.length > this.maxLineBytes) {
          this.#skippingLongLine = true;
          return [TOO_LONG];
        }
        this.#carry = Buffer.from(head);
        return [];
      }
      this.#decode(head, lines);
      bytes = bytes.subarray(end + 1);
    }
    const lastNewline = bytes.lastIndexOf(NEWLINE);
    if (lastNewline === -1) {
      if (bytes.length > this.maxLineBytes) {
        this.#skippingLongLine = true;
        lines.push(TOO_LONG);
      } else if (bytes.length > 0) {
        this.#carry = Buffer.from(bytes);
      }
      return lines;
    }
    this.#decode(bytes.subarray(0, lastNewline), lines);
    const rest = bytes.subarray(lastNewline + 1);
    if (rest.length > this.maxLineBytes) {
      this.#skippingLongLine = true;
      lines.push(TOO_LONG);
    } else if (rest.length > 0) {
      this.#carry = Buffer.from(rest);
    }
    return lines;
  }

  /** The last line, when the stream did not end with a newline. */
  end(): SplitLine[] {
    const carry = this.#carry;
    this.#carry = undefined;
    if (carry === undefined || carry.length === 0 || (this.#atStart && carry.length < BOM.length)) return [];
    const lines: SplitLine[] = [];
    this.#decode(carry, lines);
    return lines;
  }

  /** Decodes `bytes` (complete lines separated by `\n`) as UTF-8 into `out`. */
  #decode(bytes: Buffer, out: SplitLine[]): void {
    if (isUtf8(bytes)) {
      for (const line of bytes.toString('utf8').split('\n')) {
        out.push(
          line.length > this.maxLineBytes && Buffer.byteLength(line) > this.maxLineBytes
            ? TOO_LONG
            : withoutCarriageReturn(line),
        );
      }
      return;
    }
    // Rare: find the lines that are not UTF-8 and keep the others.
    let start = 0;
    for (;;) {
      const end = bytes.indexOf(NEWLINE, start);
      const line = bytes.subarray(start, end === -1 ? bytes.length : end);
      if (line.length > this.maxLineBytes) out.push(TOO_LONG);
      else out.push(isUtf8(line) ? withoutCarriageReturn(line.toString('utf8')) : INVALID_UTF8);
      if (end === -1) return;
      start = end + 1;
    }
  }
}

/** {@link LineSplitter} over an async stream of chunks: one array of lines per chunk that completes any. */
export async function* splitLines(
  chunks: AsyncIterable<Uint8Array | string>,
  maxLineBytes: number = MAX_LINE_BYTES,
): AsyncGenerator<SplitLine[]> {
  const splitter = new LineSplitter(maxLineBytes);
  for await (const chunk of chunks) {
    const lines = splitter.push(chunk);
    if (lines.length > 0) yield lines;
  }
  const rest = splitter.end();
  if (rest.length > 0) yield rest;
}
