import { PlatformError } from '@platform-host/contracts';
import type { Connectable, ErrorCode, HealthCheckResult, Secrets } from '@platform-host/contracts';
import { VaultHttp, VaultUnreachableError, vaultErrors, type VaultReply } from './vault-http.js';

/** An environment: variable names to values, as `process.env` or the host's merged env map. */
export type EnvironmentMap = Readonly<Record<string, string | undefined>>;

/** How {@link VaultSecrets} authenticates: a token, or an AppRole login that yields one. */
export type VaultAuth =
  | { readonly method: 'token'; readonly token: string }
  | {
      readonly method: 'approle';
      readonly roleId: string;
      readonly secretId: string;
      /** Where the AppRole auth method is mounted (`auth/<mount>/login`). Default `approle`. */
      readonly mount?: string;
    };

/** Options of {@link VaultSecrets}. */
export interface VaultSecretsOptions {
  /** `SECRETS_VAULT_ADDR`: `http(s)://host:port`, the API being under `/v1`. */
  readonly address: string;
  readonly auth: VaultAuth;
  /** `SECRETS_VAULT_MOUNT`: mount path of the KV version 2 engine. Default `secret`. */
  readonly mount?: string;
  /** `SECRETS_VAULT_PATH`: the secret within the mount whose keys are config keys. Default `platform-host`. */
  readonly path?: string;
  /** `SECRETS_VAULT_NAMESPACE`: sent as `X-Vault-Namespace` with every request. */
  readonly namespace?: string;
  /** `SECRETS_VAULT_CACHE_TTL` in ms: how long one read of the secret serves every key. Default 60 s; 0 reads on every lookup. */
  readonly cacheTtlMs?: number;
  /** `SECRETS_VAULT_REQUEST_TIMEOUT`: ms each request may take. Default 5000. */
  readonly requestTimeoutMs?: number;
  /** Where keys absent from the secret are looked up (through the adapter entry: the host's merged environment). */
  readonly env?: EnvironmentMap;
}

/** Keys whose values the environment fallback never returns: this adapter's own credentials. */
const OWN_CREDENTIALS: ReadonlySet<string> = new Set(['SECRETS_VAULT_TOKEN', 'SECRETS_VAULT_SECRET_ID']);

/** A token is renewed (or an AppRole login redone) when this fraction of its TTL has passed. */
const RENEW_AT_FRACTION = 2 / 3;
/** After a failed renewal or login, the next attempt comes this much later (ms). */
const RETRY_AFTER_MS = 5_000;

/** A token's lease as Vault reported it. */
interface Lease {
  /** Seconds left (0: no expiry, nothing to renew). */
  readonly ttlSeconds: number;
  readonly renewable: boolean;
}

/**
 * Configuration and secrets from one KV version 2 secret of HashiCorp Vault or OpenBao (seed 5.2.7
 * `VaultSecrets`, `--secrets vault`), over the HTTP API: keys are looked up in the secret at
 * `<mount>/<path>` first, then in the environment map it is given (so plain configuration can still
 * be injected by Kubernetes).
 *
 * - One read of the secret (`GET /v1/<mount>/data/<path>`) serves every key for the cache TTL; the
 *   first lookup after it reads again (concurrent lookups share one read). A path with no secret
 *   (404 without errors, or a deleted latest version) has no keys. Values that are not strings in
 *   the secret's JSON are returned as JSON text; empty strings count as unset.
 * - Token auth: `auth/token/lookup-self` learns the token's TTL; a renewable token is renewed with
 *   `auth/token/renew-self` at two thirds of it. AppRole auth: `auth/<mount>/login` yields the token,
 *   renewed the same way while its max TTL allows, logged in again when it does not or when Vault
 *   refuses it (a 403 on a read is retried once after a fresh login). The timer is unref'd (it never
 *   keeps the process alive) and stopped by `disconnect()`.
 * - Every value from Vault is a secret ({@link isSecret}): the host registers it for redaction
 *   whatever the reading adapter declares.
 * - An unreachable server, a denied token, a failed login, a sealed server or a missing mount is
 *   one `PlatformError` naming the address and `<mount>/<path>` (and the namespace), never the
 *   token, the secret ID or a value.
 */
