import { randomBytes } from 'node:crypto';
import { link, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { isPlatformError } from '@platform-host/contracts';
import type { AdapterConfig, AdapterContext, FileInfo } from '@platform-host/contracts';
import { adapterManifestSchema } from '@platform-host/contracts/manifest-schemas';
import { describeFileSystemConformance } from '@platform-host/test-kit';
import adapter, { LocalFileSystem } from './index.js';

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the promise to reject');
}

async function expectCode(promise: Promise<unknown>, code: string): Promise<Error> {
  const error = await rejection(promise);
  expect(isPlatformError(error) && error.code, String(error)).to.equal(code);
  return error as Error;
}

function adapterDeps(values: Record<string, string>): AdapterContext {
  const config: AdapterConfig = {
    get: (key) => values[key],
    require: (key) => {
      const value = values[key];
      if (value === undefined) throw new Error(`missing ${key}`);
      return value;
    },
    integer: (key, fallback) => (values[key] === undefined ? fallback : Number.parseInt(values[key], 10)),
  };
  return { flag: 'local', config, environment: {} };
}

/** Every name in a directory tree, temporary files included (what the adapter hides). */
async function rawTree(directory: string): Promise<string[]> {
  const entries = await readdir(directory, { recursive: true });
  return entries.map(String).sort();
}

const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString('utf8');

async function listAll(
  fs: LocalFileSystem,
  prefix: string,
  options?: { pageSize?: number; startAfter?: string },
): Promise<FileInfo[]> {
  const infos: FileInfo[] = [];
  for await (const info of fs.listFiles(prefix, options)) infos.push(info);
  return infos;
}

const conformanceRoots = new Map<LocalFileSystem, string>();
describeFileSystemConformance('local', {
  create: async () => {
    const directory = await mkdtemp(join(tmpdir(), 'ph-fs-local-conformance-'));
    const fs = new LocalFileSystem({ root: join(directory, 'root') });
    conformanceRoots.set(fs, directory);
    return fs;
  },
  destroy: async (fs) => {
    const directory = conformanceRoots.get(fs as LocalFileSystem);
    if (directory !== undefined) await rm(directory, { recursive: true, force: true });
  },
});

