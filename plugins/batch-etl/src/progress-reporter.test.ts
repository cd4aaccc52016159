import { expect } from 'chai';
import type { LogFields, Logger } from '@platform-host/contracts';
import { ProgressReporter, type ProgressCounts } from './progress-reporter.js';

function recordingLogger(lines: Array<[string, LogFields | undefined]>): Logger {
  const logger: Logger = {
    debug: () => undefined,
    info: (message, fields) => lines.push([message, fields]),
    warn: () => undefined,
    error: () => undefined,
    child: () => logger,
    flush: () => Promise.resolve(),
  };
  return logger;
}

const counts = (raw: number): ProgressCounts => ({
  filesDone: 1,
  filesTotal: 4,
  raw,
  valid: raw - 1,
  invalid: 1,
  inserted: raw - 2,
});

describe('progress reporter', () => {
  it('redraws one line on a terminal, with counts and rate, and clears it at the end', () => {
    let now = 0;
    const written: string[] = [];
    const logged: Array<[string, LogFields | undefined]> = [];
    const progress = new ProgressReporter(recordingLogger(logged), {
      terminal: { isTTY: true, columns: 200, write: (text) => written.push(text) > 0 },
      now: () => now,
    });
    now = 100;
    progress.update(counts(10));
    now = 1_000;
    progress.update(counts(5_000));
    now = 2_000;
    progress.update(counts(12_000));
    progress.finish();
    expect(written).to.have.length(3);
    const clearLine = '\r\u001b[2K';
    expect(written[0]?.startsWith(clearLine)).to.equal(true);
    expect(written[0]?.slice(clearLine.length)).to.match(
      /^batch_etl \[#####\.+\] files 1\/4 \| 5,000 records, 5,000\/s \| valid 4,999 invalid 1 inserted 4,998$/,
    );
    expect(written[1]).to.include('12,000 records, 6,000/s');
    expect(written[2]).to.equal(clearLine);
    expect(logged).to.deep.equal([]);
  });

  it('logs structured progress lines every interval when not on a terminal', () => {
    let now = 0;
    const logged: Array<[string, LogFields | undefined]> = [];
    const progress = new ProgressReporter(recordingLogger(logged), {
      terminal: { isTTY: false, write: () => true },
      now: () => now,
      logEveryMs: 10_000,
      logEveryRecords: 1_000_000,
    });
    now = 5_000;
    progress.update(counts(100));
    now = 10_000;
    progress.update(counts(200));
    now = 12_000;
    progress.update(counts(1_000_300));
    expect(logged.map(([message, fields]) => [message, fields?.raw, fields?.records_per_second])).to.deep.equal([
      ['Batch ETL progress', 200, 20],
      ['Batch ETL progress', 1_000_300, 83_358],
    ]);
  });
});
