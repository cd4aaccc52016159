#!/usr/bin/env node
// fs-local read benchmark (issue 16, rule 5): LocalFileSystem.readStream, which opens a file and then
// verifies the real path of the opened descriptor, against the name-checked open it replaced
// (realpath of the name, check, stat, open by name, stream), on the same files in the same run.
// Rounds alternate between the two and the median of each is printed, with their ratio.
//
//   npm run build && node bench/fs-local-read.mjs [--files 1000] [--rounds 7] [--size 512]
import { Buffer } from 'node:buffer';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { open, realpath, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import { LocalFileSystem } from '@platform-host/adapter-fs-local';

const option = (name, fallback) => {
  const index = process.argv.indexOf(`--${name}`);
  return index === -1 ? fallback : Number(process.argv[index + 1]);
};
const files = option('files', 1000);
const rounds = option('rounds', 7);
const size = option('size', 512);

const workspace = mkdtempSync(join(tmpdir(), 'bench-fs-local-'));
const root = join(workspace, 'root');
const paths = [];
for (let index = 0; index < files; index += 1) {
  const path = `raw/events/2026-01-15/part-${String(index).padStart(5, '0')}.jsonl`;
  paths.push(path);
}
mkdirSync(join(root, 'raw/events/2026-01-15'), { recursive: true });
for (const path of paths) writeFileSync(join(root, path), Buffer.alloc(size, 'x'));

const fs = new LocalFileSystem({ root });
const rootReal = await realpath(root);

/** The readStream it replaced: check the name, then open it by name. */
async function nameCheckedReadStream(path) {
  const absolute = join(root, ...path.split('/'));
  const real = await realpath(absolute);
  if (real !== rootReal && !real.startsWith(rootReal + sep)) throw new Error(`${path} leaves the root`);
  if (!(await stat(real)).isFile()) throw new Error(`${path} is not a file`);
  const handle = await open(absolute, 'r');
  return handle.createReadStream();
}

async function readAll(readStream) {
  let bytes = 0;
  const started = process.hrtime.bigint();
  for (const path of paths) {
    for await (const chunk of await readStream(path)) bytes += chunk.length;
  }
  if (bytes !== files * size) throw new Error(`read ${bytes} bytes, expected ${files * size}`);
  return Number(process.hrtime.bigint() - started) / 1e6;
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const verified = [];
const nameChecked = [];
await readAll((path) => fs.readStream(path)); // warm-up of both paths and the page cache
await readAll(nameCheckedReadStream);
for (let round = 0; round < rounds; round += 1) {
  if (round % 2 === 0) {
    verified.push(await readAll((path) => fs.readStream(path)));
    nameChecked.push(await readAll(nameCheckedReadStream));
  } else {
    nameChecked.push(await readAll(nameCheckedReadStream));
    verified.push(await readAll((path) => fs.readStream(path)));
  }
}
rmSync(workspace, { recursive: true, force: true });
const v = median(verified);
const n = median(nameChecked);
console.log(`readStream of ${files} files of ${size} B, median of ${rounds} rounds`);
console.log(`  verified descriptor (now):   ${v.toFixed(1)} ms  ${Math.round((files / v) * 1000)} files/s`);
console.log(`  name-checked open (before):  ${n.toFixed(1)} ms  ${Math.round((files / n) * 1000)} files/s`);
console.log(`  ratio now/before (files/s):  ${(n / v).toFixed(2)}`);
