import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { expect } from 'chai';
import { DAMAGED_GZIP_KINDS, damagedGzip, eventsToJsonl, makeEvents, useRealService } from '@platform-host/test-kit';
import { logLines, runBatchEtlCli } from './support/batch-etl.js';
import { freshDatabase, psql } from './support/psql.js';

const PARTITION = join('raw', 'events', '2026-01-15');
const ROWS_PER_FILE = 1_000;

/** File `index` of the partition: its events name it in source and payload, so none dedups against another. */
function events(index: number): Uint8Array {
  return eventsToJsonl(makeEvents(ROWS_PER_FILE, { source: `file-${index}`, payload: { file: index } }));
}

/**
 * Rules 3 and 4 of issue 16 through the real CLI, against a real PostgreSQL and local files: a
 * partition of 8 files (plain and gzipped) where file 4 is damaged in each of the ways a data lake
 * sees. The 7 others load completely, nothing of file 4 reaches the table, and the run exits 1
 * naming it.
 */
describe('batch_etl through the CLI: one unreadable file does not hide the others (real PostgreSQL, local files)', function () {
  this.timeout(300_000);
  const postgres = useRealService('postgres');
  let database: { url: string; drop(): void };
  let lake: string;

  beforeEach(() => {
    database = freshDatabase(postgres().DB_POSTGRES_URL ?? '', 'it_etl_files');
    lake = mkdtempSync(join(tmpdir(), 'etl-unreadable-'));
    mkdirSync(join(lake, PARTITION), { recursive: true });
  });

  afterEach(() => {
    database.drop();
    rmSync(lake, { recursive: true, force: true });
  });

  for (const kind of DAMAGED_GZIP_KINDS) {
    it(`file 4 of 8 ${kind}: the other 7 files load exactly, none of it does, exit 1 with it named in the summary`, async () => {
      for (let index = 0; index < 8; index += 1) {
        const name = index === 3 || index % 2 === 1 ? `part-${index}.jsonl.gz` : `part-${index}.jsonl`;
        const bytes =
          index === 3 ? damagedGzip(events(index), kind) : index % 2 === 1 ? gzipSync(events(index)) : events(index);
        writeFileSync(join(lake, PARTITION, name), bytes);
      }

      const run = await runBatchEtlCli(database.url, lake, ['--batch-size', '250']);

      expect(run.code, run.stderr + run.stdout).to.equal(1);
      expect(
        psql(database.url, 'SELECT source, count(*) FROM cleaned_events GROUP BY source ORDER BY source'),
      ).to.equal([0, 1, 2, 4, 5, 6, 7].map((index) => `file-${index}|${ROWS_PER_FILE}`).join('\n'));
      const lines = logLines(run);
      const summary = lines.find((line) => line.message === 'Batch ETL complete')?.context;
      expect(summary).to.deep.include({
        files: 7,
        raw: 7 * ROWS_PER_FILE,
        inserted: 7 * ROWS_PER_FILE,
        unreadable_files: 1,
        unreadable: ['raw/events/2026-01-15/part-3.jsonl.gz'],
      });
      const skipped = lines.filter((line) => line.message === 'Unreadable file skipped');
      expect(skipped.map((line) => [line.context?.file, line.context?.rows_of_it_loaded])).to.deep.equal([
        ['raw/events/2026-01-15/part-3.jsonl.gz', 'none'],
      ]);
      expect(String(skipped[0]?.context?.error)).to.have.length.greaterThan(10);
      expect(lines.filter((line) => /rerunning is safe/i.test(line.message))).to.deep.equal([]);
    });
  }
});
