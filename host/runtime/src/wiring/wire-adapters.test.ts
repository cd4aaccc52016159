import { expect } from 'chai';
import { REFS, type AdapterDependencies, type InterfaceName, type ModuleManifest } from '@platform-host/contracts';
import type { AdapterRecord } from '../discovery/plugin-record.js';
import { checkDialect, constructionOrder, type Selection } from './wire-adapters.js';

function selection(name: InterfaceName, adapter: string, dialect?: 'postgresql' | 'cql'): Selection {
  const record: AdapterRecord = {
    kind: 'adapter',
    name: adapter,
    dir: `/plugins/${adapter}`,
    manifestPath: `/plugins/${adapter}/platform-adapter.json`,
    source: 'adapters',
    problems: [],
    incompatibleHost: false,
    duplicate: false,
    manifest: {
      name: adapter,
      version: '1.0.0',
      description: 'x',
      interface: name,
      flags: ['x'],
      host_api: '^2.0.0',
      entry: './index.js',
      config: [],
      dialect,
    },
  };
  return { interface: name, flag: 'x', record };
}

function pending(name: InterfaceName, adapter: string, dependencies: AdapterDependencies = {}) {
  return { selection: selection(name, adapter), definition: { dependencies } };
}

function codeOf(work: () => unknown): string {
  try {
    work();
  } catch (error) {
    return (error as { code: string }).code;
  }
  return expect.fail('expected an error');
}

describe('adapter wiring', () => {
  it('constructs every adapter after the interfaces its factory declares, whatever the interface order', () => {
    const order = constructionOrder(
      [
        pending('cache', 'cache-x', { logger: REFS.logging, db: REFS.database }),
        pending('database', 'db-x', { logger: REFS.logging, metrics: REFS.metrics }),
        pending('metrics', 'metrics-x', { logger: REFS.logging }),
        pending('logging', 'log-x'),
      ],
      new Set<InterfaceName>(['secrets']),
    );
    expect(order.map((item) => item.selection.record.name)).to.deep.equal(['log-x', 'metrics-x', 'db-x', 'cache-x']);
  });

  it('refuses a dependency on an interface this run does not construct, naming the adapter and the interface', () => {
    try {
      constructionOrder([pending('cache', 'cache-x', { db: REFS.database })], new Set<InterfaceName>(['secrets']));
      expect.fail('should throw');
    } catch (error) {
      expect((error as { code: string }).code).to.equal('PH_ERR_MODULE_DEPENDENCY');
      expect((error as Error).message).to.contain('adapter cache-x (--cache x) needs database');
    }
  });

  it('refuses a cycle of dependencies naming every adapter in it', () => {
    try {
      constructionOrder(
        [
          pending('logging', 'log-x', { metrics: REFS.metrics }),
          pending('metrics', 'metrics-x', { logger: REFS.logging }),
        ],
        new Set<InterfaceName>(['secrets']),
      );
      expect.fail('should throw');
    } catch (error) {
      expect((error as { code: string }).code).to.equal('PH_ERR_MODULE_DEPENDENCY');
      expect((error as Error).message)
        .to.contain('cycle')
        .and.contain('log-x')
        .and.contain('metrics-x');
    }
  });

  it('refuses a database adapter of a dialect the module does not accept, naming module, accepted and selected dialects', () => {
    const manifest = { name: 'batch_etl', dialects: ['postgresql'] } as unknown as ModuleManifest;
    expect(codeOf(() => checkDialect(manifest, [selection('database', 'cassandra', 'cql')]))).to.equal(
      'PH_ERR_DB_DIALECT',
    );
    try {
      checkDialect(manifest, [selection('database', 'cassandra', 'cql')]);
    } catch (error) {
      expect((error as Error).message).to.equal(
        'Module batch_etl accepts the postgresql dialect, but --db x (adapter cassandra) speaks cql',
      );
      expect((error as { exitCode: number }).exitCode).to.equal(2);
    }
    expect(() => checkDialect(manifest, [selection('database', 'postgres', 'postgresql')])).not.to.throw();
  });
});
