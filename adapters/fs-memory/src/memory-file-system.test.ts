import { readFile } from 'node:fs/promises';
import { expect } from 'chai';
import { isPlatformError } from '@platform-host/contracts';
import type { AdapterContext } from '@platform-host/contracts';
import { adapterManifestSchema } from '@platform-host/contracts/manifest-schemas';
import { describeFileSystemConformance } from '@platform-host/test-kit';
import adapter, { MemoryFileSystem } from './index.js';

describeFileSystemConformance('memory', { create: async () => new MemoryFileSystem() });

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  expect.fail('expected the call to be rejected, but it resolved');
}

function codeOf(error: unknown): unknown {
  return isPlatformError(error) ? error.code : error;
}

function adapterDeps(values: Record<string, string>): AdapterContext {
  return {
    flag: 'memory',
    config: {
      get: (key) => values[key],
      require: (key) => values[key] ?? expect.fail(`missing ${key}`),
      integer: (key, fallback) => (values[key] === undefined ? fallback : Number.parseInt(values[key], 10)),
    },
    environment: {},
  };
}

async function* chunks(...parts: string[]): AsyncGenerator<Uint8Array> {
  for (const part of parts) yield new TextEncoder().encode(part);
}

const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

describe('MemoryFileSystem', function () {
  describe('files and directories', function () {
    it('refuses to write below a file, or over a directory, as the local file system does', async function () {
      const fs = new MemoryFileSystem();
      await fs.write('a/b.txt', 'file');
      const belowFile = await rejectionOf(fs.write('a/b.txt/c.txt', 'x'));
      expect(codeOf(belowFile)).to.equal('PH_ERR_FS_PATH_INVALID');
      expect((belowFile as Error).message).to.include('"a/b.txt"');
      expect(codeOf(await rejectionOf(fs.write('a', 'x')))).to.equal('PH_ERR_FS_PATH_INVALID');
      expect(codeOf(await rejectionOf(fs.writeStream('a', chunks('x'))))).to.equal('PH_ERR_FS_PATH_INVALID');
      expect(await fs.list('')).to.deep.equal(['a/b.txt']);
    });

    it('frees a directory name once its last file is deleted', async function () {
      const fs = new MemoryFileSystem();
      await fs.write('dir/one.txt', '1');
      await fs.write('dir/sub/two.txt', '2');
      await fs.delete('dir/one.txt');
      expect(await fs.list('dir')).to.deep.equal(['dir/sub/two.txt']);
      await fs.delete('dir/sub/two.txt');
      expect(await fs.list('dir')).to.deep.equal([]);
      await fs.write('dir', 'now a file');
      expect(text(await fs.read('dir'))).to.equal('now a file');
    });

    it('copies a Buffer on write, even one that shares a larger ArrayBuffer', async function () {
      const fs = new MemoryFileSystem();
      const pool = Buffer.from('0123456789');
      await fs.write('slice.txt', pool.subarray(2, 5));
      pool.write('xxxxxxxxxx');
      expect(text(await fs.read('slice.txt'))).to.equal('234');
    });

    it('streams the content a file had when readStream() was called', async function () {
      const fs = new MemoryFileSystem();
      await fs.write('snapshot.txt', 'before');
      const stream = await fs.readStream('snapshot.txt');
      await fs.write('snapshot.txt', 'after');
      const parts: Buffer[] = [];
      for await (const chunk of stream) parts.push(chunk as Buffer);
      expect(Buffer.concat(parts).toString('utf8')).to.equal('before');
    });

    it('emits a large file in several chunks', async function () {
      const fs = new MemoryFileSystem();
      await fs.write('large.bin', new Uint8Array(200 * 1024));
      let count = 0;
      for await (const chunk of await fs.readStream('large.bin')) {
        expect(chunk).to.be.instanceOf(Buffer);
        count += 1;
      }
      expect(count).to.be.greaterThan(1);
    });
  });

  describe('file info and write-once', function () {
    it('gives equal contents equal etags, and tells a rewrite by its etag and last-modified', async function () {
      const fs = new MemoryFileSystem();
      await fs.write('a.txt', 'same');
      await fs.write('b.txt', 'same');
      const [a, b] = [await fs.stat('a.txt'), await fs.stat('b.txt')];
      expect(a.etag).to.equal(b.etag);
      const before = Date.now();
      await fs.write('a.txt', 'new!');
      const rewritten = await fs.stat('a.txt');
      expect(rewritten.etag).to.not.equal(a.etag);
      expect(rewritten.lastModified.getTime()).to.be.at.least(before);
    });

    it('skips a file deleted while a listing is paged through', async function () {
      const fs = new MemoryFileSystem();
      for (const name of ['d/1', 'd/2', 'd/3', 'd/4']) await fs.write(name, name);
      const seen: string[] = [];
      for await (const info of fs.listFiles('d', { pageSize: 2 })) {
        seen.push(info.path);
        if (info.path === 'd/1') await fs.delete('d/4');
      }
      expect(seen).to.deep.equal(['d/1', 'd/2', 'd/3']);
    });

    it('refuses a page size that is not a positive integer with a RangeError', async function () {
      const fs = new MemoryFileSystem();
      for (const pageSize of [0, -1, 1.5, Number.NaN]) {
        const iterator = fs.listFiles('', { pageSize })[Symbol.asyncIterator]();
        expect(await rejectionOf(iterator.next()), `pageSize ${pageSize}`).to.be.instanceOf(RangeError);
      }
    });

    it('counts a write-once file against maxBytes and refuses a path below a file', async function () {
      const fs = new MemoryFileSystem({ maxBytes: 4 });
      await fs.writeIfAbsent('a', '1234');
      expect(await rejectionOf(fs.writeIfAbsent('b', '5'))).to.be.instanceOf(RangeError);
      expect(codeOf(await rejectionOf(fs.writeIfAbsent('a/b', '')))).to.equal('PH_ERR_FS_PATH_INVALID');
      expect(await fs.exists('b')).to.equal(false);
    });
  });

  describe('signed URLs', function () {
    it('returns a memory:// URL that this instance resolves back to the path', async function () {
      const fs = new MemoryFileSystem();
      const url = await fs.getSignedUrl('raw/événements/a b#c.json', 60);
      expect(url).to.match(/^memory:\/\/[0-9a-f]+\/raw\/%C3%A9v%C3%A9nements\/a%20b%23c\.json$/);
      expect(fs.resolveUrl(url)).to.equal('raw/événements/a b#c.json');
      expect(new MemoryFileSystem().resolveUrl(url)).to.equal(undefined);
    });
  });

  describe('size bound', function () {
    it('refuses a write that would exceed maxBytes, keeping everything as it was', async function () {
      const fs = new MemoryFileSystem({ maxBytes: 10 });
      await fs.write('a.txt', '123456');
      const error = await rejectionOf(fs.write('b.txt', '12345'));
      expect(error).to.be.instanceOf(RangeError);
      expect((error as Error).message)
        .to.include('"b.txt"')
        .and.include('FS_MEMORY_MAX_BYTES=10');
      expect(await fs.exists('b.txt')).to.equal(false);
      expect(fs.totalBytes).to.equal(6);
    });

    it('counts an overwrite by its new size only, and frees the bytes of a deleted file', async function () {
      const fs = new MemoryFileSystem({ maxBytes: 10 });
      await fs.write('a.txt', '1234567890');
      await fs.write('a.txt', '0987654321');
      expect(fs.totalBytes).to.equal(10);
      await fs.delete('a.txt');
      expect(fs.totalBytes).to.equal(0);
      await fs.write('b.txt', '1234567890');
      expect(text(await fs.read('b.txt'))).to.equal('1234567890');
    });

    it('stops reading a stream once it exceeds maxBytes, keeping the old content', async function () {
      const fs = new MemoryFileSystem({ maxBytes: 8 });
      await fs.write('s.txt', 'old');
      let pulled = 0;
      async function* source(): AsyncGenerator<Uint8Array> {
        for (let index = 0; index < 100; index += 1) {
          pulled += 1;
          yield new TextEncoder().encode('12345');
        }
      }
      expect(await rejectionOf(fs.writeStream('s.txt', source()))).to.be.instanceOf(RangeError);
      expect(pulled).to.equal(2);
      expect(text(await fs.read('s.txt'))).to.equal('old');
    });
  });

  describe('adapter entry and manifest', function () {
    it('has a valid manifest serving the memory flag with FS_MEMORY_MAX_BYTES', async function () {
      const raw: unknown = JSON.parse(await readFile(new URL('../platform-adapter.json', import.meta.url), 'utf8'));
      const manifest = adapterManifestSchema.parse(raw);
      expect(manifest.interface).to.equal('filesystem');
      expect(manifest.flags).to.deep.equal(['memory']);
      expect(manifest.host_api).to.equal('^2.0.0');
      expect(manifest.config.map((key) => key.env)).to.deep.equal(['FS_MEMORY_MAX_BYTES']);
    });

    it('creates a file system bounded by FS_MEMORY_MAX_BYTES', async function () {
      const fs = (await adapter.create(adapterDeps({ FS_MEMORY_MAX_BYTES: '4' }))) as MemoryFileSystem;
      await fs.write('ok.txt', '1234');
      expect(await rejectionOf(fs.write('more.txt', '5'))).to.be.instanceOf(RangeError);
    });

    it('refuses a negative FS_MEMORY_MAX_BYTES with PH_ERR_CONFIG_INVALID', async function () {
      const error = await rejectionOf(
        Promise.resolve().then(() => adapter.create(adapterDeps({ FS_MEMORY_MAX_BYTES: '-1' }))),
      );
      expect(codeOf(error)).to.equal('PH_ERR_CONFIG_INVALID');
    });
  });
});
