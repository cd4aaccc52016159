import { createHash } from 'node:crypto';
import { expect } from 'chai';
import { PlatformError } from '@platform-host/contracts';
import { BatchBuilder, type EventBatch } from './batch-builder.js';
import { isRowDataError, KeyFingerprints, redactedMessage, splitBatch } from './warehouse-writer.js';

function queryError(sqlState: string | undefined): PlatformError {
  const error = new PlatformError('PH_ERR_DB_QUERY', 'PostgreSQL rejected "INSERT": value "secret" too long');
  return Object.assign(error, { sqlState });
}

describe('warehouse writer helpers', () => {
  it('remembers 64-bit key fingerprints exactly, through growth', () => {
    const set = new KeyFingerprints();
    const keys = Array.from({ length: 20_000 }, (_unused, n) => createHash('sha256').update(String(n)).digest('hex'));
    expect(keys.filter((key) => set.add(key)).length).to.equal(20_000);
    expect(keys.filter((key) => set.add(key)).length).to.equal(0);
    expect(set.add('0'.repeat(64))).to.equal(true);
    expect(set.add('0'.repeat(64))).to.equal(false);
    expect(set.size).to.equal(20_001);
  });

  it('treats data, integrity and program-limit SQLSTATEs as a row error, by code only', () => {
    expect(['22003', '22001', '23514', '54001'].map((state) => isRowDataError(queryError(state)))).to.deep.equal([
      true,
      true,
      true,
      true,
    ]);
    expect(['42P01', '08006', '57014', undefined].map((state) => isRowDataError(queryError(state)))).to.deep.equal([
      false,
      false,
      false,
      false,
    ]);
    expect(isRowDataError(Object.assign(new Error('value too long'), { sqlState: '22001' }))).to.equal(false);
  });

  it('redacts quoted values and keeps the message on one line', () => {
    expect(redactedMessage(new Error('PostgreSQL rejected "INSERT":\n value "secret" too long'))).to.equal(
      'PostgreSQL rejected "…": value "…" too long',
    );
  });

  it('splits a batch into halves that keep their rows and origins', () => {
    const batches: EventBatch[] = [];
    const builder = new BatchBuilder({
      eventDate: '2026-01-15',
      createdAt: new Date(),
      batchSize: 100,
      invalidLinesLogged: 0,
      onBatch: (batch) => batches.push(batch),
      onInvalidLine: () => undefined,
    });
    builder.startFile('a.jsonl');
    builder.addLines(
      Array.from({ length: 5 }, (_unused, n) => JSON.stringify({ event_type: 'e', source: 's', payload: { n } })),
    );
    builder.flush();
    const batch = batches[0] as EventBatch;
    const [first, second] = splitBatch(batch);
    const text = (part: EventBatch): string[] => Buffer.from(part.linesAscii).toString('latin1').trimEnd().split('\n');
    expect([first.size, second.size]).to.deep.equal([2, 3]);
    expect([...text(first), ...text(second)]).to.deep.equal(text(batch));
    expect([...first.origins, ...second.origins]).to.deep.equal([...batch.origins]);
  });
});
