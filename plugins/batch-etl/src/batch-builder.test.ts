import { expect } from 'chai';
import { BatchBuilder, RecentKeys, type EventBatch } from './batch-builder.js';

describe('recent dedup keys', () => {
  it('remembers at least the last `capacity` keys and forgets older generations', () => {
    const keys = new RecentKeys(2);
    for (const key of ['a', 'b', 'c', 'd']) keys.add(key);
    // a, b became the previous generation when c arrived; c, d started the current one.
    expect(['a', 'b', 'c', 'd'].map((key) => keys.has(key))).to.deep.equal([true, true, true, true]);
    keys.add('e');
    expect(['a', 'b', 'c', 'd', 'e'].map((key) => keys.has(key))).to.deep.equal([false, false, true, true, true]);
  });
});

describe('batch builder', () => {
  function builder(
    batchSize: number,
    recentKeys: number,
    batchBytes?: number,
  ): { build: BatchBuilder; batches: EventBatch[] } {
    const batches: EventBatch[] = [];
    const build = new BatchBuilder({
      eventDate: '2024-01-15',
      createdAt: new Date('2024-01-16T00:00:00.000Z'),
      batchSize,
      ...(batchBytes === undefined ? {} : { batchBytes }),
      invalidLinesLogged: 0,
      recentKeys,
      onBatch: (batch) => batches.push(batch),
      onInvalidLine: () => undefined,
    });
    build.startFile('events.jsonl');
    return { build, batches };
  }

  const line = (n: number, keyOrder: 'ab' | 'ba' = 'ab'): string =>
    JSON.stringify({
      event_type: 'click',
      source: 'web',
      payload: keyOrder === 'ab' ? { a: n, b: 'x' } : { b: 'x', a: n },
    });

  it('drops a repeat of a recent event across batches, whatever its key order', () => {
    const { build, batches } = builder(2, 10);
    build.addLines([line(1), line(2), line(3), line(1, 'ba'), line(2), '', line(4)]);
    build.flush();
    expect(build.counts).to.include({ raw: 6, valid: 6, invalid: 0, duplicatesInMemory: 2 });
    expect(batches.map((batch) => batch.size)).to.deep.equal([2, 2]);
  });

  it('leaves a repeat of an event it has forgotten to the database', () => {
    const { build, batches } = builder(1, 1);
    build.addLines([line(1), line(2), line(3), line(1)]);
    build.flush();
    expect(build.counts.duplicatesInMemory).to.equal(0);
    expect(batches.map((batch) => batch.size)).to.deep.equal([1, 1, 1, 1]);
  });

  it('counts invalid lines by reason and keeps them out of batches', () => {
    const { build, batches } = builder(10, 10);
    build.addLines(['{not json', JSON.stringify({ event_type: '', source: 'web', payload: {} }), line(1)]);
    build.flush();
    expect(build.counts).to.include({ raw: 3, valid: 1, invalid: 2 });
    expect(Object.values(build.counts.invalidByReason).reduce((sum, n) => sum + (n ?? 0), 0)).to.equal(2);
    expect(batches.map((batch) => batch.size)).to.deep.equal([1]);
  });

  it('rule: cuts a batch by bytes before the row that would overflow it; a larger row goes alone', () => {
    const { build, batches } = builder(500, 500, 10_000);
    const sized = (n: number, bytes: number): string =>
      JSON.stringify({ event_type: 'click', source: 'web', payload: { n, blob: 'x'.repeat(bytes) } });
    build.addLines([sized(1, 3000), sized(2, 3000), sized(3, 3000), sized(4, 3000), sized(5, 30_000), sized(6, 10)]);
    build.flush();
    expect(batches.map((batch) => batch.size)).to.deep.equal([3, 1, 1, 1]);
    expect([0, 1, 3].map((index) => (batches[index]?.linesAscii.byteLength ?? 0) <= 10_000)).to.deep.equal([
      true,
      true,
      true,
    ]);
    expect(batches[2]?.linesAscii.byteLength).to.be.greaterThan(30_000);
  });

  it('records the file and line of every row, in row order', () => {
    const { build, batches } = builder(10, 10);
    build.addLines([line(1), '', line(2)]);
    build.startFile('second.jsonl');
    build.addLines([line(3)]);
    build.flush();
    const batch = batches[0] as EventBatch;
    const origins = Array.from({ length: batch.size }, (_unused, row) => {
      const file = batch.files[batch.origins[2 * row] as number] ?? '?';
      return `${file}:${batch.origins[2 * row + 1]}`;
    });
    expect(origins).to.have.members(['events.jsonl:1', 'events.jsonl:3', 'second.jsonl:1']);
    // Row order is dedup-key order: each line's key is its first field.
    const keys = Buffer.from(batch.linesAscii)
      .toString('latin1')
      .split('\n')
      .map((text) => text.split('\t')[0]);
    expect(keys).to.deep.equal([...keys].sort());
  });
});
