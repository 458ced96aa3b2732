import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UploadError } from '../src/errors.js';
import { createFolderDestination } from '../src/fs/index.js';
import type { DeliverySource } from '../src/ports/destination.js';
import { testDestination } from '../src/testing/index.js';

let base: string;
let root: string;

/** Every file and folder below `folder`, `/`-separated, folders ending in `/`. */
async function tree(folder: string): Promise<string[]> {
  const entries = await readdir(folder, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries
    .map((entry) => {
      const path = join(entry.parentPath, entry.name).slice(folder.length + 1);
      return entry.isDirectory() ? `${path}/` : path;
    })
    .sort();
}

async function fileSource(name: string, content: Buffer): Promise<DeliverySource & { kind: 'file' }> {
  const path = join(base, 'work', name);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, content);
  return {
    kind: 'file',
    path,
    size: content.length,
    sha256: createHash('sha256').update(content).digest('hex'),
  };
}

async function folderSource(name: string, files: Record<string, string>): Promise<DeliverySource> {
  const path = join(base, 'work', name);
  let size = 0;
  for (const [relative, content] of Object.entries(files)) {
    await mkdir(dirname(join(path, relative)), { recursive: true });
    await writeFile(join(path, relative), content);
    size += Buffer.byteLength(content);
  }
  return { kind: 'folder', path, entries: [], size };
}

async function caught(promise: Promise<unknown>): Promise<UploadError> {
  try {
    await promise;
  } catch (error) {
    return error as UploadError;
  }
  throw new Error('expected a rejection');
}

beforeEach(async () => {
  base = await mkdtemp(join(tmpdir(), 'ncr-fs-destination-'));
  root = join(base, 'out');
});

afterEach(async () => {
  await rm(base, { recursive: true, force: true });
});

