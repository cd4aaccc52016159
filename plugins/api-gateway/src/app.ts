import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import swagger from '@fastify/swagger';
import underPressure from '@fastify/under-pressure';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import {
  currentCorrelationId,
  MESSAGE_HEADERS,
  withCorrelationId,
  type Cache,
  type Database,
  type Logger,
  type MessageQueue,
} from '@platform-host/contracts';
import { CursorError, decodeCursor, encodeCursor, listingFingerprint } from './cursor.js';
import { withEventId } from './event-id.js';
import { ingestBodySchema, validateIngestBody } from './event-schema.js';
import { Deadlines } from './deadlines.js';
import { DurationLabelSets, NO_LABELS, type GatewayMetrics } from './gateway-metrics.js';
import { invalidRequest, PROBLEM_CONTENT_TYPE, ProblemError, problemSchema, type InputProblem } from './problem.js';
import { requestIdFrom } from './request-id.js';
import {
  AnswerSource,
  ifNoneMatchMatches,
  ResponseCache,
  type CachedAnswer,
  type CacheOutcome,
} from './response-cache.js';
import type { GatewaySettings } from './settings.js';
import {
  getEvent,
  getQualityRun,
  listEvents,
  listQualityRuns,
  listRollups,
  type RollupPosition,
  type RunPosition,
} from './warehouse.js';

/** What the gateway is built from: the module's interfaces and settings. */
export interface GatewayDependencies {
  readonly db: Database;
  readonly cache: Cache;
  readonly mq: MessageQueue;
  readonly log: Logger;
  readonly metrics: GatewayMetrics;
  readonly settings: GatewaySettings;
  /** Called with every request's completion promise (the host drain waits for them). */
  readonly trackWork?: (work: Promise<unknown>) => void;
  /** Requests in flight above which new ones are shed with 503. Default {@link MAX_IN_FLIGHT}. */
  readonly maxInFlight?: number;
  /** Event loop delay (ms) above which requests are shed with 503. Default {@link MAX_EVENT_LOOP_DELAY_MS}. */
  readonly maxEventLoopDelayMs?: number;
  /** How long a handler may take before the answer is a 504 problem. Default {@link HANDLER_TIMEOUT_MS}. */
  readonly handlerTimeoutMs?: number;
}

/** The gateway: the fastify instance and its response cache (readiness reads its state). */
export interface Gateway {
  readonly app: FastifyInstance;
  readonly responseCache: ResponseCache;
  /**
   * How many GETs the validated-URL fast path has answered (a URL that already passed its route's
   * validation once, answered before fastify's routing; see {@link buildGateway}). Only requests
   * that reach the HTTP server do: `app.inject` goes through fastify's routing.
   */
  readonly fastPathAnswers: () => number;
}

/** Largest request body: 1000 events of a few kilobytes. */
export const BODY_LIMIT_BYTES = 4 * 1024 * 1024;
/** How long a handler may take before the answer is a 504 problem. */
export const HANDLER_TIMEOUT_MS = 10_000;
/** Requests handled at once before new ones are shed with 503 (bounded queueing). */
export const MAX_IN_FLIGHT = 1024;
/** Event loop delay (ms) above which requests are shed with 503 (@fastify/under-pressure). */
export const MAX_EVENT_LOOP_DELAY_MS = 1000;
/** Seconds a shed client is told to wait (`Retry-After`). */
export const RETRY_AFTER_SECONDS = 1;
/** The whole request must arrive within this time (slow-loris); handlers have HANDLER_TIMEOUT_MS. */
const REQUEST_TIMEOUT_MS = 30_000;
/** How long an idle keep-alive connection stays open. */
const KEEP_ALIVE_TIMEOUT_MS = 5_000;

