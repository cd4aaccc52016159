import { expect } from 'chai';
import { isPlatformError } from '@platform-host/contracts';
import { DEFAULT_STREAM_BATCH_SIZE, streamBatchSize } from './cursor.js';

// cursorBatches itself runs against real engines: the database conformance suite and the stream
// tests of the postgres and pglite adapters.
describe('stream batch size', function () {
  it('is 1000 when none is given, else the one given', function () {
    expect(DEFAULT_STREAM_BATCH_SIZE).to.equal(1000);
    expect(streamBatchSize(undefined, 'SELECT 1')).to.equal(1000);
    expect(streamBatchSize({}, 'SELECT 1')).to.equal(1000);
    expect(streamBatchSize({ batchSize: 1 }, 'SELECT 1')).to.equal(1);
    expect(streamBatchSize({ batchSize: 2_147_483_647 }, 'SELECT 1')).to.equal(2_147_483_647);
  });

  it('refuses anything but an integer from 1 to 2^31 - 1 with PH_ERR_DB_QUERY naming the statement and value', function () {
    for (const batchSize of [0, -5, 2.5, Number.NaN, Number.POSITIVE_INFINITY, 2_147_483_648]) {
      let error: unknown;
      try {
        streamBatchSize({ batchSize }, 'SELECT id FROM events');
      } catch (caught) {
        error = caught;
      }
      expect(isPlatformError(error) && error.code, String(batchSize)).to.equal('PH_ERR_DB_QUERY');
      expect((error as Error).message)
        .to.include('"SELECT id FROM events"')
        .and.include(`got ${batchSize}`);
    }
  });
});
