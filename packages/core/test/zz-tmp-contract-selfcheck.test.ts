import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { createBuiltinValidator, createFolderDestination, createFolderStorage, createStaticCatalog } from '../src/fs/index.js';
import { buildZip, testCatalog, testDestination, testStorage, testValidator } from '../src/testing/index.js';

async function walk(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(root, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) out.push(relative(root, join(entry.parentPath, entry.name)).split('\\').join('/'));
  }
  return out;
}

testStorage({
  name: 'tmp folder',
  async create(files) {
    const root = await mkdtemp(join(tmpdir(), 'st-'));
    for (const [key, body] of Object.entries(files)) {
      await mkdir(dirname(join(root, key)), { recursive: true });
      await writeFile(join(root, key), body);
    }
    return { storage: createFolderStorage({ root }), cleanup: () => rm(root, { recursive: true, force: true }) };
  },
});
testCatalog({
  name: 'tmp static',
  async create(fixtures) {
    const map: Record<string, { key: string; size: number }[]> = {};
    for (const f of fixtures) map[f.job.job_id] = f.files;
    return { catalog: createStaticCatalog(map) };
  },
});
testDestination({
  name: 'tmp folder',
  async create() {
    const root = await mkdtemp(join(tmpdir(), 'de-'));
    return {
      destination: createFolderDestination({ root }),
      read: (p) => readFile(join(root, p)).catch(() => null),
      list: () => walk(root),
      cleanup: () => rm(root, { recursive: true, force: true }),
    };
  },
});
testValidator({
  name: 'tmp builtin',
  async create() {
    return { validator: createBuiltinValidator({ allowedExtensions: ['.txt'] }) };
  },
  makeArchive: (kind, dir) =>
    buildZip(dir, kind === 'valid' ? { 'a.txt': Buffer.from('x'), 'b/c.txt': Buffer.from('yy') } : { 'a.exe': Buffer.from('x') }),
});
