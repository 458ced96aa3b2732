/**
 * Summarise V8 CPU profiles (`node --cpu-prof`): the functions with the most
 * self time, and the share of time per package or source file.
 *
 *   tsx bench/profile-top.ts <folder or .cpuprofile files...> [--top 25]
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const topIndex = process.argv.indexOf('--top');
const top = topIndex >= 0 ? Number(process.argv[topIndex + 1]) : 25;
const inputs = process.argv
  .slice(2)
  .filter((arg, index, all) => arg !== '--top' && all[index - 1] !== '--top');

async function files(path: string): Promise<string[]> {
  if ((await stat(path)).isDirectory()) {
    const names = await readdir(path);
    return (await Promise.all(names.map((name) => files(join(path, name))))).flat();
  }
  return path.endsWith('.cpuprofile') ? [path] : [];
}

/** Where a frame's code lives: a package of node_modules, our source file, or node itself. */
function area(url: string): string {
  if (!url) return '(native/idle)';
  const modules = url.lastIndexOf('node_modules/');
  if (modules >= 0) {
    const rest = url.slice(modules + 'node_modules/'.length).split('/');
    return rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : (rest[0] ?? url);
  }
  if (url.startsWith('node:')) return url;
  const packages = url.indexOf('/packages/');
  return packages >= 0 ? url.slice(packages + 1) : url;
}

const self = new Map<string, number>();
/** Self time charged to the nearest frame of a package or our source (native and node: frames roll up). */
const owner = new Map<string, number>();
const byArea = new Map<string, number>();
let total = 0;
for (const input of inputs) {
  for (const file of await files(input)) {
    const profile = JSON.parse(await readFile(file, 'utf8')) as Profile;
    const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
    const parents = new Map<number, number>();
    for (const node of profile.nodes) for (const child of node.children ?? []) parents.set(child, node.id);
    const ownerOf = (id: number): string => {
      let current: number | undefined = id;
      while (current !== undefined) {
        const frame = nodes.get(current)?.callFrame;
        if (frame?.url && !frame.url.startsWith('node:')) {
          return `${frame.functionName || '(anonymous)'} ${area(frame.url)}:${frame.lineNumber + 1}`;
        }
        current = parents.get(current);
      }
      return '(node internals)';
    };
    profile.samples.forEach((id, index) => {
      const node = nodes.get(id);
      const micros = profile.timeDeltas[index] ?? 0;
      if (!node) return;
      const { functionName, url, lineNumber } = node.callFrame;
      if (functionName === '(idle)' || functionName === '(program)') return;
      total += micros;
      const where = url ? `${area(url)}:${lineNumber + 1}` : '';
      const key = `${functionName || '(anonymous)'} ${where}`.trim();
      self.set(key, (self.get(key) ?? 0) + micros);
      const owning = functionName === '(garbage collector)' ? '(garbage collector)' : ownerOf(id);
      owner.set(owning, (owner.get(owning) ?? 0) + micros);
      const group = functionName === '(garbage collector)' ? '(garbage collector)' : area(url);
      byArea.set(group, (byArea.get(group) ?? 0) + micros);
    });
  }
}
const percent = (micros: number) => `${((micros / total) * 100).toFixed(1)}%`;
console.log(`busy time ${(total / 1000).toFixed(0)} ms (idle excluded)\n`);
console.log('| self time | function |\n| --- | --- |');
for (const [key, micros] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) {
  console.log(`| ${percent(micros)} | ${key.replaceAll('|', '\\|')} |`);
}
console.log('\n| self time rolled up to the nearest package or source frame | frame |\n| --- | --- |');
for (const [key, micros] of [...owner].sort((a, b) => b[1] - a[1]).slice(0, top)) {
  console.log(`| ${percent(micros)} | ${key.replaceAll('|', '\\|')} |`);
}
console.log('\n| share | package or file |\n| --- | --- |');
for (const [key, micros] of [...byArea].sort((a, b) => b[1] - a[1]).slice(0, top)) {
  console.log(`| ${percent(micros)} | ${key} |`);
}
