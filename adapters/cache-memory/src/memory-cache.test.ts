import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import { isPlatformError } from '@platform-host/contracts';
import { adapterManifestSchema } from '@platform-host/contracts/manifest-schemas';
import type { AdapterConfig, AdapterDeps } from '@platform-host/contracts';
import { describeCacheConformance, waitFor } from '@platform-host/test-kit';
import adapter, { MemoryCache } from './index.js';

describeCacheConformance('memory', {
  create: async () => {
    const cache = new MemoryCache();
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

function adapterDeps(values: Record<string, string>): AdapterDeps {
  const config: AdapterConfig = {
    get: (key) => values[key],
    require: (key) => {
      const value = values[key];
      if (value === undefined) throw new Error(`missing ${key}`);
      return value;
    },
    integer: (key, fallback) => (values[key] === undefined ? fallback : Number.parseInt(values[key], 10)),
  };
  return { flag: 'memory', config, secrets: undefined, logger: undefined, environment: {} };
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

    it('rejects a maxEntries below 1', function () {
      expect(() => new MemoryCache({ maxEntries: 0 })).to.throw(RangeError, /maxEntries/);
    });
  });

  describe('TTL', function () {
    it('returns an entry until its fractional TTL has passed and never after', async function () {
      const clock = fakeClock();
      const cache = new MemoryCache({ now: clock.now });
      await cache.set('k', 'v', 0.5);
      clock.advance(499);
      expect(await cache.get('k')).to.equal('v');
      clock.advance(1);
      expect(await cache.get('k')).to.equal(null);
      expect(await cache.exists('k')).to.equal(false);
      expect(await cache.delete('k')).to.equal(false);
    });

    it('removes an expired entry when it is read', async function () {
      const clock = fakeClock();
      const cache = new MemoryCache({ now: clock.now });
      await cache.set('k', 'v', 1);
      clock.advance(1000);
      expect(cache.size).to.equal(1);
      expect(await cache.exists('k')).to.equal(false);
      expect(cache.size).to.equal(0);
    });

    for (const ttl of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      it(`rejects a TTL of ${ttl} with a RangeError naming the key, and stores nothing`, async function () {
        const cache = new MemoryCache();
        const error = await cache.set('session:1', 'v', ttl).then(
          () => undefined,
          (rejection: unknown) => rejection,
        );
        expect(error).to.be.instanceOf(RangeError);
        expect((error as RangeError).message)
          .to.contain('"session:1"')
          .and.contain('greater than 0');
        expect(await cache.exists('session:1')).to.equal(false);
      });
    }
  });

  describe('sweep', function () {
    it('removes expired entries without reads once connected', async function () {
      const clock = fakeClock();
      const cache = new MemoryCache({ now: clock.now, sweepIntervalMs: 5 });
      await cache.set('expiring', 'v', 1);
      await cache.set('kept', 'v');
      clock.advance(1000);
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
      clock.advance(1000);
      await sleep(50);
      expect(cache.size, 'entries before connect').to.equal(1);

      await cache.connect();
      await waitFor(() => cache.size === 0, 2000, 'the sweep');
      await cache.disconnect();
      await cache.disconnect();

      await cache.set('after-disconnect', 'v', 1);
      clock.advance(1000);
      await sleep(50);
      expect(cache.size, 'entries after disconnect').to.equal(1);
    });
  });

  describe('adapter entry', function () {
    it('creates a cache bounded by CACHE_MEMORY_MAX_ENTRIES', async function () {
      const cache = await adapter.create(adapterDeps({ CACHE_MEMORY_MAX_ENTRIES: '2' }));
      await cache.set('a', '1');
      await cache.set('b', '2');
      await cache.set('c', '3');
      expect(await cache.get('a')).to.equal(null);
      expect(await cache.get('c')).to.equal('3');
    });

    it('refuses a CACHE_MEMORY_MAX_ENTRIES below 1 with PH_ERR_CONFIG_INVALID naming the key', function () {
      let caught: unknown;
      try {
        void adapter.create(adapterDeps({ CACHE_MEMORY_MAX_ENTRIES: '0' }));
      } catch (error) {
        caught = error;
      }
      expect(isPlatformError(caught) && caught.code).to.equal('PH_ERR_CONFIG_INVALID');
      expect((caught as Error).message).to.contain('CACHE_MEMORY_MAX_ENTRIES');
    });

    it('has a valid manifest that declares every config key the adapter reads', async function () {
      const text = await readFile(new URL('../platform-adapter.json', import.meta.url), 'utf8');
      const manifest = adapterManifestSchema.parse(JSON.parse(text));
      expect(manifest.interface).to.equal('cache');
      expect(manifest.flags).to.deep.equal(['memory']);
      expect(manifest.config.map((key) => key.env)).to.deep.equal(['CACHE_MEMORY_MAX_ENTRIES']);
      expect(manifest.config[0]?.default).to.equal('10000');
    });
  });
});
