import { link, mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Worker } from 'node:worker_threads';
import { expect } from 'chai';
import { isPlatformError } from '@platform-host/contracts';
import { LocalFileSystem } from './index.js';
import { useProcFd } from './opened-path.js';

/** The code a call rejected with (a PlatformError's, else the system error's), or `resolved`. */
async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (isPlatformError(error)) return error.code;
    const code = (error as { code?: unknown } | null)?.code;
    return typeof code === 'string' ? code : String(error);
  }
  return 'resolved';
}

async function messageOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
  return 'resolved';
}

async function collect(stream: Readable): Promise<string> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(chunk as Buffer);
  return Buffer.concat(parts).toString('utf8');
}

const INSIDE = '{"row":"inside"}\n';
const OUTSIDE = '{"row":"outside"}\n';

/**
 * Swaps `target` back and forth in a worker thread, truly in parallel with the calls under test,
 * from its first swap until `stop` is set or `limit` swaps are done. Resolves once the first swap
 * is made; `done` then resolves with the number of swaps made.
 * `rename`: `target` and the aside names `first` and `second` trade places (two renames, so
 * `target` is briefly missing). `relink`: `target` is a symbolic link replaced atomically by a new
 * link to `first` or to `second`, so it is never missing.
 */
function startSwapper(
  mode: 'rename' | 'relink',
  target: string,
  first: string,
  second: string,
  stop: Int32Array,
  limit: number,
): Promise<{ done: Promise<number> }> {
  const code = `
    const { renameSync, symlinkSync } = require('node:fs');
    const { workerData, parentPort } = require('node:worker_threads');
    const { mode, target, first, second, stop, limit } = workerData;
    let swaps = 0;
    let showing = 'first';
    const relink = (to) => { symlinkSync(to, target + '.next'); renameSync(target + '.next', target); };
    const swap = () => {
      if (mode === 'relink') relink(showing === 'first' ? second : first);
      else if (showing === 'first') { renameSync(target, first); renameSync(second, target); }
      else { renameSync(target, second); renameSync(first, target); }
      showing = showing === 'first' ? 'second' : 'first';
    };
    swap(); swaps += 1; parentPort.postMessage('started');
    while (Atomics.load(stop, 0) === 0 && swaps < limit) { swap(); swaps += 1; }
    if (showing === 'second') swap();
    parentPort.postMessage(swaps);
  `;
  const worker = new Worker(code, { eval: true, workerData: { mode, target, first, second, stop, limit } });
  const done = new Promise<number>((resolve, reject) => {
    worker.on('message', (message: unknown) => {
      if (typeof message === 'number') resolve(message);
    });
    worker.once('error', reject);
  });
  // The calls under test start once the worker is swapping, so they overlap its swaps.
  return new Promise((resolve, reject) => {
    worker.once('message', () => resolve({ done }));
    worker.once('error', reject);
  });
}

interface RaceCounts {
  reads: number;
  inside: number;
  outside: number;
  refused: number;
  missing: number;
  swaps: number;
}

