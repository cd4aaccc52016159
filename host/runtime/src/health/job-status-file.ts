import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/** What a job's health status file holds (seed 8.3: jobs expose health through a file). */
export interface JobStatus {
  readonly module: string;
  readonly status: 'starting' | 'running' | 'succeeded' | 'failed' | 'shutting_down';
  readonly pid: number;
  readonly startedAt: string;
  readonly updatedAt: string;
  readonly exitCode?: number;
  readonly checks?: Record<string, { status: 'ok' | 'error'; adapter: string; detail?: string }>;
}

/** Default location: `PLATFORM_HEALTH_FILE`, else `<tmp>/platform-host/<module>.health.json`. */
export function jobStatusPath(moduleName: string, env: Readonly<Record<string, string | undefined>>): string {
  return env.PLATFORM_HEALTH_FILE ?? join(tmpdir(), 'platform-host', `${moduleName}.health.json`);
}

/** Writes the status atomically (temp file + rename) so an orchestrator never reads half a file. */
export function writeJobStatus(path: string, status: JobStatus): void {
  mkdirSync(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(status, null, 2)}\n`);
  renameSync(temporary, path);
}
