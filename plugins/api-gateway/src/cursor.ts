import { createHash } from 'node:crypto';

/**
 * Opaque keyset cursors. A cursor holds the sort key of the last row of a page and a fingerprint
 * of the listing it belongs to (route and filters), sealed by a checksum: a cursor that was cut,
 * edited or taken from another listing is refused with a 400 rather than silently skipping or
 * repeating rows. The checksum is an integrity check, not a secret: the position inside is only
 * ever bound as a query parameter, so a forged one can do no more than choose a start row.
 */

const VERSION = 1;
const CHECKSUM_LENGTH = 16;

function digest(text: string): string {
  return createHash('sha256').update(text).digest('base64url');
}

/** The fingerprint of a listing: its route and its filters (limit excluded: pages may change size). */
export function listingFingerprint(route: string, filters: Readonly<Record<string, unknown>>): string {
  const sorted = Object.keys(filters)
    .sort()
    .filter((key) => filters[key] !== undefined)
    .map((key) => [key, filters[key]]);
  return digest(JSON.stringify([route, sorted])).slice(0, 16);
}

/** Encodes `position` (the last row's sort key, JSON-serializable) for the listing `fingerprint`. */
export function encodeCursor(fingerprint: string, position: readonly unknown[]): string {
  const body = JSON.stringify([VERSION, fingerprint, position]);
  return Buffer.from(`${digest(body).slice(0, CHECKSUM_LENGTH)}${body}`, 'utf8').toString('base64url');
}

/** Why a cursor was refused. */
export class CursorError extends Error {}

/**
 * The position inside `cursor`, after checking its checksum and that it belongs to the listing
 * `fingerprint`. Throws {@link CursorError} naming what is wrong.
 */
export function decodeCursor(cursor: string, fingerprint: string): unknown[] {
  if (!/^[A-Za-z0-9_-]+$/.test(cursor)) throw new CursorError('is not a cursor this API issued (not base64url)');
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const checksum = text.slice(0, CHECKSUM_LENGTH);
  const body = text.slice(CHECKSUM_LENGTH);
  if (body === '' || digest(body).slice(0, CHECKSUM_LENGTH) !== checksum) {
    throw new CursorError('is damaged or was altered (checksum mismatch)');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new CursorError('is damaged (not JSON inside)');
  }
  if (!Array.isArray(parsed) || parsed.length !== 3 || parsed[0] !== VERSION || !Array.isArray(parsed[2])) {
    throw new CursorError('has an unknown layout (issued by another version of this API)');
  }
  if (parsed[1] !== fingerprint) {
    throw new CursorError('belongs to another listing: keep the filters of the page that returned it');
  }
  return parsed[2] as unknown[];
}
