import { createHash, randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { isPlatformError } from '@platform-host/contracts';
import type { FileInfo, FileSystem, ListFilesOptions } from '@platform-host/contracts';
import { expectCode, rejectionOf } from './assertions.js';
import type { ConformanceSubject } from './subject.js';

export type { ConformanceSubject } from './subject.js';

const encoder = new TextEncoder();

/** `size` bytes of repeatable pseudo-random data (a hash chain), so a mix-up of chunks shows. */
function pseudoRandomBytes(size: number, seed: string): Uint8Array {
  const bytes = new Uint8Array(size);
  let block = createHash('sha256').update(seed).digest();
  for (let offset = 0; offset < size; offset += block.byteLength) {
    bytes.set(block.subarray(0, Math.min(block.byteLength, size - offset)), offset);
    block = createHash('sha256').update(block).digest();
  }
  return bytes;
}

function* chunksOf(bytes: Uint8Array, chunkSize: number): Generator<Uint8Array> {
  for (let start = 0; start < bytes.byteLength; start += chunkSize) yield bytes.subarray(start, start + chunkSize);
}

async function* asyncChunks(bytes: Uint8Array, chunkSize: number): AsyncGenerator<Uint8Array> {
  for (const chunk of chunksOf(bytes, chunkSize)) {
    await Promise.resolve();
    yield chunk;
  }
}

async function collect(stream: AsyncIterable<unknown>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const chunk of stream) {
    parts.push(typeof chunk === 'string' ? encoder.encode(chunk) : (chunk as Uint8Array));
  }
  return new Uint8Array(Buffer.concat(parts));
}

/** Compares byte content by length and hash, so a failure does not print megabytes. */
function expectSameBytes(actual: Uint8Array, expected: Uint8Array): void {
  expect(actual.byteLength, 'length').to.equal(expected.byteLength);
  const digest = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');
  expect(digest(actual), 'content').to.equal(digest(expected));
}

/** Every entry of a `listFiles` iteration. */
async function listAll(fs: FileSystem, prefix: string, options?: ListFilesOptions): Promise<FileInfo[]> {
  const infos: FileInfo[] = [];
  for await (const info of fs.listFiles(prefix, options)) infos.push(info);
  return infos;
}

/** A last-modified time is a real date close to now (a day either way allows for server clock skew). */
function expectRecent(date: Date, what: string): void {
  expect(date, what).to.be.instanceOf(Date);
  expect(Number.isNaN(date.getTime()), `${what} is a valid date`).to.equal(false);
  expect(Math.abs(date.getTime() - Date.now()), `${what} is within a day of now`).to.be.below(24 * 3600 * 1000);
}

/** Paths every adapter refuses with PH_ERR_FS_PATH_INVALID, and why. */
const INVALID_PATHS: ReadonlyArray<readonly [string, string]> = [
  ['/etc/passwd', 'absolute'],
  ['../outside.txt', 'parent segment at the start'],
  ['a/../../outside.txt', 'parent segment in the middle'],
  ['a/..', 'parent segment at the end'],
  ['a//b.txt', 'empty segment'],
  ['a/b/', 'trailing slash'],
  ['a/./b.txt', 'dot segment'],
  ['a\\b.txt', 'backslash'],
  ['a\0b.txt', 'NUL character'],
  ['', 'empty path'],
];

/**
 * Declares the conformance suite every {@link FileSystem} adapter runs against itself. All paths
 * live under a prefix unique to the run (`conformance-<random>/`), removed at the end, so the suite
 * can share a real bucket or directory with other runs.
 *
 * @param adapterName Shown in the suite title (`FileSystem conformance: memory`).
 * @param subject Creates a ready file system, and optionally destroys it after the suite.
 */
