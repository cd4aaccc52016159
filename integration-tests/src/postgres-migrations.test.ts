import { cpSync, mkdtempSync, rmSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { useRealService } from '@platform-host/test-kit';
import { cliEnv, platformHost, REPO_ROOT } from './support/cli.js';
import { freshDatabase, psql } from './support/psql.js';

describe('migrations on a real PostgreSQL through the CLI', function () {
  this.timeout(180_000);
  const postgres = useRealService('postgres');
  let database: { url: string; drop(): void };

  beforeEach(() => {
    database = freshDatabase(postgres().DB_POSTGRES_URL ?? '', 'it_migrate');
  });
  afterEach(() => database.drop());

  it('migrate up creates the tables and status shows them applied; down rolls back the last one', async () => {
    const env = cliEnv({ DB_POSTGRES_URL: database.url });
    const up = await platformHost(['migrate', 'up', '--db', 'postgres', '--log', 'json'], env);
    expect(up.code, up.stderr).to.equal(0);
    expect(up.stdout).to.contain(
      'applied 13: 001_create_migrations_table, 002_create_events_table, batch_etl/001_create_cleaned_events_table, ' +
        'data_quality/001_create_dq_check_results_table, metric_aggregator/001_create_metric_rollups_table, ' +
        'metric_aggregator/002_create_metric_aggregator_state_tables, metric_aggregator/003_metric_rollups_fillfactor, ' +
        'metric_aggregator/004_applied_messages_ids_index, metric_aggregator/005_applied_messages_id_bounds, ' +
        'stream_ingest/001_create_ingested_events_table, ' +
        'stream_ingest/002_create_lake_files_table, stream_ingest/003_create_stream_ingest_state_tables, ' +
        'stream_ingest/004_drop_ingested_events_file_path_index',
    );
    expect(
      psql(
        database.url,
        "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'public'",
      ),
    ).to.equal(
      '_migrations,cleaned_events,dq_check_results,events,ingested_events,lake_files,metric_aggregator_applied_messages,' +
        'metric_aggregator_partition_offsets,metric_aggregator_watermarks,metric_rollups,stream_ingest_partitions,' +
        'stream_ingest_publications',
    );
    const status = await platformHost(['migrate', 'status', '--db', 'postgres', '--log', 'json'], env);
    expect(status.stdout).to.match(/shared\s+002_create_events_table\s+applied\s+\d{4}-/);
    expect(status.stdout).to.match(/batch_etl\s+001_create_cleaned_events_table\s+applied\s+\d{4}-/);
    const own = await platformHost(
      ['migrate', 'status', '--module', 'batch_etl', '--db', 'postgres', '--log', 'json'],
      env,
    );
    expect(own.stdout).to.contain('001_create_cleaned_events_table').and.not.contain('002_create_events_table');
    const fileIndexes = (): string =>
      psql(database.url, "SELECT count(*) FROM pg_indexes WHERE indexname = 'idx_ingested_events_file_path'");
    expect(fileIndexes()).to.equal('0');
    const downIndex = await platformHost(['migrate', 'down', '--db', 'postgres', '--log', 'json'], env);
    expect(downIndex.stdout).to.contain('rolled back 1: stream_ingest/004_drop_ingested_events_file_path_index');
    expect(fileIndexes()).to.equal('1');
    const down = await platformHost(['migrate', 'down', '--db', 'postgres', '--log', 'json'], env);
    expect(down.stdout).to.contain('rolled back 1: stream_ingest/003_create_stream_ingest_state_tables');
    expect(psql(database.url, "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'stream_ingest_%'")).to.equal('0');
    expect(psql(database.url, "SELECT count(*) FROM pg_tables WHERE tablename = 'lake_files'")).to.equal('1');
    expect(psql(database.url, "SELECT reloptions FROM pg_class WHERE relname = 'metric_rollups'")).to.equal(
      '{fillfactor=70}',
    );
    /** `migrate down --module owner` rolls back exactly `migration`, the owner's last one. */
    const rollBackOne = async (owner: string, migration: string): Promise<void> => {
      const run = await platformHost(['migrate', 'down', '--module', owner, '--db', 'postgres', '--log', 'json'], env);
      expect(run.stdout).to.contain(`rolled back 1: ${migration}`);
    };
    const ledgerIdsIndexes = (): string =>
      psql(
        database.url,
        "SELECT count(*) FROM pg_indexes WHERE indexname = 'idx_metric_aggregator_applied_messages_ids'",
      );
    await rollBackOne('metric_aggregator', 'metric_aggregator/005_applied_messages_id_bounds');
    expect(
      psql(
        database.url,
        "SELECT count(*) FROM information_schema.columns WHERE table_name = 'metric_aggregator_applied_messages' AND column_name IN ('min_ms', 'max_ms')",
      ),
    ).to.equal('0');
    expect(ledgerIdsIndexes()).to.equal('1');
    await rollBackOne('metric_aggregator', 'metric_aggregator/004_applied_messages_ids_index');
    expect(ledgerIdsIndexes()).to.equal('0');
    await rollBackOne('metric_aggregator', 'metric_aggregator/003_metric_rollups_fillfactor');
    expect(psql(database.url, "SELECT reloptions FROM pg_class WHERE relname = 'metric_rollups'")).to.equal('');
    await rollBackOne('metric_aggregator', 'metric_aggregator/002_create_metric_aggregator_state_tables');
    expect(psql(database.url, "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'metric_aggregator_%'")).to.equal(
      '0',
    );
    expect(psql(database.url, "SELECT count(*) FROM pg_tables WHERE tablename = 'metric_rollups'")).to.equal('1');
    await rollBackOne('data_quality', 'data_quality/001_create_dq_check_results_table');
    expect(psql(database.url, "SELECT count(*) FROM pg_tables WHERE tablename = 'dq_check_results'")).to.equal('0');
    await rollBackOne('batch_etl', 'batch_etl/001_create_cleaned_events_table');
    expect(psql(database.url, "SELECT count(*) FROM pg_tables WHERE tablename = 'cleaned_events'")).to.equal('0');
    expect(psql(database.url, "SELECT count(*) FROM pg_tables WHERE tablename = 'events'")).to.equal('1');
  });

  it('two migrate up processes started together apply each migration exactly once', async () => {
    const env = cliEnv({ DB_POSTGRES_URL: database.url });
    const runs = await Promise.all(
      [1, 2, 3].map(() => platformHost(['migrate', 'up', '--db', 'postgres', '--log', 'json'], env)),
    );
    for (const run of runs) expect(run.code, run.stderr).to.equal(0);
    const applied = runs.flatMap((run) => /applied \d+: (.*)/.exec(run.stdout)?.[1]?.split(', ') ?? []);
    expect(applied.sort()).to.deep.equal([
      '001_create_migrations_table',
      '002_create_events_table',
      'batch_etl/001_create_cleaned_events_table',
      'data_quality/001_create_dq_check_results_table',
      'metric_aggregator/001_create_metric_rollups_table',
      'metric_aggregator/002_create_metric_aggregator_state_tables',
      'metric_aggregator/003_metric_rollups_fillfactor',
      'metric_aggregator/004_applied_messages_ids_index',
      'metric_aggregator/005_applied_messages_id_bounds',
      'stream_ingest/001_create_ingested_events_table',
      'stream_ingest/002_create_lake_files_table',
      'stream_ingest/003_create_stream_ingest_state_tables',
      'stream_ingest/004_drop_ingested_events_file_path_index',
    ]);
    expect(psql(database.url, 'SELECT count(*), count(DISTINCT (owner, name)) FROM _migrations')).to.equal('13|13');
  });

  it('blocks up with a clear message when an applied migration was changed afterwards', async () => {
    const copy = mkdtempSync(join(tmpdir(), 'migrations-copy-'));
    try {
      cpSync(join(REPO_ROOT, 'migrations', 'src'), join(copy, 'src'), { recursive: true });
      cpSync(join(REPO_ROOT, 'migrations', 'dist'), join(copy, 'dist'), { recursive: true });
      const env = cliEnv({ DB_POSTGRES_URL: database.url, PLATFORM_MIGRATIONS_DIR: copy });
      expect(
        (
          await platformHost(
            ['migrate', 'up', '--module', 'shared', '--db', 'postgres', '--target', '2', '--log', 'json'],
            env,
          )
        ).code,
      ).to.equal(0);
      appendFileSync(join(copy, 'src', '002_create_events_table.ts'), '\n// edited after it was applied\n');
      const status = await platformHost(['migrate', 'status', '--db', 'postgres', '--log', 'json'], env);
      expect(status.stdout).to.match(/002_create_events_table\s+changed/);
      const up = await platformHost(['migrate', 'up', '--db', 'postgres', '--log', 'json'], env);
      expect(up.code).to.equal(1);
      expect(up.stderr)
        .to.contain('PH_ERR_MIGRATION')
        .and.contain('002_create_events_table changed after being applied');
      expect(psql(database.url, "SELECT count(*) FROM pg_tables WHERE tablename = 'cleaned_events'")).to.equal('0');
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  });
});
