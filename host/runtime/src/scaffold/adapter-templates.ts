import type { InterfaceName } from '@platform-host/contracts';

interface Shape {
  /** Type name in @platform-host/contracts. */
  readonly type: string;
  /** Property declarations with a starting value. */
  readonly properties: readonly string[];
  /** Method signatures, each implemented as "not implemented yet". */
  readonly methods: readonly string[];
  /** The conformance suite in @platform-host/test-kit. */
  readonly suite: string;
}

const SHAPES: Record<InterfaceName, Shape> = {
  database: {
    type: 'Database',
    suite: 'describeDatabaseConformance',
    properties: ["readonly dialect = 'postgresql' as const"],
    methods: [
      'connect(): Promise<void>',
      'disconnect(): Promise<void>',
      'isConnected(): boolean',
      'execute(sql: string, params?: readonly SqlParam[]): Promise<number>',
      'fetchOne<T extends Row = Row>(sql: string, params?: readonly SqlParam[]): Promise<T | null>',
      'fetchAll<T extends Row = Row>(sql: string, params?: readonly SqlParam[]): Promise<T[]>',
      'stream<T extends Row = Row>(sql: string, params?: readonly SqlParam[], options?: StreamOptions): AsyncIterable<T[]>',
      'transaction<T>(work: () => Promise<T>): Promise<T>',
      'bulkInsert(table: string, rows: readonly Row[], options?: BulkInsertOptions): Promise<number>',
      'batch(statements: readonly BatchStatement[], options?: BatchOptions): Promise<void>',
    ],
  },
  filesystem: {
    type: 'FileSystem',
    suite: 'describeFileSystemConformance',
    properties: [],
    methods: [
      'read(path: string): Promise<Uint8Array>',
      'write(path: string, data: Uint8Array | string): Promise<void>',
      'writeIfAbsent(path: string, data: Uint8Array | string): Promise<void>',
      'readStream(path: string): Promise<Readable>',
      'writeStream(path: string, source: AsyncIterable<Uint8Array>): Promise<number>',
      'list(prefix: string): Promise<string[]>',
      'listFiles(prefix: string, options?: ListFilesOptions): AsyncIterable<FileInfo>',
      'stat(path: string): Promise<FileInfo>',
      'delete(path: string): Promise<boolean>',
      'exists(path: string): Promise<boolean>',
      'getSignedUrl(path: string, expirySeconds?: number): Promise<string>',
    ],
  },
  cache: {
    type: 'Cache',
    suite: 'describeCacheConformance',
    properties: ["readonly keyPrefix = ''"],
    methods: [
      'get(key: string): Promise<string | null>',
      'getMany(keys: readonly string[]): Promise<Array<string | null>>',
      'set(key: string, value: string, ttlSeconds?: number): Promise<void>',
      'setMany(entries: readonly CacheEntry[]): Promise<void>',
      'getOrSet(key: string, loader: () => Promise<string>, options: GetOrSetOptions): Promise<CachedValue>',
      'delete(key: string): Promise<boolean>',
      'exists(key: string): Promise<boolean>',
      'flush(): Promise<void>',
    ],
  },
  message_queue: {
    type: 'MessageQueue',
    suite: 'describeMessageQueueConformance',
    properties: [
      'readonly capabilities: QueueCapabilities = { orderedByKey: false, partitioned: false, delayedRedelivery: false }',
    ],
    methods: [
      'connect(): Promise<void>',
      'disconnect(): Promise<void>',
      'publish(topic: string, message: OutgoingMessage): Promise<string>',
      'publishBatch(topic: string, messages: readonly OutgoingMessage[]): Promise<string[]>',
      'flush(): Promise<void>',
      'subscribe(topic: string, handler: BatchHandler, options: SubscribeOptions): Promise<Subscription>',
      'ack(messages: QueueMessage | readonly QueueMessage[]): Promise<void>',
      'nack(message: QueueMessage, options?: NackOptions): Promise<void>',
      'deadLetter(message: QueueMessage, reason: string, error?: unknown): Promise<void>',
      'createTopic(name: string, options?: { readonly partitions?: number }): Promise<void>',
    ],
  },
  logging: {
    type: 'Logger',
    suite: 'describeLoggerConformance',
    properties: [],
    methods: [
      'debug(message: string, fields?: LogFields): void',
      'info(message: string, fields?: LogFields): void',
      'warn(message: string, fields?: LogFields): void',
      'error(message: string, fields?: LogFields): void',
      'child(bindings: LogFields): Logger',
      'flush(): Promise<void>',
    ],
  },
  metrics: {
    type: 'Metrics',
    suite: 'describeMetricsConformance',
    properties: [],
    methods: [
      'counter<L extends string = never>(options: InstrumentOptions<L>): Counter<L>',
      'gauge<L extends string = never>(options: InstrumentOptions<L>): Gauge<L>',
      'histogram<L extends string = never>(options: HistogramOptions<L>): Histogram<L>',
      'flush(): Promise<void>',
    ],
  },
  secrets: {
    type: 'Secrets',
    suite: 'describeSecretsConformance',
    properties: [],
    methods: [
      'get(key: string): Promise<string | undefined>',
      'getOrDefault(key: string, fallback: string): Promise<string>',
      'require(key: string): Promise<string>',
    ],
  },
};

