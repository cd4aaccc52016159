import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, request } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { expect } from 'chai';
import { Client } from 'minio';
import type { BucketItem, IncompleteUploadedBucketItem } from 'minio';
import { isPlatformError } from '@platform-host/contracts';
import { adapterManifestSchema } from '@platform-host/contracts/manifest-schemas';
import type { FileSystem } from '@platform-host/contracts';
import {
  adapterContextForTest,
  describeFileSystemConformance,
  RecordingLogger,
  useRealService,
} from '@platform-host/test-kit';
import adapter, { S3FileSystem } from './index.js';

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.fail('expected the call to be rejected, but it resolved'),
    (rejection: unknown) => rejection,
  );
}

function codeOf(error: unknown): unknown {
  return isPlatformError(error) ? error.code : error;
}

const SECRET = 'not-the-real-secret-Zq81x';

/** A raw minio client on the test server, to look behind the adapter and to clean up. */
function rawClient(env: Record<string, string>): Client {
  const url = new URL(env.FS_MINIO_ENDPOINT ?? '');
  return new Client({
    endPoint: url.hostname,
    port: Number(url.port),
    useSSL: url.protocol === 'https:',
    accessKey: env.FS_MINIO_ACCESS_KEY ?? '',
    secretKey: env.FS_MINIO_SECRET_KEY ?? '',
    region: 'us-east-1',
  });
}

/** Every key under `prefix`, through the raw client. */
async function keysUnder(client: Client, bucket: string, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  const items = client.listObjectsV2(bucket, prefix, true) as AsyncIterable<BucketItem>;
  for await (const item of items) if (item.name !== undefined) keys.push(item.name);
  return keys;
}

/** The keys of the unfinished multipart uploads under `prefix`. */
async function* unfinishedUploads(client: Client, bucket: string, prefix: string): AsyncGenerator<string> {
  const uploads = client.listIncompleteUploads(bucket, prefix, true) as AsyncIterable<IncompleteUploadedBucketItem>;
  for await (const upload of uploads) yield upload.key;
}

/** Removes every object and unfinished upload under `prefix`. */
async function removeAll(client: Client, bucket: string, prefix: string): Promise<void> {
  const keys = await keysUnder(client, bucket, prefix);
  if (keys.length > 0) await client.removeObjects(bucket, keys);
  for await (const upload of unfinishedUploads(client, bucket, prefix)) {
    await client.removeIncompleteUpload(bucket, upload);
  }
}

/** A unique key prefix for one test run on the shared bucket. */
function uniquePrefix(): string {
  return `fs-s3-test-${randomUUID().slice(0, 8)}/`;
}

/**
 * An HTTP proxy in front of the object store that answers `501 NotImplemented` to every request
 * carrying `If-None-Match`, as a server without conditional writes does, and forwards all others
 * unchanged (the Host header too, so signatures stay valid).
 */
class NoConditionalWritesProxy {
  port = 0;
  refused = 0;
  #server: Server | undefined;

  constructor(readonly upstream: URL) {}