export class VaultSecrets implements Secrets, Connectable {
  /** The server address, without credentials or a trailing slash. */
  readonly address: string;
  /** `<mount>/<path>` of the secret read. */
  readonly secretPath: string;
  private readonly auth: VaultAuth;
  private readonly mount: string;
  private readonly path: string;
  private readonly namespace: string | undefined;
  private readonly cacheTtlMs: number;
  private readonly http: VaultHttp;
  private readonly env: ReadonlyMap<string, string>;
  private token: string | undefined;
  private lastTtlSeconds = 0;
  private loggingIn: Promise<void> | undefined;
  private cache: { readonly values: ReadonlyMap<string, string>; readonly readAt: number } | undefined;
  private reading: Promise<ReadonlyMap<string, string>> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(options: VaultSecretsOptions) {
    this.address = normalizeAddress(options.address);
    this.auth = options.auth;
    this.mount = trimSlashes(options.mount ?? 'secret');
    this.path = trimSlashes(options.path ?? 'platform-host');
    if (this.mount === '' || this.path === '') {
      throw new PlatformError('PH_ERR_CONFIG_INVALID', 'SECRETS_VAULT_MOUNT and SECRETS_VAULT_PATH must not be empty', {
        hint: 'Unset them for the defaults (secret, platform-host), or name the KV v2 mount and the secret in it.',
      });
    }
    this.secretPath = `${this.mount}/${this.path}`;
    this.namespace = options.namespace === '' ? undefined : options.namespace;
    this.cacheTtlMs = options.cacheTtlMs ?? 60_000;
    this.http = new VaultHttp({
      address: this.address,
      namespace: this.namespace,
      timeoutMs: options.requestTimeoutMs ?? 5_000,
    });
    this.env = new Map(
      Object.entries(options.env ?? {}).filter(
        (entry): entry is [string, string] =>
          typeof entry[1] === 'string' && entry[1] !== '' && !OWN_CREDENTIALS.has(entry[0]),
      ),
    );
    if (this.auth.method === 'token') this.token = this.auth.token;
  }

  /** Authenticates (AppRole login, or the token's lookup) and reads the secret: a bad setup fails startup. */
  async connect(): Promise<void> {
    this.closed = false;
    await this.authenticate();
    await this.values({ fresh: true });
  }

  /** Stops the renewal timer; an AppRole token is revoked (best effort). Idempotent. */
  async disconnect(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    const token = this.token;
    if (this.auth.method === 'approle' && token !== undefined) {
      this.token = undefined;
      await this.http.request('POST', 'auth/token/revoke-self', token).catch(() => undefined);
    }
  }

  async get(key: string): Promise<string | undefined> {
    return (await this.values()).get(key) ?? this.env.get(key);
  }

  async getOrDefault(key: string, fallback: string): Promise<string> {
    return (await this.get(key)) ?? fallback;
  }

  async require(key: string): Promise<string> {
    const value = await this.get(key);
    if (value === undefined) {
      throw new PlatformError('PH_ERR_CONFIG_MISSING', `Required configuration key ${key} is not set`, {
        hint: `Add ${key} to the Vault secret ${this.secretPath}${this.namespaceNote()} at ${this.address}, or set it as an environment variable or in env/<env>.env.`,
      });
    }
    return value;
  }

  /** True when the key's value comes from the Vault secret (every such value is a secret). */
  async isSecret(key: string): Promise<boolean> {
    return (await this.values()).has(key);
  }

  /**
   * Reads the secret now (refreshing the cache), within the request timeout. Healthy when Vault
   * answers with it; otherwise the same message a lookup would fail with. Never throws.
   */
  async healthCheck(): Promise<HealthCheckResult> {
    try {
      await this.values({ fresh: true });
      return { ok: true };
    } catch (error) {
      return { ok: false, detail: error instanceof Error ? error.message : String(error) };
    }
  }

  /** The cached values, or a new read when they are older than the TTL (or `fresh` asks for one). */
  private values(options: { readonly fresh?: boolean } = {}): Promise<ReadonlyMap<string, string>> {
    const cached = this.cache;
    if (!options.fresh && cached !== undefined && Date.now() - cached.readAt < this.cacheTtlMs)
      return Promise.resolve(cached.values);
    if (this.reading !== undefined) return this.reading;
    const reading = this.readSecret().then((values) => {
      this.cache = { values, readAt: Date.now() };
      return values;
    });
    this.reading = reading;
    const clear = (): void => {
      if (this.reading === reading) this.reading = undefined;
    };
    reading.then(clear, clear);
    return reading;
  }

