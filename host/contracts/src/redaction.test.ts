import { expect } from 'chai';
import { isSecretFieldName, markSecret, REDACTED, redactFields, redactText } from './redaction.js';

describe('redaction', () => {
  it('recognizes credential field names in any casing style', () => {
    for (const name of [
      'password',
      'dbPassword',
      'DB_PASSWORD',
      'api_key',
      'apiKey',
      'X-Auth-Token',
      'client_secret',
      'secretKey',
      'credentials',
      'Authorization',
      'session.cookie',
    ]) {
      expect(isSecretFieldName(name), name).to.equal(true);
    }
  });

  it('leaves look-alikes alone', () => {
    for (const name of ['secrets', 'bypass', 'max_tokens', 'passes', 'keyspace', 'monkey', 'tokenizer', 'module']) {
      expect(isSecretFieldName(name), name).to.equal(false);
    }
  });

  it('replaces registered secret values and the password of a URL wherever they appear', () => {
    markSecret('postgresql://app:s3cr3t-pw@db:5432/platform');
    expect(redactText('connecting to postgresql://app:s3cr3t-pw@db:5432/platform')).to.equal(
      `connecting to ${REDACTED}`,
    );
    expect(redactText('password was s3cr3t-pw')).to.equal(`password was ${REDACTED}`);
    expect(
      redactFields({ adapters: { secrets: 'env' }, nested: { apiKey: 'abc', note: 'uses s3cr3t-pw' } }),
    ).to.deep.equal({
      adapters: { secrets: 'env' },
      nested: { apiKey: REDACTED, note: `uses ${REDACTED}` },
    });
  });
});
