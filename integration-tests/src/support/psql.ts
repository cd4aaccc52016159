import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

/**
 * Runs SQL with `psql`, the independent client: results are checked without the project's own
 * database code. Returns unaligned, tuples-only output (`|`-separated columns), trimmed.
 */
export function psql(url: string, sql: string): string {
  const result = spawnSync('psql', [url, '-X', '-A', '-t', '-q', '-v', 'ON_ERROR_STOP=1', '-c', sql], {
    encoding: 'utf8',
  });
  if (result.error) throw new Error(`cannot run psql (install the PostgreSQL client): ${result.error.message}`);
  if (result.status !== 0) throw new Error(`psql failed (${result.status}): ${result.stderr.trim()}`);
  return result.stdout.trim();
}

/** `url` with its database replaced by `database`. */
export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/** Creates an empty database on the server of `adminUrl`; returns its URL and a drop function. */
export function freshDatabase(adminUrl: string, prefix = 'it'): { url: string; drop(): void } {
  const name = `${prefix}_${randomBytes(5).toString('hex')}`;
  psql(adminUrl, `CREATE DATABASE ${name}`);
  return {
    url: withDatabase(adminUrl, name),
    drop: () => {
      psql(adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}
