import { expect } from 'chai';
import { RecordingLogger } from '@platform-host/test-kit';
import { DeferredLog } from './deferred-log.js';

describe('DeferredLog (entries of the secrets provider before the logger exists)', function () {
  it('writes what it kept in order once attached, then straight through', function () {
    const log = new DeferredLog();
    log.write('warn', 'first', { attempt: 1 });
    log.write('error', 'second', { attempt: 2 });
    const logger = new RecordingLogger();
    log.attach(logger);
    log.write('info', 'third');
    expect(logger.entries).to.deep.equal([
      { level: 'warn', message: 'first', fields: { attempt: 1 } },
      { level: 'error', message: 'second', fields: { attempt: 2 } },
      { level: 'info', message: 'third', fields: {} },
    ]);
  });

  it('keeps only the last entries up to its limit, and says how many it dropped', function () {
    const log = new DeferredLog(3);
    for (let i = 1; i <= 5; i++) log.write('warn', `entry ${i}`);
    const logger = new RecordingLogger();
    log.attach(logger);
    expect(logger.entries.map((entry) => entry.message)).to.deep.equal([
      '2 earlier entries were dropped before the logger existed (the last 3 follow)',
      'entry 3',
      'entry 4',
      'entry 5',
    ]);
  });
});
