/** Reading a docker-compose file (services, ports, mounts, environment) and its structural rules. */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { arrayOf, isRecord, recordOf, scalarText, stringOf, stringsOf } from './plain-data.js';

export type ComposeService = Record<string, unknown>;

/** The services of a compose document, by name. */
export function composeServices(compose: unknown): Map<string, ComposeService> {
  return new Map(
    Object.entries(recordOf(recordOf(compose).services)).map(([name, service]) => [name, recordOf(service)]),
  );
}

/**
 * Compose variable interpolation for the forms used here: `$$` (a literal `$`), `${VAR}`,
 * `${VAR:-default}` and `${VAR-default}`, with variables from `variables` (none by default, so
 * defaults apply).
 */
export function interpolate(text: string, variables: Readonly<Record<string, string>> = {}): string {
  return text.replace(
    /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}/g,
    (whole, name: string | undefined, operator: string | undefined, fallback: string | undefined) => {
      if (whole === '$$') return '$';
      const value = variables[name ?? ''];
      if (operator === ':-') return value === undefined || value === '' ? (fallback ?? '') : value;
      if (operator === '-') return value ?? fallback ?? '';
      return value ?? '';
    },
  );
}

/** A port published on the host. */
export interface PublishedPort {
  readonly host: number;
  readonly container: number;
  readonly hostIp: string | undefined;
}

/** The ports a service publishes on the host (short `[ip:]host:container` and long syntax). */
export function publishedPorts(service: ComposeService): PublishedPort[] {
  const out: PublishedPort[] = [];
  for (const entry of arrayOf(service.ports)) {
    if (isRecord(entry)) {
      const host = Number(scalarText(entry.published));
      const container = Number(scalarText(entry.target));
      if (Number.isInteger(host)) out.push({ host, container, hostIp: stringOf(entry.host_ip) });
      continue;
    }
    const text = scalarText(entry)?.replace(/\/(tcp|udp)$/, '');
    if (text === undefined) continue;
    const parts = text.split(':');
    if (parts.length < 2) continue;
    const container = Number(parts.at(-1));
    const host = Number(parts.at(-2));
    out.push({ host, container, hostIp: parts.length === 3 ? parts[0] : undefined });
  }
  return out;
}

/** A bind mount of a service, its source resolved against the compose file's folder. */
export interface BindMount {
  readonly source: string;
  readonly target: string;
  readonly readOnly: boolean;
  readonly createHostPath: boolean;
}

/** Bind mounts (short `./src:/target[:ro]` and long `type: bind`); named volumes are left out. */
export function bindMounts(service: ComposeService, composeDir: string): BindMount[] {
  const out: BindMount[] = [];
  for (const entry of arrayOf(service.volumes)) {
    if (isRecord(entry)) {
      const source = stringOf(entry.source);
      if (entry.type !== 'bind' || source === undefined) continue;
      out.push({
        source: resolve(composeDir, interpolate(source)),
        target: stringOf(entry.target) ?? '',
        readOnly: entry.read_only === true,
        createHostPath: recordOf(entry.bind).create_host_path === true,
      });
      continue;
    }
    const text = stringOf(entry);
    if (text === undefined) continue;
    const [source = '', target = '', mode = ''] = text.split(':');
    if (!source.startsWith('.') && !source.startsWith('/')) continue;
    // Docker would create a missing short-syntax source as an empty folder, which is never what
    // a mounted config file wants: only the long syntax with create_host_path opts into that.
    out.push({
      source: resolve(composeDir, interpolate(source)),
      target,
      readOnly: mode.split(',').includes('ro'),
      createHostPath: false,
    });
  }
  return out;
}

/** The environment of a service (map or `KEY=value` list), interpolated with defaults. */
export function environmentOf(service: ComposeService): Record<string, string> {
  const env: Record<string, string> = {};
  const raw = service.environment;
  if (Array.isArray(raw)) {
    for (const item of stringsOf(raw)) {
      const index = item.indexOf('=');
      if (index > 0) env[item.slice(0, index)] = interpolate(item.slice(index + 1));
    }
  } else {
    for (const [key, value] of Object.entries(recordOf(raw))) env[key] = interpolate(scalarText(value) ?? '');
  }
  return env;
}

