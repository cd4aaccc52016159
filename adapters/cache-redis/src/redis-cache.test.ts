import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import { connect as tcpConnect } from 'node:net';
import { expect } from 'chai';
import { Redis } from 'ioredis';
import { isPlatformError } from '@platform-host/contracts';
import { adapterManifestSchema } from '@platform-host/contracts/manifest-schemas';
import type { AdapterContext, Logger } from '@platform-host/contracts';
import {
  adapterContextForTest,
  describeCacheConformance,
  RecordingLogger,
  useRealService,
  waitFor,
} from '@platform-host/test-kit';
import adapter, { RedisCache } from './index.js';
import type { RedisCacheOptions } from './index.js';

/** A logger that keeps its warnings, to check what the cache reports. */
function adapterContext(values: Record<string, string>): AdapterContext & { logger: Logger } {
  return adapterContextForTest('redis', values);
}

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.fail('expected the call to be rejected, but it resolved'),
    (rejection: unknown) => rejection,
  );
}

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * A TCP proxy in front of the test's Redis server that the test can stop, start again on the same
 * port, or stall (connections stay open, nothing is forwarded): a server outage that only this
 * test's clients see, so other users of the shared server are not disturbed.
 */
class ToggleableProxy {
  port = 0;
  stalled = false;
  #server: Server | undefined;
  readonly #sockets = new Set<Socket>();

  constructor(
    readonly upstreamHost: string,
    readonly upstreamPort: number,
  ) {}

