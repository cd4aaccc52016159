import { PlatformError } from '@platform-host/contracts';
import type { Connectable, ErrorCode, HealthCheckResult, LogFields, Logger, Secrets } from '@platform-host/contracts';
import { DeferredLog } from './deferred-log.js';
import { kvMountProblem } from './kv-mount.js';
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
/** After a failed renewal or login, the next attempt comes this much later (ms), doubling per failure... */
const RETRY_AFTER_MS = 5_000;
/** ...up to this (ms). */
const RETRY_MAX_MS = 60_000;
/** ...but while the token has time left, at most half of it, and at least this (ms). */
const RETRY_MIN_MS = 250;
/** A token with this fraction of its TTL left (or less) is about to expire: failures log at error. */
const ABOUT_TO_EXPIRE_FRACTION = 1 / 6;
/** How long after the point it is meant for a check of a token that is not renewable runs (ms). */
const CHECK_MARGIN_MS = 100;
/** Consecutive renewal failures from which health reports the token (renewal "keeps failing"). */
const UNHEALTHY_AFTER_FAILURES = 2;

/** A token's lease as Vault reported it. */
interface Lease {
  /** Seconds left (0: no expiry, nothing to renew). */
  readonly ttlSeconds: number;
  readonly renewable: boolean;
}

/** Failed renewals since the last success. */
interface RenewalTrouble {
  /** Consecutive failures (attempts, or checks of a token that is not renewable). */
  readonly failures: number;
  /** The last one, in words (no token, no secret ID). */
  readonly problem: string;
  /** Vault refused the renewal itself (a 4xx on renew-self: a revoked token, a lease not renewable): nothing will renew it. */
  readonly refused: boolean;
}

/** What comes after a failed renewal: another attempt with backoff, the next check of a token that cannot be renewed, or nothing. */
type NextAttempt =
  | { readonly kind: 'retry'; readonly work: () => Promise<void> }
  | { readonly kind: 'not-renewable' }
  | { readonly kind: 'none'; readonly consequence: string };

/** A renewal that Vault answered with something other than a renewed lease (a 403 for a revoked token); `message` is `HTTP <status>: <errors>`. */
class RenewalRefused extends Error {
  constructor(
    readonly status: number,
    detail: string,
  ) {
    super(`HTTP ${status}: ${detail || 'no reason given'}`);
  }
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
 * - A renewal (or re-login) that fails is logged through the platform logger
 *   ({@link VaultSecrets.attachLogger}; kept until then): at warn while the token has time left, at
 *   error once a sixth of its TTL or less is left, when it has expired, or when Vault refuses the
 *   token itself; then retried with backoff (5 s doubling up to 60 s, at most half the time left).
 *   A token that is not renewable is reported the same way before it expires. `healthCheck()` fails,
 *   naming the address and the path, while the token has expired, was refused, or renewal failed
 *   twice in a row. Never the token in a log line or a health detail.
 * - The mount is checked once (`sys/internal/ui/mounts/<mount>`): a KV version 1 mount, an engine
 *   that is not KV, or a mount configured as a path inside a KV v2 mount is one clear error, not
 *   "no secret here".
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
  private mountChecked = false;
  private readonly log = new DeferredLog();
  /** When the current token expires (ms since the epoch); `undefined` when it does not, or is not known. */
  private tokenExpiresAt: number | undefined;
  /** The TTL the current token was last granted (ms). */
  private tokenTtlMs = 0;
  private renewalTrouble: RenewalTrouble | undefined;

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

