import { randomUUID } from 'node:crypto';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
// The XML parser the minio client itself uses, configured here to keep every value a string: the
// client's own listing parser turns a key such as "007" or "0x1A" into a number.
import { XMLParser } from 'fast-xml-parser';
import { Client, IamAwsProvider } from 'minio';
import {
  PlatformError,
  fileExistsError,
  fileNotFoundError,
  isPlatformError,
  isReservedName,
  pathSegments,
  writablePathSegments,
  RESERVED_NAME_SUFFIX,
} from '@platform-host/contracts';
import type { FileInfo, FileSystem, HealthCheckResult, ListFilesOptions, Logger } from '@platform-host/contracts';
import { describeS3Error, isCredentialError, isNoSuchBucket, isNotFound, s3ErrorCode } from './s3-errors.js';

/** Options of {@link S3FileSystem}. */
export interface S3FileSystemOptions {
  /** The server, `http(s)://host[:port]`; absent: AWS S3 (`https://s3.amazonaws.com`). */
  readonly endpoint?: string | undefined;
  /** The bucket's region (default `us-east-1`). */
  readonly region?: string | undefined;
  readonly bucket: string;
  /** Access key and secret key; both or neither (neither: AWS IAM role credentials). */
  readonly accessKey?: string | undefined;
  readonly secretKey?: string | undefined;
  /** Prefix of every object key, as a relative directory path (`lake/` or `''`, the default). */
  readonly keyPrefix?: string | undefined;
  /** Size of the parts of multipart uploads in bytes (default 8 MiB, at least 5 MiB). */
  readonly partSizeBytes?: number | undefined;
  /** Deadline of `connect()` in milliseconds (default 10000). */
  readonly connectTimeoutMs?: number | undefined;
  /** Deadline of `healthCheck()` in milliseconds (default 5000). */
  readonly healthCheckTimeoutMs?: number | undefined;
  /**
   * How long a write-once claim of the fallback for servers without conditional writes holds, in
   * milliseconds (default 60000); see {@link S3FileSystem}.
   */
  readonly claimLeaseMs?: number | undefined;
  /** The names of the config keys, for messages: `FS_MINIO` or `FS_S3` (default `FS_S3`). */
  readonly configKeyPrefix?: string | undefined;
  readonly logger?: Logger | undefined;
}

/** Files per page of `listFiles` when the caller gives no page size. */
const DEFAULT_PAGE_SIZE = 1000;
/** The most keys S3 returns per listing request. */
const MAX_KEYS_PER_REQUEST = 1000;
const MIB = 1024 * 1024;
/** S3's smallest part size (all parts but the last). */
const MIN_PART_SIZE = 5 * MIB;
/** S3's largest part size. */
const MAX_PART_SIZE = 5 * 1024 * MIB;
/** The longest expiry S3 accepts for a presigned URL: seven days. */
const MAX_SIGNED_URL_SECONDS = 7 * 24 * 3600;
/** Rounds of the write-once fallback before it gives up under constant contention. */
const MAX_CLAIM_ROUNDS = 30;

/** A `listFiles` page size: a positive integer, else a `RangeError` (a bug in the caller). */
function checkPageSize(pageSize: number | undefined): number {
  const size = pageSize ?? DEFAULT_PAGE_SIZE;
  if (!Number.isSafeInteger(size) || size < 1) {
    throw new RangeError(`listFiles pageSize must be an integer of at least 1, got ${String(pageSize)}`);
  }
  return size;
}

function checkInteger(name: string, value: number, minimum: number, maximum = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isSafeInteger(value) || value < minimum || value > maximum)
    throw new RangeError(`S3FileSystem ${name} must be an integer from ${minimum} to ${maximum}, got ${value}`);
  return value;
}

/**
 * Last-modified at whole seconds: a listing reports milliseconds but a HEAD request's
 * `Last-Modified` header only seconds, and `stat` and `listFiles` must agree.
 */
function wholeSeconds(date: Date): Date {
  return new Date(Math.floor(date.getTime() / 1000) * 1000);
}

