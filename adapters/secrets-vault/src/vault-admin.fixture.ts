import { randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * Test setup against a real Vault/OpenBao with its root token, over the plain HTTP API (so the
 * tests do not check the adapter with its own client): secrets, policies, tokens, AppRole,
 * namespaces. Every name a test creates carries a random suffix.
 */
export class VaultAdmin {
  constructor(
    readonly address: string,
    private readonly rootToken: string,
  ) {}

  /** A random suffix for unique names. */
  static suffix(): string {
    return randomBytes(5).toString('hex');
  }

  /** `method /v1/<path>` with the root token; rejects on a status outside 2xx, naming it. */
  async call(
    method: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'LIST',
    path: string,
    body?: unknown,
    namespace?: string,
  ): Promise<unknown> {
    const headers: Record<string, string> = { 'X-Vault-Token': this.rootToken };
    if (namespace !== undefined) headers['X-Vault-Namespace'] = namespace;
    const response = await fetch(`${this.address}/v1/${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${path}: HTTP ${response.status} ${text}`);
    return text === '' ? undefined : (JSON.parse(text) as unknown);
  }

  /** Writes a new version of the KV v2 secret `mount/path`. */
  async writeSecret(path: string, data: Readonly<Record<string, unknown>>, mount = 'secret', namespace?: string) {
    await this.call('POST', `${mount}/data/${path}`, { data }, namespace);
  }

  /** Deletes the secret `mount/path` with all its versions. */
  async destroySecret(path: string, mount = 'secret', namespace?: string): Promise<void> {
    await this.call('DELETE', `${mount}/metadata/${path}`, undefined, namespace);
  }

  /** An ACL policy allowing `read` on `secret/data/<path>`; returns its name. */
  async readPolicy(path: string, mount = 'secret'): Promise<string> {
    const name = `platform-test-${VaultAdmin.suffix()}`;
    await this.call('PUT', `sys/policies/acl/${name}`, {
      policy: `path "${mount}/data/${path}" { capabilities = ["read"] }`,
    });
    return name;
  }

  /** A new token with these policies and TTL (e.g. `"3s"`); returns it. */
  async createToken(options: { policies: string[]; ttl?: string; renewable?: boolean }): Promise<string> {
    const reply = (await this.call('POST', 'auth/token/create', {
      policies: options.policies,
      ttl: options.ttl,
      renewable: options.renewable ?? true,
      no_default_policy: false,
    })) as { auth: { client_token: string } };
    return reply.auth.client_token;
  }

  /** What the server knows about a token, or `undefined` once it is revoked or expired. */
  async lookupToken(token: string): Promise<{ ttl: number; last_renewal_time?: number } | undefined> {
    try {
      const reply = (await this.call('POST', 'auth/token/lookup', { token })) as {
        data: { ttl: number; last_renewal_time?: number };
      };
      return reply.data;
    } catch (error) {
      if (/HTTP 403/.test(String(error))) return undefined;
      throw error;
    }
  }

  /**
   * Enables AppRole at a unique mount and creates a role with the policies and token TTLs given;
   * returns the mount, the role ID and a secret ID.
   */
  async appRole(options: {
    policies: string[];
    tokenTtl: string;
    tokenMaxTtl: string;
    /** How many logins a secret ID allows (default: no limit). */
    secretIdNumUses?: number;
  }): Promise<{ mount: string; roleId: string; secretId: string }> {
    const mount = `approle-${VaultAdmin.suffix()}`;
    await this.call('POST', `sys/auth/${mount}`, { type: 'approle' });
    await this.call('POST', `auth/${mount}/role/app`, {
      token_policies: options.policies,
      token_ttl: options.tokenTtl,
      token_max_ttl: options.tokenMaxTtl,
      secret_id_num_uses: options.secretIdNumUses ?? 0,
    });
    const role = (await this.call('GET', `auth/${mount}/role/app/role-id`)) as { data: { role_id: string } };
    const secret = (await this.call('POST', `auth/${mount}/role/app/secret-id`)) as { data: { secret_id: string } };
    return { mount, roleId: role.data.role_id, secretId: secret.data.secret_id };
  }

  /** Enables a secrets engine at `mount` (`sys/mounts/<mount>`), e.g. `{ type: 'kv', options: { version: '1' } }`. */
  async enableEngine(mount: string, config: { type: string; options?: Record<string, string> }): Promise<void> {
    await this.call('POST', `sys/mounts/${mount}`, config);
  }

  /** Disables the secrets engine at `mount` (and deletes what it holds). */
  async disableEngine(mount: string): Promise<void> {
    await this.call('DELETE', `sys/mounts/${mount}`);
  }

  /** Removes an auth method mount (and every token it issued). */
  async disableAuth(mount: string): Promise<void> {
    await this.call('DELETE', `sys/auth/${mount}`);
  }
}

/** One request a {@link RecordingProxy} forwarded. */
export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
}

/**
 * A local HTTP server in front of the real Vault that records every request (method, path,
 * headers) and forwards it unchanged: shows how many reads the adapter made and what it sent.
 */
export class RecordingProxy {
  readonly requests: RecordedRequest[] = [];
  private server: Server | undefined;

  constructor(private readonly target: string) {}

  /** Starts listening on `port` of 127.0.0.1 (default: a free one; again the same after a stop); returns the proxy's address. */
  async start(port = 0): Promise<string> {
    const server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        this.requests.push({ method: request.method ?? '', path: request.url ?? '', headers: request.headers });
        const headers = Object.fromEntries(
          Object.entries(request.headers).filter(
            (entry): entry is [string, string] =>
              typeof entry[1] === 'string' && !['host', 'connection', 'content-length'].includes(entry[0]),
          ),
        );
        const body = chunks.length > 0 ? Buffer.concat(chunks) : undefined;
        fetch(`${this.target}${request.url ?? ''}`, { method: request.method, headers, body })
          .then(async (upstream) => {
            response.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? '' });
            response.end(Buffer.from(await upstream.arrayBuffer()));
          })
          .catch(() => {
            response.writeHead(502);
            response.end();
          });
      });
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', resolve);
    });
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  /** How many recorded requests had this method and a path matching `path`. */
  count(method: string, path: RegExp): number {
    return this.requests.filter((request) => request.method === method && path.test(request.path)).length;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
