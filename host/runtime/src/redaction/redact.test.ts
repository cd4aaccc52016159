import { expect } from 'chai';
import type { LogFields, Logger } from '@platform-host/contracts';
import { PlatformError } from '@platform-host/contracts';
import { isSecretFieldName, REDACTED, redactText, redactValue, registerSecret } from './redact.js';
import { redactingLogger } from './redacting-logger.js';
import { registeringSecrets } from './registering-secrets.js';

/** A logger that keeps exactly what it was given, to see what the proxy let through. */
class KeepingLogger implements Logger {
  constructor(
    readonly calls: Array<{ message: string; fields: LogFields | undefined; bindings: LogFields }> = [],
    private readonly bindings: LogFields = {},
  ) {}
  debug(message: string, fields?: LogFields): void {
    this.calls.push({ message, fields, bindings: this.bindings });
  }
  info(message: string, fields?: LogFields): void {
    this.debug(message, fields);
  }
  warn(message: string, fields?: LogFields): void {
    this.debug(message, fields);
  }
  error(message: string, fields?: LogFields): void {
    this.debug(message, fields);
  }
  child(bindings: LogFields): Logger {
    return new KeepingLogger(this.calls, { ...this.bindings, ...bindings });
  }
  flush(): Promise<void> {
    return Promise.resolve();
  }
  lines(): string[] {
    return this.calls.map((call) => call.message);
  }
}

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

  it('replaces registered secret values and the password of a registered URL wherever they appear', () => {
    registerSecret('postgresql://app:s3cr3t-pw@db:5432/platform');
    expect(redactText('connecting to postgresql://app:s3cr3t-pw@db:5432/platform')).not.to.contain('s3cr3t-pw');
    expect(redactText('password was s3cr3t-pw')).to.equal(`password was ${REDACTED}`);
  });

  it('scrubs the password of any URL with credentials, registered or not, keeping the user', () => {
    expect(redactText('failed: redis://worker:never-registered-9@cache:6379/0 refused')).to.equal(
      `failed: redis://worker:${REDACTED}@cache:6379/0 refused`,
    );
    expect(redactText('amqps://u:p%40ss@broker and https://example.org/a@b')).to.equal(
      `amqps://u:${REDACTED}@broker and https://example.org/a@b`,
    );
  });

  it('copies fields redacted: credential-named keys, nested strings, Maps, URLs, cycles; the input is untouched', () => {
    registerSecret('nested-secret-value');
    const input: Record<string, unknown> = {
      adapters: { secrets: 'env' },
      nested: { apiKey: 'abc', note: 'uses nested-secret-value', list: ['nested-secret-value'] },
      map: new Map([['token', 'x']]),
      url: new URL('postgres://app:url-pass-word@db/app'),
    };
    input['self'] = input;
    const out = redactValue(input) as Record<string, unknown>;
    expect(out['adapters']).to.deep.equal({ secrets: 'env' });
    expect(out['nested']).to.deep.equal({ apiKey: REDACTED, note: `uses ${REDACTED}`, list: [REDACTED] });
    expect([...(out['map'] as Map<string, unknown>)]).to.deep.equal([['token', REDACTED]]);
    expect(out['url']).to.equal(`postgres://app:${REDACTED}@db/app`);
    expect(out['self']).to.equal(out);
    expect((input['nested'] as Record<string, unknown>)['apiKey']).to.equal('abc');
  });

  it('turns an Error into a redacted copy of the same class with message, stack, cause and code', () => {
    registerSecret('error-secret-value');
    const cause = new Error('inner error-secret-value');
    const error = new PlatformError('PH_ERR_DB_QUERY', 'outer error-secret-value postgres://a:b-pass@h/db', {
      cause,
      hint: 'check error-secret-value',
    });
    const copy = redactValue(error) as PlatformError;
    expect(copy).to.be.instanceOf(PlatformError);
    expect(copy.code).to.equal('PH_ERR_DB_QUERY');
    expect(copy.message).to.equal(`outer ${REDACTED} postgres://a:${REDACTED}@h/db`);
    expect(copy.hint).to.equal(`check ${REDACTED}`);
    expect(copy.stack).to.be.a('string').and.not.contain('error-secret-value');
    expect((copy.cause as Error).message).to.equal(`inner ${REDACTED}`);
    expect(error.message).to.contain('error-secret-value');
  });

  it('a logger behind the proxy never sees a secret: messages, fields, errors, bindings, even when registered later', () => {
    const inner = new KeepingLogger();
    const logger = redactingLogger(inner);
    const child = logger.child({ dsn: 'mysql://root:binding-pass@db' });
    registerSecret('registered-after-child');
    child.error('failed with registered-after-child', { error: new Error('registered-after-child') });
    logger.info('login', { user: 'ada', password: 'plain-pass' });
    const seen = JSON.stringify(
      inner.calls.map((call) => ({
        ...call,
        fields: call.fields,
        error: (call.fields?.['error'] as Error | undefined)?.message,
      })),
    );
    expect(seen).not.to.contain('registered-after-child').and.not.contain('binding-pass').and.not.contain('plain-pass');
    expect(inner.calls[0]?.message).to.equal(`failed with ${REDACTED}`);
    expect((logger as unknown as KeepingLogger).lines()).to.have.length(2);
    expect(redactingLogger(logger)).to.equal(logger);
  });

  it('registers every value ctx.secrets returns', async () => {
    const store: Record<string, string> = { MODULE_API_TOKEN: 'module-read-secret-1' };
    const secrets = registeringSecrets({
      get: (key) => Promise.resolve(store[key]),
      getOrDefault: (key, fallback) => Promise.resolve(store[key] ?? fallback),
      require: (key) => Promise.resolve(store[key] ?? ''),
    });
    expect(redactText('module-read-secret-1')).to.equal('module-read-secret-1');
    expect(await secrets.get('MODULE_API_TOKEN')).to.equal('module-read-secret-1');
    expect(redactText('token module-read-secret-1')).to.equal(`token ${REDACTED}`);
  });
});
