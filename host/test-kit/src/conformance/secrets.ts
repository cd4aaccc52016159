import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { isPlatformError } from '@platform-host/contracts';
import type { Secrets } from '@platform-host/contracts';

/**
 * How the secrets suite obtains providers: `create(values)` returns a ready provider in which the
 * given keys have exactly the given values (non-empty strings). The suite's keys are unique per run,
 * so a provider that also sees other keys (the process environment, a shared vault) is fine.
 */
export interface SecretsConformanceSubject {
  create(values: Readonly<Record<string, string>>): Promise<Secrets>;
  destroy?(secrets: Secrets): Promise<void>;
}

/** Values that are easy to break when written to and read from env files, vaults or volumes. */
const AWKWARD_VALUES: ReadonlyArray<readonly [description: string, value: string]> = [
  ['unicode', 'pässwörd-日本語-🔑'],
  ['equals signs', 'a=b==c='],
  ['double quotes', 'say "hello"'],
  ['single quotes', "it's 'quoted'"],
  ['mixed quotes', `'"mixed"'`],
  ['JSON', '{"user":"app","roles":["read","write"]}'],
  ['a hash sign after a space', 'abc #not-a-comment'],
  ['backslashes', 'C:\\path\\to\\file \\n stays'],
  ['dollar signs', '$HOME and ${USER} are not expanded'],
  ['leading and trailing spaces', '  padded value  '],
  ['line breaks', '-----BEGIN KEY-----\nline two\nline three\n-----END KEY-----'],
  ['URL credentials', 'postgres://app:p%40ss=w0rd@db.internal:5432/platform?sslmode=require'],
  ['16 KB of text', 'x'.repeat(16 * 1024)],
];

/** Declares the conformance suite of the Secrets contract. */
export function describeSecretsConformance(adapterName: string, subject: SecretsConformanceSubject): void {
  describe(`Secrets conformance: ${adapterName}`, function () {
    const created: Secrets[] = [];
    let prefix: string;

    beforeEach(function () {
      prefix = `CONFORMANCE_${randomUUID().slice(0, 8).toUpperCase()}_`;
    });

    afterEach(async function () {
      for (const secrets of created.splice(0)) await subject.destroy?.(secrets);
    });

    async function provider(values: Readonly<Record<string, string>>): Promise<Secrets> {
      const secrets = await subject.create(values);
      created.push(secrets);
      return secrets;
    }

    async function rejectionOf(work: Promise<unknown>): Promise<unknown> {
      try {
        await work;
      } catch (error) {
        return error;
      }
      return expect.fail('expected a rejection');
    }

    it('returns the value of a set key from get, getOrDefault and require', async function () {
      const key = `${prefix}DB_URL`;
      const value = `value-${randomUUID()}`;
      const secrets = await provider({ [key]: value });
      expect(await secrets.get(key)).to.equal(value);
      expect(await secrets.getOrDefault(key, 'fallback')).to.equal(value);
      expect(await secrets.require(key)).to.equal(value);
    });

    it('returns undefined from get and the fallback from getOrDefault for a key that is not set', async function () {
      const secrets = await provider({ [`${prefix}PRESENT`]: 'present' });
      expect(await secrets.get(`${prefix}ABSENT`)).to.equal(undefined);
      expect(await secrets.getOrDefault(`${prefix}ABSENT`, 'fallback-value')).to.equal('fallback-value');
      expect(await secrets.getOrDefault(`${prefix}ABSENT`, '')).to.equal('');
    });

    it('rejects require of a missing key with PH_ERR_CONFIG_MISSING naming the key and no value', async function () {
      const seeded = { [`${prefix}PASSWORD`]: `seeded-${randomUUID()}`, [`${prefix}TOKEN`]: `seeded-${randomUUID()}` };
      const secrets = await provider(seeded);
      const missing = `${prefix}MISSING_KEY`;
      const error = await rejectionOf(secrets.require(missing));
      expect(isPlatformError(error), String(error)).to.equal(true);
      if (!isPlatformError(error)) return;
      expect(error.code).to.equal('PH_ERR_CONFIG_MISSING');
      expect(error.message).to.include(missing);
      for (const value of Object.values(seeded)) {
        expect(error.message).not.to.include(value);
        expect(error.hint ?? '').not.to.include(value);
        expect(String(error.stack)).not.to.include(value);
      }
    });

    it('does not match keys by prefix', async function () {
      const secrets = await provider({ [`${prefix}API_KEY_OLD`]: 'old-value' });
      expect(await secrets.get(`${prefix}API_KEY`)).to.equal(undefined);
    });

    AWKWARD_VALUES.forEach(([description, value], index) => {
      it(`returns a value with ${description} exactly as set`, async function () {
        const key = `${prefix}VALUE_${index}`;
        const secrets = await provider({ [key]: value, [`${prefix}NEIGHBOUR`]: 'neighbour' });
        expect(await secrets.get(key)).to.equal(value);
        expect(await secrets.require(key)).to.equal(value);
        expect(await secrets.get(`${prefix}NEIGHBOUR`)).to.equal('neighbour');
      });
    });

    it('returns every value of a provider holding many keys, read concurrently', async function () {
      const values = Object.fromEntries(
        Array.from({ length: 50 }, (_, index) => [`${prefix}KEY_${index}`, `value-${index}-${randomUUID()}`]),
      );
      const secrets = await provider(values);
      const read = await Promise.all(
        Object.keys(values).map(async (key) => [key, await secrets.require(key)] as const),
      );
      expect(Object.fromEntries(read)).to.deep.equal(values);
    });

    it('reports healthy when it has a health check, without throwing', async function () {
      const secrets = await provider({ [`${prefix}ANY`]: 'any' });
      if (secrets.healthCheck === undefined) this.skip();
      const result = await secrets.healthCheck();
      expect(result.ok, result.detail).to.equal(true);
    });
  });
}
