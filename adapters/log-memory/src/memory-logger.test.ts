import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { adapterManifestSchema } from '@platform-host/contracts/manifest-schemas';
import { describeLoggerConformance } from '@platform-host/test-kit';
import { MemoryLogger, parseLogLevel } from './index.js';

describeLoggerConformance('memory', {
  create: (level) => {
    const logger = new MemoryLogger(level);
    return Promise.resolve({ logger, output: () => Promise.resolve(logger.lines().join('\n')) });
  },
});

describe('MemoryLogger', () => {
  it('shares entries with its children and keeps structured fields', () => {
    const root = new MemoryLogger('info');
    root.child({ module: 'etl' }).info('loaded', { rows: 3 });
    root.debug('dropped below the threshold');
    expect(root.entries).to.have.length(1);
    expect(root.entries[0]).to.deep.include({ level: 'info', message: 'loaded', fields: { module: 'etl', rows: 3 } });
  });

  it('names LOG_LEVEL and the allowed values for a bad level', () => {
    expect(() => parseLogLevel('verbose')).to.throw('LOG_LEVEL must be one of debug, info, warn, error, got "verbose"');
    expect(parseLogLevel(' WARN ')).to.equal('warn');
  });

  it('has a valid manifest', () => {
    const manifest = adapterManifestSchema.parse(
      JSON.parse(readFileSync(new URL('../platform-adapter.json', import.meta.url), 'utf8')),
    );
    expect(manifest).to.include({ interface: 'logging' });
    expect(manifest.flags).to.deep.equal(['memory']);
  });
});
