import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import { isPlatformError } from '@platform-host/contracts';
import { adapterManifestSchema } from '@platform-host/contracts/manifest-schemas';
import type { AdapterContext, Logger } from '@platform-host/contracts';
import { adapterContextForTest, describeCacheConformance, RecordingLogger, waitFor } from '@platform-host/test-kit';
import adapter, { MemoryCache, MemoryCacheStore } from './index.js';

// Every cache of the suite lives on one store, as caches of one application share one server.
const sharedStore = new MemoryCacheStore();
describeCacheConformance('memory', {
  create: async (keyPrefix) => {
    const cache = new MemoryCache({ store: sharedStore, keyPrefix });
    await cache.connect();
    return cache;
  },
  destroy: async (cache) => {
    await cache.disconnect?.();
  },
});

/** A clock the test moves by hand. */
function fakeClock(): { now: () => number; advance: (ms: number) => void } {
  let time = 1_000;
  return { now: () => time, advance: (ms) => (time += ms) };
}

/** A logger that keeps what it was told, to check what the cache reports. */
function adapterContext(values: Record<string, string>): AdapterContext & { logger: Logger } {
  return adapterContextForTest('memory', values);
}

/** The error `promise` rejects with (`undefined` when it resolves). */
async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (rejection: unknown) => rejection,
  );
}

