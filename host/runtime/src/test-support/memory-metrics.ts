import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Metrics } from '@platform-host/contracts';
import { REPO_ADAPTERS } from './fixture-project.js';

/** The read-back part of the metrics-memory adapter that runtime tests use. */
export interface ReadableMetrics extends Metrics {
  value(name: string, labels?: Readonly<Record<string, string>>): number | undefined;
  histogramData(
    name: string,
    labels?: Readonly<Record<string, string>>,
  ): { count: number; sum: number; buckets: ReadonlyArray<{ le: number; count: number }> } | undefined;
  total(name: string): number;
}

/**
 * A real metrics-memory adapter, loaded from the repository's built adapters at test time (the
 * runtime cannot depend on an adapter package at compile time: adapters depend on the runtime's
 * test kit).
 */
export async function memoryMetrics(): Promise<ReadableMetrics> {
  const entry = pathToFileURL(join(REPO_ADAPTERS, 'metrics-memory', 'dist', 'index.js')).href;
  const loaded = (await import(entry)) as { MemoryMetrics: new () => ReadableMetrics };
  return new loaded.MemoryMetrics();
}