  async start(): Promise<void> {
    const server = createServer((incoming: IncomingMessage, outgoing: ServerResponse) => {
      if (incoming.headers['if-none-match'] !== undefined) {
        this.refused += 1;
        incoming.resume();
        outgoing.writeHead(501, { 'content-type': 'application/xml' });
        outgoing.end(
          '<?xml version="1.0" encoding="UTF-8"?><Error><Code>NotImplemented</Code>' +
            '<Message>A header you provided implies functionality that is not implemented</Message></Error>',
        );
        return;
      }
      const forwarded = request(
        {
          host: this.upstream.hostname,
          port: this.upstream.port,
          method: incoming.method,
          path: incoming.url,
          headers: incoming.headers,
        },
        (answer) => {
          outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(outgoing);
        },
      );
      forwarded.on('error', () => outgoing.destroy());
      incoming.pipe(forwarded);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.port = (server.address() as AddressInfo).port;
    this.#server = server;
  }

  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    server?.closeAllConnections();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

describe('fs-s3 adapter package', function () {
  it('has a valid manifest: flags s3 and minio, the seed keys per flag, the secret keys marked secret', async function () {
    const text = await readFile(new URL('../platform-adapter.json', import.meta.url), 'utf8');
    const manifest = adapterManifestSchema.parse(JSON.parse(text));
    expect(manifest.name).to.equal('fs-s3');
    expect(manifest.interface).to.equal('filesystem');
    expect(manifest.flags).to.deep.equal(['s3', 'minio']);
    const keysOf = (flag: string, required: boolean): string[] =>
      manifest.config
        .filter((key) => key.flags?.includes(flag) === true && key.required === required)
        .map((key) => key.env);
    expect(keysOf('minio', true)).to.deep.equal([
      'FS_MINIO_ENDPOINT',
      'FS_MINIO_ACCESS_KEY',
      'FS_MINIO_SECRET_KEY',
      'FS_MINIO_BUCKET',
    ]);
    expect(keysOf('minio', false)).to.include('FS_MINIO_PREFIX');
    expect(keysOf('s3', true)).to.deep.equal(['FS_S3_BUCKET', 'FS_S3_REGION']);
    expect(keysOf('s3', false)).to.include.members([
      'FS_S3_ENDPOINT',
      'FS_S3_ACCESS_KEY',
      'FS_S3_SECRET_KEY',
      'FS_S3_PREFIX',
    ]);
    const secrets = manifest.config.filter((key) => key.secret).map((key) => key.env);
    expect(secrets).to.deep.equal(['FS_MINIO_SECRET_KEY', 'FS_S3_SECRET_KEY']);
    expect(
      manifest.config.every((key) => key.flags !== undefined),
      'every key belongs to one flag',
    ).to.equal(true);
  });

  it('creates a MinIO file system from the FS_MINIO_* keys without connecting', async function () {
    const fs = await adapter.create(
      adapterContextForTest('minio', {
        FS_MINIO_ENDPOINT: 'http://127.0.0.1:1',
        FS_MINIO_ACCESS_KEY: 'user',
        FS_MINIO_SECRET_KEY: SECRET,
        FS_MINIO_BUCKET: 'lake-bucket',
        FS_MINIO_PREFIX: 'team/lake',
      }),
    );
    expect(fs).to.be.instanceOf(S3FileSystem);
    const s3 = fs as S3FileSystem;
    expect(s3.bucket).to.equal('lake-bucket');
    expect(s3.keyPrefix).to.equal('team/lake/');
    expect(s3.server).to.equal('http://127.0.0.1:1');
    await s3.disconnect();
  });

  it('creates an AWS S3 file system from FS_S3_BUCKET and FS_S3_REGION alone (credentials from the IAM role)', async function () {
    const fs = (await adapter.create(
      adapterContextForTest('s3', { FS_S3_BUCKET: 'lake-bucket', FS_S3_REGION: 'eu-west-1' }),
    )) as S3FileSystem;
    expect(fs.server).to.equal('https://s3.amazonaws.com');
    expect(fs.keyPrefix).to.equal('');
    await fs.disconnect();
  });

  it('refuses an access key without its secret key (and the reverse), naming the missing key', function () {
    const base = { FS_S3_BUCKET: 'lake-bucket', FS_S3_REGION: 'us-east-1' };
    for (const [values, missing] of [
      [{ ...base, FS_S3_ACCESS_KEY: 'user' }, 'FS_S3_SECRET_KEY'],
      [{ ...base, FS_S3_SECRET_KEY: SECRET }, 'FS_S3_ACCESS_KEY'],
    ] as const) {
      let error: unknown;
      try {
        void adapter.create(adapterContextForTest('s3', values));
      } catch (thrown) {
        error = thrown;
      }
      expect(codeOf(error)).to.equal('PH_ERR_CONFIG_MISSING');
      expect((error as Error).message)
        .to.contain(missing)
        .and.not.contain(SECRET);
    }
  });

  it('refuses a missing required key of the flag, naming it', function () {
    expect(() => adapter.create(adapterContextForTest('minio', { FS_MINIO_BUCKET: 'b-1' })))
      .to.throw()
      .that.satisfies((error: Error) => codeOf(error) === 'PH_ERR_CONFIG_MISSING')
      .and.has.property('message')
      .that.contains('FS_MINIO_ENDPOINT');
    expect(() => adapter.create(adapterContextForTest('s3', { FS_S3_BUCKET: 'b-1' })))
      .to.throw()
      .with.property('message')
      .that.contains('FS_S3_REGION');
  });

  it('refuses an endpoint with a path or credentials, an invalid bucket name and an invalid prefix, naming the key and never the secret', function () {
    const good = {
      FS_MINIO_ENDPOINT: 'http://127.0.0.1:9000',
      FS_MINIO_ACCESS_KEY: 'user',
      FS_MINIO_SECRET_KEY: SECRET,
      FS_MINIO_BUCKET: 'lake-bucket',
    };
    const cases: Array<[Record<string, string>, string]> = [
      [{ FS_MINIO_ENDPOINT: `http://user:${SECRET}@127.0.0.1:9000` }, 'FS_MINIO_ENDPOINT must not contain credentials'],
      [
        { FS_MINIO_ENDPOINT: 'http://127.0.0.1:9000/some/path' },
        'FS_MINIO_ENDPOINT must be a server address without a path',
      ],
      [{ FS_MINIO_ENDPOINT: 'ftp://127.0.0.1:9000' }, 'FS_MINIO_ENDPOINT must start with http:// or https://'],
      [{ FS_MINIO_BUCKET: 'Not_A_Bucket' }, 'FS_MINIO_BUCKET "Not_A_Bucket" is not a valid bucket name'],
      [{ FS_MINIO_PREFIX: '../escape' }, 'FS_MINIO_PREFIX is not a valid key prefix'],
      [{ FS_MINIO_PREFIX: '/absolute' }, 'FS_MINIO_PREFIX is not a valid key prefix'],
    ];
    for (const [change, message] of cases) {
      let error: unknown;
      try {
        void adapter.create(adapterContextForTest('minio', { ...good, ...change }));
      } catch (thrown) {
        error = thrown;
      }
      expect(codeOf(error), message).to.equal('PH_ERR_CONFIG_INVALID');
      expect((error as Error).message)
        .to.contain(message)
        .and.not.contain(SECRET);
    }
  });

  it('refuses writing a reserved name, as the local adapter does, before any request', async function () {
    const fs = new S3FileSystem({
      endpoint: 'http://127.0.0.1:1',
      bucket: 'lake-bucket',
      accessKey: 'user',
      secretKey: SECRET,
    });
    const error = await rejectionOf(fs.write('raw/.data.json.abc.ph-tmp', 'x'));
    expect(codeOf(error)).to.equal('PH_ERR_FS_PATH_INVALID');
    expect((error as Error).message).to.contain('reserved');
    await fs.disconnect();
  });
});

describe('fs-s3 on a real object store', function () {
  this.timeout(120_000);
  const objectStore = useRealService('object-store');
  const bucketOf = (): string => objectStore().FS_MINIO_BUCKET ?? 'platform-test';
  let raw: Client;
  const prefixes: string[] = [];

  /** The FS_MINIO_* config of the test server under a fresh prefix. */
  function minioConfig(prefix: string, overrides: Record<string, string> = {}): Record<string, string> {
    const env = objectStore();
    return {
      FS_MINIO_ENDPOINT: env.FS_MINIO_ENDPOINT ?? '',
      FS_MINIO_ACCESS_KEY: env.FS_MINIO_ACCESS_KEY ?? '',
      FS_MINIO_SECRET_KEY: env.FS_MINIO_SECRET_KEY ?? '',
      FS_MINIO_BUCKET: bucketOf(),
      FS_MINIO_PREFIX: prefix,
      ...overrides,
    };
  }

  /** A connected file system with flag `minio` under a fresh prefix, removed after the suite. */
  async function minioFileSystem(overrides: Record<string, string> = {}): Promise<S3FileSystem> {
    const prefix = uniquePrefix();
    prefixes.push(prefix);
    const fs = (await adapter.create(adapterContextForTest('minio', minioConfig(prefix, overrides)))) as S3FileSystem;
    await fs.connect();
    return fs;
  }

  before(function () {
    raw = rawClient(objectStore());
  });

  after(async function () {
    if (raw === undefined) return;
    for (const prefix of prefixes.splice(0)) await removeAll(raw, bucketOf(), prefix);
  });

  describe('conformance', function () {
    const subject = (create: () => Promise<S3FileSystem>) => ({
      create,
      destroy: async (fs: FileSystem) => {
        const s3 = fs as S3FileSystem;
        await removeAll(raw, s3.bucket, s3.keyPrefix);
        await s3.disconnect();
      },
    });

    describeFileSystemConformance(
      'fs-s3 --fs minio',
      subject(() => minioFileSystem()),
    );

    describeFileSystemConformance(
      'fs-s3 --fs s3 (endpoint set to the same server)',
      subject(async () => {
        const env = objectStore();
        const prefix = uniquePrefix();
        prefixes.push(prefix);
        const fs = (await adapter.create(
          adapterContextForTest('s3', {
            FS_S3_ENDPOINT: env.FS_MINIO_ENDPOINT ?? '',
            FS_S3_REGION: 'us-east-1',
            FS_S3_ACCESS_KEY: env.FS_MINIO_ACCESS_KEY ?? '',
            FS_S3_SECRET_KEY: env.FS_MINIO_SECRET_KEY ?? '',
            FS_S3_BUCKET: bucketOf(),
            FS_S3_PREFIX: prefix,
          }),
        )) as S3FileSystem;
        await fs.connect();
        return fs;
      }),
    );

    const proxy = { current: undefined as NoConditionalWritesProxy | undefined };
    describeFileSystemConformance('fs-s3 --fs minio, server without conditional writes (claims fallback)', {
      create: async () => {
        proxy.current = new NoConditionalWritesProxy(new URL(objectStore().FS_MINIO_ENDPOINT ?? ''));
        await proxy.current.start();
        return minioFileSystem({ FS_MINIO_ENDPOINT: `http://127.0.0.1:${proxy.current.port}` });
      },
      destroy: async (fs: FileSystem) => {
        const s3 = fs as S3FileSystem;
        await removeAll(raw, s3.bucket, s3.keyPrefix);
        await s3.disconnect();
        expect(proxy.current?.refused, 'conditional writes the proxy refused').to.be.at.least(1);
        await proxy.current?.stop();
      },
    });
  });

  describe('write-if-absent', function () {
    it('lets exactly one of two concurrent writers win, with If-None-Match', async function () {
      const fs = await minioFileSystem();
      for (let round = 0; round < 5; round += 1) {
        const target = `race/two-${round}.json`;
        const outcomes = await Promise.allSettled([
          fs.writeIfAbsent(target, '{"writer":"a"}'),
          fs.writeIfAbsent(target, '{"writer":"b"}'),
        ]);
        const won = outcomes.filter((outcome) => outcome.status === 'fulfilled');
        expect(won, `winners of round ${round}`).to.have.length(1);
        const lost = outcomes.find((outcome) => outcome.status === 'rejected');
        expect(codeOf(lost?.reason)).to.equal('PH_ERR_FS_EXISTS');
        const stored = new TextDecoder().decode(await fs.read(target));
        expect(stored).to.equal(outcomes[0]?.status === 'fulfilled' ? '{"writer":"a"}' : '{"writer":"b"}');
      }
    });

    it('lets exactly one of two writers in two separate clients win through the claims fallback, leaving no claim behind', async function () {
      const proxy = new NoConditionalWritesProxy(new URL(objectStore().FS_MINIO_ENDPOINT ?? ''));
      await proxy.start();
      try {
        const logger = new RecordingLogger();
        const prefix = uniquePrefix();
        prefixes.push(prefix);
        const config = minioConfig(prefix, { FS_MINIO_ENDPOINT: `http://127.0.0.1:${proxy.port}` });
        const first = (await adapter.create(adapterContextForTest('minio', config, logger))) as S3FileSystem;
        const second = (await adapter.create(adapterContextForTest('minio', config, logger))) as S3FileSystem;
        for (let round = 0; round < 5; round += 1) {
          const target = `race/claimed-${round}.txt`;
          const outcomes = await Promise.allSettled([
            first.writeIfAbsent(target, 'first'),
            second.writeIfAbsent(target, 'second'),
          ]);
          expect(
            outcomes.filter((outcome) => outcome.status === 'fulfilled'),
            `winners of round ${round}`,
          ).to.have.length(1);
          const lost = outcomes.find((outcome) => outcome.status === 'rejected');
          expect(codeOf(lost?.reason)).to.equal('PH_ERR_FS_EXISTS');
          const winner = outcomes[0]?.status === 'fulfilled' ? 'first' : 'second';
          expect(new TextDecoder().decode(await first.read(target))).to.equal(winner);
        }
        expect(proxy.refused, 'conditional writes refused by the server').to.be.at.least(2);
        expect(logger.warnings.map((entry) => entry.message).join('\n')).to.contain(
          'does not support conditional writes',
        );
        const keys = await keysUnder(raw, bucketOf(), prefix);
        expect(
          keys.filter((key) => key.includes('.ph-claims/')),
          'claims left behind',
        ).to.deep.equal([]);
        expect(await first.list('race')).to.have.length(5);
        await first.disconnect();
        await second.disconnect();
      } finally {
        await proxy.stop();
      }
    });

    it('ignores a claim older than the lease, left by a writer that crashed', async function () {
      const proxy = new NoConditionalWritesProxy(new URL(objectStore().FS_MINIO_ENDPOINT ?? ''));
      await proxy.start();
      try {
        const prefix = uniquePrefix();
        prefixes.push(prefix);
        const config = minioConfig(prefix, { FS_MINIO_ENDPOINT: `http://127.0.0.1:${proxy.port}` });
        const fs = new S3FileSystem({
          endpoint: config.FS_MINIO_ENDPOINT,
          bucket: bucketOf(),
          accessKey: config.FS_MINIO_ACCESS_KEY,
          secretKey: config.FS_MINIO_SECRET_KEY,
          keyPrefix: prefix,
          claimLeaseMs: 1_000,
        });
        const stale = `${prefix}orphan/file.txt.ph-claims/.${randomUUID()}.ph-tmp`;
        await raw.putObject(bucketOf(), stale, Buffer.alloc(0));
        // The lease is measured on the server's clock, at whole seconds: wait until it has passed.
        const created = (await raw.statObject(bucketOf(), stale)).lastModified.getTime();
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, created + 2_100 - Date.now())));
        await fs.writeIfAbsent('orphan/file.txt', 'written despite the orphaned claim');
        expect(new TextDecoder().decode(await fs.read('orphan/file.txt'))).to.equal(
          'written despite the orphaned claim',
        );
        expect(await fs.list('orphan'), 'the claim is not listed').to.deep.equal(['orphan/file.txt']);
        await fs.disconnect();
      } finally {
        await proxy.stop();
      }
    });
  });

  describe('streaming writes', function () {
    it('writes 20 MB from a stream as a multipart upload and reads it back with the same sha256', async function () {
      const fs = await minioFileSystem();
      const size = 20 * 1024 * 1024;
      const expected = createHash('sha256');
      async function* source(): AsyncGenerator<Uint8Array> {
        for (let sent = 0; sent < size;) {
          const chunk = randomBytes(Math.min(256 * 1024 + 13, size - sent));
          expected.update(chunk);
          sent += chunk.byteLength;
          yield chunk;
        }
      }
      expect(await fs.writeStream('big/twenty-mb.bin', source())).to.equal(size);
      const info = await fs.stat('big/twenty-mb.bin');
      expect(info.size).to.equal(size);
      // 20 MiB in 8 MiB parts: an S3 multipart ETag names its part count.
      expect(info.etag, 'multipart ETag').to.match(/-3$/);
      const actual = createHash('sha256');
      let streamed = 0;
      for await (const chunk of await fs.readStream('big/twenty-mb.bin')) {
        actual.update(chunk as Buffer);
        streamed += (chunk as Buffer).byteLength;
      }
      expect(streamed).to.equal(size);
      expect(actual.digest('hex')).to.equal(expected.digest('hex'));
    });

    it('aborts the multipart upload when the source fails after a part was sent, keeping the old content', async function () {
      const fs = await minioFileSystem();
      await fs.write('big/kept.bin', 'old content');
      async function* failing(): AsyncGenerator<Uint8Array> {
        yield randomBytes(9 * 1024 * 1024);
        throw new Error('source failed after the first part');
      }
      const error = await rejectionOf(fs.writeStream('big/kept.bin', failing()));
      expect((error as Error).message).to.contain('source failed after the first part');
      expect(new TextDecoder().decode(await fs.read('big/kept.bin'))).to.equal('old content');
      const unfinished: string[] = [];
      for await (const key of unfinishedUploads(raw, bucketOf(), fs.keyPrefix)) unfinished.push(key);
      expect(unfinished, 'unfinished multipart uploads').to.deep.equal([]);
    });
  });

  describe('keys and listing', function () {
    it('lists keys that look like numbers as they are, and leaves out folder markers and reserved names', async function () {
      const fs = await minioFileSystem({ FS_MINIO_PREFIX: '' });
      const prefix = uniquePrefix();
      prefixes.push(prefix);
      const scoped = (await adapter.create(adapterContextForTest('minio', minioConfig(prefix)))) as S3FileSystem;
      for (const name of ['007', '0x1A', '1e5', 'a b+c%20.txt']) await scoped.write(`odd/${name}`, name);
      await raw.putObject(bucketOf(), `${prefix}odd/folder/`, Buffer.alloc(0));
      await raw.putObject(bucketOf(), `${prefix}odd/.reserved.ph-tmp`, Buffer.from('x'));
      expect(await scoped.list('odd')).to.deep.equal(['odd/007', 'odd/0x1A', 'odd/1e5', 'odd/a b+c%20.txt']);
      expect(new TextDecoder().decode(await scoped.read('odd/007'))).to.equal('007');
      // The same objects seen without a prefix: paths carry the prefix.
      expect(await fs.list(`${prefix}odd`)).to.include(`${prefix}odd/007`);
      await scoped.disconnect();
      await fs.disconnect();
    });

    it('keeps two prefixes apart on one bucket', async function () {
      const one = await minioFileSystem();
      const two = await minioFileSystem();
      await one.write('shared/name.txt', 'one');
      expect(await two.exists('shared/name.txt')).to.equal(false);
      expect(await two.list('')).to.deep.equal([]);
      await two.write('shared/name.txt', 'two');
      expect(new TextDecoder().decode(await one.read('shared/name.txt'))).to.equal('one');
    });

    it('hands out a presigned GET URL that fetches the content without credentials, and refuses an expiry beyond 7 days', async function () {
      const fs = await minioFileSystem();
      await fs.write('signed/report.csv', 'a,b\n1,2\n');
      const url = await fs.getSignedUrl('signed/report.csv', 120);
      expect(url).to.contain('X-Amz-Signature=').and.contain('X-Amz-Expires=120');
      const response = await fetch(url);
      expect(response.status).to.equal(200);
      expect(await response.text()).to.equal('a,b\n1,2\n');
      const tampered = await fetch(url.replace('report.csv', 'other.csv'));
      expect(tampered.status, 'a URL signed for another object').to.equal(403);
      await rejectionOf(fs.getSignedUrl('signed/report.csv', 8 * 24 * 3600)).then((error) =>
        expect(error).to.be.instanceOf(RangeError),
      );
    });
  });

  describe('connection and health', function () {
    it('refuses wrong credentials with PH_ERR_CONNECT naming the server and bucket, never the secret', async function () {
      const wrongSecret = `wrong-${randomUUID()}`;
      const prefix = uniquePrefix();
      const fs = (await adapter.create(
        adapterContextForTest('minio', minioConfig(prefix, { FS_MINIO_SECRET_KEY: wrongSecret })),
      )) as S3FileSystem;
      const error = await rejectionOf(fs.connect());
      expect(codeOf(error)).to.equal('PH_ERR_CONNECT');
      const message = (error as Error).message;
      expect(message)
        .to.contain(objectStore().FS_MINIO_ENDPOINT)
        .and.contain(bucketOf())
        .and.contain('refused the credentials');
      expect(message).to.not.contain(wrongSecret);
      expect(JSON.stringify(error)).to.not.contain(wrongSecret);
      const health = await fs.healthCheck();
      expect(health.ok).to.equal(false);
      expect(health.detail).to.not.contain(wrongSecret);
      const unknownUser = (await adapter.create(
        adapterContextForTest(
          'minio',
          minioConfig(prefix, { FS_MINIO_ACCESS_KEY: 'no-such-user', FS_MINIO_SECRET_KEY: wrongSecret }),
        ),
      )) as S3FileSystem;
      const unknown = await rejectionOf(unknownUser.connect());
      expect(codeOf(unknown)).to.equal('PH_ERR_CONNECT');
      expect((unknown as Error).message).to.not.contain(wrongSecret);
      await fs.disconnect();
      await unknownUser.disconnect();
    });

    it('refuses a missing bucket with PH_ERR_CONNECT naming it, and reports it unhealthy', async function () {
      const missing = `no-such-bucket-${randomUUID().slice(0, 8)}`;
      const fs = (await adapter.create(
        adapterContextForTest('minio', minioConfig(uniquePrefix(), { FS_MINIO_BUCKET: missing })),
      )) as S3FileSystem;
      const error = await rejectionOf(fs.connect());
      expect(codeOf(error)).to.equal('PH_ERR_CONNECT');
      expect((error as Error).message).to.contain(`Bucket "${missing}" does not exist`);
      expect((error as PlatformErrorLike).hint).to.contain('FS_MINIO_BUCKET');
      const health = await fs.healthCheck();
      expect(health).to.deep.equal({ ok: false, detail: `bucket "${missing}" does not exist at ${fs.server}` });
      const write = await rejectionOf(fs.write('x.txt', 'x'));
      expect((write as Error).message).to.contain(missing);
      await fs.disconnect();
    });

    it('gives up connecting to a server that never answers after the deadline, naming the endpoint and not the keys', async function () {
      const sockets = new Set<Socket>();
      const silent = createTcpServer((socket) => {
        sockets.add(socket);
        socket.on('error', () => undefined);
      });
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
      const port = (silent.address() as AddressInfo).port;
      try {
        const fs = (await adapter.create(
          adapterContextForTest(
            'minio',
            minioConfig(uniquePrefix(), {
              FS_MINIO_ENDPOINT: `http://127.0.0.1:${port}`,
              FS_MINIO_SECRET_KEY: SECRET,
              FS_MINIO_CONNECT_TIMEOUT_MS: '300',
            }),
          ),
        )) as S3FileSystem;
        const error = await rejectionOf(fs.connect());
        expect(codeOf(error)).to.equal('PH_ERR_CONNECT');
        expect((error as Error).message)
          .to.contain(`http://127.0.0.1:${port}`)
          .and.contain('no answer within 300 ms')
          .and.not.contain(SECRET);
        await fs.disconnect();
      } finally {
        for (const socket of sockets) socket.destroy();
        await new Promise<void>((resolve) => silent.close(() => resolve()));
      }
    });

    it('is healthy on an existing bucket', async function () {
      const fs = await minioFileSystem();
      expect(await fs.healthCheck()).to.deep.equal({ ok: true });
    });
  });
});

interface PlatformErrorLike {
  readonly hint?: string;
}
