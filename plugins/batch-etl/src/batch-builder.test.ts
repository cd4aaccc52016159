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
  function builder(batchSize: number, recentKeys: number): { build: BatchBuilder; batches: EventBatch[] } {
    const batches: EventBatch[] = [];
    const build = new BatchBuilder({
      eventDate: '2024-01-15',
      createdAt: new Date('2024-01-16T00:00:00.000Z'),
      batchSize,
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
});