/** The command of a service as a list (interpolated), or undefined when it has none. */
export function commandOf(service: ComposeService): string[] | undefined {
  if (Array.isArray(service.command)) return stringsOf(service.command).map((part) => interpolate(part));
  const text = stringOf(service.command);
  return text === undefined ? undefined : interpolate(text).split(/\s+/).filter(Boolean);
}

/** The services that depend_on names, with the condition (short list syntax: service_started). */
export function dependencies(service: ComposeService): Map<string, string> {
  const raw = service.depends_on;
  if (Array.isArray(raw)) return new Map(stringsOf(raw).map((name) => [name, 'service_started']));
  return new Map(
    Object.entries(recordOf(raw)).map(([name, spec]) => [
      name,
      stringOf(recordOf(spec).condition) ?? 'service_started',
    ]),
  );
}

/** A one-shot service: it runs to completion (restart "no") and needs no healthcheck. */
export function isOneShot(service: ComposeService): boolean {
  return service.restart === 'no';
}

/** A service built from a Dockerfile of this repository, with the Dockerfile's path. */
export function builtDockerfile(
  service: ComposeService,
  composeDir: string,
): { context: string; dockerfile: string } | undefined {
  const build = service.build;
  if (build === undefined) return undefined;
  const context = resolve(composeDir, typeof build === 'string' ? build : (stringOf(recordOf(build).context) ?? '.'));
  const dockerfile = resolve(context, isRecord(build) ? (stringOf(build.dockerfile) ?? 'Dockerfile') : 'Dockerfile');
  return { context, dockerfile };
}

/**
 * Structural problems of a compose file: files it references that do not exist (build context,
 * Dockerfile, bind-mount sources unless compose creates them), host ports published twice,
 * long-running services without a healthcheck (`hasImageHealthcheck` says whether a built
 * image brings its own), and depends_on entries naming unknown services or waiting for the
 * health of a service without one.
 */
export function composeProblems(
  compose: unknown,
  composeDir: string,
  hasImageHealthcheck: (dockerfile: string) => boolean,
): string[] {
  const problems: string[] = [];
  const services = composeServices(compose);
  if (services.size === 0) problems.push('the compose file defines no services');
  const hostPorts = new Map<number, string>();
  const healthy = new Set<string>();
  for (const [name, service] of services) {
    const built = builtDockerfile(service, composeDir);
    if (built !== undefined) {
      if (!existsSync(built.context)) problems.push(`${name}: build context ${built.context} does not exist`);
      if (!existsSync(built.dockerfile)) problems.push(`${name}: Dockerfile ${built.dockerfile} does not exist`);
    }
    if (built === undefined && stringOf(service.image) === undefined) problems.push(`${name}: neither image nor build`);
    for (const mount of bindMounts(service, composeDir)) {
      if (!existsSync(mount.source) && !mount.createHostPath)
        problems.push(`${name}: bind mount source ${mount.source} does not exist`);
    }
    for (const port of publishedPorts(service)) {
      if (!Number.isInteger(port.host) || !Number.isInteger(port.container))
        problems.push(`${name}: port mapping is not numeric`);
      const other = hostPorts.get(port.host);
      if (other !== undefined) problems.push(`${name}: host port ${port.host} is already published by ${other}`);
      hostPorts.set(port.host, name);
    }
    const ownHealthcheck =
      isRecord(service.healthcheck) && service.healthcheck.disable !== true && service.healthcheck.test !== undefined;
    const imageHealthcheck =
      built !== undefined && existsSync(built.dockerfile) && hasImageHealthcheck(built.dockerfile);
    if (ownHealthcheck || imageHealthcheck) healthy.add(name);
    else if (!isOneShot(service)) problems.push(`${name}: a long-running service without a healthcheck`);
  }
  for (const [name, service] of services) {
    for (const [dependency, condition] of dependencies(service)) {
      if (!services.has(dependency)) problems.push(`${name}: depends_on names unknown service ${dependency}`);
      else if (condition === 'service_healthy' && !healthy.has(dependency))
        problems.push(`${name}: waits for ${dependency} to be healthy, but it has no healthcheck`);
      else if (condition === 'service_completed_successfully' && !isOneShot(services.get(dependency) ?? {})) {
        problems.push(`${name}: waits for ${dependency} to complete, but it is not a one-shot service`);
      }
    }
  }
  return problems;
}
