import { newCorrelationId } from '@platform-host/contracts';

/** A sane `X-Request-Id`: 1 to 128 characters of letters, digits and `._:-` (no spaces, no control characters). */
const SANE_REQUEST_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/**
 * The correlation id of a request: the client's `X-Request-Id` when it is a sane token, else a new
 * one (a header that could smuggle newlines into logs, or is absurdly long, is replaced).
 */
export function requestIdFrom(header: string | string[] | undefined): string {
  const value = Array.isArray(header) ? header[0] : header;
  return value !== undefined && SANE_REQUEST_ID.test(value) ? value : newCorrelationId();
}
