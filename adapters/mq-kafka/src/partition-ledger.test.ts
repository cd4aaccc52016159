import { expect } from 'chai';
import { DeliveryCounts, PartitionLedger } from './partition-ledger.js';

describe('PartitionLedger', function () {
  it('commits only the contiguous acknowledged prefix, over the offsets fetched (gaps included)', function () {
    const ledger = new PartitionLedger();
    expect(ledger.commitPosition, 'before any fetch').to.equal(undefined);
    for (const offset of [10, 11, 13, 14, 20]) expect(ledger.fetched(offset)).to.equal(true);
    expect(ledger.commitPosition).to.equal(10);
    expect(ledger.acknowledge(11), 'acknowledging after a gap').to.equal(false);
    expect(ledger.acknowledge(14)).to.equal(false);
    expect(ledger.commitPosition).to.equal(10);
    expect(ledger.acknowledge(10), 'closing the gap').to.equal(true);
    expect(ledger.commitPosition, 'next unacknowledged').to.equal(13);
    expect(ledger.acknowledge(13)).to.equal(true);
    expect(ledger.commitPosition, 'skips the acknowledged 14 to the fetched 20').to.equal(20);
    expect(ledger.outstanding).to.equal(1);
    expect(ledger.acknowledge(20)).to.equal(true);
    expect(ledger.commitPosition, 'after the last fetched').to.equal(21);
    expect(ledger.outstanding).to.equal(0);
  });

  it('ignores duplicates, repeated acknowledgements and offsets it never fetched', function () {
    const ledger = new PartitionLedger();
    ledger.fetched(5);
    expect(ledger.fetched(5), 'the same offset again').to.equal(false);
    expect(ledger.fetched(4), 'an older offset').to.equal(false);
    expect(ledger.acknowledge(9), 'never fetched').to.equal(false);
    expect(ledger.acknowledge(5)).to.equal(true);
    expect(ledger.acknowledge(5), 'twice').to.equal(false);
    expect(ledger.isAcknowledged(5)).to.equal(true);
    expect(ledger.isAcknowledged(6)).to.equal(false);
  });

  it('keeps its position right across compaction of a long history', function () {
    const ledger = new PartitionLedger();
    for (let offset = 0; offset < 5000; offset++) ledger.fetched(offset);
    for (let offset = 0; offset < 4000; offset++) ledger.acknowledge(offset);
    expect(ledger.commitPosition).to.equal(4000);
    ledger.acknowledge(4001);
    expect(ledger.commitPosition).to.equal(4000);
    ledger.acknowledge(4000);
    expect(ledger.commitPosition).to.equal(4002);
    expect(ledger.outstanding).to.equal(998);
  });
});

describe('DeliveryCounts', function () {
  it('counts deliveries per offset and forgets what the group committed', function () {
    const counts = new DeliveryCounts();
    const key = DeliveryCounts.key('g', 't', 0);
    expect([counts.next(key, 1), counts.next(key, 2), counts.next(key, 1)]).to.deep.equal([1, 1, 2]);
    expect(counts.next(DeliveryCounts.key('g', 't', 1), 1), 'another partition').to.equal(1);
    counts.forgetBelow(key, 2);
    expect(counts.size(key)).to.equal(1);
    expect(counts.next(key, 2)).to.equal(2);
    counts.forgetBelow(key, 3);
    expect(counts.size(key)).to.equal(0);
  });

  it('keeps the counts a holding of the partition recorded when it let go, the highest one per offset', function () {
    const counts = new DeliveryCounts();
    const key = DeliveryCounts.key('g', 't', 0);
    expect(counts.has(key), 'nothing recorded').to.equal(false);
    counts.record(key, 7, 2);
    counts.record(key, 7, 1);
    counts.record(key, 8, 1);
    expect(counts.has(key)).to.equal(true);
    expect([counts.next(key, 7), counts.next(key, 8), counts.next(key, 9)]).to.deep.equal([3, 2, 1]);
    counts.forgetBelow(key, 10);
    expect(counts.has(key), 'all committed').to.equal(false);
  });
});