describe('createFolderDestination: files', () => {
  it('delivers a file under its relative path, creating folders, reporting progress', async () => {
    const content = Buffer.alloc(3 * 1024 * 1024 + 17, 9);
    const source = await fileSource('job.zip', content);
    const progress: [number, number][] = [];
    const destination = createFolderDestination({ root });
    const receipt = await destination.upload(source, 'spring/alice/j1.zip', {
      onProgress: (done, total) => progress.push([done, total]),
    });
    expect(receipt).toEqual({ remote_path: 'spring/alice/j1.zip', bytes: content.length });
    expect((await readFile(join(root, 'spring/alice/j1.zip'))).equals(content)).toBe(true);
    expect(await tree(root)).toEqual(['spring/', 'spring/alice/', 'spring/alice/j1.zip']);
    expect(progress.length).toBeGreaterThan(1);
    expect(progress.at(-1)).toEqual([content.length, content.length]);
    expect(progress.every(([done], index) => index === 0 || done > progress[index - 1]![0])).toBe(true);
  });

  it('returns the normalised relative path and refuses unsafe ones', async () => {
    const source = await fileSource('a.zip', Buffer.from('zip'));
    const destination = createFolderDestination({ root });
    expect((await destination.upload(source, 'a\\b/./c.zip')).remote_path).toBe('a/b/c.zip');
    for (const bad of ['../x.zip', '/abs.zip', 'a/../../x.zip', '']) {
      expect((await caught(destination.upload(source, bad))).code).toBe('UNSAFE_PATH');
    }
    expect(await tree(base)).not.toContain('x.zip');
  });

  it('overwrites by default, leaving exactly one file', async () => {
    const destination = createFolderDestination({ root });
    await destination.upload(await fileSource('1.zip', Buffer.from('first')), 'j.zip');
    await destination.upload(await fileSource('2.zip', Buffer.from('second')), 'j.zip');
    expect((await readFile(join(root, 'j.zip'))).toString()).toBe('second');
    expect(await tree(root)).toEqual(['j.zip']);
  });

  it('replaces a stale .partial left by a crash', async () => {
    await mkdir(root, { recursive: true });
    await writeFile(join(root, 'j.zip.partial'), 'garbage from an earlier crash, longer than the new file');
    await createFolderDestination({ root }).upload(await fileSource('1.zip', Buffer.from('fresh')), 'j.zip');
    expect((await readFile(join(root, 'j.zip'))).toString()).toBe('fresh');
    expect(await tree(root)).toEqual(['j.zip']);
  });

  it('policy fail: DESTINATION_EXISTS, the existing file untouched, no .partial', async () => {
    const destination = createFolderDestination({ root, onExisting: 'fail' });
    await destination.upload(await fileSource('1.zip', Buffer.from('first')), 'j.zip');
    const error = await caught(destination.upload(await fileSource('2.zip', Buffer.from('second')), 'j.zip'));
    expect(error).toBeInstanceOf(UploadError);
    expect(error.code).toBe('DESTINATION_EXISTS');
    expect(error.retryable).toBe(false);
    expect(error.stage).toBe('deliver');
    expect((await readFile(join(root, 'j.zip'))).toString()).toBe('first');
    expect(await tree(root)).toEqual(['j.zip']);
  });

  it('policy skip-if-same: skips an identical file, replaces a different one', async () => {
    const destination = createFolderDestination({ root, onExisting: 'skip-if-same' });
    const same = await fileSource('1.zip', Buffer.from('same bytes'));
    await destination.upload(same, 'j.zip');
    const before = await stat(join(root, 'j.zip'));
    expect(await destination.upload(same, 'j.zip')).toEqual({
      remote_path: 'j.zip',
      bytes: 10,
      skipped: true,
    });
    expect((await stat(join(root, 'j.zip'))).ino).toBe(before.ino);

    // Same size, other bytes: the hash decides.
    const other = await fileSource('2.zip', Buffer.from('SAME BYTES'));
    const receipt = await destination.upload(other, 'j.zip');
    expect(receipt.skipped).toBeUndefined();
    expect((await readFile(join(root, 'j.zip'))).toString()).toBe('SAME BYTES');
  });

  it('abort mid-copy: CANCELLED, no final file and no .partial', async () => {
    const source = await fileSource('big.zip', Buffer.alloc(16 * 1024 * 1024, 3));
    const controller = new AbortController();
    let calls = 0;
    const error = await caught(
      createFolderDestination({ root }).upload(source, 'a/big.zip', {
        signal: controller.signal,
        onProgress: () => {
          calls += 1;
          if (calls === 1) controller.abort();
        },
      }),
    );
    expect(error.code).toBe('CANCELLED');
    expect(error.stage).toBe('deliver');
    expect(calls).toBeGreaterThan(0);
    expect(await tree(root)).toEqual(['a/']);
  });

  it('an already aborted signal writes nothing', async () => {
    const controller = new AbortController();
    controller.abort();
    const source = await fileSource('a.zip', Buffer.from('x'));
    const error = await caught(
      createFolderDestination({ root }).upload(source, 'a.zip', { signal: controller.signal }),
    );
    expect(error.code).toBe('CANCELLED');
    expect(await tree(root)).toEqual([]);
  });

  it('a failing read removes the .partial (missing source, folder as source, wrong size)', async () => {
    const destination = createFolderDestination({ root });
    const missing: DeliverySource = { kind: 'file', path: join(base, 'nope.zip'), size: 1, sha256: '0' };
    expect((await caught(destination.upload(missing, 'j.zip'))).code).toBe('DESTINATION_ERROR');
    await mkdir(join(base, 'a-folder'));
    const folder: DeliverySource = { kind: 'file', path: join(base, 'a-folder'), size: 1, sha256: '0' };
    expect((await caught(destination.upload(folder, 'j.zip'))).code).toBe('DESTINATION_ERROR');
    const source = await fileSource('short.zip', Buffer.from('12345'));
    const error = await caught(destination.upload({ ...source, size: 6 }, 'j.zip'));
    expect(error.code).toBe('SIZE_MISMATCH');
    expect(await tree(root)).toEqual([]);
  });

  it('refuses to write through a link that leads outside the root', async () => {
    await mkdir(root, { recursive: true });
    await mkdir(join(base, 'elsewhere'));
    await symlink(join(base, 'elsewhere'), join(root, 'link'));
    const error = await caught(
      createFolderDestination({ root }).upload(await fileSource('a.zip', Buffer.from('x')), 'link/a.zip'),
    );
    expect(error.code).toBe('UNSAFE_PATH');
    expect(await tree(join(base, 'elsewhere'))).toEqual([]);
  });

  it('refuses a streamed upload through a link that leads outside the root, writing nothing there', async () => {
    await mkdir(root, { recursive: true });
    await mkdir(join(base, 'elsewhere'));
    await symlink(join(base, 'elsewhere'), join(root, 'link'));
    const destination = createFolderDestination({ root });
    const error = await caught(destination.beginUpload('link/a.zip'));
    expect(error.code).toBe('UNSAFE_PATH');
    expect(await tree(join(base, 'elsewhere'))).toEqual([]);
  });

  it('makes no folder behind a link that leads outside the root (streamed and copied)', async () => {
    await mkdir(root, { recursive: true });
    await mkdir(join(base, 'elsewhere'));
    await symlink(join(base, 'elsewhere'), join(root, 'link'));
    const destination = createFolderDestination({ root });
    expect((await caught(destination.beginUpload('link/deeper/a.zip'))).code).toBe('UNSAFE_PATH');
    const source = await fileSource('a.zip', Buffer.from('x'));
    expect((await caught(destination.upload(source, 'link/other/deeper/a.zip'))).code).toBe('UNSAFE_PATH');
    expect(await tree(join(base, 'elsewhere'))).toEqual([]);
  });

  it('deliveries into one folder at the same time all land (their folder fsyncs are shared)', async () => {
    const destination = createFolderDestination({ root });
    const names = Array.from({ length: 12 }, (_, index) => `batch/${index}.zip`);
    await Promise.all(
      names.map(async (name, index) => {
        const data = Buffer.from(`zip ${index}`);
        const session = await destination.beginUpload(name);
        await session.write(data);
        const sha256 = createHash('sha256').update(data).digest('hex');
        expect(await session.commit({ size: data.length, sha256 })).toEqual({
          remote_path: name,
          bytes: data.length,
        });
      }),
    );
    expect(await tree(join(root, 'batch'))).toEqual(names.map((name) => name.slice(6)).sort());
    expect((await readFile(join(root, 'batch/7.zip'))).toString()).toBe('zip 7');
  });

  it('overwrites a folder that has the final name with a file', async () => {
    await mkdir(join(root, 'j.zip/inner'), { recursive: true });
    await writeFile(join(root, 'j.zip/inner/x'), 'x');
    await createFolderDestination({ root }).upload(await fileSource('1.zip', Buffer.from('file')), 'j.zip');
    expect((await readFile(join(root, 'j.zip'))).toString()).toBe('file');
    expect(await tree(root)).toEqual(['j.zip']);
  });

  it('a streamed delivery replaces a file, an empty folder and a full folder under the final name', async () => {
    const destination = createFolderDestination({ root });
    await mkdir(root, { recursive: true });
    await writeFile(join(root, 'file.zip'), 'old file');
    await mkdir(join(root, 'empty.zip'));
    await mkdir(join(root, 'full.zip/inner'), { recursive: true });
    await writeFile(join(root, 'full.zip/inner/x'), 'x');
    for (const name of ['file.zip', 'empty.zip', 'full.zip', 'new.zip']) {
      const session = await destination.beginUpload(name);
      await session.write(Buffer.from(`new ${name}`));
      await session.commit({
        size: `new ${name}`.length,
        sha256: createHash('sha256').update(`new ${name}`).digest('hex'),
      });
      expect((await readFile(join(root, name))).toString(), name).toBe(`new ${name}`);
    }
    expect(await tree(root)).toEqual(['empty.zip', 'file.zip', 'full.zip', 'new.zip']);
  });

  it('checks its options', () => {
    expect(() => createFolderDestination({ root: '' })).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID' }),
    );
    expect(() => createFolderDestination({ root, onExisting: 'merge' as never })).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID' }),
    );
  });

  it('ping creates the root and checks it is writable', async () => {
    await createFolderDestination({ root }).ping?.();
    expect((await stat(root)).isDirectory()).toBe(true);
    await writeFile(join(base, 'a-file'), '');
    await expect(createFolderDestination({ root: join(base, 'a-file', 'x') }).ping?.()).rejects.toMatchObject(
      {
        code: 'DESTINATION_ERROR',
      },
    );
  });
});

