import { createHash } from 'node:crypto';
import type { Cache, Counter, GetOrSetOptions, Logger } from '@platform-host/contracts';
import { LOOKUP_LABELS } from './gateway-metrics.js';

/** What `X-Cache` says about an answer. */
export type CacheOutcome = 'HIT' | 'MISS' | 'STALE';

/** A GET answer as cached: its strong ETag and its JSON body. */
export interface CachedAnswer {
  readonly etag: string;
  readonly body: string;
  readonly outcome: CacheOutcome;
}

/** Settings of {@link ResponseCache}. */
export interface ResponseCacheOptions {
  readonly ttlSeconds: number;
  readonly staleSeconds: number;
  /** After a cache failure, how long requests go straight to the database before one tries the cache again. */
  readonly bypassMs?: number;
  readonly log: Logger;
  /** Counts every lookup by `result`: hit, miss, stale, bypass (the cache was unavailable). */
  readonly lookups: Counter<'result'>;
}

/** A strong ETag of a body: a quoted base64url sha256 prefix. */
export function strongEtag(body: string): string {
  return `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
}

/** Marks a rejection of the loader, so that it is told apart from a failure of the cache itself. */
class LoaderFailure extends Error {
  constructor(override readonly cause: unknown) {
    super('the loader failed');
  }
}

const SEPARATOR = '\n';

/**
 * What one answer is looked up and loaded by: its cache key, the loader of its body and the loader
 * of its cache entry (ETag and body). Made once per answer and reusable: a GET of a URL seen before
 * looks its answer up with the source it was answered with, allocating no loader per request.
 */
export class AnswerSource {
  /** The cache entry: the body's strong ETag, a newline, the body. */
  readonly loadEntry: () => Promise<string>;

  constructor(
    readonly key: string,
    readonly load: () => Promise<string>,
  ) {
    this.loadEntry = async () => {
      try {
        const body = await load();
        return `${strongEtag(body)}${SEPARATOR}${body}`;
      } catch (error) {
        throw new LoaderFailure(error);
      }
    };
  }
}

/**
 * Cache-aside for GET answers through the platform cache's `getOrSet` (single-flight per key, in
 * this process and — with `--cache redis` — across instances; serve-stale while one refresh runs).
 * The cache is an optimisation only: when it fails (server down, timeouts) the answer is loaded
 * from the database directly and the cache is bypassed for `bypassMs`, after which one request at
 * a time tries it again (a small circuit breaker: without it every request would first wait for
 * the client's reconnection attempt).
 */
export class ResponseCache {
  private bypassUntil = 0;
  private probing = false;
  private lastError: string | undefined;
  private readonly bypassMs: number;
  /** The `getOrSet` options of every lookup, made once. */
  private readonly lifetimes: GetOrSetOptions;
  /** The cache's `getOrSet`, read once (through whatever proxy the host wrapped the cache in) and bound. */
  private readonly getOrSet: Cache['getOrSet'];

  constructor(
    cache: Cache,
    private readonly options: ResponseCacheOptions,
  ) {
    this.bypassMs = options.bypassMs ?? 2000;
    this.lifetimes = Object.freeze({ ttlSeconds: options.ttlSeconds, staleSeconds: options.staleSeconds });
    this.getOrSet = cache.getOrSet.bind(cache);
  }

  /** True while the cache is being bypassed after a failure (readiness reports it as degraded). */
  get degraded(): boolean {
    return this.lastError !== undefined;
  }

  /** Why the cache is bypassed, when it is. */
  get degradedReason(): string | undefined {
    return this.lastError;
  }

  /** The cached answer for `key`, else the body `load` produces (cached for the next callers). */
  answer(key: string, load: () => Promise<string>): Promise<CachedAnswer> {
    return this.answerFrom(new AnswerSource(key, load));
  }

  /** The cached answer of `source`, else the body its loader produces (cached for the next callers). */
  async answerFrom(source: AnswerSource): Promise<CachedAnswer> {
    if (this.lastError !== undefined && (Date.now() < this.bypassUntil || this.probing)) {
      return this.direct(source.load);
    }
    const probe = this.lastError !== undefined;
    if (probe) this.probing = true;
    try {
      const result = await this.getOrSet(source.key, source.loadEntry, this.lifetimes);
      if (this.lastError !== undefined) {
        this.options.log.info('Cache answers again: cache-aside resumed', { previousError: this.lastError });
        this.lastError = undefined;
      }
      const cut = result.value.indexOf(SEPARATOR);
      const outcome: CacheOutcome = result.status === 'hit' ? 'HIT' : result.status === 'stale' ? 'STALE' : 'MISS';
      this.options.lookups.inc(LOOKUP_LABELS[result.status]);
      return { etag: result.value.slice(0, cut), body: result.value.slice(cut + 1), outcome };
    } catch (error) {
      if (error instanceof LoaderFailure) throw error.cause;
      this.failed(error);
      return this.direct(source.load);
    } finally {
      if (probe) this.probing = false;
    }
  }

  private failed(error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    if (this.lastError === undefined) {
      this.options.log.warn('Cache unavailable: answering from the database', {
        error: message,
        bypassMs: this.bypassMs,
      });
    }
    this.lastError = message;
    this.bypassUntil = Date.now() + this.bypassMs;
  }

  private async direct(load: () => Promise<string>): Promise<CachedAnswer> {
    this.options.lookups.inc(LOOKUP_LABELS.bypass);
    const body = await load();
    return { etag: strongEtag(body), body, outcome: 'MISS' };
  }
}

/**
 * True when the `If-None-Match` header value matches `etag` (RFC 9110 13.1.2: weak comparison,
 * a list of tags, or `*`).
 */
export function ifNoneMatchMatches(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  const opaque = (tag: string): string => tag.trim().replace(/^W\//, '');
  const wanted = opaque(etag);
  return header.split(',').some((tag) => tag.trim() === '*' || opaque(tag) === wanted);
}
