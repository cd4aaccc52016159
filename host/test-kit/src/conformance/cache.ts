import { randomUUID } from 'node:crypto';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { expect } from 'chai';
import type { Cache, CachedValue } from '@platform-host/contracts';
import { waitFor } from '../wait-for.js';
import { rejectionOf } from './assertions.js';

/** A TTL short enough to keep the suite fast, long enough for a remote round trip before it expires. */
const SHORT_TTL_SECONDS = 0.2;
/** How long the suite waits for a short-TTL key to expire before failing. */
const EXPIRY_DEADLINE_MS = 3000;
/** How many callers race for one key in the single-flight cases. */
const CONCURRENT_CALLERS = 50;

/**
 * How the cache conformance suite obtains caches. Every cache one subject creates must live on the
 * same backend (one server and database, one in-process store), each under the key prefix it is
 * given, so the suite can prove that caches with different prefixes do not see or flush each
 * other's keys.
 */
export interface CacheConformanceSubject {
  /** A ready (connected) cache whose {@link Cache.keyPrefix} is `keyPrefix`. */
  create(keyPrefix: string): Promise<Cache>;
  /** Releases a cache made by {@link CacheConformanceSubject.create}. */
  destroy?(cache: Cache): Promise<void>;
}

/** A promise with its resolve function outside, to hold a loader until the test lets it go. */
function gate(): { readonly opened: Promise<void>; open(): void } {
  let open = (): void => undefined;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open: () => open() };
}

/**
 * Declares the conformance suite every {@link Cache} adapter runs against itself. The caches get
 * prefixes unique to the run (`conformance:<random>:<name>:`), so the suite can share a real server
 * with other runs and `flush()` removes only its own keys. The cache must hold a few hundred keys
 * and a 1 MB value without evicting them.
 *
 * @param adapterName Shown in the suite title (`Cache conformance: memory`).
 * @param subject Creates ready caches on one backend, and optionally destroys them after the suite.
 */