function toBuffer(data: Uint8Array | string): Buffer {
  // A copy: a caller changing its array while the upload runs must not change what is stored.
  return typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data);
}

async function readBody(response: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of response) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** An S3 key of a listing answered with `encoding-type=url` ('+' stands for a space). */
function decodeKey(encoded: string): string {
  return decodeURIComponent(encoded.replace(/\+/g, ' '));
}

/** One object of a listing page. */
interface ListedObject {
  readonly key: string;
  readonly size: number;
  readonly etag: string;
  readonly lastModified: Date;
}

/** One page of a ListObjectsV2 answer. */
interface ListedPage {
  readonly objects: ListedObject[];
  readonly nextToken: string | undefined;
}

const listingParser = new XMLParser({
  parseTagValue: false,
  // ETags come quoted as &#34;: numeric character references are decoded too.
  htmlEntities: true,
  isArray: (name) => name === 'Contents',
});

/** Parses a ListObjectsV2 answer; every value stays a string until converted here. */
function parseListing(xml: string): ListedPage {
  const parsed = listingParser.parse(xml) as {
    ListBucketResult?: {
      Contents?: Array<{ Key?: string; Size?: string; ETag?: string; LastModified?: string }>;
      IsTruncated?: string;
      NextContinuationToken?: string;
    };
  };
  const result = parsed.ListBucketResult;
  if (result === undefined) throw new Error('the listing answer has no ListBucketResult');
  const objects = (result.Contents ?? []).map((entry) => ({
    key: decodeKey(String(entry.Key ?? '')),
    size: Number(entry.Size ?? 0),
    etag: String(entry.ETag ?? '').replace(/^(?:"|&quot;|&#34;)+|(?:"|&quot;|&#34;)+$/g, ''),
    lastModified: wholeSeconds(new Date(String(entry.LastModified ?? ''))),
  }));
  const truncated = String(result.IsTruncated ?? 'false') === 'true';
  const token = result.NextContinuationToken;
  return { objects, nextToken: truncated && token !== undefined && token !== '' ? String(token) : undefined };
}

/** The parts of an endpoint URL the minio client takes, or a `PH_ERR_CONFIG_INVALID` naming the key. */
function parseEndpoint(
  endpoint: string,
  key: string,
): { readonly endPoint: string; readonly port: number | undefined; readonly useSSL: boolean; readonly url: string } {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new PlatformError('PH_ERR_CONFIG_INVALID', `${key} is not a valid URL`, {
      hint: `Set ${key} to the server's URL, such as http://127.0.0.1:9000.`,
    });
  }
  const problem =
    url.protocol !== 'http:' && url.protocol !== 'https:'
      ? 'must start with http:// or https://'
      : url.username !== '' || url.password !== ''
        ? 'must not contain credentials (set the access and secret keys instead)'
        : url.pathname !== '/' || url.search !== '' || url.hash !== ''
          ? 'must be a server address without a path'
          : undefined;
  if (problem !== undefined) {
    throw new PlatformError('PH_ERR_CONFIG_INVALID', `${key} ${problem}`, {
      hint: `Set ${key} to the server's URL, such as http://127.0.0.1:9000.`,
    });
  }
  return {
    endPoint: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port === '' ? undefined : Number(url.port),
    useSSL: url.protocol === 'https:',
    url: `${url.protocol}//${url.host}`,
  };
}

/**
 * The `--fs s3` and `--fs minio` {@link FileSystem}: objects in one bucket, through the `minio`
 * client, every key under an optional prefix.
 *
 * - **Paths** follow exactly the rules of the local adapter, from the contract
 *   ({@link pathSegments}, {@link writablePathSegments}): relative, `/`-separated, no empty, `.` or
 *   `..` segments, no backslash or NUL, and names starting with `.` and ending in `.ph-tmp` are
 *   reserved. A path is the key after the prefix. Unlike a disk, a bucket can hold both `a` and
 *   `a/b`; both are then files (the local adapter refuses the second write).
 * - **write** is one PUT: the object appears whole or not at all. **writeStream** sends a stream
 *   that fits in one part as one PUT, a longer one as a multipart upload of `partSizeBytes` parts
 *   (memory holds one part) that the server assembles only at completion; a source that fails
 *   aborts the upload, so the old content (or no object) stays. The minio client's own streaming
 *   upload resumes any unfinished upload of the same key, which mixes concurrent writers, so the
 *   adapter drives the multipart calls itself.
 * - **list** and **listFiles** list the keys under the prefix directory with ListObjectsV2, page by
 *   page, in the server's order (UTF-8 byte order: the same as code-unit order except for
 *   characters above U+FFFF against U+E000–U+FFFF). Keys that are not valid paths (folder markers
 *   ending in `/`, `a//b`) and reserved names are left out. **etag** is the object's ETag
 *   (`<md5>-<parts>` for multipart uploads); **lastModified** is at whole seconds, as a HEAD
 *   request reports it.
 * - **writeIfAbsent** is a conditional PUT with `If-None-Match: *`: the server stores it only when
 *   no object has the key, so of concurrent writers exactly one wins (`412` for the others:
 *   `PH_ERR_FS_EXISTS`). A server that answers `501 NotImplemented` to that header is remembered,
 *   and writes-once go through claims instead: each writer puts a claim object
 *   `<key>.ph-claims/.<id>.ph-tmp`, lists the claims of that key, and goes ahead only when its own
 *   is the only one younger than `claimLeaseMs` (two writers cannot both see only their own: the
 *   later one's listing sees the earlier claim); it checks the key is still free, puts the file and
 *   removes its claim. Writers that see other claims withdraw theirs and retry after a random
 *   pause. This relies on strongly consistent listings (S3 and MinIO have them) and on a writer
 *   finishing within the lease; a writer that crashed holding a claim blocks the key for the lease.
 * - **getSignedUrl** is a presigned GET URL (expiry 1 s to 7 days).
 * - **healthCheck** asks whether the bucket exists, within `healthCheckTimeoutMs`; **connect**
 *   does the same within `connectTimeoutMs` and fails with `PH_ERR_CONNECT` naming the server and
 *   the bucket, never a credential.
 */
export class S3FileSystem implements FileSystem {
  readonly #client: Client;
  readonly #agent: HttpAgent;
  readonly #bucket: string;
  readonly #keyPrefix: string;
  readonly #partSize: number;
  readonly #connectTimeoutMs: number;
  readonly #healthCheckTimeoutMs: number;
  readonly #claimLeaseMs: number;
  readonly #configKeyPrefix: string;
  readonly #logger: Logger | undefined;
  /** `s3.amazonaws.com` or the endpoint URL: what messages name. */
  readonly server: string;
  /** True once the server answered `NotImplemented` to a conditional write. */
  #conditionalWritesUnsupported = false;

  constructor(options: S3FileSystemOptions) {
    this.#configKeyPrefix = options.configKeyPrefix ?? 'FS_S3';
    const keys = this.#configKeyPrefix;
    if (typeof options.bucket !== 'string' || options.bucket === '')
      throw new PlatformError('PH_ERR_CONFIG_MISSING', `${keys}_BUCKET is not set`, {
        hint: `Set ${keys}_BUCKET to the name of the bucket.`,
      });
    if ((options.accessKey === undefined) !== (options.secretKey === undefined)) {
      const missing = options.accessKey === undefined ? `${keys}_ACCESS_KEY` : `${keys}_SECRET_KEY`;
      throw new PlatformError('PH_ERR_CONFIG_MISSING', `${missing} is not set, but its partner key is`, {
        hint: `Set both ${keys}_ACCESS_KEY and ${keys}_SECRET_KEY, or neither (then credentials come from the AWS IAM role).`,
      });
    }
    // S3's bucket naming rules (3-63 characters of lowercase letters, digits, dots and dashes).
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(options.bucket) || options.bucket.includes('..'))
      throw new PlatformError(
        'PH_ERR_CONFIG_INVALID',
        `${keys}_BUCKET ${JSON.stringify(options.bucket)} is not a valid bucket name`,
        {
          hint: 'Bucket names have 3 to 63 lowercase letters, digits, dots and dashes, and start and end with a letter or digit.',
        },
      );
    this.#bucket = options.bucket;
    this.#keyPrefix = S3FileSystem.#normalizePrefix(options.keyPrefix ?? '', `${keys}_PREFIX`);
    this.#partSize = checkInteger('partSizeBytes', options.partSizeBytes ?? 8 * MIB, MIN_PART_SIZE, MAX_PART_SIZE);
    this.#connectTimeoutMs = checkInteger('connectTimeoutMs', options.connectTimeoutMs ?? 10_000, 1);
    this.#healthCheckTimeoutMs = checkInteger('healthCheckTimeoutMs', options.healthCheckTimeoutMs ?? 5_000, 1);
    this.#claimLeaseMs = checkInteger('claimLeaseMs', options.claimLeaseMs ?? 60_000, 1_000);
    this.#logger = options.logger;
    const endpoint =
      options.endpoint === undefined || options.endpoint === ''
        ? { endPoint: 's3.amazonaws.com', port: undefined, useSSL: true, url: 'https://s3.amazonaws.com' }
        : parseEndpoint(options.endpoint, `${keys}_ENDPOINT`);
    this.server = endpoint.url;
    this.#agent = endpoint.useSSL ? new HttpsAgent({ keepAlive: true }) : new HttpAgent({ keepAlive: true });
    this.#client = new Client({
      endPoint: endpoint.endPoint,
      ...(endpoint.port === undefined ? {} : { port: endpoint.port }),
      useSSL: endpoint.useSSL,
      region: options.region === undefined || options.region === '' ? 'us-east-1' : options.region,
      ...(options.accessKey === undefined
        ? { credentialsProvider: new IamAwsProvider({ transportAgent: this.#agent }) }
        : { accessKey: options.accessKey, secretKey: options.secretKey }),
      // MinIO and most S3-compatible servers address buckets by path; AWS by virtual host.
      pathStyle: options.endpoint !== undefined && options.endpoint !== '',
      transportAgent: this.#agent,
    });
  }

  /** The bucket. */
  get bucket(): string {
    return this.#bucket;
  }

  /** The prefix of every key (`''` or ending in `/`). */
  get keyPrefix(): string {
    return this.#keyPrefix;
  }

  /**
   * Checks within `connectTimeoutMs` that the server answers, accepts the credentials and has the
   * bucket; else `PH_ERR_CONNECT` naming the server and bucket (never a credential).
   */
  async connect(): Promise<void> {
    const keys = this.#configKeyPrefix;
    let exists: boolean;
    try {
      exists = await this.#withDeadline(this.#client.bucketExists(this.#bucket), this.#connectTimeoutMs);
    } catch (error) {
      if (error instanceof DeadlineError) {
        throw new PlatformError(
          'PH_ERR_CONNECT',
          `Could not reach the object store at ${this.server}: no answer within ${this.#connectTimeoutMs} ms`,
          { hint: `Check ${keys}_ENDPOINT and that the server is running and reachable.` },
        );
      }
      if (isCredentialError(error)) {
        throw new PlatformError(
          'PH_ERR_CONNECT',
          `The object store at ${this.server} refused the credentials for bucket "${this.#bucket}" (${describeS3Error(error)})`,
          { hint: `Check ${keys}_ACCESS_KEY and ${keys}_SECRET_KEY, and that they may read the bucket.` },
        );
      }
      throw new PlatformError(
        'PH_ERR_CONNECT',
        `Could not connect to the object store at ${this.server}: ${describeS3Error(error)}`,
        { hint: `Check ${keys}_ENDPOINT and that the server is running and reachable.` },
      );
    }
    if (!exists) throw this.#missingBucketError();
  }

  /** Closes the kept-alive connections. Idempotent. */
  async disconnect(): Promise<void> {
    this.#agent.destroy();
  }

  async read(path: string): Promise<Uint8Array> {
    const stream = await this.readStream(path);
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    const bytes = Buffer.concat(chunks);
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  async readStream(path: string): Promise<Readable> {
    const key = this.#key(path);
    try {
      return await this.#client.getObject(this.#bucket, key);
    } catch (error) {
      throw this.#translate(error, 'read', path);
    }
  }

  async write(path: string, data: Uint8Array | string): Promise<void> {
    const key = this.#writableKey(path);
    const bytes = toBuffer(data);
    await this.#put(path, key, bytes, {});
  }

  async writeStream(path: string, source: AsyncIterable<Uint8Array>): Promise<number> {
    const key = this.#writableKey(path);
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let total = 0;
    let uploadId: string | undefined;
    const parts: Array<{ part: number; etag: string }> = [];
    const uploadPart = async (bytes: Buffer): Promise<void> => {
      uploadId ??= await this.#client.initiateNewMultipartUpload(this.#bucket, key, {});
      const part = parts.length + 1;
      const { etag } = await this.#client.uploadPart(
        { bucketName: this.#bucket, objectName: key, uploadID: uploadId, partNumber: part, headers: {} },
        bytes,
      );
      parts.push({ part, etag });
    };
    try {
      for await (const chunk of source) {
        const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : Buffer.from(chunk);
        pending.push(bytes);
        pendingBytes += bytes.byteLength;
        total += bytes.byteLength;
        while (pendingBytes >= this.#partSize) {
          const joined = Buffer.concat(pending, pendingBytes);
          await uploadPart(joined.subarray(0, this.#partSize));
          const rest = joined.subarray(this.#partSize);
          pending = rest.byteLength > 0 ? [rest] : [];
          pendingBytes = rest.byteLength;
        }
      }
      const last = Buffer.concat(pending, pendingBytes);
      if (uploadId === undefined) {
        await this.#put(path, key, last, {});
        return total;
      }
      if (last.byteLength > 0) await uploadPart(last);
      await this.#client.completeMultipartUpload(this.#bucket, key, uploadId, parts);
      return total;
    } catch (error) {
      if (uploadId !== undefined) {
        await this.#client.abortMultipartUpload(this.#bucket, key, uploadId).catch((abortError: unknown) => {
          this.#logger?.warn('Could not abort a failed multipart upload; the bucket lifecycle rules remove it', {
            path,
            bucket: this.#bucket,
            error: describeS3Error(abortError),
          });
        });
      }
      throw this.#translate(error, 'write', path);
    }
  }

  async writeIfAbsent(path: string, data: Uint8Array | string): Promise<void> {
    const key = this.#writableKey(path);
    const bytes = toBuffer(data);
    if (!this.#conditionalWritesUnsupported) {
      for (let attempt = 1; ; attempt += 1) {
        try {
          await this.#client.putObject(this.#bucket, key, bytes, bytes.byteLength, { 'If-None-Match': '*' });
          return;
        } catch (error) {
          const code = s3ErrorCode(error);
          if (code === 'PreconditionFailed') throw fileExistsError(path);
          // S3 answers 409 to a conditional write racing another one on the same key: try again.
          if (code === 'ConditionalRequestConflict' && attempt < 5) continue;
          if (code !== 'NotImplemented') throw this.#translate(error, 'write', path);
          this.#conditionalWritesUnsupported = true;
          this.#logger?.warn(
            'The object store does not support conditional writes (If-None-Match); write-once files use claims instead',
            { server: this.server, bucket: this.#bucket },
          );
          break;
        }
      }
    }
    await this.#writeOnceWithClaims(path, key, bytes);
  }

  async stat(path: string): Promise<FileInfo> {
    const key = this.#key(path);
    try {
      const stat = await this.#client.statObject(this.#bucket, key);
      return { path, size: stat.size, etag: stat.etag, lastModified: wholeSeconds(stat.lastModified) };
    } catch (error) {
      throw this.#translate(error, 'stat', path);
    }
  }

  async exists(path: string): Promise<boolean> {
    try {
      await this.stat(path);
      return true;
    } catch (error) {
      if (isPlatformError(error) && error.code === 'PH_ERR_FS_NOT_FOUND') return false;
      throw error;
    }
  }

  async delete(path: string): Promise<boolean> {
    // S3 deletes a missing key without complaint, so whether it existed needs a look first.
    if (!(await this.exists(path))) return false;
    try {
      await this.#client.removeObject(this.#bucket, this.#key(path));
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw this.#translate(error, 'delete', path);
    }
  }

  async list(prefix: string): Promise<string[]> {
    const paths: string[] = [];
    for await (const info of this.listFiles(prefix, { pageSize: MAX_KEYS_PER_REQUEST })) paths.push(info.path);
    return paths;
  }

  async *listFiles(prefix: string, options: ListFilesOptions = {}): AsyncIterable<FileInfo> {
    const pageSize = checkPageSize(options.pageSize);
    const normalized = prefix.endsWith('/') && prefix.length > 1 ? prefix.slice(0, -1) : prefix;
    const segments = pathSegments(normalized, true);
    const directory = this.#keyPrefix + (segments.length > 0 ? `${segments.join('/')}/` : '');
    const startAfter = options.startAfter === undefined ? undefined : this.#keyPrefix + options.startAfter;
    let token: string | undefined;
    do {
      const page = await this.#listPage(directory, Math.min(pageSize, MAX_KEYS_PER_REQUEST), token, startAfter);
      for (const object of page.objects) {
        const path = this.#pathOf(object.key);
        if (path !== undefined) yield { path, size: object.size, etag: object.etag, lastModified: object.lastModified };
      }
      token = page.nextToken;
    } while (token !== undefined);
  }

  async getSignedUrl(path: string, expirySeconds = 3600): Promise<string> {
    const key = this.#key(path);
    checkInteger('getSignedUrl expirySeconds', expirySeconds, 1, MAX_SIGNED_URL_SECONDS);
    try {
      return await this.#client.presignedGetObject(this.#bucket, key, expirySeconds);
    } catch (error) {
      throw this.#translate(error, 'sign a URL for', path);
    }
  }

  async healthCheck(): Promise<HealthCheckResult> {
    try {
      const exists = await this.#withDeadline(this.#client.bucketExists(this.#bucket), this.#healthCheckTimeoutMs);
      if (exists) return { ok: true };
      return { ok: false, detail: `bucket "${this.#bucket}" does not exist at ${this.server}` };
    } catch (error) {
      const reason =
        error instanceof DeadlineError ? `no answer within ${this.#healthCheckTimeoutMs} ms` : describeS3Error(error);
      return { ok: false, detail: `object store at ${this.server}, bucket "${this.#bucket}": ${reason}` };
    }
  }

  /** The object key of a valid path. */
  #key(path: string): string {
    return this.#keyPrefix + pathSegments(path, false).join('/');
  }

  /** The object key of a path a file may be written at. */
  #writableKey(path: string): string {
    return this.#keyPrefix + writablePathSegments(path).join('/');
  }

  /** The path of a listed key, or `undefined` when the key is not a listable path. */
  #pathOf(key: string): string | undefined {
    if (!key.startsWith(this.#keyPrefix)) return undefined;
    const path = key.slice(this.#keyPrefix.length);
    try {
      const segments = pathSegments(path, false);
      return isReservedName(segments[segments.length - 1] as string) ? undefined : path;
    } catch {
      return undefined; // a folder marker ("a/"), "a//b" or another key no path names
    }
  }

  async #put(path: string, key: string, bytes: Buffer, headers: Record<string, string>): Promise<void> {
    try {
      await this.#client.putObject(this.#bucket, key, bytes, bytes.byteLength, headers);
    } catch (error) {
      throw this.#translate(error, 'write', path);
    }
  }

  /** One ListObjectsV2 request, answered with keys URL-encoded and parsed with values as strings. */
  async #listPage(
    directory: string,
    maxKeys: number,
    token: string | undefined,
    startAfter: string | undefined,
  ): Promise<ListedPage> {
    const query = new URLSearchParams({ 'list-type': '2', 'encoding-type': 'url', prefix: directory });
    query.set('max-keys', String(maxKeys));
    if (token !== undefined) query.set('continuation-token', token);
    if (startAfter !== undefined) query.set('start-after', startAfter);
    query.sort();
    try {
      const response = await this.#client.makeRequestAsync({
        method: 'GET',
        bucketName: this.#bucket,
        // SigV4 wants %20, not the form encoding's "+".
        query: query.toString().replace(/\+/g, '%20'),
      });
      return parseListing(await readBody(response));
    } catch (error) {
      throw this.#translate(error, 'list', directory.slice(this.#keyPrefix.length));
    }
  }

  /** The write-once fallback for servers without conditional writes (see the class comment). */
  async #writeOnceWithClaims(path: string, key: string, bytes: Buffer): Promise<void> {
    const claims = `${key}.ph-claims/`;
    for (let round = 1; round <= MAX_CLAIM_ROUNDS; round += 1) {
      if (await this.exists(path)) throw fileExistsError(path);
      const claim = `${claims}.${randomUUID()}${RESERVED_NAME_SUFFIX}`;
      await this.#client.putObject(this.#bucket, claim, Buffer.alloc(0), 0, {});
      try {
        const listed: ListedObject[] = [];
        let token: string | undefined;
        do {
          const page = await this.#listPage(claims, MAX_KEYS_PER_REQUEST, token, undefined);
          listed.push(...page.objects);
          token = page.nextToken;
        } while (token !== undefined);
        // Ages are measured on the server's clock: against this writer's own claim.
        const mine = listed.find((object) => object.key === claim);
        const now = mine?.lastModified.getTime() ?? Math.max(...listed.map((object) => object.lastModified.getTime()));
        const others = listed.filter(
          (object) => object.key !== claim && now - object.lastModified.getTime() < this.#claimLeaseMs,
        );
        if (mine !== undefined && others.length === 0) {
          if (await this.exists(path)) throw fileExistsError(path);
          await this.#put(path, key, bytes, {});
          return;
        }
      } finally {
        await this.#client.removeObject(this.#bucket, claim).catch(() => undefined);
      }
      // Another writer holds a claim: withdraw (done above) and try again after a random pause.
      await sleep(Math.floor(Math.random() * 50 * Math.min(round, 10)) + 10);
    }
    throw new Error(
      `Could not write ${JSON.stringify(path)} once: other writers kept claiming it for ${MAX_CLAIM_ROUNDS} rounds`,
    );
  }

  /** Resolves with `promise`, or rejects with a {@link DeadlineError} after `ms`. */
  async #withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new DeadlineError()), ms);
    });
    try {
      return await Promise.race([promise, deadline]);
    } finally {
      clearTimeout(timer);
      // A request still running after the deadline must not surface as an unhandled rejection.
      promise.catch(() => undefined);
    }
  }

  #missingBucketError(): PlatformError {
    const keys = this.#configKeyPrefix;
    return new PlatformError(
      'PH_ERR_CONNECT',
      `Bucket "${this.#bucket}" does not exist at the object store ${this.server}`,
      { hint: `Create the bucket, or set ${keys}_BUCKET to an existing one.` },
    );
  }

  /** A minio client error as the contract's error (not found, missing bucket), else one naming the call. */
  #translate(error: unknown, operation: string, path: string): Error {
    if (error instanceof PlatformError) return error;
    if (isNotFound(error)) return fileNotFoundError(path);
    if (isNoSuchBucket(error)) return this.#missingBucketError();
    return new Error(
      `Could not ${operation} ${JSON.stringify(path)} in bucket "${this.#bucket}" at ${this.server}: ${describeS3Error(error)}`,
    );
  }

  static #normalizePrefix(prefix: string, key: string): string {
    const trimmed = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
    if (trimmed === '') return '';
    try {
      return `${pathSegments(trimmed, false).join('/')}/`;
    } catch (error) {
      throw new PlatformError(
        'PH_ERR_CONFIG_INVALID',
        `${key} is not a valid key prefix: ${error instanceof Error ? error.message : String(error)}`,
        { hint: `Set ${key} to a relative folder path such as "lake/" or leave it unset.` },
      );
    }
  }
}

/** The deadline of a request passed. */
class DeadlineError extends Error {}
