/**
 * The few calls of Vault's HTTP API this adapter makes, over Node's built-in `fetch` (no client
 * library: the API is plain JSON over HTTP, and the official Node clients are unmaintained).
 * Works the same against HashiCorp Vault and OpenBao.
 */

/** What a request to Vault came back with: the HTTP status and the parsed JSON body (if any). */
export interface VaultReply {
  readonly status: number;
  /** The JSON body, or `undefined` for an empty one (204) or one that is not JSON. */
  readonly body: unknown;
}

/** A request that got no HTTP answer: refused, timed out, DNS failure, TLS failure. */
export class VaultUnreachableError extends Error {
  override readonly name = 'VaultUnreachableError';
}

/** Options of {@link VaultHttp}. */
export interface VaultHttpOptions {
  /** The server address (`SECRETS_VAULT_ADDR`); the API is under `<address>/v1/`. */
  readonly address: string;
  /** Sent as `X-Vault-Namespace` with every request when set. */
  readonly namespace?: string | undefined;
  /** Milliseconds each request may take. */
  readonly timeoutMs: number;
}

/** Sends requests to one Vault server. Knows nothing about tokens beyond sending the one it is given. */
export class VaultHttp {
  /** `scheme://host:port[/prefix]`, without credentials or a trailing slash. */
  readonly address: string;
  private readonly namespace: string | undefined;
  private readonly timeoutMs: number;

  constructor(options: VaultHttpOptions) {
    this.address = options.address;
    this.namespace = options.namespace;
    this.timeoutMs = options.timeoutMs;
  }

  /**
   * `method /v1/<apiPath>` with the token as `X-Vault-Token` (when given) and a JSON body (when
   * given). Any HTTP status resolves; only a missing answer rejects, with
   * {@link VaultUnreachableError} saying why (never with the token or the body).
   */
  async request(method: 'GET' | 'POST', apiPath: string, token?: string, body?: unknown): Promise<VaultReply> {
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (token !== undefined) headers['X-Vault-Token'] = token;
    if (this.namespace !== undefined) headers['X-Vault-Namespace'] = this.namespace;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let response: Response;
    let text: string;
    try {
      response = await fetch(`${this.address}/v1/${apiPath}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
        redirect: 'error',
      });
      text = await response.text();
    } catch (error) {
      throw new VaultUnreachableError(unreachableReason(error, this.timeoutMs), { cause: error });
    }
    let parsed: unknown;
    if (text !== '') {
      try {
        parsed = JSON.parse(text) as unknown;
      } catch {
        parsed = undefined;
      }
    }
    return { status: response.status, body: parsed };
  }
}

/** Why a fetch got no answer, in a few words: `ECONNREFUSED`, `no answer within 5000 ms`. */
function unreachableReason(error: unknown, timeoutMs: number): string {
  if (error instanceof DOMException && (error.name === 'TimeoutError' || error.name === 'AbortError'))
    return `no answer within ${timeoutMs} ms`;
  const cause = (error as { cause?: unknown } | null)?.cause;
  const code = (cause as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return code;
  const message = cause instanceof Error ? cause.message : error instanceof Error ? error.message : String(error);
  return message;
}

/**
 * The `errors` of a Vault error body in one line: `["1 error occurred:\n\t* permission denied\n\n"]`
 * becomes `permission denied`. Empty when the body has none (a 404 for a path without a secret).
 */
export function vaultErrors(body: unknown): string {
  const errors = (body as { errors?: unknown } | undefined)?.errors;
  if (!Array.isArray(errors)) return '';
  return errors
    .filter((item): item is string => typeof item === 'string')
    .map((item) =>
      item
        .replace(/^\d+ errors? occurred:/, '')
        .split('\n')
        .map((line) => line.replace(/^\s*\*\s*/, '').trim())
        .filter(Boolean)
        .join('; '),
    )
    .filter(Boolean)
    .join('; ');
}