const CACHE_KEY_PREFIX = 'api_gateway:v1:';
/** How often (ms) the fast path reads under-pressure's event loop delay (sampled once a second). */
const EVENT_LOOP_DELAY_READ_MS = 10;
/** How many validated GET URLs are remembered before the memo starts afresh. */
const MAX_VALIDATED_URLS = 10_000;
const date = { type: 'string', format: 'date', description: 'YYYY-MM-DD' } as const;
const dateTime = { type: 'string', format: 'date-time', description: 'ISO-8601 with a time zone' } as const;
const text = { type: 'string', minLength: 1, maxLength: 255 } as const;
const cursor = {
  type: 'string',
  minLength: 1,
  maxLength: 1024,
  description: 'next_cursor of the previous page',
} as const;
const problemResponses = {
  400: {
    description: 'Invalid input (every problem listed)',
    content: { [PROBLEM_CONTENT_TYPE]: { schema: problemSchema } },
  },
  404: { description: 'Not found', content: { [PROBLEM_CONTENT_TYPE]: { schema: problemSchema } } },
  503: { description: 'Overloaded or shutting down', content: { [PROBLEM_CONTENT_TYPE]: { schema: problemSchema } } },
} as const;

/** Where a fastify validation context names its input. */
const CONTEXT_NAMES: Readonly<Record<string, string>> = {
  querystring: 'query',
  params: 'params',
  body: 'body',
  headers: 'header',
};

interface AjvError {
  readonly keyword: string;
  readonly instancePath: string;
  readonly params: Readonly<Record<string, unknown>>;
  readonly message?: string;
}

/** Every problem of a fastify (ajv) validation error, each naming its input. */
function validationProblems(errors: readonly AjvError[], context: string | undefined): InputProblem[] {
  const base = CONTEXT_NAMES[context ?? ''] ?? 'request';
  return errors.map((error) => {
    const path = error.instancePath.split('/').filter(Boolean);
    const extra = error.params.additionalProperty ?? error.params.missingProperty;
    if (typeof extra === 'string') path.push(extra);
    const name = [base, ...path].join('.');
    const reason =
      error.keyword === 'additionalProperties'
        ? 'is not a parameter of this endpoint'
        : error.keyword === 'required'
          ? 'is required'
          : error.keyword === 'format'
            ? `must be a valid ${String(error.params.format)}${error.params.format === 'date' ? ' (YYYY-MM-DD)' : ''}`
            : (error.message ?? 'is not valid');
    return { name, reason };
  });
}

/** A cache key: the route and its normalized query (sorted keys, defaults applied); hashed when long. */
function cacheKey(route: string, query: Readonly<Record<string, unknown>>): string {
  const normalized = JSON.stringify(
    Object.keys(query)
      .sort()
      .filter((key) => query[key] !== undefined)
      .map((key) => [key, query[key]]),
  );
  const tail = normalized.length > 200 ? `#${createHash('sha256').update(normalized).digest('base64url')}` : normalized;
  return `${CACHE_KEY_PREFIX}${route}?${tail}`;
}

/**
 * What the gateway keeps about one request from its arrival to the close of its response, on the
 * raw response (one object per request): what the request log line and the duration histogram need
 * once the response has gone, when fastify's request and reply are no longer at hand.
 */
class RequestRecord {
  /** `X-Cache` of the answer, for the log line (GETs answered through the cache). */
  cache: CacheOutcome | undefined = undefined;

  constructor(
    readonly id: string,
    readonly method: string,
    readonly route: string,
    readonly startedAt: number,
  ) {}
}

const RECORD = Symbol('api_gateway.request');
type RecordedResponse = ServerResponse & { [RECORD]?: RequestRecord };

/** The record of a request, set by the gateway's onRequest hook (every request passes it). */
function recordOf(reply: FastifyReply): RequestRecord | undefined {
  return (reply.raw as RecordedResponse)[RECORD];
}

/**
 * The JSON text of what `load` resolves to. Made outside the handlers so that the function (which
 * the fast path's memo keeps) holds `load` alone, not the request a handler's scope also holds.
 */
function jsonLoader(load: () => Promise<unknown>): () => Promise<string> {
  return async () => JSON.stringify(await load());
}

/** `compute` run at most once, when first needed (most requests need no cursor fingerprint). */
function once<T>(compute: () => T): () => T {
  let value: { readonly result: T } | undefined;
  return () => (value ??= { result: compute() }).result;
}

function decodeOrRefuse(value: string, fingerprint: string): unknown[] {
  try {
    return decodeCursor(value, fingerprint);
  } catch (error) {
    if (error instanceof CursorError) throw invalidRequest([{ name: 'query.cursor', reason: error.message }]);
    throw error;
  }
}

