/** The S3 error code of a minio client error (`NoSuchKey`, `PreconditionFailed`, ...), if it has one. */
export function s3ErrorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Error codes S3 and MinIO answer for a missing object (GET answers `NoSuchKey`, HEAD `NotFound`). */
const NOT_FOUND_CODES = new Set(['NoSuchKey', 'NotFound']);

/** Error codes that mean the credentials were refused. */
const CREDENTIAL_CODES = new Set([
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'AccessDenied',
  'InvalidToken',
  'ExpiredToken',
  'Forbidden',
]);

/** True when the error says the object does not exist. */
export function isNotFound(error: unknown): boolean {
  return NOT_FOUND_CODES.has(s3ErrorCode(error) ?? '');
}

/** True when the error says the bucket does not exist. */
export function isNoSuchBucket(error: unknown): boolean {
  return s3ErrorCode(error) === 'NoSuchBucket';
}

/** True when the server refused the credentials (unknown key, wrong secret, no permission). */
export function isCredentialError(error: unknown): boolean {
  return CREDENTIAL_CODES.has(s3ErrorCode(error) ?? '');
}

/**
 * A one-line description of a minio client error: its S3 code and message. Built from those two
 * fields only, never from request details, so it cannot carry a credential.
 */
export function describeS3Error(error: unknown): string {
  const code = s3ErrorCode(error);
  const message = error instanceof Error ? error.message : String(error);
  if (code === undefined || message.includes(code)) return message;
  return message === '' ? code : `${code}: ${message}`;
}
