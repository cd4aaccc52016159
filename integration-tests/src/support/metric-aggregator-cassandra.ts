import { randomBytes } from 'node:crypto';
import cassandra from 'cassandra-driver';
import {
  expectStoredToMatch,
  expectedRollups,
  E2E_WINDOWS,
  type PublishedEvent,
  type RollupRow,
} from './metric-aggregator.js';

/**
 * A Cassandra keyspace of its own for metric_aggregator end-to-end tests, read back with the raw
 * cassandra-driver (the independent client: none of the project's database code). The worker
 * creates the tables itself (`PLATFORM_AUTO_MIGRATE=true`, the module's cql migrations).
 */
export class CassandraRollupsFixture {
  readonly keyspace = `it_metric_${randomBytes(4).toString('hex')}`;
  readonly client: cassandra.Client;

  constructor(readonly hosts: string) {
    this.client = new cassandra.Client({
      contactPoints: hosts.split(','),
      localDataCenter: 'datacenter1',
    });
  }

  /** Environment of a worker process on this keyspace (`--db cassandra`). */
  environment(): Record<string, string> {
    return { DB_CASSANDRA_HOSTS: this.hosts, DB_CASSANDRA_KEYSPACE: this.keyspace };
  }

  /** The rows of metric_rollups whose dimensions name `source`, keyed `window_seconds|start_seconds|event_type`. */
  async storedRollups(source: string): Promise<Map<string, RollupRow & { avg: number | null }>> {
    const rows = new Map<string, RollupRow & { avg: number | null }>();
    const exists = await this.client.execute(
      'SELECT table_name FROM system_schema.tables WHERE keyspace_name = ? AND table_name = ?',
      [this.keyspace, 'metric_rollups'],
      { prepare: true },
    );
    if (exists.rowLength === 0) return rows;
    for await (const row of iterate(this.client, this.keyspace)) {
      const dimensions = JSON.parse(String(row.dimensions)) as { event_type?: string; source?: string };
      if (dimensions.source !== source) continue;
      const start = (row.window_start as Date).getTime() / 1000;
      rows.set(`${Number(row.window_seconds)}|${start}|${dimensions.event_type ?? ''}`, {
        events: Number(row.event_count),
        values: Number(row.value_count),
        sum: nullableNumber(row.value_sum),
        min: nullableNumber(row.value_min),
        max: nullableNumber(row.value_max),
        avg: nullableNumber(row.value_avg),
      });
    }
    return rows;
  }

  /** Events applied for `source`: the sum of `event_count` over its one-minute windows. */
  async appliedEvents(source: string): Promise<number> {
    let total = 0;
    for (const [key, row] of await this.storedRollups(source)) if (key.startsWith('60|')) total += row.events;
    return total;
  }

  /** Every stored row equals the independently computed one: exact counts, sums within 1e-9 relative. */
  async expectRollupsToMatch(source: string, events: readonly PublishedEvent[]): Promise<void> {
    expectStoredToMatch(await this.storedRollups(source), expectedRollups(events, E2E_WINDOWS));
  }

  /** The message ids in the ledger (Redis Streams) that are among `ids`. */
  async ledgerRowsOf(ids: readonly string[]): Promise<number> {
    const wanted = new Set(ids);
    let found = 0;
    let pageState: string | undefined;
    do {
      const page = await this.client.execute(
        `SELECT message_id FROM ${this.keyspace}.metric_aggregator_applied_messages`,
        [],
        { fetchSize: 5000, ...(pageState === undefined ? {} : { pageState }) },
      );
      for (const row of page.rows) if (wanted.has(String(row.get('message_id')))) found += 1;
      pageState = page.pageState ?? undefined;
    } while (pageState !== undefined);
    return found;
  }

  async cleanup(): Promise<void> {
    await this.client.execute(`DROP KEYSPACE IF EXISTS ${this.keyspace}`).catch(() => undefined);
    await this.client.shutdown();
  }
}

/** Every row of the keyspace's metric_rollups, page by page. */
async function* iterate(client: cassandra.Client, keyspace: string): AsyncGenerator<cassandra.types.Row> {
  let pageState: string | undefined;
  do {
    const page = await client.execute(
      `SELECT window_seconds, window_start, dimensions, event_count, value_count, value_sum, value_min, value_max, value_avg
       FROM ${keyspace}.metric_rollups`,
      [],
      { fetchSize: 5000, ...(pageState === undefined ? {} : { pageState }) },
    );
    yield* page.rows;
    pageState = page.pageState ?? undefined;
  } while (pageState !== undefined);
}

function nullableNumber(value: unknown): number | null {
  return value === null || value === undefined ? null : Number(value);
}