describe('createFolderDestination: folders', () => {
  const files = { 'spring/alice/j1/a.txt': 'alpha', 'spring/alice/j1/images/b.jpg': 'bravo!' };

  it('delivers a tree atomically under the final name', async () => {
    const source = await folderSource('tree', files);
    const progress: number[] = [];
    const receipt = await createFolderDestination({ root }).upload(source, 'out/j1', {
      onProgress: (done) => progress.push(done),
    });
    expect(receipt).toEqual({ remote_path: 'out/j1', bytes: 11 });
    expect(progress.at(-1)).toBe(11);
    expect(await tree(join(root, 'out'))).toEqual([
      'j1/',
      'j1/spring/',
      'j1/spring/alice/',
      'j1/spring/alice/j1/',
      'j1/spring/alice/j1/a.txt',
      'j1/spring/alice/j1/images/',
      'j1/spring/alice/j1/images/b.jpg',
    ]);
    expect((await readFile(join(root, 'out/j1/spring/alice/j1/images/b.jpg'))).toString()).toBe('bravo!');
  });

  it('overwrite replaces the whole existing folder (no stale files survive)', async () => {
    const destination = createFolderDestination({ root });
    await destination.upload(await folderSource('old', { 'stale.txt': 'old', 'a.txt': 'old' }), 'j1');
    await destination.upload(await folderSource('new', { 'a.txt': 'new' }), 'j1');
    expect(await tree(root)).toEqual(['j1/', 'j1/a.txt']);
    expect((await readFile(join(root, 'j1/a.txt'))).toString()).toBe('new');
  });

  it('fail and skip-if-same policies apply to folders', async () => {
    await createFolderDestination({ root }).upload(await folderSource('first', files), 'j1');
    const failing = createFolderDestination({ root, onExisting: 'fail' });
    expect((await caught(failing.upload(await folderSource('second', { 'x.txt': 'x' }), 'j1'))).code).toBe(
      'DESTINATION_EXISTS',
    );
    const skipping = createFolderDestination({ root, onExisting: 'skip-if-same' });
    expect((await skipping.upload(await folderSource('same', files), 'j1')).skipped).toBe(true);
    const changed = { ...files, 'spring/alice/j1/a.txt': 'ALPHA' };
    expect((await skipping.upload(await folderSource('changed', changed), 'j1')).skipped).toBeUndefined();
    expect((await readFile(join(root, 'j1/spring/alice/j1/a.txt'))).toString()).toBe('ALPHA');
    expect((await tree(root)).filter((path) => path.includes('partial'))).toEqual([]);
  });

  it('abort mid-folder leaves neither the final folder nor the .partial', async () => {
    const many: Record<string, string> = {};
    for (let index = 0; index < 20; index += 1) many[`f${index}.txt`] = 'x'.repeat(1000);
    const source = await folderSource('many', many);
    const controller = new AbortController();
    const error = await caught(
      createFolderDestination({ root }).upload(source, 'j1', {
        signal: controller.signal,
        onProgress: (done) => {
          if (done >= 3000) controller.abort();
        },
      }),
    );
    expect(error.code).toBe('CANCELLED');
    expect(await tree(root)).toEqual([]);
  });
});

for (const onExisting of ['overwrite', 'skip-if-same'] as const) {
  testDestination({
    name: `folder (fs), onExisting ${onExisting}`,
    create: async () => {
      const folder = await mkdtemp(join(tmpdir(), 'ncr-fs-destination-contract-'));
      return {
        destination: createFolderDestination({ root: folder, onExisting }),
        read: (remotePath) => readFile(join(folder, remotePath)).catch(() => null),
        // Files, plus `.partial` folders (a folder delivery in progress).
        list: async () =>
          (await tree(folder))
            .filter((path) => !path.endsWith('/') || path.endsWith('.partial/'))
            .map((path) => path.replace(/\/$/, '')),
        cleanup: () => rm(folder, { recursive: true, force: true }),
      };
    },
  });
}