export function describeFileSystemConformance(adapterName: string, subject: ConformanceSubject<FileSystem>): void {
  describe(`FileSystem conformance: ${adapterName}`, function () {
    let fs: FileSystem;
    const root = `conformance-${randomUUID().slice(0, 8)}`;
    const path = (name: string): string => `${root}/${name}`;

    before(async function () {
      fs = await subject.create();
    });

    after(async function () {
      if (fs === undefined) return;
      try {
        for (const leftover of await fs.list(root)) await fs.delete(leftover);
      } finally {
        await subject.destroy?.(fs);
      }
    });

    describe('read and write', function () {
      it('returns exactly the bytes written, all 256 byte values included', async function () {
        const bytes = Uint8Array.from({ length: 512 }, (_, index) => index % 256);
        await fs.write(path('binary/all-bytes.bin'), bytes);
        const read = await fs.read(path('binary/all-bytes.bin'));
        expect(read).to.be.instanceOf(Uint8Array);
        expect(Array.from(read)).to.deep.equal(Array.from(bytes));
      });

      it('writes a string as UTF-8', async function () {
        const text = 'héllo wörld ✓ 日本語 🚀 "quotes" \\ and a\nnewline';
        await fs.write(path('text/utf8.txt'), text);
        const read = await fs.read(path('text/utf8.txt'));
        expect(Array.from(read)).to.deep.equal(Array.from(encoder.encode(text)));
        expect(new TextDecoder().decode(read)).to.equal(text);
      });

      it('stores and returns an empty file', async function () {
        await fs.write(path('text/empty.txt'), new Uint8Array(0));
        expect(await fs.exists(path('text/empty.txt'))).to.equal(true);
        expect((await fs.read(path('text/empty.txt'))).byteLength).to.equal(0);
      });

      it('replaces the whole content on overwrite, also with a shorter one', async function () {
        await fs.write(path('overwrite.txt'), 'a much longer first version of the content');
        await fs.write(path('overwrite.txt'), 'short');
        expect(new TextDecoder().decode(await fs.read(path('overwrite.txt')))).to.equal('short');
      });

      it('creates nested parent directories as needed', async function () {
        await fs.write(path('deep/a/b/c/d/e/file.json'), '{"deep":true}');
        expect(await fs.exists(path('deep/a/b/c/d/e/file.json'))).to.equal(true);
        expect(await fs.list(path('deep'))).to.deep.equal([path('deep/a/b/c/d/e/file.json')]);
      });

      it('keeps unicode file names', async function () {
        await fs.write(path('unicode/données-日本-🚀.txt'), 'x');
        expect(await fs.exists(path('unicode/données-日本-🚀.txt'))).to.equal(true);
        expect(await fs.list(path('unicode'))).to.deep.equal([path('unicode/données-日本-🚀.txt')]);
      });

      it('is not affected by the caller changing the written array or the array read', async function () {
        const bytes = Uint8Array.from([1, 2, 3, 4]);
        await fs.write(path('isolation.bin'), bytes);
        bytes[0] = 99;
        const first = await fs.read(path('isolation.bin'));
        expect(Array.from(first)).to.deep.equal([1, 2, 3, 4]);
        first[1] = 99;
        expect(Array.from(await fs.read(path('isolation.bin')))).to.deep.equal([1, 2, 3, 4]);
      });

      it('rejects a read of a missing file with PH_ERR_FS_NOT_FOUND naming the path', async function () {
        const missing = path('missing/nothing-here.txt');
        const error = await expectCode(fs.read(missing), 'PH_ERR_FS_NOT_FOUND');
        expect(error.message).to.include(missing);
        await expectCode(fs.readStream(missing), 'PH_ERR_FS_NOT_FOUND');
      });

      it('keeps every file of many concurrent writes, and one whole version of a file written concurrently', async function () {
        const names = Array.from({ length: 50 }, (_, index) =>
          path(`concurrent/file-${String(index).padStart(2, '0')}.txt`),
        );
        await Promise.all(names.map((name, index) => fs.write(name, `content ${index}`)));
        const contents = await Promise.all(names.map(async (name) => new TextDecoder().decode(await fs.read(name))));
        expect(contents).to.deep.equal(names.map((_, index) => `content ${index}`));

        const versions = Array.from({ length: 10 }, (_, index) => `version ${index} `.repeat(1000));
        await Promise.all(versions.map((version) => fs.write(path('concurrent/race.txt'), version)));
        expect(versions).to.include(new TextDecoder().decode(await fs.read(path('concurrent/race.txt'))));
      });
    });

    describe('list, exists and delete', function () {
      it('lists an empty array for a missing prefix', async function () {
        expect(await fs.list(path('never/written'))).to.deep.equal([]);
        expect(await fs.list(`conformance-missing-${randomUUID().slice(0, 8)}`)).to.deep.equal([]);
      });

      it('lists every file under a prefix, recursively, sorted, as paths from the root', async function () {
        const names = ['list/b.txt', 'list/a/z.txt', 'list/a.txt', 'list/c/d/e.txt', 'list/A.txt', 'list/a/b/c.txt'];
        for (const name of names) await fs.write(path(name), name);
        const expected = names.map(path).sort();
        expect(await fs.list(path('list'))).to.deep.equal(expected);
        expect(await fs.list(path('list/'))).to.deep.equal(expected);
        expect(await fs.list(path('list/a'))).to.deep.equal([path('list/a/b/c.txt'), path('list/a/z.txt')]);
        expect(await fs.list(root)).to.include.members(expected);
      });

      it('treats the prefix as a directory, not as the start of a name', async function () {
        await fs.write(path('raw/events/2026-01-15/a.json'), 'a');
        await fs.write(path('raw/events/2026-01-15/hour=01/b.json'), 'b');
        await fs.write(path('raw/events/2026-01-15-backup/x.json'), 'x');
        await fs.write(path('raw/events/2026-01-150.json'), 'y');
        expect(await fs.list(path('raw/events/2026-01-15'))).to.deep.equal([
          path('raw/events/2026-01-15/a.json'),
          path('raw/events/2026-01-15/hour=01/b.json'),
        ]);
        expect(await fs.list(path('raw/events/2026-01'))).to.deep.equal([]);
        expect(await fs.list(path('raw/events/2026-01-15/a.json'))).to.deep.equal([]);
      });

      it("lists everything with the '' prefix", async function () {
        await fs.write(path('everything/one.txt'), '1');
        expect(await fs.list('')).to.include(path('everything/one.txt'));
      });

      it('reports whether a file exists; a directory is not a file', async function () {
        expect(await fs.exists(path('exists/file.txt'))).to.equal(false);
        await fs.write(path('exists/file.txt'), 'here');
        expect(await fs.exists(path('exists/file.txt'))).to.equal(true);
        expect(await fs.exists(path('exists'))).to.equal(false);
      });

      it('deletes a file and reports true, then reports false without throwing', async function () {
        await fs.write(path('delete/file.txt'), 'bye');
        await fs.write(path('delete/sibling.txt'), 'stays');
        expect(await fs.delete(path('delete/file.txt'))).to.equal(true);
        expect(await fs.exists(path('delete/file.txt'))).to.equal(false);
        await expectCode(fs.read(path('delete/file.txt')), 'PH_ERR_FS_NOT_FOUND');
        expect(await fs.list(path('delete'))).to.deep.equal([path('delete/sibling.txt')]);
        expect(await fs.delete(path('delete/file.txt'))).to.equal(false);
        expect(await fs.delete(path('delete/never-existed/x.txt'))).to.equal(false);
      });
    });

    describe('listFiles and stat', function () {
      const names = ['a.txt', 'b/one.txt', 'b/two.txt', 'b-side.txt', 'c/d/e.txt', 'c/d/f.txt', 'c/z.txt'];
      const contents = names.map((name, index) => `${name} `.repeat(index + 1));

      before(async function () {
        for (const [index, name] of names.entries()) await fs.write(path(`paged/${name}`), contents[index] as string);
      });

      it('lists every file in the order of list(), across pages of two, with size, etag and last-modified', async function () {
        const listed = await fs.list(path('paged'));
        expect(listed).to.have.length(names.length);
        const infos = await listAll(fs, path('paged'), { pageSize: 2 });
        expect(infos.map((info) => info.path)).to.deep.equal(listed);
        for (const info of infos) {
          const index = names.indexOf(info.path.slice(path('paged/').length));
          expect(info.size, `size of ${info.path}`).to.equal(encoder.encode(contents[index]).byteLength);
          expect(info.etag, `etag of ${info.path}`).to.be.a('string').and.not.equal('');
          expectRecent(info.lastModified, `lastModified of ${info.path}`);
        }
        expect(new Set(infos.map((info) => info.etag)).size, 'distinct etags of distinct contents').to.equal(
          names.length,
        );
      });

      it('lists the same files with the default page size and with a page larger than the listing', async function () {
        const expected = await fs.list(path('paged'));
        expect((await listAll(fs, path('paged'))).map((info) => info.path)).to.deep.equal(expected);
        expect((await listAll(fs, path('paged'), { pageSize: 1000 })).map((info) => info.path)).to.deep.equal(expected);
        expect((await listAll(fs, path('paged'), { pageSize: 1 })).map((info) => info.path)).to.deep.equal(expected);
      });

      it('resumes after startAfter, exclusive, also from a path that does not exist', async function () {
        const listed = await fs.list(path('paged'));
        const third = listed[2] as string;
        const resumed = await listAll(fs, path('paged'), { startAfter: third, pageSize: 2 });
        expect(resumed.map((info) => info.path)).to.deep.equal(listed.slice(3));
        const between = await listAll(fs, path('paged'), { startAfter: path('paged/b/p'), pageSize: 2 });
        expect(between.map((info) => info.path)).to.deep.equal(listed.filter((name) => name > path('paged/b/p')));
        const last = listed[listed.length - 1] as string;
        expect(await listAll(fs, path('paged'), { startAfter: last })).to.deep.equal([]);
        const beforeAll = await listAll(fs, path('paged'), { startAfter: path('paged/0') });
        expect(beforeAll.map((info) => info.path)).to.deep.equal(listed);
      });

      it('treats the prefix as a directory and lists nothing for a missing one', async function () {
        const infos = await listAll(fs, path('paged/b'), { pageSize: 2 });
        expect(infos.map((info) => info.path)).to.deep.equal([path('paged/b/one.txt'), path('paged/b/two.txt')]);
        expect(await listAll(fs, path('paged/never'))).to.deep.equal([]);
        expect(await listAll(fs, path('paged/a.txt'))).to.deep.equal([]);
      });

      it('stats a file with the same size, etag and last-modified as its listing', async function () {
        const listed = (await listAll(fs, path('paged/c'))).find((entry) => entry.path === path('paged/c/z.txt'));
        const info = await fs.stat(path('paged/c/z.txt'));
        expect(info.path).to.equal(path('paged/c/z.txt'));
        expect(info.size).to.equal(encoder.encode(contents[names.indexOf('c/z.txt')]).byteLength);
        expect(listed, 'the listing of the file').to.not.equal(undefined);
        expect(info.etag).to.equal(listed?.etag);
        expect(info.lastModified.getTime()).to.equal(listed?.lastModified.getTime());
        expect((await fs.stat(path('paged/c/z.txt'))).etag, 'etag of an unchanged file').to.equal(info.etag);
      });

      it('stats an empty file with size 0', async function () {
        await fs.write(path('stat/empty.bin'), new Uint8Array(0));
        const info = await fs.stat(path('stat/empty.bin'));
        expect(info.size).to.equal(0);
        expect(info.etag).to.be.a('string').and.not.equal('');
      });

      it('changes the etag when the content is rewritten, also with content of the same size', async function () {
        await fs.write(path('stat/etag.txt'), 'version one');
        const first = await fs.stat(path('stat/etag.txt'));
        await fs.write(path('stat/etag.txt'), 'version two');
        const second = await fs.stat(path('stat/etag.txt'));
        expect(second.size).to.equal(first.size);
        expect(second.etag).to.not.equal(first.etag);
        await fs.writeStream(path('stat/etag.txt'), asyncChunks(encoder.encode('a longer version three'), 4));
        const third = await fs.stat(path('stat/etag.txt'));
        expect(third.etag).to.not.equal(second.etag);
        expect(third.size).to.equal(22);
        expect(third.lastModified.getTime(), 'lastModified of the rewrite').to.be.at.least(
          first.lastModified.getTime(),
        );
        const listed = (await listAll(fs, path('stat'))).find((entry) => entry.path === path('stat/etag.txt'));
        expect(listed?.etag, 'etag in the listing after the rewrite').to.equal(third.etag);
      });

      it('rejects stat of a missing file or a directory with PH_ERR_FS_NOT_FOUND naming the path', async function () {
        const missing = path('stat/missing.txt');
        const error = await expectCode(fs.stat(missing), 'PH_ERR_FS_NOT_FOUND');
        expect(error.message).to.include(missing);
        await expectCode(fs.stat(path('paged/c')), 'PH_ERR_FS_NOT_FOUND');
      });
    });

    describe('writeIfAbsent', function () {
      it('writes a new file, then refuses a second write with PH_ERR_FS_EXISTS and keeps the first content', async function () {
        const target = path('once/first.json');
        await fs.writeIfAbsent(target, '{"first":true}');
        expect(new TextDecoder().decode(await fs.read(target))).to.equal('{"first":true}');
        const error = await expectCode(fs.writeIfAbsent(target, '{"second":true}'), 'PH_ERR_FS_EXISTS');
        expect(error.message).to.include(target);
        expect(new TextDecoder().decode(await fs.read(target))).to.equal('{"first":true}');
        expect(await fs.list(path('once'))).to.deep.equal([target]);
      });

      it('refuses a path that an ordinary write created', async function () {
        await fs.write(path('once/written.bin'), Uint8Array.from([1, 2, 3]));
        await expectCode(fs.writeIfAbsent(path('once/written.bin'), Uint8Array.from([9])), 'PH_ERR_FS_EXISTS');
        expect(Array.from(await fs.read(path('once/written.bin')))).to.deep.equal([1, 2, 3]);
      });

      it('lets exactly one of 20 concurrent writers win, the others failing with PH_ERR_FS_EXISTS', async function () {
        const target = path('once/raced.txt');
        const writers = Array.from({ length: 20 }, (_, index) => `writer ${index} `.repeat(200));
        const outcomes = await Promise.allSettled(writers.map((content) => fs.writeIfAbsent(target, content)));
        const winners = outcomes.flatMap((outcome, index) => (outcome.status === 'fulfilled' ? [index] : []));
        expect(winners, 'writers that succeeded').to.have.length(1);
        for (const outcome of outcomes) {
          if (outcome.status === 'rejected') {
            const reason: unknown = outcome.reason;
            expect(isPlatformError(reason) ? reason.code : reason, 'error code of a losing writer').to.equal(
              'PH_ERR_FS_EXISTS',
            );
          }
        }
        expect(new TextDecoder().decode(await fs.read(target))).to.equal(writers[winners[0] as number]);
        expect((await fs.list(path('once'))).filter((name) => name.startsWith(target))).to.deep.equal([target]);
      });

      it('writes again once the file was deleted, and writes a binary file whole', async function () {
        const target = path('once/again.bin');
        const bytes = pseudoRandomBytes(300 * 1024, 'write once');
        await fs.writeIfAbsent(target, new Uint8Array(3));
        expect(await fs.delete(target)).to.equal(true);
        await fs.writeIfAbsent(target, bytes);
        expectSameBytes(await fs.read(target), bytes);
        expect((await fs.stat(target)).size).to.equal(bytes.byteLength);
      });
    });

    describe('path rules', function () {
      for (const [invalid, why] of INVALID_PATHS) {
        it(`refuses a path with ${why} (${JSON.stringify(invalid)}) in every method with PH_ERR_FS_PATH_INVALID`, async function () {
          const error = await expectCode(fs.write(invalid, 'x'), 'PH_ERR_FS_PATH_INVALID');
          expect(error.message).to.include(JSON.stringify(invalid));
          await expectCode(fs.read(invalid), 'PH_ERR_FS_PATH_INVALID');
          await expectCode(fs.exists(invalid), 'PH_ERR_FS_PATH_INVALID');
          await expectCode(fs.delete(invalid), 'PH_ERR_FS_PATH_INVALID');
          await expectCode(fs.readStream(invalid), 'PH_ERR_FS_PATH_INVALID');
          await expectCode(fs.writeStream(invalid, asyncChunks(encoder.encode('x'), 1)), 'PH_ERR_FS_PATH_INVALID');
          await expectCode(fs.getSignedUrl(invalid), 'PH_ERR_FS_PATH_INVALID');
          await expectCode(fs.stat(invalid), 'PH_ERR_FS_PATH_INVALID');
          await expectCode(fs.writeIfAbsent(invalid, 'x'), 'PH_ERR_FS_PATH_INVALID');
        });
      }

      it('refuses a list prefix that is absolute or escapes the root', async function () {
        for (const invalid of ['/etc', '../', '..', 'a/../..', 'a\\b', 'a//b']) {
          await expectCode(fs.list(invalid), 'PH_ERR_FS_PATH_INVALID');
          await expectCode(listAll(fs, invalid), 'PH_ERR_FS_PATH_INVALID');
        }
      });
    });

    describe('streams', function () {
      const size = 5 * 1024 * 1024;
      const content = pseudoRandomBytes(size, 'five megabytes');

      it('writes a 5 MB stream in chunks, returns its size, and reads it back equal, whole and streamed', async function () {
        const written = await fs.writeStream(path('stream/five-mb.bin'), asyncChunks(content, 64 * 1024 + 7));
        expect(written).to.equal(size);
        expectSameBytes(await fs.read(path('stream/five-mb.bin')), content);
        expectSameBytes(await collect(await fs.readStream(path('stream/five-mb.bin'))), content);
      });

      it('streams a file written with write(), and writes a stream of one chunk', async function () {
        await fs.write(path('stream/small.txt'), 'small content');
        expect(new TextDecoder().decode(await collect(await fs.readStream(path('stream/small.txt'))))).to.equal(
          'small content',
        );
        expect(await fs.writeStream(path('stream/one-chunk.txt'), asyncChunks(encoder.encode('one'), 100))).to.equal(3);
        expect(new TextDecoder().decode(await fs.read(path('stream/one-chunk.txt')))).to.equal('one');
      });

      it('keeps the old content when the source stream fails midway', async function () {
        await fs.write(path('stream/keep.txt'), 'old content');
        const failure = new Error('source failed midway');
        async function* failing(): AsyncGenerator<Uint8Array> {
          yield encoder.encode('new ');
          yield pseudoRandomBytes(256 * 1024, 'partial');
          throw failure;
        }
        const error = await rejectionOf(fs.writeStream(path('stream/keep.txt'), failing()));
        expect(error).to.be.instanceOf(Error);
        expect(new TextDecoder().decode(await fs.read(path('stream/keep.txt')))).to.equal('old content');
      });

      it('leaves no file when the source stream of a new file fails midway', async function () {
        async function* failing(): AsyncGenerator<Uint8Array> {
          yield encoder.encode('partial');
          throw new Error('source failed midway');
        }
        await rejectionOf(fs.writeStream(path('stream/failed/new.txt'), failing()));
        expect(await fs.exists(path('stream/failed/new.txt'))).to.equal(false);
        expect(await fs.list(path('stream/failed'))).to.deep.equal([]);
      });
    });

    describe('signed URLs and health', function () {
      it('returns a parseable URL string for a file', async function () {
        await fs.write(path('signed/file.txt'), 'signed');
        const url = await fs.getSignedUrl(path('signed/file.txt'), 60);
        expect(url).to.be.a('string');
        expect(() => new URL(url)).not.to.throw();
        expect(await fs.getSignedUrl(path('signed/file.txt'))).to.be.a('string');
      });

      it('reports healthy', async function () {
        const result = await fs.healthCheck();
        expect(result.ok, result.detail).to.equal(true);
      });
    });
  });
}