/** The string pair of a keyset position, or a 400 naming the cursor. */
function stringPair(position: unknown[]): readonly [string, string] {
  const [first, second] = position;
  if (position.length !== 2 || typeof first !== 'string' || typeof second !== 'string') {
    throw invalidRequest([{ name: 'query.cursor', reason: 'holds a position of another listing' }]);
  }
  return [first, second];
}

/** `from` before `to`, when both are given. */
function rangeProblems(from: string | undefined, to: string | undefined, strict: boolean): InputProblem[] {
  if (from === undefined || to === undefined) return [];
  const [a, b] = [Date.parse(from), Date.parse(to)];
  if (strict ? a < b : a <= b) return [];
  return [{ name: 'query.to', reason: `must be ${strict ? 'after' : 'on or after'} query.from` }];
}

/**
 * Builds the fastify application of api_gateway (not listening). Every route validates its input
 * by schema (`/openapi.json` is generated from the same schemas), every error answer is a problem
 * document, every response carries `X-Request-Id`, every GET goes through the response cache and
 * carries a strong ETag.
 */
export async function buildGateway(deps: GatewayDependencies): Promise<Gateway> {
  const { db, mq, log, metrics, settings } = deps;
  const responseCache = new ResponseCache(deps.cache, {
    ttlSeconds: settings.cacheTtlSeconds,
    staleSeconds: settings.staleTtlSeconds,
    log,
    lookups: metrics.cacheLookups,
  });
  // Set once the routes are built (below): answers a GET of a URL that passed its route's validation before.
  let answerValidatedGet: (request: IncomingMessage, response: ServerResponse) => boolean = () => false;
  const app = Fastify({
    logger: false,
    bodyLimit: BODY_LIMIT_BYTES,
    requestTimeout: REQUEST_TIMEOUT_MS,
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    // The validated-URL fast path sits in front of fastify's request handler, through fastify's
    // documented `serverFactory` option (the supported way to see a request before fastify does):
    // a GET of a URL that already passed its route's schema validation and checks is answered from
    // the cache without fastify's routing, request and reply objects, validation or handler dispatch.
    serverFactory: (handler) => {
      const server = createServer((request, response) => {
        if (!answerValidatedGet(request, response)) handler(request, response);
      });
      // What fastify sets on a server it creates itself (with a serverFactory, the factory does).
      server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
      server.requestTimeout = REQUEST_TIMEOUT_MS;
      return server;
    },
    // During shutdown, requests on open keep-alive connections are still answered (with
    // `Connection: close`), not refused: the load balancer has seen readiness turn 503.
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    requestIdHeader: false,
    genReqId: (request) => requestIdFrom(request.headers['x-request-id']),
    ajv: { customOptions: { allErrors: true, removeAdditional: false, coerceTypes: 'array', useDefaults: true } },
  });
  let inFlight = 0;
  const maxInFlight = deps.maxInFlight ?? MAX_IN_FLIGHT;
  const maxEventLoopDelayMs = deps.maxEventLoopDelayMs ?? MAX_EVENT_LOOP_DELAY_MS;
  const deadlines = new Deadlines(deps.handlerTimeoutMs ?? HANDLER_TIMEOUT_MS);
  /** `did not finish within N s`, the end of a 504's detail. */
  const expiredText = `did not finish within ${deadlines.timeoutMs / 1000} s`;
  const withDeadline = <T>(work: Promise<T>, what: () => string): Promise<T> =>
    deadlines.within(work, () => new ProblemError('timeout', `${what()} ${expiredText}`));

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'platform-host api_gateway',
        version: '1.0.0',
        description:
          'Warehouse data (cleaned events, metric rollups, data quality results) and the event ingestion endpoint. Errors are application/problem+json (RFC 9457).',
      },
    },
  });
  // Sampling only (no thresholds given, so no hook of its own): the onRequest hook below reads the
  // event loop delay it measures and sheds load itself, in the same hook as the in-flight limit.
  await app.register(underPressure, {});
  const shed = (reason: string, detail: string): ProblemError => {
    metrics.requestsShed.inc({ reason });
    return new ProblemError('unavailable', `${detail}; retry after ${RETRY_AFTER_SECONDS} s`, {
      headers: { 'retry-after': String(RETRY_AFTER_SECONDS) },
    });
  };

  // The host drain waits for every request in flight. Rather than one promise per request, the
  // drain is given one promise per busy period: made when a request arrives while none is in
  // flight, resolved when the last one in flight has closed (requests arriving meanwhile extend it).
  let allClosed: (() => void) | undefined;
  const durationLabels = new DurationLabelSets();
  /** Logs the request line (under the request's correlation id) and observes its duration. */
  const completed = (record: RequestRecord, status: number): void => {
    const elapsedMs = performance.now() - record.startedAt;
    metrics.requestDuration.observe(durationLabels.of(record.route, record.method, status), elapsedMs / 1000);
    const durationMs = Math.round(elapsedMs * 100) / 100;
    const { method, route, cache } = record;
    const fields =
      cache === undefined ? { method, route, status, durationMs } : { method, route, status, durationMs, cache };
    // The response is usually written, and so closed, in the request's own correlation context.
    if (currentCorrelationId() === record.id) log.info('Request completed', fields);
    else withCorrelationId(record.id, () => log.info('Request completed', fields));
  };
  // One listener function for every response, not a closure per request; it does what an
  // onResponse hook would, so fastify sets up no response listeners of its own.
  function requestClosed(this: RecordedResponse): void {
    inFlight -= 1;
    metrics.inFlight.dec(NO_LABELS);
    const record = this[RECORD];
    // Answered (the response was ended), not a connection that went away before its answer.
    if (record !== undefined && this.writableEnded) completed(record, this.statusCode);
    if (inFlight === 0 && allClosed !== undefined) {
      const resolve = allClosed;
      allClosed = undefined;
      resolve();
    }
  }
  // The event loop delay @fastify/under-pressure measures changes once per sample (every second),
  // so the onRequest hook and the fast path read it (an object per call) at most every EVENT_LOOP_DELAY_READ_MS.
  let eventLoopDelay = 0;
  let eventLoopDelayReadAt = Number.NEGATIVE_INFINITY;
  const eventLoopDelayAt = (now: number): number => {
    if (now - eventLoopDelayReadAt >= EVENT_LOOP_DELAY_READ_MS) {
      eventLoopDelay = app.memoryUsage().eventLoopDelay;
      eventLoopDelayReadAt = now;
    }
    return eventLoopDelay;
  };

  /** Starts the bookkeeping of a request: its record, drain tracking, the in-flight gauge, the close listener. */
  const admit = (raw: RecordedResponse, record: RequestRecord): void => {
    raw[RECORD] = record;
    if (inFlight === 0 && deps.trackWork !== undefined) {
      deps.trackWork(new Promise<void>((resolve) => (allClosed = resolve)));
    }
    inFlight += 1;
    metrics.inFlight.inc(NO_LABELS);
    raw.on('close', requestClosed);
  };
  // The one hook of every request: correlation id, drain tracking, load shedding, and the request's
  // correlation context, entered once around the rest of its handling (routing, validation,
  // handler: fastify runs them synchronously from here for a request without a body).
  app.addHook('onRequest', (request, reply, done) => {
    const now = performance.now();
    admit(reply.raw, new RequestRecord(request.id, request.method, request.routeOptions.url ?? 'unmatched', now));
    reply.header('x-request-id', request.id);
    if (inFlight > maxInFlight) {
      done(shed('in_flight', `The service is handling ${maxInFlight} requests`));
      return;
    }
    if (eventLoopDelayAt(now) > maxEventLoopDelayMs) {
      done(shed('eventLoopDelay', `The service is overloaded (eventLoopDelay)`));
      return;
    }
    withCorrelationId(request.id, done);
  });

  // Set when fastify begins to close: answers on open keep-alive connections carry
  // `Connection: close`, as fastify's router sets them (the fast path does it itself).
  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });

  /** The problem an error is answered with (error handler and fast path alike); an unexpected one is logged. */
  const problemOf = (
    error: FastifyError | ProblemError,
    method: string,
    route: string | undefined,
    id: string,
  ): ProblemError => {
    if (error instanceof ProblemError) return error;
    if (Array.isArray(error.validation)) {
      return invalidRequest(validationProblems(error.validation, error.validationContext));
    }
    if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return new ProblemError('payload_too_large', `The body is larger than ${BODY_LIMIT_BYTES} bytes`);
    }
    if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      return new ProblemError('unsupported_media_type', 'Send the body as application/json');
    }
    if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500) {
      return invalidRequest([{ name: 'body', reason: error.message }]);
    }
    withCorrelationId(id, () => log.error('Request failed', { method, route, error }));
    return new ProblemError('internal', `The request failed; the service log has the details under request id ${id}`);
  };
  /** The path of a request URL (the problem's `instance`). */
  const pathOf = (url: string): string => url.split('?')[0] ?? url;

  app.setErrorHandler((error: FastifyError | ProblemError, request, reply) => {
    const problem = problemOf(error, request.method, request.routeOptions.url, request.id);
    void reply
      .code(problem.status)
      .headers(problem.headers)
      .type(PROBLEM_CONTENT_TYPE)
      .send(JSON.stringify(problem.document(pathOf(request.url), request.id)));
  });
  app.setNotFoundHandler((request, reply) => {
    const problem = new ProblemError(
      'not_found',
      `No endpoint ${request.method} ${request.url.split('?')[0] ?? ''}; see /openapi.json for the endpoints`,
    );
    void reply
      .code(404)
      .type(PROBLEM_CONTENT_TYPE)
      .send(JSON.stringify(problem.document(request.url, request.id)));
  });

  /**
   * A GET URL that passed its route's schema validation and the handler's own checks and was
   * answered: its route, its cache key and the loader of its answer. What a GET answers is a
   * function of its URL alone (the query and the path parameters; `If-None-Match` is compared per
   * request), so the next GET of the same URL needs neither routing nor validation.
   */
  interface ValidatedGet {
    readonly route: string;
    readonly source: AnswerSource;
  }
  // Bounded: cleared when full (a cached GET is mostly the same few URLs again).
  const validatedGets = new Map<string, ValidatedGet>();
  let fastPathAnswers = 0;

  /**
   * Writes a cached answer (ETag, X-Cache, 304 on a matching If-None-Match) to the raw response.
   * The cached body is already the JSON text: it is written as it is, with its headers in one
   * `writeHead` (headers already set on the raw response, such as `Connection: close` during
   * shutdown, are kept by `writeHead`).
   */
  const writeAnswer = (
    raw: ServerResponse,
    id: string,
    answer: CachedAnswer,
    ifNoneMatch: string | undefined,
  ): void => {
    if (ifNoneMatchMatches(ifNoneMatch, answer.etag)) {
      raw.writeHead(304, {
        'x-request-id': id,
        etag: answer.etag,
        'x-cache': answer.outcome,
        'cache-control': 'no-cache',
      });
      raw.end();
    } else {
      raw.writeHead(200, {
        'x-request-id': id,
        etag: answer.etag,
        'x-cache': answer.outcome,
        'cache-control': 'no-cache',
        'content-type': 'application/json; charset=utf-8',
        'content-length': Buffer.byteLength(answer.body),
      });
      raw.end(answer.body);
    }
  };

  /**
   * Answers a GET from the response cache. The reply is hijacked and the answer written raw (no
   * content-type parsing, serializer or onSend pass of fastify's `send`). Once answered, the URL is
   * remembered for the fast path.
   */
  const cachedGet = async (
    request: FastifyRequest,
    reply: FastifyReply,
    route: string,
    query: Readonly<Record<string, unknown>>,
    load: () => Promise<unknown>,
  ): Promise<FastifyReply> => {
    const known = validatedGets.get(request.url);
    const source =
      known !== undefined && known.route === route
        ? known.source
        : new AnswerSource(cacheKey(route, query), jsonLoader(load));
    const lookup = (): Promise<CachedAnswer> => responseCache.answerFrom(source);
    // The onRequest hook entered the request's correlation context; a request whose handling left
    // it (none of the GETs: they have no body to wait for) enters it here.
    const answer = await withDeadline(
      currentCorrelationId() === request.id ? lookup() : withCorrelationId(request.id, lookup),
      () => `${request.method} ${route}`,
    );
    if (known === undefined && request.method === 'GET') {
      if (validatedGets.size >= MAX_VALIDATED_URLS) validatedGets.clear();
      validatedGets.set(request.url, { route, source });
    }
    const record = recordOf(reply);
    if (record !== undefined) record.cache = answer.outcome;
    writeAnswer(reply.hijack().raw, request.id, answer, request.headers['if-none-match']);
    return reply;
  };

  /** Answers a fast-path GET that failed as the error handler does; the URL's next GET goes through the route. */
  const fastPathFailed = (
    response: ServerResponse,
    url: string,
    known: ValidatedGet,
    id: string,
    error: unknown,
  ): void => {
    validatedGets.delete(url);
    const problem = problemOf(
      (error instanceof Error ? error : new Error(String(error))) as FastifyError | ProblemError,
      'GET',
      known.route,
      id,
    );
    const body = JSON.stringify(problem.document(pathOf(url), id));
    response.writeHead(problem.status, {
      'x-request-id': id,
      ...problem.headers,
      // What fastify's `send` makes of the type for a string body.
      'content-type': `${PROBLEM_CONTENT_TYPE}; charset=utf-8`,
      'content-length': Buffer.byteLength(body),
    });
    response.end(body);
  };

  /**
   * The validated-URL fast path, before fastify's routing: a GET of a remembered URL is answered
   * here with everything the route's answer has (X-Request-Id echo and correlation context, the
   * request record for the log line and the duration histogram, in-flight gauge, drain tracking,
   * the handler deadline, X-Cache, ETag and 304, cache metrics, `Connection: close` while closing,
   * problems as the error handler answers them). False (fastify handles it) for any other
   * request, and for one the onRequest hook would shed: the route sheds it.
   */
  answerValidatedGet = (request, response) => {
    if (request.method !== 'GET' || request.url === undefined) return false;
    const url = request.url;
    const known = validatedGets.get(url);
    if (known === undefined) return false;
    const now = performance.now();
    if (inFlight >= maxInFlight || eventLoopDelayAt(now) > maxEventLoopDelayMs) return false;
    const id = requestIdFrom(request.headers['x-request-id']);
    const record = new RequestRecord(id, 'GET', known.route, now);
    admit(response, record);
    if (closing) response.setHeader('connection', 'close');
    fastPathAnswers += 1;
    const ifNoneMatch = request.headers['if-none-match'];
    withCorrelationId(id, () => {
      // The handler deadline without a promise of its own: whichever comes first answers.
      const deadline = deadlines.start(() =>
        fastPathFailed(response, url, known, id, new ProblemError('timeout', `GET ${known.route} ${expiredText}`)),
      );
      responseCache.answerFrom(known.source).then(
        (answer) => {
          if (!deadlines.finish(deadline)) return;
          record.cache = answer.outcome;
          writeAnswer(response, id, answer, ifNoneMatch);
        },
        (error: unknown) => {
          if (deadlines.finish(deadline)) fastPathFailed(response, url, known, id, error);
        },
      );
    });
    return true;
  };

  const limit = {
    type: 'integer',
    minimum: 1,
    maximum: settings.maxPageSize,
    default: Math.min(100, settings.maxPageSize),
  } as const;
  const pageOf = (itemSchema: object) =>
    ({
      type: 'object',
      required: ['items', 'next_cursor'],
      properties: { items: { type: 'array', items: itemSchema }, next_cursor: { type: ['string', 'null'] } },
    }) as const;
  const eventItemSchema = {
    type: 'object',
    properties: {
      id: { type: 'integer' },
      event_type: { type: 'string' },
      source: { type: 'string' },
      event_date: { type: 'string', format: 'date' },
      payload: { type: 'object' },
      created_at: { type: 'string', format: 'date-time' },
    },
  } as const;

  type EventsQuery = {
    event_type?: string;
    source?: string;
    date?: string;
    from?: string;
    to?: string;
    limit: number;
    cursor?: string;
  };
  app.get<{ Querystring: EventsQuery }>(
    '/v1/events',
    {
      schema: {
        summary: 'Cleaned events (batch_etl), ordered by id, keyset pagination',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { event_type: text, source: text, date, from: date, to: date, limit, cursor },
        },
        response: { 200: { description: 'A page of events', ...pageOf(eventItemSchema) }, ...problemResponses },
      },
    },
    async (request, reply) => {
      const { limit: size, cursor: after, ...filters } = request.query;
      const problems: InputProblem[] = [];
      if (filters.date !== undefined && (filters.from !== undefined || filters.to !== undefined)) {
        problems.push({
          name: 'query.date',
          reason: 'cannot be combined with query.from or query.to: give one or the other',
        });
      }
      problems.push(...rangeProblems(filters.from, filters.to, false));
      if (problems.length > 0) throw invalidRequest(problems);
      const fingerprint = once(() => listingFingerprint('/v1/events', filters));
      let afterId: number | undefined;
      if (after !== undefined) {
        const [id] = decodeOrRefuse(after, fingerprint());
        if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) {
          throw invalidRequest([{ name: 'query.cursor', reason: 'holds a position of another listing' }]);
        }
        afterId = id;
      }
      return cachedGet(request, reply, '/v1/events', request.query, async () => {
        const page = await listEvents(
          db,
          {
            eventType: filters.event_type,
            source: filters.source,
            date: filters.date,
            from: filters.from,
            to: filters.to,
          },
          afterId,
          size,
        );
        const last = page.items.at(-1);
        return {
          items: page.items,
          next_cursor: page.more && last !== undefined ? encodeCursor(fingerprint(), [Number(last.id)]) : null,
        };
      });
    },
  );

  app.get<{ Params: { id: number } }>(
    '/v1/events/:id',
    {
      schema: {
        summary: 'One cleaned event by id',
        params: {
          type: 'object',
          required: ['id'],
          properties: { id: { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER } },
        },
        response: { 200: { description: 'The event', ...eventItemSchema }, ...problemResponses },
      },
    },
    async (request, reply) => {
      // The loader is remembered with the URL: it holds the id, not the request.
      const { id } = request.params;
      return cachedGet(request, reply, '/v1/events/:id', { id }, async () => {
        const event = await getEvent(db, id);
        if (event === undefined) throw new ProblemError('not_found', `No event with id ${id}`);
        return event;
      });
    },
  );

  type RollupsQuery = {
    window: number;
    event_type?: string;
    from?: string;
    to?: string;
    limit: number;
    cursor?: string;
    [dimension: `dim.${string}`]: string;
  };
  app.get<{ Querystring: RollupsQuery }>(
    '/v1/rollups',
    {
      schema: {
        summary: 'Windowed metric rollups (metric_aggregator), ordered by window start and dimensions',
        description:
          'Filter dimensions with event_type=... or dim.<name>=... (rows whose dimensions contain all of them); from inclusive, to exclusive, on window_start.',
        querystring: {
          type: 'object',
          additionalProperties: false,
          required: ['window'],
          properties: {
            window: { type: 'integer', minimum: 1, maximum: 31_622_400, description: 'window length in seconds' },
            event_type: text,
            from: dateTime,
            to: dateTime,
            limit,
            cursor,
          },
          patternProperties: { '^dim\\.[A-Za-z_][A-Za-z0-9_]{0,62}$': text },
        },
        response: { 200: { description: 'A page of rollups', ...pageOf({ type: 'object' }) }, ...problemResponses },
      },
    },
    async (request, reply) => {
      const { window, event_type: eventType, from, to, limit: size, cursor: after, ...rest } = request.query;
      const problems = rangeProblems(from, to, true);
      if (problems.length > 0) throw invalidRequest(problems);
      const dimensions: Record<string, string> = {};
      for (const [key, value] of Object.entries(rest)) if (key.startsWith('dim.')) dimensions[key.slice(4)] = value;
      if (eventType !== undefined) dimensions.event_type = eventType;
      const fingerprint = once(() => listingFingerprint('/v1/rollups', { window, dimensions, from, to }));
      const position: RollupPosition | undefined =
        after === undefined ? undefined : stringPair(decodeOrRefuse(after, fingerprint()));
      return cachedGet(request, reply, '/v1/rollups', request.query, async () => {
        const { page, last } = await listRollups(db, { windowSeconds: window, dimensions, from, to }, position, size);
        return { items: page.items, next_cursor: page.more && last ? encodeCursor(fingerprint(), [...last]) : null };
      });
    },
  );

  app.get<{ Querystring: { from?: string; to?: string; limit: number; cursor?: string } }>(
    '/v1/quality/runs',
    {
      schema: {
        summary: 'data_quality runs, newest first, with their checks counted by outcome',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { from: dateTime, to: dateTime, limit, cursor },
        },
        response: { 200: { description: 'A page of runs', ...pageOf({ type: 'object' }) }, ...problemResponses },
      },
    },
    async (request, reply) => {
      const { from, to, limit: size, cursor: after } = request.query;
      const problems = rangeProblems(from, to, true);
      if (problems.length > 0) throw invalidRequest(problems);
      const fingerprint = once(() => listingFingerprint('/v1/quality/runs', { from, to }));
      const position: RunPosition | undefined =
        after === undefined ? undefined : stringPair(decodeOrRefuse(after, fingerprint()));
      return cachedGet(request, reply, '/v1/quality/runs', request.query, async () => {
        const { page, last } = await listQualityRuns(db, { from, to }, position, size);
        return { items: page.items, next_cursor: page.more && last ? encodeCursor(fingerprint(), [...last]) : null };
      });
    },
  );

  app.get<{ Params: { run_id: string } }>(
    '/v1/quality/runs/:run_id',
    {
      schema: {
        summary: 'Every check result of one data_quality run',
        params: {
          type: 'object',
          required: ['run_id'],
          properties: { run_id: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$' } },
        },
        response: { 200: { description: 'The run and its results', type: 'object' }, ...problemResponses },
      },
    },
    async (request, reply) => {
      // The loader is remembered with the URL: it holds the run id, not the request.
      const { run_id: runId } = request.params;
      return cachedGet(request, reply, '/v1/quality/runs/:run_id', { run_id: runId }, async () => {
        const run = await getQualityRun(db, runId);
        if (run === undefined) throw new ProblemError('not_found', `No data quality run ${runId}`);
        return run;
      });
    },
  );

  app.post(
    '/v1/events',
    {
      schema: {
        summary: `Ingest one event or an array of at most 1000; all are published to the topic "${settings.topic}" in one batch, or none`,
        description:
          'An event without event_id gets one before it is published (a UUID, version 7 where the runtime has it: ids sort by the time they were assigned); an event that has one keeps it. The timestamp must lie in the years 1971 to 9989, the days the data lake files events under.',
        body: ingestBodySchema,
        response: {
          202: {
            description: 'Every event was published',
            type: 'object',
            required: ['accepted', 'event_ids'],
            properties: {
              accepted: { type: 'integer', description: 'How many events were published.' },
              event_ids: {
                type: 'array',
                items: { type: 'string' },
                description:
                  'The event_id each event was published with, in the order of the request: its own, or the one the gateway assigned.',
              },
            },
          },
          ...problemResponses,
        },
      },
      // The body is checked per event, so that every problem names its index and field.
      validatorCompiler: () => (body: unknown) => {
        const checked = validateIngestBody(body);
        return 'problems' in checked ? { error: invalidRequest(checked.problems) } : { value: body };
      },
    },
    async (request, reply) => {
      const checked = validateIngestBody(request.body);
      if ('problems' in checked) throw invalidRequest(checked.problems);
      const headers = { [MESSAGE_HEADERS.correlationId]: request.id };
      // Every published event has an event_id: the consumers of the topic need one (stream_ingest
      // dead-letters an event without it), so it is assigned here, before publishing.
      const events = checked.events.map(withEventId);
      const messages = events.map((event) => ({
        key: String(event.source),
        value: JSON.stringify(event),
        headers,
      }));
      try {
        await withDeadline(
          withCorrelationId(request.id, () => mq.publishBatch(settings.topic, messages)),
          () => `publishing ${messages.length} events`,
        );
      } catch (error) {
        withCorrelationId(request.id, () =>
          log.error('Publishing ingested events failed', { topic: settings.topic, events: messages.length, error }),
        );
        throw new ProblemError(
          'unavailable',
          `The queue did not confirm the ${messages.length} events; some may have been published: retry the request (consumers deduplicate by event_id)`,
          { headers: { 'retry-after': String(RETRY_AFTER_SECONDS) } },
        );
      }
      metrics.eventsPublished.inc({ topic: settings.topic }, messages.length);
      withCorrelationId(request.id, () =>
        log.info('Events published', { topic: settings.topic, events: messages.length }),
      );
      return reply.code(202).send({ accepted: messages.length, event_ids: events.map((event) => event.event_id) });
    },
  );

  app.get('/openapi.json', { schema: { hide: true } }, () => app.swagger());

  return { app, responseCache, fastPathAnswers: () => fastPathAnswers };
}
