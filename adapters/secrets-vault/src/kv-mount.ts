/**
 * What a mount really is, from Vault's mount details (`GET /v1/sys/internal/ui/mounts/<path>`: the
 * endpoint the `vault kv` / `bao kv` CLI uses for its KV version preflight; it answers for any token
 * with a capability on a path in the mount, with `type`, `options.version` and the mount's own
 * `path`). A KV version 1 mount, or an engine that is not KV, answers the KV v2 read
 * `GET <mount>/data/<path>` with a 404 that looks just like "no secret here": this tells them apart.
 */

/** Why the mount cannot serve KV version 2 reads: the problem (after `Vault at <addr> (<mount>/<path>)`) and a hint. */
export interface KvMountProblem {
  readonly problem: string;
  readonly hint: string;
}

/**
 * The problem with `mount` (as configured, without slashes; `path` the secret in it) given the body of its mount details,
 * or `undefined` when it is a KV version 2 mount, or when the body does not say (a shape this code
 * does not know: the read that follows reports what is wrong, if anything).
 */
export function kvMountProblem(body: unknown, mount: string, path: string): KvMountProblem | undefined {
  const data = (
    body as { data?: { type?: unknown; path?: unknown; options?: { version?: unknown } | null } } | undefined
  )?.data;
  const type = data?.type;
  if (typeof type !== 'string') return undefined;
  const mountPath = typeof data?.path === 'string' ? data.path.replace(/^\/+|\/+$/g, '') : mount;
  const version = data?.options?.version;
  if (type !== 'kv' && type !== 'generic') {
    return {
      problem: `has a ${type} secrets engine at mount ${mountPath}/, not KV version 2; set SECRETS_VAULT_MOUNT to a KV version 2 mount`,
      hint: `Enable one with \`vault secrets enable -path=<mount> -version=2 kv\` (or \`bao ...\`), write the keys to <mount>/${path}, and set SECRETS_VAULT_MOUNT to it.`,
    };
  }
  // No version option at all is a KV version 1 mount (as it was before versions existed).
  if (version !== '2' && version !== 2) {
    return {
      problem: `has KV version 1 at mount ${mountPath}/ (this adapter reads KV version 2); set up KV version 2 there or set SECRETS_VAULT_MOUNT to a KV version 2 mount`,
      hint: `Upgrade the mount in place with \`vault kv enable-versioning ${mountPath}\` (or \`bao kv enable-versioning ${mountPath}\`; the data is kept), or enable a new one with \`vault secrets enable -path=<mount> -version=2 kv\`.`,
    };
  }
  if (mount.startsWith(`${mountPath}/`)) {
    const inner = `${mount.slice(mountPath.length + 1)}/${path}`;
    return {
      problem: `has the KV version 2 mount ${mountPath}/ around SECRETS_VAULT_MOUNT ${mount}; set SECRETS_VAULT_MOUNT=${mountPath} and SECRETS_VAULT_PATH=${inner}`,
      hint: `KV version 2 reads <mount>/data/<path>: the part of the path inside the mount belongs in SECRETS_VAULT_PATH.`,
    };
  }
  return undefined;
}