  async start(): Promise<void> {
    const server = createServer((client) => {
      const upstream = tcpConnect({ host: this.upstreamHost, port: this.upstreamPort });
      for (const socket of [client, upstream]) {
        this.#sockets.add(socket);
        socket.on('close', () => this.#sockets.delete(socket));
        socket.on('error', () => undefined);
      }
      client.on('data', (chunk) => {
        if (!this.stalled) upstream.write(chunk);
      });
      upstream.on('data', (chunk) => {
        if (!this.stalled) client.write(chunk);
      });
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.port = (server.address() as AddressInfo).port;
    this.#server = server;
  }

  /** Stops listening and cuts every open connection. */
  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    for (const socket of this.#sockets) socket.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

describe('cache-redis adapter package', function () {
  it('has a valid manifest that declares every config key the adapter reads, the URL as a secret', async function () {
    const text = await readFile(new URL('../platform-adapter.json', import.meta.url), 'utf8');
    const manifest = adapterManifestSchema.parse(JSON.parse(text));
    expect(manifest.interface).to.equal('cache');
    expect(manifest.flags).to.deep.equal(['redis']);
    expect(manifest.config.map((key) => key.env)).to.deep.equal([
      'CACHE_REDIS_URL',
      'CACHE_REDIS_KEY_PREFIX',
      'CACHE_REDIS_LOCK_TTL_MS',
      'CACHE_REDIS_CONNECT_TIMEOUT_MS',
      'CACHE_REDIS_COMMAND_TIMEOUT_MS',
      'CACHE_REDIS_AUTO_PIPELINING',
    ]);
    const url = manifest.config.find((key) => key.env === 'CACHE_REDIS_URL');
    expect(url?.required).to.equal(true);
    expect(url?.secret).to.equal(true);
    expect(url?.format).to.equal('url');
  });

  it('refuses a CACHE_REDIS_AUTO_PIPELINING that is not true or false, naming the key', async function () {
    let failure: unknown;
    try {
      await adapter.create(
        adapterContext({ CACHE_REDIS_URL: 'redis://127.0.0.1:1/0', CACHE_REDIS_AUTO_PIPELINING: 'yes' }),
      );
    } catch (error) {
      failure = error;
    }
    expect(isPlatformError(failure) && failure.code).to.equal('PH_ERR_CONFIG_INVALID');
    expect((failure as Error).message).to.contain('CACHE_REDIS_AUTO_PIPELINING must be true or false');
  });

  it('creates a cache with the default prefix without connecting', async function () {
    const cache = await adapter.create(adapterContext({ CACHE_REDIS_URL: 'redis://127.0.0.1:1/0' }));
    expect(cache).to.be.instanceOf(RedisCache);
    expect(cache.keyPrefix).to.equal('platform:cache:');
    const health = await cache.healthCheck();
    expect(health.ok).to.equal(false);
    expect(health.detail).to.match(/not connected/);
    await cache.disconnect?.();
  });

  it('refuses a lock TTL below 100 ms, naming the key', function () {
    const context = adapterContext({ CACHE_REDIS_URL: 'redis://127.0.0.1:1/0', CACHE_REDIS_LOCK_TTL_MS: '5' });
    expect(() => adapter.create(context))
      .to.throw(/CACHE_REDIS_LOCK_TTL_MS must be an integer of at least 100, got 5/)
      .with.property('code', 'PH_ERR_CONFIG_INVALID');
  });

  it('refuses an unparsable URL without quoting it', function () {
    expect(() => new RedisCache({ url: 'redis://user:s3cr3t-pw@[bad/0' }))
      .to.throw(/CACHE_REDIS_URL is not a valid URL$/)
      .with.property('code', 'PH_ERR_CONFIG_INVALID');
  });

  it('rejects connect() to a closed port with PH_ERR_CONNECT naming the server but not the password', async function () {
    const port = await closedPort();
    const cache = new RedisCache({ url: `redis://app:p4ss-must-not-leak@127.0.0.1:${port}/3`, connectTimeoutMs: 3000 });
    const error = await rejectionOf(cache.connect());
    expect(isPlatformError(error) && error.code).to.equal('PH_ERR_CONNECT');
    expect((error as Error).message).to.match(new RegExp(`^Could not connect to Redis at 127\\.0\\.0\\.1:${port}/3: `));
    expect((error as Error).message).to.match(/ECONNREFUSED/);
    expect((error as Error).message).not.to.contain('p4ss-must-not-leak');
    expect((await cache.healthCheck()).ok).to.equal(false);
    await cache.disconnect();
  });

  it('rejects connect() at its deadline when the server accepts but never answers', async function () {
    // A listener that never replies: the TCP connection opens, the ready check never completes.
    const silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as AddressInfo;
    try {
      const cache = new RedisCache({ url: `redis://127.0.0.1:${port}/0`, connectTimeoutMs: 300 });
      const error = await rejectionOf(cache.connect());
      expect(isPlatformError(error) && error.code).to.equal('PH_ERR_CONNECT');
      expect((error as Error).message).to.match(/no answer within 300 ms/);
      await cache.disconnect();
    } finally {
      silent.close();
    }
  });
});

describe('cache-redis against a real server', function () {
  this.timeout(30_000);
  const service = useRealService('redis');
  const serverUrl = (): string => service().CACHE_REDIS_URL ?? '';
  const opened: RedisCache[] = [];
  let raw: Redis;

  async function open(options: Partial<RedisCacheOptions> = {}): Promise<RedisCache> {
    const cache = new RedisCache({ url: serverUrl(), keyPrefix: `test:${randomUUID().slice(0, 8)}:`, ...options });
    opened.push(cache);
    await cache.connect();
    return cache;
  }

  before(async function () {
    raw = new Redis(serverUrl(), { lazyConnect: true });
    await raw.connect();
  });

  after(async function () {
    for (const cache of opened.splice(0)) {
      await cache.flush().catch(() => undefined);
      await cache.disconnect();
    }
    // Unset when the suite was skipped for want of a server.
    (raw as Redis | undefined)?.disconnect();
  });

  describeCacheConformance('redis', {
    create: async (keyPrefix) => {
      const cache = new RedisCache({ url: serverUrl(), keyPrefix });
      await cache.connect();
      return cache;
    },
    destroy: async (cache) => {
      await cache.disconnect?.();
    },
  });

  it('rejects connect() with refused credentials naming the server and the reason, never the password', async function () {
    const url = new URL(serverUrl());
    url.username = 'no-such-user';
    url.password = 'p4ss-must-not-leak';
    const cache = new RedisCache({ url: url.toString(), connectTimeoutMs: 3000 });
    const error = await rejectionOf(cache.connect());
    expect(isPlatformError(error) && error.code).to.equal('PH_ERR_CONNECT');
    expect((error as Error).message).to.match(/^Could not connect to Redis at [^ ]+:\d+\/\d+: WRONGPASS/);
    expect((error as Error).message).not.to.contain('p4ss-must-not-leak');
    expect(JSON.stringify(await cache.healthCheck())).not.to.contain('p4ss-must-not-leak');
    await cache.disconnect();
  });

  describe('getOrSet across processes', function () {
    it('calls the loader once for 50 concurrent misses of one key spread over 3 caches with their own connections', async function () {
      const prefix = `test:${randomUUID().slice(0, 8)}:`;
      const caches = await Promise.all([
        open({ keyPrefix: prefix }),
        open({ keyPrefix: prefix }),
        open({ keyPrefix: prefix }),
      ]);
      let calls = 0;
      let release = (): void => undefined;
      const held = new Promise<void>((resolve) => (release = resolve));
      const loader = async (): Promise<string> => {
        calls += 1;
        await held;
        return 'loaded once';
      };
      const answers = Array.from({ length: 50 }, (_, index) =>
        caches[index % 3]!.getOrSet('report', loader, { ttlSeconds: 60 }),
      );
      await waitFor(() => calls > 0, 5000, 'the loader to be called');
      // Every cache has had time to miss and find the lock before the loader finishes.
      await waitFor(
        async () => (await raw.exists(`${prefix}\u0000lock\u0000report`)) === 1,
        5000,
        'the load lock to be held',
      );
      release();
      const values = await Promise.all(answers);
      expect(calls, 'loader calls').to.equal(1);
      expect(new Set(values.map((answer) => answer.value))).to.deep.equal(new Set(['loaded once']));
      expect(await raw.get(`${prefix}report`)).to.equal('loaded once');
      expect(await raw.exists(`${prefix}\u0000lock\u0000report`), 'lock released').to.equal(0);
    });

    it('loads itself once the lock of a holder that died runs out', async function () {
      const cache = await open();
      // A holder that took the lock and vanished: nobody renews or releases it.
      await raw.set(`${cache.keyPrefix}\u0000lock\u0000orphan`, 'dead-holder', 'PX', 300);
      let calls = 0;
      const answer = await cache.getOrSet(
        'orphan',
        async () => {
          calls += 1;
          return 'after the dead holder';
        },
        { ttlSeconds: 60 },
      );
      expect(answer).to.deep.equal({ value: 'after the dead holder', status: 'miss' });
      expect(calls).to.equal(1);
    });

    it('lets a waiter in another cache load after the holder’s loader fails', async function () {
      const prefix = `test:${randomUUID().slice(0, 8)}:`;
      const [first, second] = await Promise.all([open({ keyPrefix: prefix }), open({ keyPrefix: prefix })]);
      let release = (): void => undefined;
      const held = new Promise<void>((resolve) => (release = resolve));
      const failing = first.getOrSet(
        'flaky',
        async () => {
          await held;
          throw new Error('source down');
        },
        { ttlSeconds: 60 },
      );
      await waitFor(async () => (await raw.exists(`${prefix}\u0000lock\u0000flaky`)) === 1, 5000, 'the lock');
      let calls = 0;
      const waiting = second.getOrSet(
        'flaky',
        async () => {
          calls += 1;
          return 'second loaded';
        },
        { ttlSeconds: 60 },
      );
      release();
      expect(((await rejectionOf(failing)) as Error).message).to.equal('source down');
      expect(await waiting).to.deep.equal({ value: 'second loaded', status: 'miss' });
      expect(calls).to.equal(1);
    });

    it('refreshes a stale value once across two caches, each answering stale at once', async function () {
      const prefix = `test:${randomUUID().slice(0, 8)}:`;
      const [left, right] = await Promise.all([open({ keyPrefix: prefix }), open({ keyPrefix: prefix })]);
      await left.getOrSet('page', async () => 'old', { ttlSeconds: 0.1, staleSeconds: 60 });
      await waitFor(async () => (await left.get('page')) === null, 3000, 'the value to go stale');
      let refreshes = 0;
      let release = (): void => undefined;
      const held = new Promise<void>((resolve) => (release = resolve));
      const refresh = async (): Promise<string> => {
        refreshes += 1;
        await held;
        return 'new';
      };
      const options = { ttlSeconds: 3600, staleSeconds: 60 };
      expect(await left.getOrSet('page', refresh, options)).to.deep.equal({ value: 'old', status: 'stale' });
      await waitFor(() => refreshes === 1, 3000, 'the refresh to start');
      expect(await right.getOrSet('page', refresh, options)).to.deep.equal({ value: 'old', status: 'stale' });
      release();
      await waitFor(async () => (await right.get('page')) === 'new', 3000, 'the refreshed value');
      expect(refreshes, 'refresh loader calls').to.equal(1);
    });
  });

  describe('storage format', function () {
    it('stores values as plain strings under prefix + key that any client reads, and get() reads what getOrSet stored', async function () {
      const cache = await open();
      await cache.set('plain', 'v1', 60);
      expect(await raw.get(`${cache.keyPrefix}plain`)).to.equal('v1');
      const pttl = await raw.pttl(`${cache.keyPrefix}plain`);
      expect(pttl).to.be.within(1, 60_000);
      await raw.set(`${cache.keyPrefix}written-by-other-client`, 'external');
      expect(await cache.get('written-by-other-client')).to.equal('external');
      await cache.getOrSet('loaded', async () => 'from loader', { ttlSeconds: 60, staleSeconds: 30 });
      expect(await cache.get('loaded')).to.equal('from loader');
      expect(await cache.getMany(['loaded', 'plain'])).to.deep.equal(['from loader', 'v1']);
    });

    it('keeps a stale copy only for getOrSet, never served by get(), and drops it on set() and delete()', async function () {
      const cache = await open();
      const options = { ttlSeconds: 0.1, staleSeconds: 60 };
      await cache.getOrSet('swr', async () => 'first', options);
      await waitFor(async () => !(await cache.exists('swr')), 3000, 'the TTL to pass');
      expect(await cache.get('swr')).to.equal(null);
      expect(await raw.get(`${cache.keyPrefix}\u0000stale\u0000swr`)).to.equal('first');

      await cache.set('swr', 'set later', 0.1);
      expect(await raw.exists(`${cache.keyPrefix}\u0000stale\u0000swr`)).to.equal(0);
      await waitFor(async () => !(await cache.exists('swr')), 3000, 'the TTL to pass');
      let calls = 0;
      const answer = await cache.getOrSet(
        'swr',
        async () => {
          calls += 1;
          return 'reloaded';
        },
        options,
      );
      expect(answer).to.deep.equal({ value: 'reloaded', status: 'miss' });
      expect(calls).to.equal(1);

      expect(await cache.delete('swr')).to.equal(true);
      expect(await raw.exists(`${cache.keyPrefix}\u0000stale\u0000swr`)).to.equal(0);
    });

    it('refuses keys that begin with the reserved U+0000', async function () {
      const cache = await open();
      expect(await rejectionOf(cache.get('\u0000lock\u0000x'))).to.be.instanceOf(RangeError);
      expect(await rejectionOf(cache.set('\u0000stale\u0000x', 'v'))).to.be.instanceOf(RangeError);
    });
  });

  describe('flush', function () {
    it('removes only keys under its prefix: not those of another prefix, of another application, or of a prefix that merely starts alike', async function () {
      const id = randomUUID().slice(0, 8);
      const mine = await open({ keyPrefix: `test:${id}:[app]*:` });
      const other = await open({ keyPrefix: `test:${id}:other:` });
      const count = 2500; // several SCAN batches
      await mine.setMany(Array.from({ length: count }, (_, index) => ({ key: `k${index}`, value: 'x' })));
      await mine.getOrSet('swr', async () => 'v', { ttlSeconds: 60, staleSeconds: 60 });
      await other.set('k1', 'other cache');
      // Keys of applications that do not use this adapter, including ones the glob would match unescaped.
      const foreign = [`test:${id}:app:k1`, `test:${id}:[app]x:k1`, `test:${id}:other-app:k1`, `test:${id}:[app]*`];
      for (const key of foreign) await raw.set(key, 'foreign', 'EX', 300);

      await mine.flush();
      expect(await raw.keys(`test:${id}:\\[app\\]\\*:*`)).to.deep.equal([]);
      expect(await other.get('k1')).to.equal('other cache');
      for (const key of foreign) expect(await raw.get(key), key).to.equal('foreign');
      await raw.unlink(...foreign);
    });
  });

  describe('outages', function () {
    let proxy: ToggleableProxy;

    beforeEach(async function () {
      const url = new URL(serverUrl());
      proxy = new ToggleableProxy(url.hostname, Number(url.port || '6379'));
      await proxy.start();
    });

    afterEach(async function () {
      await proxy.stop();
    });

    function viaProxy(): string {
      const url = new URL(serverUrl());
      url.hostname = '127.0.0.1';
      url.port = String(proxy.port);
      return url.toString();
    }

    it('reports unhealthy once the server is gone, fails commands instead of hanging, and recovers on its own', async function () {
      const logger = new RecordingLogger();
      const cache = await open({ url: viaProxy(), healthCheckTimeoutMs: 1000, logger });
      await cache.set('survives', 'yes', 60);
      expect((await cache.healthCheck()).ok).to.equal(true);

      await proxy.stop();
      const down = await cache.healthCheck();
      expect(down.ok).to.equal(false);
      expect(down.detail).to.match(new RegExp(`Redis at 127\\.0\\.0\\.1:${proxy.port}/\\d+`));
      expect(await rejectionOf(cache.get('survives'))).to.be.instanceOf(Error);
      expect(logger.warnings.map((warning) => warning.message)).to.include(
        'Lost the connection to the Redis cache; reconnecting',
      );

      await proxy.start();
      await waitFor(async () => (await cache.healthCheck()).ok, 10_000, 'the cache to reconnect');
      expect(await cache.get('survives')).to.equal('yes');
    });

    it('reports unhealthy at the PING deadline when the server stops answering, and drops the stalled connection so waiting commands are answered', async function () {
      const logger = new RecordingLogger();
      const cache = await open({ url: viaProxy(), healthCheckTimeoutMs: 200, logger });
      await cache.set('before-stall', 'kept', 60);
      expect((await cache.healthCheck()).ok).to.equal(true);
      proxy.stalled = true;
      let settled = false;
      const waiting = cache.get('before-stall').finally(() => (settled = true));
      const stalled = await cache.healthCheck();
      expect(stalled).to.deep.include({ ok: false });
      expect(stalled.detail).to.match(/did not answer PING within 200 ms \(connection ready\)/);
      expect(logger.warnings.map((warning) => warning.message)).to.include(
        'Redis did not answer PING in time; dropping the connection to reconnect',
      );
      expect(settled, 'the GET sent on the stalled connection is still waiting').to.equal(false);
      proxy.stalled = false;
      // Sent again on the new connection rather than left waiting on the dropped one.
      expect(await waiting).to.equal('kept');
      await waitFor(async () => (await cache.healthCheck()).ok, 10_000, 'the cache to reconnect');
    });
  });
});
