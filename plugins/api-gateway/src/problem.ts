/**
 * Problem details (RFC 9457): every error answer of the gateway is `application/problem+json` with
 * `type`, `title`, `status`, `detail`, `instance` and, for bad input, `errors` listing every problem
 * found (not only the first), each naming the input (`query.limit`, `body[3].event_type`).
 */

/** The media type of every error answer. */
export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** One problem with one input. */
export interface InputProblem {
  /** Where: `query.limit`, `params.id`, `body`, `body[3].timestamp`, `header.if-none-match`. */
  readonly name: string;
  /** What is wrong with it, one sentence. */
  readonly reason: string;
}

/** The body of an error answer. */
export interface ProblemDocument {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly instance?: string;
  readonly request_id?: string;
  readonly errors?: readonly InputProblem[];
}

/** The problem types of this API; `type` is `https://platform-host.dev/problems/<slug>`. */
export const PROBLEM_TYPES = {
  invalid_request: { status: 400, title: 'The request is not valid' },
  not_found: { status: 404, title: 'Not found' },
  table_missing: { status: 404, title: 'The data set does not exist yet' },
  method_not_allowed: { status: 405, title: 'Method not allowed' },
  payload_too_large: { status: 413, title: 'The request body is too large' },
  unsupported_media_type: { status: 415, title: 'Unsupported media type' },
  internal: { status: 500, title: 'Internal error' },
  unavailable: { status: 503, title: 'Service unavailable' },
  timeout: { status: 504, title: 'The request took too long' },
} as const;
export type ProblemKind = keyof typeof PROBLEM_TYPES;

/** The `type` URI of a problem kind. */
export function problemType(kind: ProblemKind): string {
  return `https://platform-host.dev/problems/${kind.replaceAll('_', '-')}`;
}

/** An error a route throws to answer with a problem document. */
export class ProblemError extends Error {
  readonly kind: ProblemKind;
  readonly status: number;
  readonly errors: readonly InputProblem[] | undefined;
  /** Extra response headers (`Retry-After`). */
  readonly headers: Readonly<Record<string, string>>;

  constructor(
    kind: ProblemKind,
    detail: string,
    options: { readonly errors?: readonly InputProblem[]; readonly headers?: Readonly<Record<string, string>> } = {},
  ) {
    super(detail);
    this.name = 'ProblemError';
    this.kind = kind;
    this.status = PROBLEM_TYPES[kind].status;
    this.errors = options.errors;
    this.headers = options.headers ?? {};
  }

  /** The document for `instance` (the request path) and the request's id. */
  document(instance: string, requestId: string): ProblemDocument {
    return {
      type: problemType(this.kind),
      title: PROBLEM_TYPES[this.kind].title,
      status: this.status,
      detail: this.message,
      instance,
      request_id: requestId,
      ...(this.errors && this.errors.length > 0 ? { errors: this.errors } : {}),
    };
  }
}

/** A 400 listing `errors`; the detail names how many and the first. */
export function invalidRequest(errors: readonly InputProblem[]): ProblemError {
  const [first] = errors;
  const summary = first ? `${first.name}: ${first.reason}` : 'the request is malformed';
  const more = errors.length > 1 ? ` (and ${errors.length - 1} more problem${errors.length > 2 ? 's' : ''})` : '';
  return new ProblemError('invalid_request', `${summary}${more}`, { errors });
}

/** The JSON Schema of a problem document, for the OpenAPI description of error answers. */
export const problemSchema = {
  type: 'object',
  required: ['type', 'title', 'status', 'detail'],
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    instance: { type: 'string' },
    request_id: { type: 'string' },
    errors: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name', 'reason'],
        properties: { name: { type: 'string' }, reason: { type: 'string' } },
      },
    },
  },
} as const;
