import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { expect } from 'chai';
import { eventsToJsonl, makeEvents, makeInvalidEvent, useRealService } from '@platform-host/test-kit';
import { batchEtlSummary, runBatchEtlCli } from './support/batch-etl.js';
import { cliEnv, platformHost, type CliRun } from './support/cli.js';
import { freshDatabase, psql } from './support/psql.js';

/**
 * Seed 10.3: batch_etl invoked exactly as in production — the real CLI as a subprocess — against a
 * real PostgreSQL (native, or a container) and local files; results checked with psql.
 */
describe('batch_etl end to end through the CLI (real PostgreSQL, local files)', function () {
  this.timeout(180_000);
  const postgres = useRealService('postgres');
  let database: { url: string; drop(): void };
  let lake: string;

  beforeEach(() => {
    database = freshDatabase(postgres().DB_POSTGRES_URL ?? '', 'it_etl');
    lake = mkdtempSync(join(tmpdir(), 'etl-lake-'));
    const partition = join(lake, 'raw', 'events', '2026-01-15');
    mkdirSync(join(partition, 'hour=01'), { recursive: true });
    const events = makeEvents(40);
    // 40 valid, 5 exact duplicates of some of them, 3 invalid, one malformed line; split over a
    // plain file with CRLF endings and a gzipped file in a subfolder.
    const first = new TextDecoder().decode(
      eventsToJsonl([...events.slice(0, 20), makeInvalidEvent('missing_type'), makeInvalidEvent('empty_event_type')]),
    );
    writeFileSync(
      join(partition, 'part-0.jsonl'),
      `\uFEFF${first.replace(/\n/g, '\r\n')}{"event_type": "broken",\r\n\r\n`,
    );
    writeFileSync(
      join(partition, 'hour=01', 'part-1.jsonl.gz'),
      gzipSync(eventsToJsonl([...events.slice(20), ...events.slice(0, 5), makeInvalidEvent('missing_source')])),
    );
    // A sibling partition that must not be read.
    mkdirSync(join(lake, 'raw', 'events', '2026-01-15-backup'));
    writeFileSync(
      join(lake, 'raw', 'events', '2026-01-15-backup', 'old.jsonl'),
      eventsToJsonl(makeEvents(7, { source: 'backup' })),
    );
  });
  afterEach(() => {
    database.drop();
    rmSync(lake, { recursive: true, force: true });
  });

  const run = (extra: string[] = []): Promise<CliRun> =>
    runBatchEtlCli(database.url, lake, ['--batch-size', '16', ...extra]);

  it('migrates, loads the partition with exact counts, and a rerun inserts nothing', async () => {
    const first = await run();
    expect(first.code, first.stderr + first.stdout).to.equal(0);
    expect(batchEtlSummary(first)).to.deep.include({ raw: 49, valid: 45, invalid: 4, duplicates: 5, inserted: 40 });
    expect(psql(database.url, 'SELECT count(*), count(DISTINCT dedup_key) FROM cleaned_events')).to.equal('40|40');
    expect(
      psql(
        database.url,
        "SELECT count(*) FROM cleaned_events WHERE source = 'backup' OR event_date <> DATE '2026-01-15'",
      ),
    ).to.equal('0');
    expect(psql(database.url, 'SELECT count(*) FROM _migrations')).to.equal('3');

    const second = await run();
    expect(second.code).to.equal(0);
    expect(batchEtlSummary(second)).to.deep.include({ inserted: 0 });
    expect(psql(database.url, 'SELECT count(*) FROM cleaned_events')).to.equal('40');
  });

  it('writes nothing with --dry-run', async () => {
    const dry = await run(['--dry-run']);
    expect(dry.code, dry.stderr).to.equal(0);
    expect(batchEtlSummary(dry)).to.deep.include({ raw: 49, valid: 45, inserted: 0 });
    expect(psql(database.url, "SELECT count(*) FROM pg_tables WHERE tablename = 'cleaned_events'")).to.equal('1');
    expect(psql(database.url, 'SELECT count(*) FROM cleaned_events')).to.equal('0');
  });

  it('exits 1 and names the problem when the database is unreachable', async () => {
    const broken = await platformHost(
      [
        'run',
        'batch_etl',
        '--db',
        'postgres',
        '--fs',
        'local',
        '--log',
        'json',
        '--date',
        '2026-01-15',
        '--source-path',
        'raw/events',
      ],
      cliEnv({ DB_POSTGRES_URL: 'postgresql://nobody:not-the-password@127.0.0.1:1/none', FS_LOCAL_ROOT: lake }),
    );
    expect(broken.code).to.equal(1);
    expect(broken.stdout + broken.stderr)
      .to.contain('Cannot connect database adapter postgres')
      .and.not.contain('not-the-password');
  });
});