  private async readSecret(): Promise<ReadonlyMap<string, string>> {
    if (this.token === undefined) await this.authenticate();
    const apiPath = `${encodePath(this.mount)}/data/${encodePath(this.path)}`;
    let reply = await this.send('GET', apiPath, this.token);
    if (reply.status === 403 && this.auth.method === 'approle') {
      // The token expired or was revoked (a suspended process, a lost renewal): log in again once.
      await this.login();
      reply = await this.send('GET', apiPath, this.token);
    }
    if (reply.status === 200) return secretValues(reply.body);
    if (reply.status === 404) {
      const data = (reply.body as { data?: { metadata?: unknown } } | undefined)?.data;
      // No errors: no secret at the path (or its latest version is deleted): no keys.
      if (vaultErrors(reply.body) === '' || data?.metadata !== undefined) return new Map();
      throw this.failure(
        'PH_ERR_CONFIG_INVALID',
        `has no KV version 2 engine serving ${this.secretPath} (HTTP 404: ${vaultErrors(reply.body)})`,
        'Check SECRETS_VAULT_MOUNT (a KV version 2 mount), SECRETS_VAULT_PATH and SECRETS_VAULT_NAMESPACE.',
      );
    }
    if (reply.status === 403) {
      throw this.failure(
        'PH_ERR_CONFIG_INVALID',
        `denied reading ${this.secretPath} (HTTP 403: ${vaultErrors(reply.body) || 'permission denied'})`,
        this.auth.method === 'token'
          ? 'Check that SECRETS_VAULT_TOKEN is valid, not expired, and has a policy with read on <mount>/data/<path>.'
          : 'Check that the AppRole (SECRETS_VAULT_ROLE_ID) has a policy with read on <mount>/data/<path>.',
      );
    }
    throw this.unexpected(reply, `reading ${this.secretPath}`);
  }

  private async authenticate(): Promise<void> {
    if (this.auth.method === 'approle') {
      await this.login();
      return;
    }
    this.token = this.auth.token;
    // Learns the TTL to renew at. A token whose policies do not allow lookup-self is used as is
    // (not renewed); whether it may read the secret is the read's to say.
    const reply = await this.send('GET', 'auth/token/lookup-self', this.token);
    if (reply.status !== 200) return;
    const data = (reply.body as { data?: { ttl?: unknown; renewable?: unknown } } | undefined)?.data;
    this.scheduleRenewal({ ttlSeconds: numberOr(data?.ttl, 0), renewable: data?.renewable === true });
  }

  /** AppRole login (one at a time); the token it yields replaces the current one. */
  private login(): Promise<void> {
    this.loggingIn ??= this.doLogin().finally(() => {
      this.loggingIn = undefined;
    });
    return this.loggingIn;
  }

  private async doLogin(): Promise<void> {
    if (this.auth.method !== 'approle') return;
    const mount = trimSlashes(this.auth.mount ?? 'approle');
    const reply = await this.send('POST', `auth/${encodePath(mount)}/login`, undefined, {
      role_id: this.auth.roleId,
      secret_id: this.auth.secretId,
    });
    const auth = (reply.body as { auth?: { client_token?: unknown; lease_duration?: unknown; renewable?: unknown } })
      ?.auth;
    if (reply.status === 200 && typeof auth?.client_token === 'string') {
      this.token = auth.client_token;
      this.lastTtlSeconds = 0;
      this.scheduleRenewal({ ttlSeconds: numberOr(auth.lease_duration, 0), renewable: auth.renewable === true });
      return;
    }
    if (reply.status === 400 || reply.status === 403) {
      throw this.failure(
        'PH_ERR_CONFIG_INVALID',
        `refused the AppRole login at auth/${mount} (HTTP ${reply.status}: ${vaultErrors(reply.body) || 'denied'}), so ${this.secretPath} cannot be read`,
        'Check SECRETS_VAULT_ROLE_ID and SECRETS_VAULT_SECRET_ID (a secret ID expires or runs out of uses), and SECRETS_VAULT_APPROLE_MOUNT.',
      );
    }
    throw this.unexpected(reply, `logging in with AppRole at auth/${mount}`);
  }