const TYPE_IMPORTS: Record<InterfaceName, string[]> = {
  database: ['BatchOptions', 'BatchStatement', 'BulkInsertOptions', 'Row', 'SqlParam', 'StreamOptions'],
  filesystem: ['FileInfo', 'ListFilesOptions'],
  cache: ['CacheEntry', 'CachedValue', 'GetOrSetOptions'],
  message_queue: [
    'BatchHandler',
    'NackOptions',
    'OutgoingMessage',
    'QueueCapabilities',
    'QueueMessage',
    'SubscribeOptions',
    'Subscription',
  ],
  logging: ['LogFields'],
  metrics: ['Counter', 'Gauge', 'Histogram', 'HistogramOptions', 'InstrumentOptions'],
  secrets: [],
};

function className(flag: string, type: string): string {
  return `${flag
    .split('-')
    .map((w) => (w[0]?.toUpperCase() ?? '') + w.slice(1))
    .join('')}${type}`;
}

/** Source of a new adapter's entry and test. Methods throw until implemented; the test checks the wiring. */
export function interfaceTemplate(iface: InterfaceName, flag: string): { entry: string; test: string } {
  const shape = SHAPES[iface];
  const cls = className(flag, shape.type);
  const types = ['HealthCheckResult', shape.type, ...TYPE_IMPORTS[iface]].sort();
  const methods = shape.methods
    .map((signature) => {
      const name = signature.slice(0, signature.search(/[<(]/));
      const returnsPromise = signature.endsWith('>') && /\): Promise<.*>$/.test(signature);
      const body = returnsPromise
        ? `    return Promise.reject(notImplemented('${name}'));`
        : `    throw notImplemented('${name}');`;
      const params = signature.slice(signature.indexOf('(') + 1, signature.lastIndexOf(')')).trim();
      const unused =
        params === ''
          ? ''
          : `    void [${params
              .split(',')
              .map((p) => p.split(':')[0]?.replace('?', '').trim())
              .join(', ')}];\n`;
      return `  ${signature} {\n${unused}${body}\n  }`;
    })
    .join('\n\n');
  const entry = `${iface === 'filesystem' ? "import type { Readable } from 'node:stream';\n" : ''}import { defineAdapter, PlatformError, type ${types.join(', type ')} } from '@platform-host/contracts';

function notImplemented(method: string): PlatformError {
  return new PlatformError('PH_ERR_INTERNAL', \`${cls}.\${method} is not implemented yet\`, {
    hint: 'Implement it and enable ${shape.suite} in src/index.test.ts.',
  });
}

/** The ${flag} backend of the ${iface} interface. */
export class ${cls} implements ${shape.type} {
${shape.properties.map((property) => `  ${property};\n\n`).join('')}${methods}

  healthCheck(): Promise<HealthCheckResult> {
    return Promise.resolve({ ok: false, detail: 'not implemented yet' });
  }
}

export default defineAdapter({
  interface: '${iface}',
  create: () => new ${cls}(),
});
`;
  const test = `import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { adapterManifestSchema } from '@platform-host/contracts/manifest-schemas';
import definition, { ${cls} } from './index.js';

describe('${cls}', () => {
  it('has a valid manifest that matches its entry', () => {
    const manifest = adapterManifestSchema.parse(JSON.parse(readFileSync(new URL('../platform-adapter.json', import.meta.url), 'utf8')));
    expect(manifest.interface).to.equal(definition.interface);
    expect(manifest.flags).to.include('${flag}');
  });

  it('reports itself unhealthy until implemented', async () => {
    expect((await new ${cls}().healthCheck()).ok).to.equal(false);
  });

  // Once implemented, run the conformance suite every ${iface} adapter passes; its TSDoc in
  // @platform-host/test-kit says what subject (and options) it takes:
  // ${shape.suite}('${flag}', ...);
});
`;
  return { entry, test };
}