describe('LocalFileSystem', function () {
  let workspace: string;
  let root: string;
  let fs: LocalFileSystem;

  beforeEach(async function () {
    workspace = await mkdtemp(join(tmpdir(), 'ph-fs-local-'));
    root = join(workspace, 'root');
    fs = new LocalFileSystem({ root });
  });

  afterEach(async function () {
    await rm(workspace, { recursive: true, force: true });
  });

  describe('adapter package', function () {
    it('has a valid manifest that declares every config key the adapter reads', async function () {
      const manifestText = await readFile(new URL('../platform-adapter.json', import.meta.url), 'utf8');
      const manifest = adapterManifestSchema.parse(JSON.parse(manifestText));
      expect(manifest.interface).to.equal('filesystem');
      expect(manifest.flags).to.deep.equal(['local']);
      expect(manifest.host_api).to.equal('^2.0.0');
      expect(manifest.config.map((key) => [key.env, key.default])).to.deep.equal([
        ['FS_LOCAL_ROOT', '/tmp/data-platform'],
        ['FS_LOCAL_ALLOW_HARD_LINKS', 'false'],
      ]);
    });

    it('creates a file system rooted at FS_LOCAL_ROOT without touching the disk', async function () {
      const created = await adapter.create(adapterDeps({ FS_LOCAL_ROOT: root }));
      expect(created).to.be.instanceOf(LocalFileSystem);
      expect((created as LocalFileSystem).root).to.equal(root);
      expect(await rejection(stat(root))).to.have.property('code', 'ENOENT');
    });

    it('reads FS_LOCAL_ALLOW_HARD_LINKS as true or false (default false) and refuses any other value with PH_ERR_CONFIG_INVALID', async function () {
      await mkdir(join(root, 'part'), { recursive: true });
      await writeFile(join(workspace, 'outside.txt'), 'outside data');
      await link(join(workspace, 'outside.txt'), join(root, 'part', 'hard.txt'));
      const allowing = await adapter.create(adapterDeps({ FS_LOCAL_ROOT: root, FS_LOCAL_ALLOW_HARD_LINKS: 'true' }));
      expect(text(await allowing.read('part/hard.txt'))).to.equal('outside data');
      for (const values of [{ FS_LOCAL_ALLOW_HARD_LINKS: 'false' }, {}] as Array<Record<string, string>>) {
        const refusing = await adapter.create(adapterDeps({ FS_LOCAL_ROOT: root, ...values }));
        await expectCode(refusing.read('part/hard.txt'), 'PH_ERR_FS_PATH_INVALID');
      }
      const error = await rejection(
        Promise.resolve().then(() =>
          adapter.create(adapterDeps({ FS_LOCAL_ROOT: root, FS_LOCAL_ALLOW_HARD_LINKS: 'yes' })),
        ),
      );
      expect(isPlatformError(error) && error.code).to.equal('PH_ERR_CONFIG_INVALID');
      expect((error as Error).message).to.contain('FS_LOCAL_ALLOW_HARD_LINKS');
    });

    it('defaults the root to /tmp/data-platform', async function () {
      const created = (await adapter.create(adapterDeps({}))) as LocalFileSystem;
      expect(created.root).to.equal('/tmp/data-platform');
    });
  });

  describe('read and write', function () {
    it('writes bytes and reads them back', async function () {
      const bytes = new Uint8Array([0, 1, 2, 127, 128, 255]);
      await fs.write('data.bin', bytes);
      expect(await fs.read('data.bin')).to.deep.equal(bytes);
    });

    it('writes a string as UTF-8', async function () {
      await fs.write('notes/unicode.txt', 'héllo 日本語 🎉');
      expect(text(await fs.read('notes/unicode.txt'))).to.equal('héllo 日本語 🎉');
      expect(await readFile(join(root, 'notes/unicode.txt'), 'utf8')).to.equal('héllo 日本語 🎉');
    });

    it('creates the root and intermediate directories on write', async function () {
      await fs.write('raw/events/2026-01-15/part-0.json', '{}');
      expect((await stat(join(root, 'raw/events/2026-01-15'))).isDirectory()).to.equal(true);
      expect(text(await fs.read('raw/events/2026-01-15/part-0.json'))).to.equal('{}');
    });

    it('overwrites an existing file with the new content', async function () {
      await fs.write('a.txt', 'a much longer first version');
      await fs.write('a.txt', 'short');
      expect(text(await fs.read('a.txt'))).to.equal('short');
    });

    it('writes an empty file', async function () {
      await fs.write('empty', new Uint8Array(0));
      expect(await fs.read('empty')).to.deep.equal(new Uint8Array(0));
      expect(await fs.exists('empty')).to.equal(true);
    });

    it('throws PH_ERR_FS_NOT_FOUND naming the path when reading a missing file', async function () {
      const error = await expectCode(fs.read('missing/file.json'), 'PH_ERR_FS_NOT_FOUND');
      expect(error.message).to.contain('"missing/file.json"');
      await fs.write('dir/child', 'x');
      await expectCode(fs.read('dir'), 'PH_ERR_FS_NOT_FOUND');
    });

    it('refuses to write where a parent is a file, or over a directory', async function () {
      await fs.write('file', 'x');
      expect((await expectCode(fs.write('file/child', 'y'), 'PH_ERR_FS_PATH_INVALID')).message).to.match(
        /parent directories is a file/,
      );
      await fs.write('dir/child', 'x');
      expect((await expectCode(fs.write('dir', 'y'), 'PH_ERR_FS_PATH_INVALID')).message).to.match(/is a directory/);
      expect(await rawTree(root)).to.deep.equal(['dir', 'dir/child', 'file']);
    });

    it('keeps the last of many concurrent writes to one path whole, leaving no temporary files', async function () {
      const versions = Array.from({ length: 20 }, (_, index) => `version-${index}-`.repeat(1000));
      await Promise.all(versions.map((content) => fs.write('contended.txt', content)));
      expect(versions).to.include(text(await fs.read('contended.txt')));
      expect(await rawTree(root)).to.deep.equal(['contended.txt']);
    });
  });

  describe('atomic writes', function () {
    it('leaves only the target file after a write, and fsyncs through a temporary file in the same directory', async function () {
      await fs.write('x/y/z.json', '{"ok":true}');
      expect(await rawTree(root)).to.deep.equal(['x', 'x/y', 'x/y/z.json']);
    });

    it('shows readers the old content and lists no temporary file while a write is in progress', async function () {
      await fs.write('events/part.json', 'old');
      let release: () => void = () => undefined;
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      async function* slowSource(): AsyncGenerator<Uint8Array> {
        yield Buffer.from('new ');
        await gate;
        yield Buffer.from('content');
      }
      const writing = fs.writeStream('events/part.json', slowSource());
      // The first chunk is on disk in the temporary file by now.
      for (let attempt = 0; attempt < 50 && (await rawTree(join(root, 'events'))).length < 2; attempt += 1)
        await new Promise((r) => setTimeout(r, 5));
      const during = await rawTree(join(root, 'events'));
      expect(during).to.have.length(2);
      expect(during.find((name) => name !== 'part.json')).to.match(/^\.part\.json\.[0-9a-f]{12}\.ph-tmp$/);
      expect(text(await fs.read('events/part.json'))).to.equal('old');
      expect(await fs.list('events')).to.deep.equal(['events/part.json']);
      expect(await fs.list('')).to.deep.equal(['events/part.json']);
      release();
      expect(await writing).to.equal('new content'.length);
      expect(text(await fs.read('events/part.json'))).to.equal('new content');
      expect(await rawTree(join(root, 'events'))).to.deep.equal(['part.json']);
    });

    it('keeps the old content and removes the temporary file when the source of writeStream fails', async function () {
      await fs.write('stream.txt', 'old content');
      async function* failing(): AsyncGenerator<Uint8Array> {
        yield Buffer.from('partial ');
        throw new Error('source broke');
      }
      const error = await rejection(fs.writeStream('stream.txt', failing()));
      expect((error as Error).message).to.equal('source broke');
      expect(text(await fs.read('stream.txt'))).to.equal('old content');
      expect(await rawTree(root)).to.deep.equal(['stream.txt']);
    });

    it('refuses to write names reserved for temporary files', async function () {
      await expectCode(fs.write('dir/.x.0123456789ab.ph-tmp', 'x'), 'PH_ERR_FS_PATH_INVALID');
    });
  });

  describe('streams', function () {
    it('streams a file back and counts the bytes written from a stream', async function () {
      const chunks = Array.from({ length: 64 }, (_, index) => Buffer.alloc(16 * 1024, index));
      expect(await fs.writeStream('big/blob.bin', Readable.from(chunks))).to.equal(64 * 16 * 1024);
      const parts: Buffer[] = [];
      for await (const chunk of await fs.readStream('big/blob.bin')) parts.push(chunk as Buffer);
      expect(Buffer.concat(parts).equals(Buffer.concat(chunks))).to.equal(true);
    });

    it('rejects readStream of a missing file with PH_ERR_FS_NOT_FOUND', async function () {
      await expectCode(fs.readStream('nope.bin'), 'PH_ERR_FS_NOT_FOUND');
    });
  });

  describe('list', function () {
    it('lists every file under a prefix recursively, sorted, as paths relative to the root', async function () {
      for (const path of [
        'raw/events/2026-01-15/b.json',
        'raw/events/2026-01-15/a.json',
        'raw/events/2026-01-15/sub/c.json',
        'raw/other.json',
      ]) {
        await fs.write(path, path);
      }
      expect(await fs.list('raw/events/2026-01-15')).to.deep.equal([
        'raw/events/2026-01-15/a.json',
        'raw/events/2026-01-15/b.json',
        'raw/events/2026-01-15/sub/c.json',
      ]);
      expect(await fs.list('raw/events/2026-01-15/')).to.have.length(3);
      expect(await fs.list('')).to.deep.equal([
        'raw/events/2026-01-15/a.json',
        'raw/events/2026-01-15/b.json',
        'raw/events/2026-01-15/sub/c.json',
        'raw/other.json',
      ]);
    });

    it('treats the prefix as a directory: a sibling sharing its name start is not listed', async function () {
      await fs.write('raw/events/2026-01-15/a.json', '1');
      await fs.write('raw/events/2026-01-15-backup/a.json', '2');
      expect(await fs.list('raw/events/2026-01-15')).to.deep.equal(['raw/events/2026-01-15/a.json']);
    });

    it('returns [] for a missing prefix, a missing root, and a prefix that is a file', async function () {
      expect(await fs.list('nothing/here')).to.deep.equal([]);
      expect(await fs.list('')).to.deep.equal([]);
      await fs.write('file.json', '{}');
      expect(await fs.list('file.json')).to.deep.equal([]);
      expect(await fs.list('file.json/deeper')).to.deep.equal([]);
    });

    it('does not list directories left empty by deletes', async function () {
      await fs.write('a/b/c.txt', 'x');
      await fs.delete('a/b/c.txt');
      expect(await fs.list('a')).to.deep.equal([]);
    });
  });

  describe('listFiles', function () {
    it('yields exactly the order of list() for names around "/" in the sort order, from every startAfter', async function () {
      const names = ['a-b.txt', 'a/x.txt', 'a/y/z.txt', 'a.txt', 'a0', 'A', 'ab/c', 'b', 'é/1', 'a/y-z', 'a/y.z'];
      for (const name of names) await fs.write(`t/${name}`, name);
      const listed = await fs.list('t');
      expect(listed).to.deep.equal(names.map((name) => `t/${name}`).sort());
      expect((await listAll(fs, 't', { pageSize: 3 })).map((info) => info.path)).to.deep.equal(listed);
      const cursors = [...listed, 't/a', 't/a/', 't/a/y', 't/a/y/', 't/a/yz', 't/0', 't/zzz', 't/a/x.txt0'];
      for (const startAfter of cursors) {
        const resumed = (await listAll(fs, 't', { pageSize: 2, startAfter })).map((info) => info.path);
        expect(resumed, `after ${startAfter}`).to.deep.equal(listed.filter((path) => path > startAfter));
      }
    });

    it('reads a directory only when the walk reaches it, so a file added ahead of it during the listing is seen', async function () {
      await fs.write('lazy/a/1.txt', '1');
      await fs.write('lazy/c/3.txt', '3');
      const seen: string[] = [];
      for await (const info of fs.listFiles('lazy', { pageSize: 1 })) {
        seen.push(info.path);
        if (info.path === 'lazy/a/1.txt') await fs.write('lazy/c/2.txt', '2');
      }
      expect(seen).to.deep.equal(['lazy/a/1.txt', 'lazy/c/2.txt', 'lazy/c/3.txt']);
    });

    it('leaves out temporary files and links that leave the root, as list() does', async function () {
      await fs.write('mixed/own.txt', 'mine');
      await writeFile(join(root, 'mixed', '.own.txt.0123456789ab.ph-tmp'), 'partial');
      const outside = join(workspace, 'outside');
      await mkdir(outside, { recursive: true });
      await writeFile(join(outside, 'secret.txt'), 'outside data');
      await symlink(join(outside, 'secret.txt'), join(root, 'mixed', 'link.txt'));
      await symlink(join(root, 'mixed', 'own.txt'), join(root, 'mixed', 'alias.txt'));
      const infos = await listAll(fs, 'mixed');
      expect(infos.map((info) => info.path)).to.deep.equal(await fs.list('mixed'));
      expect(infos.map((info) => info.path)).to.deep.equal(['mixed/alias.txt', 'mixed/own.txt']);
      expect(infos[0]?.etag, 'a link inside the root carries its target etag').to.equal(infos[1]?.etag);
    });

    it('refuses a page size that is not a positive integer with a RangeError', async function () {
      for (const pageSize of [0, -2, 2.5]) {
        const error = await rejection(listAll(fs, '', { pageSize }));
        expect(error, `pageSize ${pageSize}`).to.be.instanceOf(RangeError);
      }
    });
  });

  describe('stat and etags', function () {
    it('reports the size and modification time the disk has', async function () {
      await fs.write('info/a.bin', new Uint8Array(1234));
      const info = await fs.stat('info/a.bin');
      const onDisk = await stat(join(root, 'info/a.bin'));
      expect(info.size).to.equal(1234);
      expect(info.lastModified.getTime()).to.equal(Math.floor(onDisk.mtimeMs));
    });

    it('gives a new etag to a same-size version written after a delete, and keeps it while unchanged', async function () {
      await fs.write('info/v.txt', 'aaaa');
      const first = await fs.stat('info/v.txt');
      expect((await fs.stat('info/v.txt')).etag).to.equal(first.etag);
      await fs.delete('info/v.txt');
      await fs.writeIfAbsent('info/v.txt', 'bbbb');
      expect((await fs.stat('info/v.txt')).etag).to.not.equal(first.etag);
    });

    it('changes the etag when another program rewrites the file in place', async function () {
      await fs.write('info/edited.txt', 'original');
      const before = await fs.stat('info/edited.txt');
      await writeFile(join(root, 'info/edited.txt'), 'edited in place, longer');
      const after = await fs.stat('info/edited.txt');
      expect(after.etag).to.not.equal(before.etag);
      expect(after.size).to.equal(23);
    });

    it('rejects stat of a directory with PH_ERR_FS_NOT_FOUND and of a link leaving the root with PH_ERR_FS_PATH_INVALID', async function () {
      await fs.write('info/dir/file.txt', 'x');
      await expectCode(fs.stat('info/dir'), 'PH_ERR_FS_NOT_FOUND');
      const outside = join(workspace, 'outside.txt');
      await writeFile(outside, 'outside data');
      await symlink(outside, join(root, 'info', 'out.txt'));
      await expectCode(fs.stat('info/out.txt'), 'PH_ERR_FS_PATH_INVALID');
    });
  });

  describe('writeIfAbsent', function () {
    it('leaves no temporary file behind, whether it wins or finds the name taken', async function () {
      await fs.writeIfAbsent('once/a.txt', 'first');
      await expectCode(fs.writeIfAbsent('once/a.txt', 'second'), 'PH_ERR_FS_EXISTS');
      expect(await rawTree(join(root, 'once'))).to.deep.equal(['a.txt']);
      expect(await readFile(join(root, 'once/a.txt'), 'utf8')).to.equal('first');
    });

    it('treats a file another program created as taken', async function () {
      await mkdir(join(root, 'once'), { recursive: true });
      await writeFile(join(root, 'once/external.txt'), 'theirs');
      await expectCode(fs.writeIfAbsent('once/external.txt', 'mine'), 'PH_ERR_FS_EXISTS');
      expect(await readFile(join(root, 'once/external.txt'), 'utf8')).to.equal('theirs');
    });

    it('refuses a path that is a directory or lies below a file with PH_ERR_FS_PATH_INVALID', async function () {
      await fs.write('once/dir/file.txt', 'x');
      await expectCode(fs.writeIfAbsent('once/dir', 'x'), 'PH_ERR_FS_PATH_INVALID');
      await expectCode(fs.writeIfAbsent('once/dir/file.txt/below', 'x'), 'PH_ERR_FS_PATH_INVALID');
      expect(await rawTree(join(root, 'once'))).to.deep.equal(['dir', 'dir/file.txt']);
    });

    it('lets exactly one of the writers of two instances on one root win', async function () {
      const other = new LocalFileSystem({ root });
      const outcomes = await Promise.allSettled(
        Array.from({ length: 20 }, (_, index) =>
          (index % 2 === 0 ? fs : other).writeIfAbsent('once/shared.txt', `writer ${index}`),
        ),
      );
      const winners = outcomes.filter((outcome) => outcome.status === 'fulfilled');
      expect(winners).to.have.length(1);
      expect(await rawTree(join(root, 'once'))).to.deep.equal(['shared.txt']);
    });
  });

  describe('delete and exists', function () {
    it('deletes an existing file and returns true', async function () {
      await fs.write('gone.txt', 'x');
      expect(await fs.delete('gone.txt')).to.equal(true);
      expect(await fs.exists('gone.txt')).to.equal(false);
      await expectCode(fs.read('gone.txt'), 'PH_ERR_FS_NOT_FOUND');
    });

    it('returns false when deleting a missing file or a directory', async function () {
      expect(await fs.delete('never-existed.txt')).to.equal(false);
      await fs.write('dir/file', 'x');
      expect(await fs.delete('dir')).to.equal(false);
      expect(await fs.exists('dir/file')).to.equal(true);
    });

    it('is true for an existing file and false for a missing one or a directory', async function () {
      await fs.write('here/file.txt', 'x');
      expect(await fs.exists('here/file.txt')).to.equal(true);
      expect(await fs.exists('here/other.txt')).to.equal(false);
      expect(await fs.exists('here')).to.equal(false);
      expect(await fs.exists('here/file.txt/below')).to.equal(false);
    });
  });

  describe('path validation', function () {
    const invalid: Array<[string, RegExp]> = [
      ['../escape.txt', /"\.\." segment/],
      ['a/../../escape.txt', /"\.\." segment/],
      ['a/..', /"\.\." segment/],
      ['/etc/passwd', /absolute/],
      ['a\\b.txt', /backslash/],
      ['a\0b', /NUL/],
      ['a//b', /empty segment/],
      ['a/', /empty segment/],
      ['./a', /"\." segment/],
      ['', /empty/],
    ];

    it('refuses ".." segments, absolute paths, backslashes, NUL, empty and "." segments in every method, naming the path and why', async function () {
      for (const [path, reason] of invalid) {
        for (const call of [
          () => fs.read(path),
          () => fs.write(path, 'x'),
          () => fs.readStream(path),
          () => fs.writeStream(path, Readable.from([Buffer.from('x')])),
          () => fs.delete(path),
          () => fs.exists(path),
          () => fs.getSignedUrl(path),
        ]) {
          const error = await expectCode(call(), 'PH_ERR_FS_PATH_INVALID');
          expect(error.message).to.contain(JSON.stringify(path));
          expect(error.message).to.match(reason);
        }
      }
      for (const prefix of ['../', '/abs', 'a/../b', 'a\\b'])
        await expectCode(fs.list(prefix), 'PH_ERR_FS_PATH_INVALID');
      expect(await rejection(stat(join(workspace, 'escape.txt')))).to.have.property('code', 'ENOENT');
    });

    it('accepts names that merely contain dots', async function () {
      await fs.write('a..b/..hidden/file...txt', 'ok');
      expect(await fs.list('a..b')).to.deep.equal(['a..b/..hidden/file...txt']);
    });
  });

  describe('symbolic links', function () {
    let outside: string;

    beforeEach(async function () {
      outside = join(workspace, 'outside');
      await mkdir(outside, { recursive: true });
      await writeFile(join(outside, 'secret.txt'), 'outside data');
      await mkdir(root, { recursive: true });
    });

    it('refuses to read, stream, check or delete through a link that leaves the root', async function () {
      await symlink(join(outside, 'secret.txt'), join(root, 'link.txt'));
      await symlink(outside, join(root, 'linked-dir'));
      for (const path of ['link.txt', 'linked-dir/secret.txt']) {
        const error = await expectCode(fs.read(path), 'PH_ERR_FS_PATH_INVALID');
        expect(error.message).to.match(/symbolic link makes it resolve to .*outside the root/);
        await expectCode(fs.readStream(path), 'PH_ERR_FS_PATH_INVALID');
        await expectCode(fs.exists(path), 'PH_ERR_FS_PATH_INVALID');
        await expectCode(fs.delete(path), 'PH_ERR_FS_PATH_INVALID');
      }
      expect(await readFile(join(outside, 'secret.txt'), 'utf8')).to.equal('outside data');
    });

    it('refuses to write through a linked directory that leaves the root', async function () {
      await symlink(outside, join(root, 'linked-dir'));
      await expectCode(fs.write('linked-dir/new.txt', 'x'), 'PH_ERR_FS_PATH_INVALID');
      await expectCode(fs.write('linked-dir/deeper/new.txt', 'x'), 'PH_ERR_FS_PATH_INVALID');
      await expectCode(
        fs.writeStream('linked-dir/new.txt', Readable.from([Buffer.from('x')])),
        'PH_ERR_FS_PATH_INVALID',
      );
      expect(await readdir(outside)).to.deep.equal(['secret.txt']);
    });

    it('refuses to list a linked directory that leaves the root, and leaves such links out of listings', async function () {
      await symlink(outside, join(root, 'linked-dir'));
      await symlink(join(outside, 'secret.txt'), join(root, 'link.txt'));
      await fs.write('own.txt', 'mine');
      await expectCode(fs.list('linked-dir'), 'PH_ERR_FS_PATH_INVALID');
      expect(await fs.list('')).to.deep.equal(['own.txt']);
    });

    it('follows links that stay inside the root', async function () {
      await fs.write('real/data.txt', 'inside');
      await symlink(join(root, 'real/data.txt'), join(root, 'alias.txt'));
      expect(text(await fs.read('alias.txt'))).to.equal('inside');
      expect(await fs.list('')).to.deep.equal(['alias.txt', 'real/data.txt']);
    });

    it('works when the root itself is reached through a link', async function () {
      const linkedRoot = join(workspace, 'root-link');
      await symlink(root, linkedRoot);
      const viaLink = new LocalFileSystem({ root: linkedRoot });
      await viaLink.write('a/b.txt', 'through the link');
      expect(text(await fs.read('a/b.txt'))).to.equal('through the link');
      expect(await viaLink.list('a')).to.deep.equal(['a/b.txt']);
    });
  });

  describe('getSignedUrl', function () {
    it('returns a file:// URL of the file under the root, ignoring the expiry', async function () {
      await fs.write('reports/q1 #1.csv', 'a,b');
      const url = await fs.getSignedUrl('reports/q1 #1.csv', 60);
      expect(url).to.match(/^file:\/\//);
      expect(fileURLToPath(url)).to.equal(join(root, 'reports/q1 #1.csv'));
      expect(await readFile(new URL(url), 'utf8')).to.equal('a,b');
    });
  });

  describe('healthCheck', function () {
    it('creates a missing root, reports healthy and leaves nothing behind', async function () {
      const nested = new LocalFileSystem({ root: join(workspace, 'new', 'root') });
      expect(await nested.healthCheck()).to.deep.equal({ ok: true });
      expect(await readdir(join(workspace, 'new', 'root'))).to.deep.equal([]);
    });

    it('reports unhealthy without throwing when the root cannot be created', async function () {
      const file = join(workspace, 'a-file');
      await writeFile(file, 'x');
      const broken = new LocalFileSystem({ root: join(file, 'root') });
      const health = await broken.healthCheck();
      expect(health.ok).to.equal(false);
      expect(health.detail).to.contain(join(file, 'root'));
    });
  });

  it('uses unique temporary names, so two instances on one root do not collide', async function () {
    const other = new LocalFileSystem({ root });
    const name = `shared-${randomBytes(2).toString('hex')}.txt`;
    await Promise.all([fs.write(name, 'one'), other.write(name, 'two')]);
    expect(['one', 'two']).to.include(text(await fs.read(name)));
    expect(await rawTree(root)).to.deep.equal([name]);
  });
});
