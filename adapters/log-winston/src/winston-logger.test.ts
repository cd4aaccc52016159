import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { PlatformError, isPlatformError, withCorrelationId } from '@platform-host/contracts';
import type { LogLevel } from '@platform-host/contracts';
import { describeLoggerConformance } from '@platform-host/test-kit';
import { WinstonLogger, parseLogLevel } from './winston-logger.js';
import type { WinstonLoggerOptions } from './winston-logger.js';

/** A stream that keeps everything written to it; `isTTY` can be set to pose as a terminal. */
class CaptureStream extends Writable {
  text = '';
  isTTY: boolean | undefined;

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    this.text += chunk.toString('utf8');
    done();
  }
}

function capture(options: Omit<WinstonLoggerOptions, 'stream'> = {}): { logger: WinstonLogger; stream: CaptureStream } {
  const stream = new CaptureStream();
  return { logger: new WinstonLogger({ ...options, stream }), stream };
}

/** The JSON objects written so far, one per line. */
async function entries(logger: WinstonLogger, stream: CaptureStream): Promise<Array<Record<string, unknown>>> {
  await logger.flush();
  return stream.text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

async function onlyEntry(logger: WinstonLogger, stream: CaptureStream): Promise<Record<string, unknown>> {
  const all = await entries(logger, stream);
  expect(all).to.have.lengthOf(1);
  return all[0]!;
}

for (const format of ['json', 'pretty'] as const) {
  describeLoggerConformance(`log-winston (${format})`, {
    create: async (level: LogLevel) => {
      const { logger, stream } = capture({ format, level, colors: false });
      return { logger, output: async () => stream.text };
    },
  });
}

describe('WinstonLogger json format', function () {
  it('writes timestamp, level, module, correlation_id, message and context, in that order', async function () {
    const { logger, stream } = capture();
    await withCorrelationId('req-42', async () =>
      logger.child({ module: 'batch_etl' }).info('Loaded rows', { rows: 12, table: 'events' }),
    );
    const entry = await onlyEntry(logger, stream);
    expect(Object.keys(entry)).to.deep.equal(['timestamp', 'level', 'module', 'correlation_id', 'message', 'context']);
    expect(entry).to.deep.include({
      level: 'INFO',
      module: 'batch_etl',
      correlation_id: 'req-42',
      message: 'Loaded rows',
    });
    expect(entry['context']).to.deep.equal({ rows: 12, table: 'events' });
    expect(entry['timestamp']).to.match(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    expect(new Date(entry['timestamp'] as string).toISOString()).to.equal(entry['timestamp']);
  });

  it('omits correlation_id outside a correlation context and context when there are no fields', async function () {
    const { logger, stream } = capture();
    logger.warn('plain');
    expect(await onlyEntry(logger, stream)).to.have.all.keys('timestamp', 'level', 'module', 'message');
  });

  it('writes levels in upper case and uses platform-host as module until one is bound', async function () {
    const { logger, stream } = capture({ level: 'debug' });
    logger.debug('d');
    logger.info('i');
    logger.warn('w');
    logger.error('e');
    const all = await entries(logger, stream);
    expect(all.map((entry) => entry['level'])).to.deep.equal(['DEBUG', 'INFO', 'WARN', 'ERROR']);
    expect(all.every((entry) => entry['module'] === 'platform-host')).to.equal(true);
  });

  it('puts child bindings except module under context, and lets caller fields override them', async function () {
    const { logger, stream } = capture();
    const child = logger.child({ module: 'ingest', job: 'nightly', attempt: 1 }).child({ partition: 3 });
    child.info('step', { attempt: 2 });
    const entry = await onlyEntry(logger, stream);
    expect(entry['module']).to.equal('ingest');
    expect(entry['context']).to.deep.equal({ job: 'nightly', attempt: 2, partition: 3 });
  });

  it('keeps a caller field named module under context without renaming the module', async function () {
    const { logger, stream } = capture();
    logger.child({ module: 'host' }).info('loaded', { module: 'batch_etl' });
    const entry = await onlyEntry(logger, stream);
    expect(entry['module']).to.equal('host');
    expect(entry['context']).to.deep.equal({ module: 'batch_etl' });
  });

  it('writes a message with line breaks as one line', async function () {
    const { logger, stream } = capture();
    logger.info('first\nsecond');
    expect((await onlyEntry(logger, stream))['message']).to.equal('first\nsecond');
    expect(stream.text.split('\n')).to.have.lengthOf(2);
  });

  it('serializes an Error as name and message, with code and cause, and no stack below debug', async function () {
    const { logger, stream } = capture({ level: 'info' });
    const cause = new RangeError('port out of range');
    logger.error('connect failed', { error: new PlatformError('PH_ERR_CONFIG_INVALID', 'bad port', { cause }) });
    const context = (await onlyEntry(logger, stream))['context'] as Record<string, unknown>;
    expect(context['error']).to.deep.equal({
      name: 'PlatformError',
      message: 'bad port',
      code: 'PH_ERR_CONFIG_INVALID',
      cause: { name: 'RangeError', message: 'port out of range' },
    });
  });

  it('includes the stack of a logged Error at debug level', async function () {
    const { logger, stream } = capture({ level: 'debug' });
    logger.error('failed', { error: new TypeError('boom') });
    const error = ((await onlyEntry(logger, stream))['context'] as Record<string, Record<string, unknown>>)['error']!;
    expect(error['stack'])
      .to.be.a('string')
      .and.match(/^TypeError: boom\n\s+at /);
  });

  it('logs an Error passed in place of fields under context.error', async function () {
    const { logger, stream } = capture();
    logger.error('failed', new Error('whole error') as unknown as Record<string, unknown>);
    expect((await onlyEntry(logger, stream))['context']).to.deep.equal({
      error: { name: 'Error', message: 'whole error' },
    });
  });

  it('prints circular references as [Circular] and shared references in full', async function () {
    const { logger, stream } = capture();
    const shared = { id: 7 };
    const node: Record<string, unknown> = { name: 'root', left: shared, right: shared };
    node['self'] = node;
    logger.info('graph', { node });
    expect((await onlyEntry(logger, stream))['context']).to.deep.equal({
      node: { name: 'root', left: { id: 7 }, right: { id: 7 }, self: '[Circular]' },
    });
  });

  it('prints BigInt, non-finite numbers, Dates, Maps, Sets and binary data as JSON-safe values', async function () {
    const { logger, stream } = capture();
    logger.info('types', {
      big: 12345678901234567890n,
      nan: Number.NaN,
      infinite: Number.POSITIVE_INFINITY,
      when: new Date(Date.UTC(2024, 0, 2, 3, 4, 5)),
      lookup: new Map<unknown, unknown>([
        ['a', 1],
        [2, 'b'],
      ]),
      tags: new Set(['x', 'y']),
      bytes: Buffer.from('hello'),
      missing: undefined,
      nothing: null,
    });
    expect((await onlyEntry(logger, stream))['context']).to.deep.equal({
      big: '12345678901234567890',
      nan: 'NaN',
      infinite: 'Infinity',
      when: '2024-01-02T03:04:05.000Z',
      lookup: { a: 1, '2': 'b' },
      tags: ['x', 'y'],
      bytes: '[Buffer 5 bytes]',
      nothing: null,
    });
  });

  it('cuts off fields nested deeper than ten levels', async function () {
    const { logger, stream } = capture();
    let deep: Record<string, unknown> = { bottom: true };
    for (let level = 0; level < 15; level += 1) deep = { deeper: deep };
    logger.info('deep', { deep });
    expect(JSON.stringify((await onlyEntry(logger, stream))['context']))
      .to.include('"[Object]"')
      .and.not.include('bottom');
  });

  it('records fields as they were when logged, not as they are when written', async function () {
    const { logger, stream } = capture();
    const state = { phase: 'before' };
    logger.info('snapshot', { state });
    state.phase = 'after';
    expect((await onlyEntry(logger, stream))['context']).to.deep.equal({ state: { phase: 'before' } });
  });

  it('still writes the entry when a field getter throws', async function () {
    const { logger, stream } = capture();
    const hostile = Object.defineProperty({}, 'value', {
      enumerable: true,
      get() {
        throw new Error('getter exploded');
      },
    });
    logger.info('hostile', { hostile });
    const entry = await onlyEntry(logger, stream);
    expect(entry['message']).to.equal('hostile');
    expect((entry['context'] as Record<string, string>)['log_fields_error']).to.include('getter exploded');
  });
});

describe('WinstonLogger pretty format', function () {
  it('writes timestamp, level, module, message, fields as key=value and the correlation id', async function () {
    const { logger, stream } = capture({ format: 'pretty', colors: false });
    withCorrelationId('req-7', () =>
      logger.child({ module: 'api' }).warn('Slow query', { ms: 1530, table: 'events', sql: 'SELECT 1' }),
    );
    await logger.flush();
    expect(stream.text).to.match(
      /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z WARN {2}\[api\] Slow query ms=1530 table=events sql="SELECT 1" correlation_id=req-7\n$/,
    );
  });

  it('prints errors as name and message, followed by the stack frames at debug level', async function () {
    const { logger, stream } = capture({ format: 'pretty', colors: false, level: 'debug' });
    logger.error('failed', { error: new TypeError('boom') });
    await logger.flush();
    const [first, ...frames] = stream.text.trimEnd().split('\n');
    expect(first).to.match(/ERROR \[platform-host\] failed error="TypeError: boom"$/);
    expect(frames.length).to.be.greaterThan(0);
    expect(frames.every((frame) => frame.startsWith('    at '))).to.equal(true);
  });

  it('colorizes when the stream is a TTY and NO_COLOR is not set', async function () {
    const previous = process.env['NO_COLOR'];
    delete process.env['NO_COLOR'];
    try {
      const stream = new CaptureStream();
      stream.isTTY = true;
      const logger = new WinstonLogger({ format: 'pretty', stream });
      logger.info('colored', { key: 'value' });
      await logger.flush();
      expect(stream.text).to.include('\u001b[32mINFO ');
    } finally {
      if (previous !== undefined) process.env['NO_COLOR'] = previous;
    }
  });

  it('writes no colors on a TTY when NO_COLOR is set, nor when the stream is not a TTY', async function () {
    const previous = process.env['NO_COLOR'];
    process.env['NO_COLOR'] = '1';
    try {
      const tty = new CaptureStream();
      tty.isTTY = true;
      const ttyLogger = new WinstonLogger({ format: 'pretty', stream: tty });
      ttyLogger.info('plain');
      await ttyLogger.flush();
      expect(tty.text).not.to.include('\u001b[');
    } finally {
      if (previous === undefined) delete process.env['NO_COLOR'];
      else process.env['NO_COLOR'] = previous;
    }
    const { logger, stream } = capture({ format: 'pretty' });
    logger.info('plain');
    await logger.flush();
    expect(stream.text).not.to.include('\u001b[');
  });
});

describe('WinstonLogger json format, byte for byte', function () {
  it('writes the bytes JSON.stringify gives for the entry object, escapes and odd field names included', async function () {
    const { logger, stream } = capture();
    const fields = JSON.parse(
      '{"__proto__": "kept", "quote\\"d": "a\\u2028b", "n": -0.5, "flag": false, "none": null, "gone": null}',
    ) as Record<string, unknown>;
    fields['gone'] = undefined;
    await withCorrelationId('req-\u00e9"1', async () =>
      logger.child({ module: 'api_"gateway', route: '/v1/events' }).info('Tab\there "quoted" \u{1F600}', fields),
    );
    await logger.flush();
    const line = stream.text.trimEnd();
    const expected: Record<string, unknown> = {
      timestamp: (JSON.parse(line) as { timestamp: string }).timestamp,
      level: 'INFO',
      module: 'api_"gateway',
      correlation_id: 'req-\u00e9"1',
      message: 'Tab\there "quoted" \u{1F600}',
      context: JSON.parse(
        '{"route": "/v1/events", "__proto__": "kept", "quote\\"d": "a\\u2028b", "n": -0.5, "flag": false, "none": null}',
      ) as unknown,
    };
    expect(line).to.equal(JSON.stringify(expected));
  });

  it('writes an empty context when every field is undefined, as the entry object did', async function () {
    const { logger, stream } = capture();
    logger.info('Nothing', { missing: undefined });
    await logger.flush();
    expect(stream.text).to.match(/"message":"Nothing","context":\{\}\}\n$/);
  });
});

describe('WinstonLogger flush', function () {
  it('lets a process that exits right after flush() keep every entry', async function () {
    const dir = await mkdtemp(join(tmpdir(), 'log-winston-'));
    try {
      const entry = pathToFileURL(fileURLToPath(new URL('./index.js', import.meta.url))).href;
      const script = join(dir, 'exit-after-flush.mjs');
      await writeFile(
        script,
        [
          `import { WinstonLogger } from ${JSON.stringify(entry)};`,
          'const logger = new WinstonLogger();',
          "for (let i = 0; i < 2000; i++) logger.info(`entry ${i}`, { padding: 'x'.repeat(200) });",
          'await logger.flush();',
          'process.exit(0);',
        ].join('\n'),
      );
      const { stdout } = await promisify(execFile)(process.execPath, [script], { maxBuffer: 64 * 1024 * 1024 });
      const lines = stdout.split('\n').filter((line) => line !== '');
      expect(lines).to.have.lengthOf(2000);
      expect(JSON.parse(lines[1999]!)).to.deep.include({ message: 'entry 1999' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('keeps every entry of a process that calls process.exit() without flush()', async function () {
    const dir = await mkdtemp(join(tmpdir(), 'log-winston-'));
    try {
      const entry = pathToFileURL(fileURLToPath(new URL('./index.js', import.meta.url))).href;
      const script = join(dir, 'exit-without-flush.mjs');
      await writeFile(
        script,
        [
          `import { WinstonLogger } from ${JSON.stringify(entry)};`,
          'const logger = new WinstonLogger();',
          "for (let i = 0; i < 500; i++) logger.info(`entry ${i}`, { padding: 'x'.repeat(20) });",
          'process.exit(3);',
        ].join('\n'),
      );
      const run = promisify(execFile)(process.execPath, [script], { maxBuffer: 64 * 1024 * 1024 });
      const failure = (await run.then(
        () => expect.fail('the script should exit with 3'),
        (error: unknown) => error,
      )) as { code: number; stdout: string };
      expect(failure.code).to.equal(3);
      const lines = failure.stdout.split('\n').filter((line) => line !== '');
      expect(lines).to.have.lengthOf(500);
      expect(JSON.parse(lines[499]!)).to.deep.include({ message: 'entry 499' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('hands the JSON lines of one event-loop turn to the stream in one write', async function () {
    const { logger, stream } = capture();
    let writes = 0;
    const write = stream.write.bind(stream) as (chunk: string, callback: () => void) => boolean;
    stream.write = ((chunk: string, callback: () => void) => {
      writes += 1;
      return write(chunk, callback);
    }) as typeof stream.write;
    for (let i = 0; i < 100; i += 1) logger.child({ module: 'batch_etl' }).info(`entry ${i}`);
    await logger.flush();
    expect(writes).to.equal(1);
    const lines = stream.text.split('\n').filter((line) => line !== '');
    expect(lines.map((line) => (JSON.parse(line) as { message: string }).message)).to.deep.equal(
      Array.from({ length: 100 }, (_, i) => `entry ${i}`),
    );
  });

  it('resolves also when the stream failed to take the entries', async function () {
    const failing = new Writable({
      write(_chunk, _encoding, done) {
        done(new Error('disk full'));
      },
    });
    const errors: Error[] = [];
    failing.on('error', (error: Error) => errors.push(error));
    const logger = new WinstonLogger({ stream: failing });
    logger.info('one');
    logger.info('two');
    await logger.flush();
    expect(errors.map((error) => error.message)).to.include('disk full');
  });
});

describe('parseLogLevel', function () {
  it('accepts the four levels in any case and defaults to info when unset or empty', function () {
    expect(parseLogLevel('DEBUG')).to.equal('debug');
    expect(parseLogLevel(' Warn ')).to.equal('warn');
    expect(parseLogLevel('error')).to.equal('error');
    expect(parseLogLevel(undefined)).to.equal('info');
    expect(parseLogLevel('')).to.equal('info');
  });

  it('rejects another value with PH_ERR_CONFIG_INVALID naming LOG_LEVEL and the allowed values', function () {
    let thrown: unknown;
    try {
      parseLogLevel('verbose');
    } catch (error) {
      thrown = error;
    }
    expect(isPlatformError(thrown)).to.equal(true);
    const error = thrown as PlatformError;
    expect(error.code).to.equal('PH_ERR_CONFIG_INVALID');
    expect(error.message).to.include('LOG_LEVEL').and.include('"verbose"').and.include('debug, info, warn, error');
  });
});