describe('MemoryCache', function () {
  describe('size bound', function () {
    it('evicts the least recently used entry when a new key exceeds maxEntries', async function () {
      const cache = new MemoryCache({ maxEntries: 3 });
      await cache.set('a', '1');
      await cache.set('b', '2');
      await cache.set('c', '3');
      await cache.get('a');
      await cache.set('d', '4');

      expect(cache.size).to.equal(3);
      expect(await cache.get('b')).to.equal(null);
      expect(await cache.get('a')).to.equal('1');
      expect(await cache.get('c')).to.equal('3');
      expect(await cache.get('d')).to.equal('4');
    });

    it('counts an overwrite as a use and evicts nothing for it', async function () {
      const cache = new MemoryCache({ maxEntries: 2 });
      await cache.set('a', '1');
      await cache.set('b', '2');
      await cache.set('a', '1b');
      expect(cache.size).to.equal(2);
      await cache.set('c', '3');
      expect(await cache.get('b')).to.equal(null);
      expect(await cache.get('a')).to.equal('1b');
    });

    it('evicts the least recently used entries once the bytes of keys and values exceed maxBytes', async function () {
      // Each entry is 2 bytes per code unit: a one-letter key and a 99-letter value take 200 bytes.
      const cache = new MemoryCache({ maxBytes: 500 });
      await cache.set('a', 'x'.repeat(99));
      await cache.set('b', 'y'.repeat(99));
      await cache.get('a');
      await cache.set('c', 'z'.repeat(99));
      expect(await cache.getMany(['a', 'b', 'c'])).to.deep.equal(['x'.repeat(99), null, 'z'.repeat(99)]);
    });

    it('does not store a value larger than maxBytes, and drops the key it replaced', async function () {
      const cache = new MemoryCache({ maxBytes: 100 });
      await cache.set('big', 'small');
      await cache.set('big', 'x'.repeat(100));
      expect(await cache.get('big')).to.equal(null);
      expect(cache.size).to.equal(0);
    });

    it('rejects a maxEntries below 1 and a negative maxBytes', function () {
      expect(() => new MemoryCache({ maxEntries: 0 })).to.throw(RangeError, /maxEntries/);
      expect(() => new MemoryCache({ maxBytes: -1 })).to.throw(RangeError, /maxBytes/);
    });
  });

  describe('TTL', function () {
    it('returns an entry until its fractional TTL has passed and never after', async function () {
      const clock = fakeClock();
      const cache = new MemoryCache({ now: clock.now });
      await cache.set('k', 'v', 0.5);
      clock.advance(500);
      expect(await cache.get('k')).to.equal('v');
      clock.advance(0.25);
      expect(await cache.get('k')).to.equal(null);
      expect(await cache.exists('k')).to.equal(false);
      expect(await cache.delete('k')).to.equal(false);
    });

    it('removes an expired entry when it is read', async function () {
      const clock = fakeClock();
      const cache = new MemoryCache({ now: clock.now });
      await cache.set('k', 'v', 1);
      clock.advance(1001);
      expect(cache.size).to.equal(1);
      expect(await cache.get('k')).to.equal(null);
      expect(cache.size).to.equal(0);
    });

    for (const ttl of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      it(`rejects a TTL of ${ttl} with a RangeError naming the key, and stores nothing`, async function () {
        const cache = new MemoryCache();
        const error = await rejectionOf(cache.set('session:1', 'v', ttl));
        expect(error).to.be.instanceOf(RangeError);
        expect((error as RangeError).message)
          .to.contain('"session:1"')
          .and.contain('greater than 0');
        expect(await cache.exists('session:1')).to.equal(false);
      });
    }
  });

  describe('getOrSet', function () {
    it('serves a stale value only through getOrSet: get and exists treat it as expired', async function () {
      const clock = fakeClock();
      const cache = new MemoryCache({ now: clock.now });
      await cache.getOrSet('k', async () => 'old', { ttlSeconds: 1, staleSeconds: 10 });
      clock.advance(1001);
      expect(await cache.get('k')).to.equal(null);
      expect(await cache.exists('k')).to.equal(false);
      const answer = await cache.getOrSet('k', () => new Promise<string>(() => undefined), {
        ttlSeconds: 1,
        staleSeconds: 10,
      });
      expect(answer).to.deep.equal({ value: 'old', status: 'stale' });
    });

    it('serves stale up to TTL plus staleSeconds and loads anew once that has passed', async function () {
      const clock = fakeClock();
      const store = new MemoryCacheStore({ now: clock.now });
      const cache = new MemoryCache({ store });
      const options = { ttlSeconds: 1, staleSeconds: 2 };
      await cache.getOrSet('k', async () => 'old', options);
      clock.advance(3000);
      expect(await cache.getOrSet('k', async () => 'refreshed', options)).to.deep.equal({
        value: 'old',
        status: 'stale',
      });
      await cache.getOrSet('other', async () => 'old', options);
      clock.advance(3001);
      expect(await cache.getOrSet('other', async () => 'new', options)).to.deep.equal({ value: 'new', status: 'miss' });
      expect(store.size, 'the expired entry is replaced, not kept beside').to.equal(2);
    });

    it('logs a failed background refresh as a warning naming the key, and keeps the stale value', async function () {
      const clock = fakeClock();
      const logger = new RecordingLogger();
      const cache = new MemoryCache({ now: clock.now, logger });
      const options = { ttlSeconds: 1, staleSeconds: 60 };
      await cache.getOrSet('report:7', async () => 'kept', options);
      clock.advance(1500);
      const answer = await cache.getOrSet(
        'report:7',
        async () => {
          throw new Error('source unavailable');
        },
        options,
      );
      expect(answer).to.deep.equal({ value: 'kept', status: 'stale' });
      await waitFor(() => logger.warnings.length === 1, 2000, 'the warning');
      expect(logger.warnings[0]?.fields).to.deep.include({ key: 'report:7', error: 'source unavailable' });
      expect(await cache.getOrSet('report:7', () => new Promise<string>(() => undefined), options)).to.deep.equal({
        value: 'kept',
        status: 'stale',
      });
    });

    it('shares one load between caches with the same prefix on one store', async function () {
      const store = new MemoryCacheStore();
      const first = new MemoryCache({ store, keyPrefix: 'app:' });
      const second = new MemoryCache({ store, keyPrefix: 'app:' });
      let calls = 0;
      const loader = async (): Promise<string> => {
        calls += 1;
        await sleep(10);
        return 'one load';
      };
      const answers = await Promise.all([
        first.getOrSet('k', loader, { ttlSeconds: 60 }),
        second.getOrSet('k', loader, { ttlSeconds: 60 }),
      ]);
      expect(calls).to.equal(1);
      expect(answers.map((answer) => answer.value)).to.deep.equal(['one load', 'one load']);
    });

    it('refuses a loader result that is not a string with a TypeError and stores nothing', async function () {
      const cache = new MemoryCache();
      const loader = (async () => 42) as unknown as () => Promise<string>;
      expect(await rejectionOf(cache.getOrSet('k', loader, { ttlSeconds: 60 }))).to.be.instanceOf(TypeError);
      expect(await cache.exists('k')).to.equal(false);
    });
  });

  describe('key prefix', function () {
    it('stores keys under the prefix in the store and flushes only those', async function () {
      const store = new MemoryCacheStore();
      const cache = new MemoryCache({ store, keyPrefix: 'mine:' });
      const neighbour = new MemoryCache({ store, keyPrefix: 'other:' });
      await cache.set('k', '1');
      await neighbour.set('mine:k', 'not a key of mine');
      expect([...store.entries.keys()].sort()).to.deep.equal(['mine:k', 'other:mine:k']);
      await cache.flush();
      expect([...store.entries.keys()]).to.deep.equal(['other:mine:k']);
    });

    it('flushes the whole store with the empty prefix', async function () {
      const store = new MemoryCacheStore();
      const cache = new MemoryCache({ store });
      await new MemoryCache({ store, keyPrefix: 'x:' }).set('k', 'v');
      await cache.set('k', 'v');
      await cache.flush();
      expect(store.size).to.equal(0);
    });
  });

  describe('sweep', function () {
    it('removes expired entries without reads once connected', async function () {
      const clock = fakeClock();
      const cache = new MemoryCache({ now: clock.now, sweepIntervalMs: 5 });
      await cache.set('expiring', 'v', 1);
      await cache.set('kept', 'v');
      clock.advance(1001);
      await cache.connect();
      try {
        await waitFor(() => cache.size === 1, 2000, 'the sweep');
        expect(await cache.get('kept')).to.equal('v');
      } finally {
        await cache.disconnect();
      }
    });

    it('runs no sweep before connect() or after disconnect()', async function () {
      const clock = fakeClock();
      const cache = new MemoryCache({ now: clock.now, sweepIntervalMs: 5 });
      await cache.set('before-connect', 'v', 1);
      clock.advance(1001);
      await sleep(50);
      expect(cache.size, 'entries before connect').to.equal(1);

      await cache.connect();
      await waitFor(() => cache.size === 0, 2000, 'the sweep');
      await cache.disconnect();
      await cache.disconnect();

      await cache.set('after-disconnect', 'v', 1);
      clock.advance(1001);
      await sleep(50);
      expect(cache.size, 'entries after disconnect').to.equal(1);
    });
  });

  describe('adapter entry', function () {
    it('declares the logger as its only dependency', function () {
      expect(Object.keys(adapter.dependencies)).to.deep.equal(['logger']);
    });

    it('creates a cache bounded by CACHE_MEMORY_MAX_ENTRIES', async function () {
      const cache = await adapter.create(adapterContext({ CACHE_MEMORY_MAX_ENTRIES: '2' }));
      await cache.set('a', '1');
      await cache.set('b', '2');
      await cache.set('c', '3');
      expect(await cache.get('a')).to.equal(null);
      expect(await cache.get('c')).to.equal('3');
    });

    it('puts CACHE_MEMORY_KEY_PREFIX before every key, and no prefix by default', async function () {
      expect((await adapter.create(adapterContext({ CACHE_MEMORY_KEY_PREFIX: 'app1:' }))).keyPrefix).to.equal('app1:');
      expect((await adapter.create(adapterContext({}))).keyPrefix).to.equal('');
    });

    for (const [key, value] of [
      ['CACHE_MEMORY_MAX_ENTRIES', '0'],
      ['CACHE_MEMORY_MAX_BYTES', '-1'],
    ] as const) {
      it(`refuses ${key}=${value} with PH_ERR_CONFIG_INVALID naming the key`, function () {
        let caught: unknown;
        try {
          void adapter.create(adapterContext({ [key]: value }));
        } catch (error) {
          caught = error;
        }
        expect(isPlatformError(caught) && caught.code).to.equal('PH_ERR_CONFIG_INVALID');
        expect((caught as Error).message).to.contain(key);
      });
    }

    it('has a valid 2.x manifest that declares every config key the adapter reads', async function () {
      const text = await readFile(new URL('../platform-adapter.json', import.meta.url), 'utf8');
      const manifest = adapterManifestSchema.parse(JSON.parse(text));
      expect(manifest.interface).to.equal('cache');
      expect(manifest.flags).to.deep.equal(['memory']);
      expect(manifest.host_api).to.equal('^2.0.0');
      expect(Object.fromEntries(manifest.config.map((key) => [key.env, key.default]))).to.deep.equal({
        CACHE_MEMORY_MAX_ENTRIES: '10000',
        CACHE_MEMORY_MAX_BYTES: '268435456',
        CACHE_MEMORY_KEY_PREFIX: '',
      });
    });
  });
});