  /**
   * Logs renewal failures (and recoveries) through `logger` from now on, after those that happened
   * before it was given. The host calls it once the logging adapter exists.
   */
  attachLogger(logger: Logger): void {
    this.log.attach(logger);
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
   * answers with it and the token is fine; otherwise the message a lookup would fail with, and/or
   * what is wrong with the token: expired, refused at renewal, or renewal failing twice in a row
   * (never the token). Never throws.
   */
  async healthCheck(): Promise<HealthCheckResult> {
    let readProblem: string | undefined;
    try {
      await this.values({ fresh: true });
    } catch (error) {
      readProblem = error instanceof Error ? error.message : String(error);
    }
    const tokenProblem = this.tokenHealthProblem();
    if (readProblem === undefined && tokenProblem === undefined) return { ok: true };
    if (readProblem === undefined) return { ok: false, detail: this.failureText(tokenProblem ?? '') };
    return { ok: false, detail: tokenProblem === undefined ? readProblem : `${readProblem}; ${tokenProblem}` };
  }

  /** What is wrong with the token for health, or `undefined` while it is fine (or one renewal failed). */
  private tokenHealthProblem(): string | undefined {
    const trouble = this.renewalTrouble;
    if (trouble === undefined) return undefined;
    const remainingMs = this.tokenExpiresAt === undefined ? undefined : this.tokenExpiresAt - Date.now();
    if (remainingMs !== undefined && remainingMs <= 0)
      return `has an expired token (expired ${seconds(-remainingMs)} s ago; last renewal problem: ${trouble.problem})`;
    if (trouble.refused) return `refused to renew the token (${trouble.problem})`;
    if (trouble.failures < UNHEALTHY_AFTER_FAILURES) return undefined;
    return `cannot renew the token (failed ${trouble.failures} times in a row, last: ${trouble.problem})${remainingMs === undefined ? '' : `; it expires in ${seconds(remainingMs)} s`}`;
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
    if (!this.mountChecked) await this.checkMount();
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

  /**
   * Asks Vault what the mount is (once): a KV version 1 mount, another engine, or a path inside a
   * KV v2 mount is one clear error. No answer about it (a token that may not see the mount, a
   * server that does not know the endpoint) leaves the verdict to the read.
   */
  private async checkMount(): Promise<void> {
    const reply = await this.send('GET', `sys/internal/ui/mounts/${encodePath(this.mount)}`, this.token);
    if (reply.status >= 500) return;
    this.mountChecked = true;
    if (reply.status !== 200) return;
    const found = kvMountProblem(reply.body, this.mount, this.path);
    if (found === undefined) return;
    this.mountChecked = false;
    throw this.failure('PH_ERR_CONFIG_INVALID', found.problem, found.hint);
  }

  private async authenticate(): Promise<void> {
    if (this.auth.method === 'approle') {
      await this.login();
      return;
    }
    this.token = this.auth.token;
    this.renewalTrouble = undefined;
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
      this.renewalRecovered();
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
    this.tokenTtlMs = Math.max(0, lease.ttlSeconds * 1000);
    this.tokenExpiresAt = lease.ttlSeconds > 0 ? Date.now() + this.tokenTtlMs : undefined;
    if (this.closed) return;
    if (lease.ttlSeconds <= 0) {
      // A renewal that left no TTL at all (the max TTL is reached): an AppRole logs in again now.
      if (this.auth.method === 'approle' && this.lastTtlSeconds > 0)
        this.arm(0, () => this.attemptRenewal(() => this.login()));
      return;
    }
    const capped = this.lastTtlSeconds > 0 && lease.ttlSeconds < this.lastTtlSeconds;
    this.lastTtlSeconds = lease.ttlSeconds;
    const relogin = this.auth.method === 'approle' && (!lease.renewable || capped);
    const delay = Math.max(RETRY_MIN_MS, lease.ttlSeconds * 1000 * RENEW_AT_FRACTION);
    if (!relogin && !lease.renewable) {
      // A token that cannot be renewed: said before it expires (warn, then error), like a failed renewal.
      this.arm(delay, () =>
        Promise.resolve(this.renewalFailed('the token is not renewable', { kind: 'not-renewable' })),
      );
      return;
    }
    const work = relogin ? () => this.login() : () => this.renew();
    this.arm(delay, () => this.attemptRenewal(work));
  }

  /** One renewal (or re-login) from the timer; a failure is reported and the next attempt armed. */
  private async attemptRenewal(work: () => Promise<void>): Promise<void> {
    try {
      await work();
    } catch (error) {
      const prefix = this.failureText('');
      const message = error instanceof Error ? error.message : String(error);
      // "Vault at <address> (<path>) is unreachable ..." in the log line's fields already: "Vault is unreachable ...".
      const problem = message.startsWith(prefix) ? `Vault ${message.slice(prefix.length)}` : message;
      if (error instanceof RenewalRefused && error.status < 500) {
        const consequence = error.status === 403 ? 'it was revoked or is no longer valid' : 'nothing will renew it';
        this.renewalFailed(problem, { kind: 'none', consequence });
      } else {
        this.renewalFailed(problem, { kind: 'retry', work });
      }
    }
  }

  private arm(delayMs: number, work: () => Promise<void>): void {
    const timer = setTimeout(() => {
      if (this.timer !== timer || this.closed) return;
      this.timer = undefined;
      // attemptRenewal never rejects; a login at max TTL reports through it too.
      void work().catch(() => undefined);
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
      if (reply.status === 503) throw this.unexpected(reply, 'renewing the token');
      throw new RenewalRefused(reply.status, vaultErrors(reply.body));
    }
    this.renewalRecovered();
    this.scheduleRenewal({ ttlSeconds: numberOr(auth.lease_duration, 0), renewable: auth.renewable === true });
  }

  /** A renewal or login succeeded: after failures, says so (info) and clears them. */
  private renewalRecovered(): void {
    const trouble = this.renewalTrouble;
    this.renewalTrouble = undefined;
    if (trouble === undefined || trouble.failures === 0) return;
    this.log.write(
      'info',
      `Vault token renewed again after ${trouble.failures} failed attempt${trouble.failures === 1 ? '' : 's'}`,
      this.logFields({ failedAttempts: trouble.failures }),
    );
  }

  /**
   * Reports a failed renewal: at error when the token expired, is about to (a sixth of its TTL
   * left, or less), or Vault refused it; at warn otherwise. Then arms what comes next: a retry with
   * backoff (a token-auth token that expired is not retried: nothing can renew it; an AppRole
   * keeps trying to log in), or the next check of a token that cannot be renewed (at the point it
   * is about to expire, then at its expiry).
   */
  private renewalFailed(problem: string, next: NextAttempt): void {
    if (this.closed) return;
    const failures = (this.renewalTrouble?.failures ?? 0) + 1;
    this.renewalTrouble = { failures, problem, refused: next.kind === 'none' };
    const remainingMs = this.tokenExpiresAt === undefined ? undefined : this.tokenExpiresAt - Date.now();
    const expired = remainingMs !== undefined && remainingMs <= 0;
    const aboutToExpire = remainingMs !== undefined && remainingMs <= this.tokenTtlMs * ABOUT_TO_EXPIRE_FRACTION;
    let nextMs: number | undefined;
    if (next.kind === 'retry' && !(expired && this.auth.method === 'token')) {
      const backoff = Math.min(RETRY_MAX_MS, RETRY_AFTER_MS * 2 ** (failures - 1));
      nextMs =
        expired || remainingMs === undefined ? backoff : Math.max(RETRY_MIN_MS, Math.min(backoff, remainingMs / 2));
      const work = next.work;
      this.arm(nextMs, () => this.attemptRenewal(work));
    } else if (next.kind === 'not-renewable' && remainingMs !== undefined && !expired) {
      const untilAboutToExpire = remainingMs - this.tokenTtlMs * ABOUT_TO_EXPIRE_FRACTION;
      // Each check comes just after its point (timers may fire a millisecond early): when the
      // token is about to expire, then at its expiry.
      nextMs = Math.max(RETRY_MIN_MS, (untilAboutToExpire > 0 ? untilAboutToExpire : remainingMs) + CHECK_MARGIN_MS);
      this.arm(nextMs, () => Promise.resolve(this.renewalFailed(problem, next)));
    }
    const fields = this.logFields({
      attempt: failures,
      ...(remainingMs === undefined
        ? {}
        : expired
          ? { expiredSecondsAgo: seconds(-remainingMs) }
          : { expiresInSeconds: seconds(remainingMs) }),
      ...(nextMs === undefined ? {} : { nextAttemptInSeconds: seconds(nextMs) }),
    });
    const until =
      this.auth.method === 'token'
        ? 'SECRETS_VAULT_TOKEN is replaced (with a renewable token, or use AppRole) and the process restarted'
        : 'an AppRole login succeeds';
    const expiresIn = remainingMs === undefined ? '' : `; the token expires in ${seconds(remainingMs)} s`;
    if (expired) {
      const retrying = nextMs === undefined ? '' : ` (next attempt in ${seconds(nextMs)} s)`;
      this.log.write(
        'error',
        `Vault token expired (${problem}); reads of ${this.secretPath} fail until ${until}${retrying}`,
        fields,
      );
    } else if (next.kind === 'none') {
      this.log.write(
        'error',
        `Vault refused to renew the token (${problem}): ${next.consequence}, so reads of ${this.secretPath} will fail until ${until}`,
        fields,
      );
    } else if (next.kind === 'not-renewable') {
      this.log.write(
        aboutToExpire ? 'error' : 'warn',
        `Vault token is not renewable${expiresIn}; reads of ${this.secretPath} fail after that until ${until}`,
        fields,
      );
    } else {
      const retrying = nextMs === undefined ? '' : `, next attempt in ${seconds(nextMs)} s`;
      this.log.write(
        aboutToExpire ? 'error' : 'warn',
        `Vault token renewal failed (${problem})${expiresIn}${retrying}`,
        fields,
      );
    }
  }

  /** Fields of every renewal log line: where, and how the adapter authenticates (never the token). */
  private logFields(extra: LogFields): LogFields {
    return {
      address: this.address,
      // Not "secretPath": the host redacts fields whose names look like credentials.
      vaultPath: this.secretPath,
      ...(this.namespace === undefined ? {} : { namespace: this.namespace }),
      auth: this.auth.method,
      ...extra,
    };
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
    return new PlatformError(code, this.failureText(problem), { hint, cause });
  }

  private failureText(problem: string): string {
    return `Vault at ${this.address} (${this.secretPath}${this.namespaceNote()}) ${problem}`;
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

/** Milliseconds as whole seconds, rounded up (a token with 300 ms left "expires in 1 s"). */
function seconds(ms: number): number {
  return Math.ceil(ms / 1000);
}

function numberOr(value: unknown, fallback: number): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : fallback;
}
