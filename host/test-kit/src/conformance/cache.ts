import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import type { Cache } from '@platform-host/contracts';
import { waitFor } from '../wait-for.js';
import type { ConformanceSubject } from './subject.js';

export type { ConformanceSubject } from './subject.js';

/** A TTL short enough to keep the suite fast, long enough for a remote round trip before it expires. */
const SHORT_TTL_SECONDS = 0.2;
/** How long the suite waits for a short-TTL key to expire before failing. */
const EXPIRY_DEADLINE_MS = 3000;

/**
 * Declares the conformance suite every {@link Cache} adapter runs against itself. Keys carry a
 * unique prefix per run, so the suite can share a real server with other runs; the `flush()` test
 * runs last because it removes every key of the cache. The cache must hold a few hundred keys and a
 * 1 MB value without evicting them.
 *
 * @param adapterName Shown in the suite title (`Cache conformance: memory`).
 * @param subject Creates a ready (connected) cache, and optionally destroys it after the suite.
 */
export function describeCacheConformance(adapterName: string, subject: ConformanceSubject<Cache>): void {
  describe(`Cache conformance: ${adapterName}`, function () {
    let cache: Cache;
    const prefix = `conformance:${randomUUID().slice(0, 8)}:`;
    const key = (name: string): string => `${prefix}${name}`;

    before(async function () {
      cache = await subject.create();
    });

    after(async function () {
      if (cache !== undefined) await subject.destroy?.(cache);
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

    // Last: flush() removes every key of the cache, including other tests' keys.
    it('removes every key on flush', async function () {
      await cache.set(key('flush-a'), 'a');
      await cache.set(key('flush-b'), 'b', 3600);
      await cache.flush();
      expect(await cache.get(key('flush-a'))).to.equal(null);
      expect(await cache.exists(key('flush-b'))).to.equal(false);
      await cache.set(key('after-flush'), 'c');
      expect(await cache.get(key('after-flush'))).to.equal('c');
    });
  });
}
