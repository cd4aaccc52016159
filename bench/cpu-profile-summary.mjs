#!/usr/bin/env node
// Summarizes a V8 CPU profile (`node --cpu-prof`): self time per package or area (node_modules
// package, workspace, node internals, GC, idle) and the top functions by self time.
//
//   node bench/cpu-profile-summary.mjs FILE.cpuprofile [--top 25]
import { readFileSync } from 'node:fs';

const file = process.argv[2];
const topIndex = process.argv.indexOf('--top');
const top = topIndex === -1 ? 25 : Number(process.argv[topIndex + 1]);
const profile = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const self = new Map();
for (let index = 0; index < profile.samples.length; index += 1) {
  const id = profile.samples[index];
  self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[index] ?? 0));
}
const areaOf = (url, name) => {
  if (name === '(garbage collector)') return 'GC';
  if (name === '(idle)') return 'idle';
  if (name === '(program)') return '(program)';
  if (url === '') return `native ${name.startsWith('(') ? name : '(builtins)'}`;
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0]}`;
  const modules = url.lastIndexOf('/node_modules/');
  if (modules !== -1) {
    const rest = url.slice(modules + 14).split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  const workspace = /\/(host|adapters|plugins)\/([^/]+)\//.exec(url);
  return workspace === null ? url : `${workspace[1]}/${workspace[2]}`;
};
const areas = new Map();
const functions = new Map();
let total = 0;
let busy = 0;
for (const [id, time] of self) {
  const { callFrame } = byId.get(id);
  const area = areaOf(callFrame.url, callFrame.functionName);
  total += time;
  if (area !== 'idle') busy += time;
  areas.set(area, (areas.get(area) ?? 0) + time);
  const key = `${callFrame.functionName || '(anonymous)'} ${callFrame.url.split('/').slice(-2).join('/')}:${callFrame.lineNumber + 1}`;
  functions.set(key, (functions.get(key) ?? 0) + time);
}
const percent = (time) => `${((100 * time) / busy).toFixed(1).padStart(5)} %`;
console.log(
  `${file}: ${(total / 1e6).toFixed(1)} s sampled, ${(busy / 1e6).toFixed(1)} s not idle (shares below are of that)`,
);
console.log('by area:');
for (const [area, time] of [...areas].sort((a, b) => b[1] - a[1]).slice(0, top))
  if (area !== 'idle') console.log(`  ${percent(time)}  ${area}`);
console.log('top functions by self time:');
for (const [name, time] of [...functions].sort((a, b) => b[1] - a[1]).slice(0, top))
  console.log(`  ${percent(time)}  ${name}`);