export function describeCacheConformance(adapterName: string, subject: CacheConformanceSubject): void {
  describe(`Cache conformance: ${adapterName}`, function () {
    const runPrefix = `conformance:${randomUUID().slice(0, 8)}:`;
    const created: Cache[] = [];
    let cache: Cache;
    /** Keys are plain names: the cache's prefix keeps them apart from other runs. */
    const key = (name: string): string => name;

    async function createCache(name: string): Promise<Cache> {
      const made = await subject.create(`${runPrefix}${name}:`);
      created.push(made);
      return made;
    }

    before(async function () {
      cache = await createCache('main');
    });

    after(async function () {
      for (const made of created) {
        try {
          await made.flush();
        } finally {
          await subject.destroy?.(made);
        }
      }
    });

    it('returns a stored value', async function () {
      await cache.set(key('roundtrip'), 'value-1');
      expect(await cache.get(key('roundtrip'))).to.equal('value-1');
    });

    it('returns null for a missing key', async function () {
      expect(await cache.get(key('never-set'))).to.equal(null);
    });

    it('stores the empty string as a value distinct from a missing key', async function () {
      await cache.set(key('empty'), '');
      expect(await cache.get(key('empty'))).to.equal('');
      expect(await cache.exists(key('empty'))).to.equal(true);
    });

    it('overwrites the value of an existing key', async function () {
      await cache.set(key('overwrite'), 'first');
      await cache.set(key('overwrite'), 'second');
      expect(await cache.get(key('overwrite'))).to.equal('second');
    });

    it('deletes a present key and reports true, then reports false for the absent key', async function () {
      await cache.set(key('delete'), 'x');
      expect(await cache.delete(key('delete'))).to.equal(true);
      expect(await cache.get(key('delete'))).to.equal(null);
      expect(await cache.delete(key('delete'))).to.equal(false);
    });

    it('reports whether a key exists', async function () {
      expect(await cache.exists(key('exists'))).to.equal(false);
      await cache.set(key('exists'), 'x');
      expect(await cache.exists(key('exists'))).to.equal(true);
      await cache.delete(key('exists'));
      expect(await cache.exists(key('exists'))).to.equal(false);
    });

    it('expires a key after its fractional TTL and keeps a key without TTL', async function () {
      await cache.set(key('ttl-short'), 'short-lived', SHORT_TTL_SECONDS);
      await cache.set(key('ttl-none'), 'long-lived');
      await cache.set(key('ttl-long'), 'hour', 3600);
      expect(await cache.get(key('ttl-short'))).to.equal('short-lived');

      await waitFor(async () => (await cache.get(key('ttl-short'))) === null, EXPIRY_DEADLINE_MS, 'the TTL to expire');
      expect(await cache.exists(key('ttl-short'))).to.equal(false);
      expect(await cache.get(key('ttl-none'))).to.equal('long-lived');
      expect(await cache.get(key('ttl-long'))).to.equal('hour');
    });

    it('removes a previous TTL when the key is set again without one', async function () {
      await cache.set(key('ttl-removed'), 'v1', SHORT_TTL_SECONDS);
      await cache.set(key('ttl-removed'), 'v2');
      // A sibling with the same TTL shows when the original TTL would have fired.
      await cache.set(key('ttl-witness'), 'w', SHORT_TTL_SECONDS);

      await waitFor(
        async () => !(await cache.exists(key('ttl-witness'))),
        EXPIRY_DEADLINE_MS,
        'the witness TTL to expire',
      );
      expect(await cache.get(key('ttl-removed'))).to.equal('v2');
    });

    it('replaces a previous TTL when the key is set again with a new one', async function () {
      await cache.set(key('ttl-replaced'), 'v1', SHORT_TTL_SECONDS);
      await cache.set(key('ttl-replaced'), 'v2', 3600);
      await cache.set(key('ttl-witness-2'), 'w', SHORT_TTL_SECONDS);

      await waitFor(
        async () => !(await cache.exists(key('ttl-witness-2'))),
        EXPIRY_DEADLINE_MS,
        'the witness TTL to expire',
      );
      expect(await cache.get(key('ttl-replaced'))).to.equal('v2');
    });

    it('keeps unicode keys and values intact', async function () {
      const unicodeKey = key('ключ-キー-🔑');
      const value = 'héllo wörld ✓ 日本語 👩‍👩‍👧 e\u0301 \u0000 end';
      await cache.set(unicodeKey, value);
      expect(await cache.get(unicodeKey)).to.equal(value);
    });

    it('stores and returns a 1 MB value unchanged', async function () {
      const large = 'abcdefghijklmnopqrstuvwxyz012345'.repeat(32 * 1024);
      expect(large.length).to.equal(1024 * 1024);
      await cache.set(key('large'), large);
      expect(await cache.get(key('large'))).to.equal(large);
    });

    it('keeps every value of many concurrent sets', async function () {
      const count = 200;
      const names = Array.from({ length: count }, (_, index) => key(`concurrent-${index}`));
      await Promise.all(names.map((name, index) => cache.set(name, `value-${index}`)));
      const values = await Promise.all(names.map((name) => cache.get(name)));
      expect(values).to.deep.equal(names.map((_, index) => `value-${index}`));
    });

    it('ends with one of the written values after concurrent sets of the same key', async function () {
      const written = Array.from({ length: 50 }, (_, index) => `racer-${index}`);
      await Promise.all(written.map((value) => cache.set(key('race'), value)));
      expect(written).to.include(await cache.get(key('race')));
    });

    it('reports a healthy connection', async function () {
      const result = await cache.healthCheck();
      expect(result.ok, result.detail).to.equal(true);
    });

    it('reports the key prefix it was created with', function () {
      expect(cache.keyPrefix).to.equal(`${runPrefix}main:`);
    });

    it('refuses a TTL that is not a positive finite number with a RangeError and stores nothing', async function () {
      for (const ttl of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
        expect(await rejectionOf(cache.set(key('bad-ttl'), 'v', ttl)), `set with TTL ${ttl}`).to.be.instanceOf(
          RangeError,
        );
      }
      expect(await cache.exists(key('bad-ttl'))).to.equal(false);
    });

    describe('getMany and setMany', function () {
      it('answers getMany in the order of the keys, with null for each absent one', async function () {
        await cache.set(key('many-a'), 'A');
        await cache.set(key('many-c'), 'C');
        await cache.set(key('many-empty'), '');
        const values = await cache.getMany([
          key('many-c'),
          key('many-missing'),
          key('many-a'),
          key('many-empty'),
          key('many-c'),
        ]);
        expect(values).to.deep.equal(['C', null, 'A', '', 'C']);
        expect(await cache.getMany([])).to.deep.equal([]);
      });

      it('answers null in getMany for an expired key', async function () {
        await cache.set(key('many-expiring'), 'soon gone', SHORT_TTL_SECONDS);
        await cache.set(key('many-kept'), 'kept');
        await waitFor(
          async () => (await cache.get(key('many-expiring'))) === null,
          EXPIRY_DEADLINE_MS,
          'the TTL to expire',
        );
        expect(await cache.getMany([key('many-expiring'), key('many-kept')])).to.deep.equal([null, 'kept']);
      });

      it('stores every entry of setMany, each with its own TTL', async function () {
        await cache.setMany([
          { key: key('set-many-short'), value: 'short', ttlSeconds: SHORT_TTL_SECONDS },
          { key: key('set-many-none'), value: 'forever' },
          { key: key('set-many-hour'), value: 'hour', ttlSeconds: 3600 },
        ]);
        expect(await cache.getMany([key('set-many-short'), key('set-many-none'), key('set-many-hour')])).to.deep.equal([
          'short',
          'forever',
          'hour',
        ]);
        await waitFor(
          async () => !(await cache.exists(key('set-many-short'))),
          EXPIRY_DEADLINE_MS,
          'the short TTL of a setMany entry to expire',
        );
        expect(await cache.get(key('set-many-none'))).to.equal('forever');
        expect(await cache.get(key('set-many-hour'))).to.equal('hour');
      });

      it('stores 200 entries in one setMany and reads them back in one getMany', async function () {
        const names = Array.from({ length: 200 }, (_, index) => key(`bulk-${index}`));
        await cache.setMany(names.map((name, index) => ({ key: name, value: `value-${index}` })));
        expect(await cache.getMany(names)).to.deep.equal(names.map((_, index) => `value-${index}`));
      });

      it('refuses a setMany with an invalid TTL with a RangeError and stores none of its entries', async function () {
        const error = await rejectionOf(
          cache.setMany([
            { key: key('set-many-valid'), value: 'v', ttlSeconds: 60 },
            { key: key('set-many-invalid'), value: 'v', ttlSeconds: 0 },
          ]),
        );
        expect(error).to.be.instanceOf(RangeError);
        expect(await cache.getMany([key('set-many-valid'), key('set-many-invalid')])).to.deep.equal([null, null]);
      });
    });

    describe('getOrSet', function () {
      it('loads a missing key once, stores it, then answers hits without calling the loader', async function () {
        let calls = 0;
        const loader = async (): Promise<string> => {
          calls += 1;
          return `loaded-${calls}`;
        };
        const first = await cache.getOrSet(key('gos-basic'), loader, { ttlSeconds: 3600 });
        expect(first).to.deep.equal({ value: 'loaded-1', status: 'miss' });
        expect(await cache.get(key('gos-basic'))).to.equal('loaded-1');
        const second = await cache.getOrSet(key('gos-basic'), loader, { ttlSeconds: 3600 });
        expect(second).to.deep.equal({ value: 'loaded-1', status: 'hit' });
        expect(calls).to.equal(1);
      });

      it('answers a value stored with set() as a hit', async function () {
        await cache.set(key('gos-preset'), 'preset');
        let calls = 0;
        const answer = await cache.getOrSet(
          key('gos-preset'),
          async () => {
            calls += 1;
            return 'loaded';
          },
          { ttlSeconds: 60 },
        );
        expect(answer).to.deep.equal({ value: 'preset', status: 'hit' });
        expect(calls).to.equal(0);
      });

      it(`calls the loader once for ${CONCURRENT_CALLERS} concurrent getOrSet calls of one key, and answers them all`, async function () {
        const release = gate();
        let calls = 0;
        const loader = async (): Promise<string> => {
          calls += 1;
          await release.opened;
          return 'shared value';
        };
        const answers = Array.from({ length: CONCURRENT_CALLERS }, () =>
          cache.getOrSet(key('gos-flight'), loader, { ttlSeconds: 3600 }),
        );
        await waitFor(() => calls > 0, EXPIRY_DEADLINE_MS, 'the loader to be called');
        await nextTurn();
        release.open();
        const values: CachedValue[] = await Promise.all(answers);
        expect(calls, 'loader calls').to.equal(1);
        expect(values.map((answer) => answer.value)).to.deep.equal(
          Array.from({ length: CONCURRENT_CALLERS }, () => 'shared value'),
        );
        expect(values.filter((answer) => answer.status === 'miss').length, 'answers that loaded').to.be.at.least(1);
        expect(await cache.get(key('gos-flight'))).to.equal('shared value');
      });

      it('rejects every waiter when the shared loader rejects, stores nothing, and loads again on the next call', async function () {
        const release = gate();
        let calls = 0;
        const failing = async (): Promise<string> => {
          calls += 1;
          await release.opened;
          throw new Error('backend of record is down');
        };
        const answers = Array.from({ length: 10 }, () =>
          rejectionOf(cache.getOrSet(key('gos-reject'), failing, { ttlSeconds: 3600 })),
        );
        await waitFor(() => calls > 0, EXPIRY_DEADLINE_MS, 'the loader to be called');
        await nextTurn();
        release.open();
        const errors = await Promise.all(answers);
        expect(calls, 'loader calls').to.equal(1);
        for (const error of errors) {
          expect(error).to.be.instanceOf(Error);
          expect((error as Error).message).to.equal('backend of record is down');
        }
        expect(await cache.exists(key('gos-reject'))).to.equal(false);
        const retried = await cache.getOrSet(key('gos-reject'), async () => 'recovered', { ttlSeconds: 3600 });
        expect(retried).to.deep.equal({ value: 'recovered', status: 'miss' });
      });

      it('refuses a ttlSeconds that is not positive or a negative staleSeconds with a RangeError, without loading', async function () {
        let calls = 0;
        const loader = async (): Promise<string> => {
          calls += 1;
          return 'v';
        };
        for (const ttlSeconds of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
          const error = await rejectionOf(cache.getOrSet(key('gos-bad-ttl'), loader, { ttlSeconds }));
          expect(error, `ttlSeconds ${ttlSeconds}`).to.be.instanceOf(RangeError);
        }
        const error = await rejectionOf(
          cache.getOrSet(key('gos-bad-ttl'), loader, { ttlSeconds: 1, staleSeconds: -1 }),
        );
        expect(error, 'staleSeconds -1').to.be.instanceOf(RangeError);
        expect(calls).to.equal(0);
        expect(await cache.exists(key('gos-bad-ttl'))).to.equal(false);
      });

      it('loads again once the TTL has passed when no staleSeconds is given', async function () {
        await cache.getOrSet(key('gos-expire'), async () => 'first', { ttlSeconds: SHORT_TTL_SECONDS });
        await cache.set(key('gos-expire-witness'), 'w', SHORT_TTL_SECONDS * 2);
        await waitFor(
          async () => !(await cache.exists(key('gos-expire-witness'))),
          EXPIRY_DEADLINE_MS,
          'the witness TTL to expire',
        );
        const answer = await cache.getOrSet(key('gos-expire'), async () => 'second', { ttlSeconds: 3600 });
        expect(answer).to.deep.equal({ value: 'second', status: 'miss' });
      });

      it('serves a stale value at once within staleSeconds and refreshes it in the background once', async function () {
        await cache.getOrSet(key('gos-stale'), async () => 'old', { ttlSeconds: SHORT_TTL_SECONDS, staleSeconds: 60 });
        // Later calls store what they load for an hour, so the refreshed value cannot go stale during the test.
        const options = { ttlSeconds: 3600, staleSeconds: 60 };
        const release = gate();
        let refreshes = 0;
        const refresh = async (): Promise<string> => {
          refreshes += 1;
          await release.opened;
          return 'new';
        };
        // Polls until the value is past its TTL: the first stale answer starts the refresh.
        let answer: CachedValue | undefined;
        await waitFor(
          async () => (answer = await cache.getOrSet(key('gos-stale'), refresh, options)).status !== 'hit',
          EXPIRY_DEADLINE_MS,
          'the value to go stale',
        );
        expect(answer).to.deep.equal({ value: 'old', status: 'stale' });
        // While the refresh is held, more stale reads answer at once with the old value and start no second refresh.
        const more = await Promise.all(
          Array.from({ length: 10 }, () => cache.getOrSet(key('gos-stale'), refresh, options)),
        );
        expect(more).to.deep.equal(Array.from({ length: 10 }, () => ({ value: 'old', status: 'stale' })));
        await waitFor(() => refreshes > 0, EXPIRY_DEADLINE_MS, 'the background refresh to start');
        release.open();
        await waitFor(
          async () => (await cache.getOrSet(key('gos-stale'), refresh, options)).value === 'new',
          EXPIRY_DEADLINE_MS,
          'the refreshed value',
        );
        expect(refreshes, 'refresh loader calls').to.equal(1);
        expect(await cache.getOrSet(key('gos-stale'), refresh, options)).to.deep.equal({
          value: 'new',
          status: 'hit',
        });
      });

      it('keeps serving the stale value when the background refresh fails', async function () {
        const options = { ttlSeconds: SHORT_TTL_SECONDS, staleSeconds: 60 };
        await cache.getOrSet(key('gos-stale-fail'), async () => 'kept', options);
        let refreshes = 0;
        const failing = async (): Promise<string> => {
          refreshes += 1;
          throw new Error('refresh failed');
        };
        await waitFor(
          async () => (await cache.getOrSet(key('gos-stale-fail'), failing, options)).status === 'stale',
          EXPIRY_DEADLINE_MS,
          'the value to go stale',
        );
        await waitFor(() => refreshes > 0, EXPIRY_DEADLINE_MS, 'the background refresh to run');
        // The failed refresh settles on its own; the next answers still carry the old value.
        await nextTurn();
        expect(await cache.getOrSet(key('gos-stale-fail'), failing, options)).to.deep.equal({
          value: 'kept',
          status: 'stale',
        });
        const recovered = async (): Promise<string> => 'fresh again';
        await waitFor(
          async () => (await cache.getOrSet(key('gos-stale-fail'), recovered, options)).value === 'fresh again',
          EXPIRY_DEADLINE_MS,
          'a later refresh to succeed',
        );
      });

      it('loads anew once a value is older than its TTL plus staleSeconds', async function () {
        const options = { ttlSeconds: SHORT_TTL_SECONDS, staleSeconds: SHORT_TTL_SECONDS };
        await cache.getOrSet(key('gos-too-old'), async () => 'ancient', options);
        await cache.set(key('gos-too-old-witness'), 'w', SHORT_TTL_SECONDS * 3);
        await waitFor(
          async () => !(await cache.exists(key('gos-too-old-witness'))),
          EXPIRY_DEADLINE_MS,
          'the witness TTL to expire',
        );
        const answer = await cache.getOrSet(key('gos-too-old'), async () => 'current', options);
        expect(answer).to.deep.equal({ value: 'current', status: 'miss' });
      });
    });

    describe('key prefixes', function () {
      it('keeps the keys of two caches with different prefixes on one backend apart, and flushes only its own', async function () {
        const one = await createCache('one');
        const two = await createCache('two');
        await cache.set(key('isolation-main'), 'main');
        expect(one.keyPrefix).to.not.equal(two.keyPrefix);
        await one.set('shared-name', 'from one');
        await two.set('shared-name', 'from two');
        await one.setMany([{ key: 'only-one', value: '1' }]);
        await two.setMany([{ key: 'only-two', value: '2', ttlSeconds: 3600 }]);
        expect(await one.getMany(['shared-name', 'only-one', 'only-two'])).to.deep.equal(['from one', '1', null]);
        expect(await two.getMany(['shared-name', 'only-one', 'only-two'])).to.deep.equal(['from two', null, '2']);

        await one.flush();
        expect(await one.getMany(['shared-name', 'only-one'])).to.deep.equal([null, null]);
        expect(await two.getMany(['shared-name', 'only-two'])).to.deep.equal(['from two', '2']);
        expect(await cache.get(key('isolation-main'))).to.equal('main');

        expect(await two.delete('only-one')).to.equal(false);
        expect(await two.exists('shared-name')).to.equal(true);
      });

      it('shares nothing between getOrSet of one key name in caches with different prefixes', async function () {
        const left = await createCache('left');
        const right = await createCache('right');
        const [a, b] = await Promise.all([
          left.getOrSet('report', async () => 'left report', { ttlSeconds: 3600 }),
          right.getOrSet('report', async () => 'right report', { ttlSeconds: 3600 }),
        ]);
        expect(a).to.deep.equal({ value: 'left report', status: 'miss' });
        expect(b).to.deep.equal({ value: 'right report', status: 'miss' });
      });
    });

    // Last: flush() removes every key of the cache, including other tests' keys.
    it('removes every key of this cache on flush', async function () {
      await cache.set(key('flush-a'), 'a');
      await cache.set(key('flush-b'), 'b', 3600);
      await cache.flush();
      expect(await cache.get(key('flush-a'))).to.equal(null);
      expect(await cache.exists(key('flush-b'))).to.equal(false);
      expect(await cache.get(key('roundtrip'))).to.equal(null);
      await cache.set(key('after-flush'), 'c');
      expect(await cache.get(key('after-flush'))).to.equal('c');
    });
  });
}