describe('LocalFileSystem stays inside the root, also while names change', function () {
  let workspace: string;
  let root: string;
  let outside: string;
  let fs: LocalFileSystem;

  beforeEach(async function () {
    workspace = await mkdtemp(join(tmpdir(), 'ph-fs-local-root-'));
    root = join(workspace, 'root');
    outside = join(workspace, 'outside');
    await mkdir(join(outside, 'part'), { recursive: true });
    await writeFile(join(outside, 'secret.jsonl'), OUTSIDE);
    await writeFile(join(outside, 'part', 'data.jsonl'), OUTSIDE);
    fs = new LocalFileSystem({ root });
    await fs.write('part/data.jsonl', INSIDE);
  });

  afterEach(async function () {
    await rm(workspace, { recursive: true, force: true });
  });

  /** Every read-side method refuses `path` with PH_ERR_FS_PATH_INVALID. */
  async function expectEveryReadRefused(path: string, reason: RegExp): Promise<void> {
    const message = await messageOf(fs.read(path));
    expect(message, 'read').to.contain(JSON.stringify(path)).and.match(reason);
    expect(await codeOf(fs.read(path)), 'read').to.equal('PH_ERR_FS_PATH_INVALID');
    expect(await codeOf(fs.readStream(path)), 'readStream').to.equal('PH_ERR_FS_PATH_INVALID');
    expect(await codeOf(fs.stat(path)), 'stat').to.equal('PH_ERR_FS_PATH_INVALID');
    expect(await codeOf(fs.exists(path)), 'exists').to.equal('PH_ERR_FS_PATH_INVALID');
  }

  const verifiers = [
    ['the kernel (/proc/self/fd)', true],
    ['realpath and device/inode (the portable fallback)', false],
  ] as const;
  for (const [verifier, procFd] of verifiers) {
    describe(`verifying the opened descriptor with ${verifier}`, function () {
      before(function () {
        useProcFd(procFd);
      });
      after(function () {
        useProcFd(true);
      });

      it('refuses a final component that is a symbolic link to a file outside the root, in every method', async function () {
        await symlink(join(outside, 'secret.jsonl'), join(root, 'part', 'linked.jsonl'));
        await expectEveryReadRefused('part/linked.jsonl', /resolve to .*outside the root/);
        expect(await codeOf(fs.delete('part/linked.jsonl')), 'delete').to.equal('PH_ERR_FS_PATH_INVALID');
        expect(await fs.list('part')).to.deep.equal(['part/data.jsonl']);
        const listed: string[] = [];
        for await (const info of fs.listFiles('part')) listed.push(info.path);
        expect(listed).to.deep.equal(['part/data.jsonl']);
        // A write replaces the link by a file of its own; the link's target is never written.
        await fs.write('part/linked.jsonl', INSIDE);
        expect(await fs.read('part/linked.jsonl').then((bytes) => Buffer.from(bytes).toString())).to.equal(INSIDE);
        expect(await readFile(join(outside, 'secret.jsonl'), 'utf8')).to.equal(OUTSIDE);
      });

      it('refuses an intermediate directory that is a symbolic link outside the root, in every method', async function () {
        await symlink(join(outside, 'part'), join(root, 'linked-part'));
        await expectEveryReadRefused('linked-part/data.jsonl', /resolve to .*outside the root/);
        expect(await codeOf(fs.delete('linked-part/data.jsonl')), 'delete').to.equal('PH_ERR_FS_PATH_INVALID');
        expect(await codeOf(fs.write('linked-part/new.jsonl', 'x')), 'write').to.equal('PH_ERR_FS_PATH_INVALID');
        expect(await codeOf(fs.write('linked-part/deeper/new.jsonl', 'x')), 'write deeper').to.equal(
          'PH_ERR_FS_PATH_INVALID',
        );
        expect(await codeOf(fs.writeIfAbsent('linked-part/once.jsonl', 'x')), 'writeIfAbsent').to.equal(
          'PH_ERR_FS_PATH_INVALID',
        );
        expect(await codeOf(fs.writeStream('linked-part/s.jsonl', Readable.from([Buffer.from('x')])))).to.equal(
          'PH_ERR_FS_PATH_INVALID',
        );
        expect(await codeOf(fs.list('linked-part')), 'list').to.equal('PH_ERR_FS_PATH_INVALID');
        expect(await readdir(join(outside, 'part')), 'the outside directory is unchanged').to.deep.equal([
          'data.jsonl',
        ]);
        expect(await readFile(join(outside, 'part', 'data.jsonl'), 'utf8')).to.equal(OUTSIDE);
      });

      it('refuses a hard link to a file outside the root unless hard links are allowed, and deletes only its inside name', async function () {
        await link(join(outside, 'secret.jsonl'), join(root, 'part', 'hard.jsonl'));
        await expectEveryReadRefused('part/hard.jsonl', /hard link: the file has 2 names/);
        const allowing = new LocalFileSystem({ root, allowHardLinks: true });
        expect(Buffer.from(await allowing.read('part/hard.jsonl')).toString()).to.equal(OUTSIDE);
        expect(await fs.delete('part/hard.jsonl')).to.equal(true);
        expect(await readdir(join(root, 'part'))).to.deep.equal(['data.jsonl']);
        expect(await readFile(join(outside, 'secret.jsonl'), 'utf8')).to.equal(OUTSIDE);
      });

      it('reads a file whose every name is in its own directory (as writeIfAbsent leaves it for a moment)', async function () {
        await link(join(root, 'part', 'data.jsonl'), join(root, 'part', 'second-name.jsonl'));
        expect(Buffer.from(await fs.read('part/second-name.jsonl')).toString()).to.equal(INSIDE);
        expect(await collect(await fs.readStream('part/data.jsonl'))).to.equal(INSIDE);
      });

      it('follows symbolic links, final or intermediate, whose targets stay inside the root', async function () {
        await symlink(join(root, 'part', 'data.jsonl'), join(root, 'alias.jsonl'));
        await symlink(join(root, 'part'), join(root, 'alias-part'));
        await symlink('part/data.jsonl', join(root, 'relative.jsonl'));
        for (const path of ['alias.jsonl', 'alias-part/data.jsonl', 'relative.jsonl']) {
          expect(Buffer.from(await fs.read(path)).toString(), path).to.equal(INSIDE);
          expect(await collect(await fs.readStream(path)), path).to.equal(INSIDE);
          expect((await fs.stat(path)).size, path).to.equal(INSIDE.length);
        }
        await fs.write('alias-part/through.jsonl', 'x');
        expect(await fs.list('part')).to.deep.equal(['part/data.jsonl', 'part/through.jsonl']);
      });
    });
  }

  describe('under concurrent swaps of names for links outside the root', function () {
    before(function () {
      // The portable fallback cannot pin what realpath named (see README); the guarantee is Linux's.
      if (process.platform !== 'linux') this.skip();
    });

    /**
     * Reads `path` `reads` times with `method` while a worker swaps `target` between the inside and
     * the outside version; every read is counted by what it returned.
     */
    async function race(
      method: 'read' | 'readStream',
      path: string,
      target: string,
      insideAside: string,
      outsideLink: string,
      reads: number,
    ): Promise<RaceCounts> {
      const stop = new Int32Array(new SharedArrayBuffer(4));
      const swapper = await startSwapper('rename', target, insideAside, outsideLink, stop, 1_000_000);
      const counts: RaceCounts = { reads: 0, inside: 0, outside: 0, refused: 0, missing: 0, swaps: 0 };
      try {
        for (let index = 0; index < reads; index += 1) {
          counts.reads += 1;
          try {
            const content =
              method === 'read'
                ? Buffer.from(await fs.read(path)).toString()
                : await collect(await fs.readStream(path));
            if (content === OUTSIDE) counts.outside += 1;
            else if (content === INSIDE) counts.inside += 1;
            else throw new Error(`unexpected content ${JSON.stringify(content)}`);
          } catch (error) {
            if (isPlatformError(error) && error.code === 'PH_ERR_FS_PATH_INVALID') counts.refused += 1;
            else if (isPlatformError(error) && error.code === 'PH_ERR_FS_NOT_FOUND') counts.missing += 1;
            else throw error;
          }
        }
      } finally {
        Atomics.store(stop, 0, 1);
        counts.swaps = await swapper.done;
      }
      console.log(`        ${method} ${path}: ${JSON.stringify(counts)}`);
      return counts;
    }

    for (const method of ['read', 'readStream'] as const) {
      it(`never returns outside content through ${method} while a file is swapped with a link outside (2,000 reads)`, async function () {
        this.timeout(120_000);
        const target = join(root, 'part', 'data.jsonl');
        const outsideLink = join(root, 'part', '.swap-link');
        await symlink(join(outside, 'secret.jsonl'), outsideLink);
        const counts = await race(
          method,
          'part/data.jsonl',
          target,
          join(root, 'part', '.swap-file'),
          outsideLink,
          2000,
        );
        expect(counts.outside, 'reads that returned the outside content').to.equal(0);
        expect(counts.inside + counts.refused + counts.missing).to.equal(2000);
        expect(counts.swaps, 'swaps made during the reads').to.be.above(0);
        expect(await readFile(join(outside, 'secret.jsonl'), 'utf8')).to.equal(OUTSIDE);
      });

      it(`never returns outside content through ${method} while a parent directory is swapped with a link outside (2,000 reads)`, async function () {
        this.timeout(120_000);
        const outsideLink = join(root, '.swap-part-link');
        await symlink(join(outside, 'part'), outsideLink);
        const counts = await race(
          method,
          'part/data.jsonl',
          join(root, 'part'),
          join(root, '.swap-part'),
          outsideLink,
          2000,
        );
        expect(counts.outside, 'reads that returned the outside content').to.equal(0);
        expect(counts.inside + counts.refused + counts.missing).to.equal(2000);
        expect(counts.swaps, 'swaps made during the reads').to.be.above(0);
      });
    }

    it('never writes or deletes outside the root while a parent directory link is swapped to point outside (500 of each)', async function () {
      this.timeout(120_000);
      await fs.write('real-part/data.jsonl', INSIDE);
      await symlink(join(root, 'real-part'), join(root, 'part-link'));
      const stop = new Int32Array(new SharedArrayBuffer(4));
      const swapper = await startSwapper(
        'relink',
        join(root, 'part-link'),
        join(root, 'real-part'),
        join(outside, 'part'),
        stop,
        1_000_000,
      );
      const outcomes = new Map<string, number>();
      const count = (key: string): void => void outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
      try {
        for (let index = 0; index < 500; index += 1) {
          count(`write:${await codeOf(fs.write('part-link/data.jsonl', INSIDE))}`);
          count(`delete:${await codeOf(fs.delete('part-link/data.jsonl'))}`);
        }
      } finally {
        Atomics.store(stop, 0, 1);
        count(`swaps:${await swapper.done}`);
      }
      console.log(`      write/delete: ${JSON.stringify(Object.fromEntries(outcomes))}`);
      expect(await readdir(join(outside, 'part')), 'the outside directory').to.deep.equal(['data.jsonl']);
      expect(await readFile(join(outside, 'part', 'data.jsonl'), 'utf8')).to.equal(OUTSIDE);
    });
  });
});
