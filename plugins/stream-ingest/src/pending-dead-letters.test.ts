import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';

/** The source of `pending-dead-letters.ts` in `plugin`, without its comment lines about the copy. */
function source(plugin: string): string {
  const path = fileURLToPath(new URL(`../../${plugin}/src/pending-dead-letters.ts`, import.meta.url));
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => !line.startsWith('//'))
    .join('\n')
    .trim();
}

describe('PendingDeadLetters copy', () => {
  it("is the same class as metric_aggregator's (tested there)", () => {
    expect(source('stream-ingest')).to.equal(source('metric-aggregator'));
  });
});