  /**
   * Arms the timer for the next renewal at two thirds of the TTL. With AppRole, a renewal that
   * did not extend the TTL as far as the previous one (the max TTL is near) is replaced by a login.
   */
  private scheduleRenewal(lease: Lease): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.closed) return;
    if (lease.ttlSeconds <= 0) {
      // A renewal that left no TTL at all (the max TTL is reached): an AppRole logs in again now.
      if (this.auth.method === 'approle' && this.lastTtlSeconds > 0) this.arm(0, () => this.login());
      return;
    }
    const capped = this.lastTtlSeconds > 0 && lease.ttlSeconds < this.lastTtlSeconds;
    this.lastTtlSeconds = lease.ttlSeconds;
    const relogin = this.auth.method === 'approle' && (!lease.renewable || capped);
    if (!relogin && !lease.renewable) return;
    const delay = Math.max(250, lease.ttlSeconds * 1000 * RENEW_AT_FRACTION);
    this.arm(delay, relogin ? () => this.login() : () => this.renew());
  }

  private arm(delayMs: number, work: () => Promise<void>): void {
    const timer = setTimeout(() => {
      if (this.timer !== timer || this.closed) return;
      this.timer = undefined;
      work().catch(() => {
        // Not logged (the secrets provider has no logger: it is the configuration root); the next
        // read reports the problem, and an AppRole token is sought again shortly.
        if (!this.closed && this.auth.method === 'approle') this.arm(RETRY_AFTER_MS, () => this.login());
      });
    }, delayMs);
    // Never keeps the process alive; disconnect() clears it.
    timer.unref();
    this.timer = timer;
  }

  private async renew(): Promise<void> {
    const reply = await this.send('POST', 'auth/token/renew-self', this.token, {});
    const auth = (reply.body as { auth?: { lease_duration?: unknown; renewable?: unknown } } | undefined)?.auth;
    if (reply.status !== 200 || auth === undefined) {
      if (this.auth.method === 'approle') {
        await this.login();
        return;
      }
      throw this.unexpected(reply, 'renewing the token');
    }
    this.scheduleRenewal({ ttlSeconds: numberOr(auth.lease_duration, 0), renewable: auth.renewable === true });
  }

  /** One request; no answer at all becomes the "unreachable" error. */
  private async send(method: 'GET' | 'POST', apiPath: string, token?: string, body?: unknown): Promise<VaultReply> {
    try {
      return await this.http.request(method, apiPath, token, body);
    } catch (error) {
      if (error instanceof VaultUnreachableError) {
        throw this.failure(
          'PH_ERR_CONNECT',
          `is unreachable (${error.message}), so ${this.secretPath} cannot be read`,
          'Check SECRETS_VAULT_ADDR and that the server runs and is reachable from here (a proxy, TLS, a firewall).',
          error,
        );
      }
      throw error;
    }
  }

  private unexpected(reply: VaultReply, doing: string): PlatformError {
    const detail = vaultErrors(reply.body);
    if (reply.status === 503) {
      return this.failure(
        'PH_ERR_CONNECT',
        `is sealed or not ready (HTTP 503${detail ? `: ${detail}` : ''}) while ${doing}`,
        'Unseal the server (or wait for its standby to take over) and try again.',
      );
    }
    return this.failure(
      'PH_ERR_CONFIG_INVALID',
      `answered HTTP ${reply.status}${detail ? ` (${detail})` : ''} while ${doing}`,
      'Check SECRETS_VAULT_ADDR (a Vault or OpenBao server) and the server log.',
    );
  }

  /** `Vault at <address> (<mount>/<path>[, namespace n]) <problem>` — no token, no secret ID, no value. */
  private failure(code: ErrorCode, problem: string, hint: string, cause?: unknown): PlatformError {
    return new PlatformError(code, `Vault at ${this.address} (${this.secretPath}${this.namespaceNote()}) ${problem}`, {
      hint,
      cause,
    });
  }

  private namespaceNote(): string {
    return this.namespace === undefined ? '' : `, namespace ${this.namespace}`;
  }
}

/** The key/value pairs of a KV v2 read (`data.data`); non-string values as JSON, empty ones dropped. */
function secretValues(body: unknown): Map<string, string> {
  const data = (body as { data?: { data?: unknown } } | undefined)?.data?.data;
  const values = new Map<string, string>();
  if (data === null || typeof data !== 'object') return values;
  for (const [key, value] of Object.entries(data)) {
    if (value === null || value === undefined) continue;
    const text = typeof value === 'string' ? value : JSON.stringify(value);
    if (text !== '') values.set(key, text);
  }
  return values;
}

/** `http(s)://host:port[/prefix]` of `address`, without credentials, query or trailing slash. */
function normalizeAddress(address: string): string {
  let url: URL;
  try {
    url = new URL(address);
  } catch {
    throw new PlatformError('PH_ERR_CONFIG_INVALID', 'SECRETS_VAULT_ADDR is not a valid URL', {
      hint: 'Set it to the server address, e.g. https://vault.internal:8200.',
    });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new PlatformError(
      'PH_ERR_CONFIG_INVALID',
      `SECRETS_VAULT_ADDR must be an http or https URL, not ${url.protocol}`,
      {
        hint: 'Set it to the server address, e.g. https://vault.internal:8200.',
      },
    );
  }
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

function trimSlashes(value: string): string {
  return value.replace(/^\/+|\/+$/g, '');
}

/** Each `/`-separated segment percent-encoded (a secret path may be nested: `team/app`). */
function encodePath(value: string): string {
  return value.split('/').map(encodeURIComponent).join('/');
}

function numberOr(value: unknown, fallback: number): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : fallback;
}
