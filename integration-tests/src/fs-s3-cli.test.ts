import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { expect } from 'chai';
import { S3FileSystem } from '@platform-host/adapter-fs-s3';
import { eventsToJsonl, makeEvents, makeInvalidEvent, useRealService } from '@platform-host/test-kit';
import { batchEtlSummary } from './support/batch-etl.js';
import { cliEnv, platformHost } from './support/cli.js';
import { freshDatabase, psql } from './support/psql.js';

const MINIO_KEYS = ['FS_MINIO_ENDPOINT', 'FS_MINIO_ACCESS_KEY', 'FS_MINIO_SECRET_KEY', 'FS_MINIO_BUCKET'];

/**
 * `--fs minio` through the real CLI: discovery lists the adapter, `doctor` names its keys and never
 * their values, and batch_etl reads a partition from the real MinIO bucket.
 */
describe('fs-s3 through the CLI (real MinIO and PostgreSQL)', function () {
  this.timeout(180_000);
  const objectStore = useRealService('object-store');
  const postgres = useRealService('postgres');

  it('lists fs-s3 among the plugins, selected by --fs s3 and --fs minio', async function () {
    const listed = await platformHost(['plugins', 'list'], cliEnv({}));
    expect(listed.code, listed.stderr).to.equal(0);
    const line = listed.stdout.split('\n').find((text) => /\bfs-s3\b/.test(text));
    expect(line, listed.stdout)
      .to.match(/filesystem: --fs s3\|minio/)
      .and.match(/\bok\b/);
  });

  it('doctor --fs minio names every key of the flag and no value; a missing one fails the check', async function () {
    const secret = `secret-${randomUUID()}`;
    const accessKey = `access-${randomUUID().slice(0, 8)}`;
    const values = {
      FS_MINIO_ENDPOINT: objectStore().FS_MINIO_ENDPOINT ?? '',
      FS_MINIO_ACCESS_KEY: accessKey,
      FS_MINIO_SECRET_KEY: secret,
      FS_MINIO_BUCKET: 'doctor-bucket',
    };
    const ok = await platformHost(['doctor', '--fs', 'minio', '--env', 'test'], cliEnv(values));
    expect(ok.code, ok.stdout).to.equal(0);
    expect(ok.stdout).to.contain('--fs minio -> fs-s3');
    for (const key of MINIO_KEYS) expect(ok.stdout).to.match(new RegExp(`✓ ${key} \\(fs-s3, required[^)]*\\): set`));
    expect(ok.stdout).to.contain('FS_MINIO_SECRET_KEY (fs-s3, required, secret): set');
    expect(ok.stdout).to.not.contain('FS_S3_BUCKET');
    for (const value of [secret, accessKey, 'doctor-bucket']) expect(ok.stdout + ok.stderr).to.not.contain(value);

    const { FS_MINIO_SECRET_KEY: _omitted, ...withoutSecret } = values;
    const env = cliEnv(withoutSecret);
    delete env.FS_MINIO_SECRET_KEY;
    const missing = await platformHost(['doctor', '--fs', 'minio', '--env', 'test'], env);
    expect(missing.code, missing.stdout).to.equal(2);
    expect(missing.stdout).to.contain('✗ FS_MINIO_SECRET_KEY (fs-s3, required, secret): MISSING');
    expect(missing.stdout + missing.stderr).to.not.contain(accessKey);
  });

  it('runs batch_etl --fs minio on a partition in the bucket: plain and gzipped files loaded with exact counts', async function () {
    const env = objectStore();
    const prefix = `it-fs-s3-${randomUUID().slice(0, 8)}/`;
    const lake = new S3FileSystem({
      endpoint: env.FS_MINIO_ENDPOINT,
      bucket: env.FS_MINIO_BUCKET ?? 'platform-test',
      accessKey: env.FS_MINIO_ACCESS_KEY,
      secretKey: env.FS_MINIO_SECRET_KEY,
      keyPrefix: prefix,
    });
    const database = freshDatabase(postgres().DB_POSTGRES_URL ?? '', 'it_fs_s3');
    const status = mkdtempSync(join(tmpdir(), 'fs-s3-status-'));
    try {
      await lake.connect();
      const events = makeEvents(30);
      await lake.write(
        'raw/events/2026-01-15/part-0.jsonl',
        eventsToJsonl([...events.slice(0, 20), makeInvalidEvent('missing_type')]),
      );
      await lake.write(
        'raw/events/2026-01-15/hour=01/part-1.jsonl.gz',
        gzipSync(eventsToJsonl([...events.slice(20), ...events.slice(0, 3)])),
      );
      await lake.write('raw/events/2026-01-15-backup/old.jsonl', eventsToJsonl(makeEvents(5, { source: 'backup' })));
      const run = await platformHost(
        [
          ...['run', 'batch_etl', '--db', 'postgres', '--fs', 'minio', '--env', 'test', '--log', 'json'],
          ...['--date', '2026-01-15', '--source-path', 'raw/events', '--batch-size', '8'],
        ],
        cliEnv({
          DB_POSTGRES_URL: database.url,
          FS_MINIO_ENDPOINT: env.FS_MINIO_ENDPOINT ?? '',
          FS_MINIO_ACCESS_KEY: env.FS_MINIO_ACCESS_KEY ?? '',
          FS_MINIO_SECRET_KEY: env.FS_MINIO_SECRET_KEY ?? '',
          FS_MINIO_BUCKET: env.FS_MINIO_BUCKET ?? 'platform-test',
          FS_MINIO_PREFIX: prefix,
          PLATFORM_HEALTH_FILE: join(status, 'status.json'),
        }),
      );
      expect(run.code, run.stderr + run.stdout).to.equal(0);
      expect(batchEtlSummary(run)).to.deep.include({ raw: 34, valid: 33, invalid: 1, duplicates: 3, inserted: 30 });
      expect(psql(database.url, "SELECT count(*) FROM cleaned_events WHERE source <> 'backup'")).to.equal('30');
    } finally {
      for (const path of await lake.list('').catch(() => [])) await lake.delete(path);
      await lake.disconnect();
      database.drop();
      rmSync(status, { recursive: true, force: true });
    }
  });
});
