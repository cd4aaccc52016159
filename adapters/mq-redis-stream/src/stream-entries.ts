import { PlatformError } from '@platform-host/contracts';
import type { OutgoingMessage } from '@platform-host/contracts';

/**
 * The fixed field layout of a stream entry, so that any Redis client can publish to and read from
 * the streams this adapter uses: `value` holds the message bytes, `key` the optional key, and one
 * `h:<name>` field per header.
 */
export const ENTRY_FIELDS = {
  value: 'value',
  key: 'key',
  headerPrefix: 'h:',
} as const;

/** A stream entry as read from Redis: its id and its fields (names decoded as UTF-8, values as bytes). */
export interface StreamEntry {
  readonly id: string;
  readonly value: Uint8Array;
  readonly key: string | undefined;
  readonly headers: Readonly<Record<string, string>>;
}

/** The XADD field/value arguments of `message` (headers already completed by the caller). */
export function entryArguments(
  message: OutgoingMessage,
  headers: Readonly<Record<string, string>>,
): Array<string | Buffer> {
  const args: Array<string | Buffer> = [ENTRY_FIELDS.value, toBuffer(message.value)];
  if (message.key !== undefined) args.push(ENTRY_FIELDS.key, message.key);
  for (const [name, value] of Object.entries(headers)) args.push(`${ENTRY_FIELDS.headerPrefix}${name}`, value);
  return args;
}

function toBuffer(value: Uint8Array | string): Buffer {
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  if (Buffer.isBuffer(value)) return value;
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

const EMPTY_VALUE = new Uint8Array(0);
/** Shared by every entry without headers (most of them), so none allocates an object for it. */
const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});

/** The publish time a stream entry id carries (its millisecond part). */
export function entryTime(id: string): Date {
  return new Date(Number(id.slice(0, id.indexOf('-'))));
}

/** Compares two stream entry ids (`<ms>-<seq>`) numerically. */
export function compareEntryIds(left: string, right: string): number {
  const [leftMs = 0n, leftSeq = 0n] = left.split('-').map(BigInt);
  const [rightMs = 0n, rightSeq = 0n] = right.split('-').map(BigInt);
  if (leftMs !== rightMs) return leftMs < rightMs ? -1 : 1;
  if (leftSeq !== rightSeq) return leftSeq < rightSeq ? -1 : 1;
  return 0;
}

function malformed(what: string): PlatformError {
  return new PlatformError('PH_ERR_INTERNAL', `Redis answered ${what} with a reply this adapter does not understand`);
}

function text(value: unknown, what: string): string {
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  if (typeof value === 'string') return value;
  throw malformed(what);
}

/**
 * Decodes one `[id, [field, value, ...]]` entry of an XREADGROUP / XAUTOCLAIM / XRANGE reply read
 * with the Buffer variant of the command. Unknown fields are ignored.
 */
export function parseEntry(raw: unknown, what: string): StreamEntry {
  if (!Array.isArray(raw) || raw.length !== 2 || !Array.isArray(raw[1])) throw malformed(what);
  const [rawId, fields] = raw as [unknown, unknown[]];
  const id = text(rawId, what);
  let value: Uint8Array = EMPTY_VALUE;
  let key: string | undefined;
  let headers: Record<string, string> | undefined;
  for (let index = 0; index + 1 < fields.length; index += 2) {
    const name = text(fields[index], what);
    const field = fields[index + 1];
    if (name === ENTRY_FIELDS.value) {
      // A Buffer is a Uint8Array: handed over as it is, without a copy or a second view.
      if (!Buffer.isBuffer(field)) throw malformed(what);
      value = field;
    } else if (name === ENTRY_FIELDS.key) {
      key = text(field, what);
    } else if (name.startsWith(ENTRY_FIELDS.headerPrefix)) {
      headers ??= {};
      headers[name.slice(ENTRY_FIELDS.headerPrefix.length)] = text(field, what);
    }
  }
  return { id, value, key, headers: headers ?? NO_HEADERS };
}

/** The entries of an `XREADGROUP ... STREAMS <one key> >` reply (null when the BLOCK timed out). */
export function parseReadReply(reply: unknown): StreamEntry[] {
  if (reply === null) return [];
  if (!Array.isArray(reply)) throw malformed('XREADGROUP');
  const entries: StreamEntry[] = [];
  for (const stream of reply as unknown[]) {
    if (!Array.isArray(stream) || !Array.isArray(stream[1])) throw malformed('XREADGROUP');
    for (const entry of stream[1] as unknown[]) entries.push(parseEntry(entry, 'XREADGROUP'));
  }
  return entries;
}

/** An XAUTOCLAIM reply: the cursor of the next scan and the entries claimed. */
export function parseAutoClaimReply(reply: unknown): { cursor: string; entries: StreamEntry[] } {
  if (!Array.isArray(reply) || reply.length < 2 || !Array.isArray(reply[1])) throw malformed('XAUTOCLAIM');
  const [cursor, rawEntries] = reply as [unknown, unknown[]];
  // Redis 6.2 reports an entry deleted from the stream as a nil entry; later versions list it apart.
  const entries = rawEntries.filter((entry) => entry !== null).map((entry) => parseEntry(entry, 'XAUTOCLAIM'));
  return { cursor: text(cursor, 'XAUTOCLAIM'), entries };
}

/** The times-delivered counters of an extended `XPENDING key group start end count` reply, by id. */
export function parsePendingCounts(reply: unknown): Map<string, number> {
  if (!Array.isArray(reply)) throw malformed('XPENDING');
  const counts = new Map<string, number>();
  for (const row of reply as unknown[]) {
    if (!Array.isArray(row) || row.length < 4) throw malformed('XPENDING');
    counts.set(text(row[0], 'XPENDING'), Number(row[3]));
  }
  return counts;
}
