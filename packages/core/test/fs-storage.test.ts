import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UploadError } from '../src/errors.js';
import { createFolderStorage } from '../src/fs/index.js';
import type { FileRef } from '../src/ports/file-ref.js';
import { testStorage } from '../src/testing/index.js';

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function collect(iterable: AsyncIterable<FileRef>): Promise<FileRef[]> {
  const out: FileRef[] = [];
  for await (const file of iterable) out.push(file);
  return out;
}

/** Keys every whole read refuses, with the code: links and `..` that lead out of the root, missing files, folders. */
const REFUSED_KEYS = [
  ['escape.txt', 'UNSAFE_PATH'],
  ['c/u/job-a/other.txt', 'UNSAFE_PATH'],
  ['../secret.txt', 'UNSAFE_PATH'],
  ['c/u/j1/missing.txt', 'FILE_NOT_FOUND'],
  ['c/u/j1', 'FILE_NOT_FOUND'],
] as const;

async function caught(promise: Promise<unknown>): Promise<UploadError> {
  try {
    await promise;
  } catch (error) {
    return error as UploadError;
  }
  throw new Error('expected a rejection');
}

let base: string;
let root: string;

beforeEach(async () => {
  base = await mkdtemp(join(tmpdir(), 'ncr-fs-storage-'));
  root = join(base, 'root');
  await mkdir(join(root, 'c/u/j1/images/front'), { recursive: true });
  await mkdir(join(root, 'c/u/j10'), { recursive: true });
  await writeFile(join(root, 'c/u/j1/a.txt'), 'alpha');
  await writeFile(join(root, 'c/u/j1/images/front/b.jpg'), Buffer.alloc(3000, 7));
  await writeFile(join(root, 'c/u/j1/images/z.png'), '');
  await writeFile(join(root, 'c/u/j10/other.txt'), 'other job');
  await writeFile(join(root, 'c/u/j1-b.txt'), 'sorts before the folder');
  await writeFile(join(base, 'secret.txt'), 'outside the root');
});

afterEach(async () => {
  await rm(base, { recursive: true, force: true });
});

describe('createFolderStorage: open', () => {
  it('streams a file with its size', async () => {
    const storage = createFolderStorage({ root });
    const opened = await storage.open({ key: 'c/u/j1/images/front/b.jpg' });
    expect(opened.size).toBe(3000);
    expect(await readAll(opened.stream)).toEqual(Buffer.alloc(3000, 7));
  });

  it('accepts backslashes and dot segments in keys', async () => {
    const storage = createFolderStorage({ root });
    expect((await readAll((await storage.open({ key: 'c\\u\\.\\j1//a.txt' })).stream)).toString()).toBe(
      'alpha',
    );
  });

  it('opens names stored decomposed (NFD) on disk under the key list() gives them', async () => {
    await writeFile(join(root, 'cafe\u0301.txt'), 'nfd');
    await writeFile(join(root, 'caf\u00e9-nfc.txt'), 'nfc');
    const storage = createFolderStorage({ root });
    const keys = (await collect(storage.list('caf'))).map((file) => file.key);
    expect(keys).toEqual(['cafe\u0301.txt', 'caf\u00e9-nfc.txt']);
    expect((await readAll((await storage.open({ key: keys[0]! })).stream)).toString()).toBe('nfd');
    // An NFD key for a name stored NFC falls back to the NFC spelling.
    expect((await readAll((await storage.open({ key: 'cafe\u0301-nfc.txt' })).stream)).toString()).toBe(
      'nfc',
    );
  });

  it('throws FILE_NOT_FOUND (not retryable) naming the key for a missing file, folder or file-as-folder', async () => {
    const storage = createFolderStorage({ root });
    for (const key of ['c/u/j1/missing.txt', 'c/u/j1/images', 'c/u/j1/a.txt/x']) {
      const error = await caught(storage.open({ key }));
      expect(error).toBeInstanceOf(UploadError);
      expect(error.code).toBe('FILE_NOT_FOUND');
      expect(error.retryable).toBe(false);
      expect(error.stage).toBe('fetch');
      expect(error.message).toContain(key);
      expect(error.message).not.toContain(base);
    }
  });

  it('refuses keys that escape the root with UNSAFE_PATH', async () => {
    const storage = createFolderStorage({ root });
    for (const key of ['../secret.txt', 'c/../../secret.txt', '/etc/passwd', '..\\secret.txt', 'C:\\x', '']) {
      const error = await caught(storage.open({ key }));
      expect(error.code, key).toBe('UNSAFE_PATH');
      expect(error.stage).toBe('fetch');
    }
  });

  it('refuses a symbolic link, leading outside the root or to another file inside it', async () => {
    await symlink(join(base, 'secret.txt'), join(root, 'escape.txt'));
    await symlink(join(root, 'c/u/j10/other.txt'), join(root, 'c/u/j1/inside.txt'));
    const storage = createFolderStorage({ root });
    const outside = await caught(storage.open({ key: 'escape.txt' }));
    expect(outside.code).toBe('UNSAFE_PATH');
    expect(outside.message).toContain('outside the storage folder');
    const inside = await caught(storage.open({ key: 'c/u/j1/inside.txt' }));
    expect(inside.code).toBe('UNSAFE_PATH');
    expect(inside.stage).toBe('fetch');
    expect(inside.message).not.toContain(base);
  });

  it('refuses keys below a symbolically linked job, user or campaign folder', async () => {
    await symlink(join(root, 'c/u/j10'), join(root, 'c/u/job-a'));
    await symlink(join(root, 'c/u'), join(root, 'c/v'));
    await symlink(join(root, 'c'), join(root, 'd'));
    const storage = createFolderStorage({ root });
    for (const key of ['c/u/job-a/other.txt', 'c/v/j10/other.txt', 'd/u/j10/other.txt']) {
      const error = await caught(storage.open({ key }));
      expect(error.code, key).toBe('UNSAFE_PATH');
      expect(error.message).toContain('symbolic link');
    }
    // The real path still opens.
    expect((await readAll((await storage.open({ key: 'c/u/j10/other.txt' })).stream)).toString()).toBe(
      'other job',
    );
  });

  it('reads small files whole with the same checks as open: links, escapes, missing files', async () => {
    await symlink(join(base, 'secret.txt'), join(root, 'escape.txt'));
    await symlink(join(root, 'c/u/j10'), join(root, 'c/u/job-a'));
    const storage = createFolderStorage({ root });
    expect((await storage.read({ key: 'c/u/j1/a.txt' })).toString()).toBe('alpha');
    expect((await storage.read({ key: 'c/u/j1/a.txt', size: 5 })).toString()).toBe('alpha');
    for (const [key, code] of REFUSED_KEYS) {
      const error = await caught(storage.read({ key }));
      expect(error.code, key).toBe(code);
      expect(error.stage, key).toBe('fetch');
      expect(error.message, key).not.toContain(base);
    }
    // A file larger than the catalog said is read whole: the caller's size check sees it.
    await writeFile(join(root, 'grown.bin'), Buffer.alloc(100 * 1024, 7));
    expect((await storage.read({ key: 'grown.bin', size: 10 })).length).toBe(100 * 1024);
    expect((await storage.read({ key: 'grown.bin' })).length).toBe(100 * 1024);
  });

  it('reads a file into a given buffer with the same checks: links, escapes, missing files, folders', async () => {
    await symlink(join(base, 'secret.txt'), join(root, 'escape.txt'));
    await symlink(join(root, 'c/u/j10'), join(root, 'c/u/job-a'));
    const storage = createFolderStorage({ root });
    for (const small of [true, false]) {
      // A target of more than 64 KiB takes the asynchronous reads.
      const pad = small ? 0 : 70 * 1024;
      for (const [key, code] of REFUSED_KEYS) {
        const error = await caught(storage.readInto({ key }, Buffer.alloc(9 + pad)));
        expect(error.code, key).toBe(code);
        expect(error.stage, key).toBe('fetch');
        expect(error.message, key).not.toContain(base);
      }
      const content = Buffer.alloc(pad + 5, 3);
      content.write('alpha', pad);
      await writeFile(join(root, 'c/u/j1/a.txt'), content);
      // Exactly the size: filled, the size returned.
      const exact = Buffer.alloc(content.length);
      expect(await storage.readInto({ key: 'c/u/j1/a.txt' }, exact)).toBe(content.length);
      expect(exact.equals(content)).toBe(true);
      // A longer file: the target filled, more than its length returned.
      const short = Buffer.alloc(content.length - 2);
      expect(await storage.readInto({ key: 'c/u/j1/a.txt' }, short)).toBeGreaterThan(short.length);
      expect(short.equals(content.subarray(0, short.length))).toBe(true);
      // A shorter file: its bytes, its length returned.
      const long = Buffer.alloc(content.length + 3);
      expect(await storage.readInto({ key: 'c/u/j1/a.txt' }, long)).toBe(content.length);
      expect(long.subarray(0, content.length).equals(content)).toBe(true);
    }
    const aborted = new AbortController();
    aborted.abort();
    const error = await caught(storage.readInto({ key: 'c/u/j1/a.txt' }, Buffer.alloc(5), aborted));
    expect(error.code).toBe('CANCELLED');
  });

  it('opens keys normally when the root itself is reached through a link', async () => {
    await symlink(root, join(base, 'root-link'));
    const storage = createFolderStorage({ root: join(base, 'root-link') });
    expect((await readAll((await storage.open({ key: 'c/u/j1/a.txt' })).stream)).toString()).toBe('alpha');
  });

  it('honours an aborted signal before opening and while streaming', async () => {
    const storage = createFolderStorage({ root, highWaterMark: 1024 });
    const before = new AbortController();
    before.abort();
    expect((await caught(storage.open({ key: 'c/u/j1/a.txt' }, { signal: before.signal }))).code).toBe(
      'CANCELLED',
    );

    await writeFile(join(root, 'big.bin'), Buffer.alloc(1024 * 1024, 1));
    const during = new AbortController();
    const opened = await storage.open({ key: 'big.bin' }, { signal: during.signal });
    let received = 0;
    const reading = (async () => {
      for await (const chunk of opened.stream) {
        received += (chunk as Buffer).length;
        if (received >= 4096) during.abort();
      }
    })();
    await expect(reading).rejects.toMatchObject({ name: 'AbortError' });
    expect(received).toBeLessThan(1024 * 1024);
    expect(opened.stream.destroyed).toBe(true);
  });

  it('needs a root', () => {
    expect(() => createFolderStorage({ root: '' })).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID' }),
    );
  });
});

describe('createFolderStorage: list', () => {
  it('lists a large folder whole (its first entries read synchronously, the rest asynchronously)', async () => {
    await mkdir(join(root, 'many'));
    const names = Array.from({ length: 300 }, (_, index) => `f${String(index).padStart(3, '0')}.bin`);
    await Promise.all(names.map((name, index) => writeFile(join(root, 'many', name), Buffer.alloc(index))));
    const listed = await collect(createFolderStorage({ root }).list('many/'));
    expect(listed).toEqual(names.map((name, index) => ({ key: `many/${name}`, size: index })));
  });

  it('lists files recursively under a folder prefix, sorted, with sizes', async () => {
    const storage = createFolderStorage({ root });
    expect(await collect(storage.list('c/u/j1/'))).toEqual([
      { key: 'c/u/j1/a.txt', size: 5 },
      { key: 'c/u/j1/images/front/b.jpg', size: 3000 },
      { key: 'c/u/j1/images/z.png', size: 0 },
    ]);
  });

  it('treats a prefix as a string prefix, like S3, in byte order', async () => {
    const storage = createFolderStorage({ root });
    expect((await collect(storage.list('c/u/j1'))).map((file) => file.key)).toEqual([
      'c/u/j1-b.txt',
      'c/u/j1/a.txt',
      'c/u/j1/images/front/b.jpg',
      'c/u/j1/images/z.png',
      'c/u/j10/other.txt',
    ]);
  });

  it('lists everything for an empty prefix and nothing for a missing one', async () => {
    const storage = createFolderStorage({ root });
    expect((await collect(storage.list(''))).length).toBe(5);
    expect(await collect(storage.list('nope/'))).toEqual([]);
    expect(await collect(storage.list('c/u/j1/a.txt/'))).toEqual([]);
  });

  it('does not follow symbolic links and refuses prefixes that climb', async () => {
    await symlink(base, join(root, 'c/u/j1/loop'));
    const storage = createFolderStorage({ root });
    expect((await collect(storage.list('c/u/j1/'))).map((file) => file.key)).not.toContain(
      'c/u/j1/loop/secret.txt',
    );
    await expect(collect(storage.list('../'))).rejects.toMatchObject({ code: 'UNSAFE_PATH' });
    await expect(collect(storage.list('/etc/'))).rejects.toMatchObject({ code: 'UNSAFE_PATH' });
  });

  it('refuses to list below a symbolically linked job, user or campaign folder', async () => {
    // storage/c/u/job-a -> j10: job-a must not read j10's files.
    await symlink(join(root, 'c/u/j10'), join(root, 'c/u/job-a'));
    await symlink(join(root, 'c/u'), join(root, 'c/v'));
    await symlink(join(root, 'c'), join(root, 'd'));
    const storage = createFolderStorage({ root });
    for (const prefix of ['c/u/job-a/', 'c/v/j10/', 'd/u/j10/', 'd/']) {
      const error = await caught(collect(storage.list(prefix)));
      expect(error.code, prefix).toBe('UNSAFE_PATH');
      expect(error.stage).toBe('resolve');
      expect(error.message).toContain('symbolic link');
      expect(error.message).not.toContain(base);
    }
    // Links elsewhere are skipped, as before; the real folders still list.
    expect((await collect(storage.list('c/u/j10/'))).map((file) => file.key)).toEqual(['c/u/j10/other.txt']);
  });

  it('fails with UNSAFE_PATH for a name that is not valid UTF-8 instead of leaving the file out', async () => {
    const folder = Buffer.from(join(root, 'c/u/j1/'));
    await writeFile(
      Buffer.concat([folder, Buffer.from('latin1-caf'), Buffer.from([0xe9]), Buffer.from('.txt')]),
      'x',
    );
    const storage = createFolderStorage({ root });
    const error = await caught(collect(storage.list('c/u/j1/')));
    expect(error.code).toBe('UNSAFE_PATH');
    expect(error.stage).toBe('resolve');
    expect(error.message).toContain('not valid UTF-8');
    expect(error.message).toContain('c/u/j1');
    expect(error.message).not.toContain(base);
    // Other jobs are not affected.
    expect((await collect(storage.list('c/u/j10/'))).map((file) => file.key)).toEqual(['c/u/j10/other.txt']);
  });

  it('fails with UNSAFE_PATH for a sub-folder whose name is not valid UTF-8', async () => {
    const sub = Buffer.concat([Buffer.from(join(root, 'c/u/j1/images/')), Buffer.from([0x66, 0xff])]);
    await mkdir(sub);
    await writeFile(Buffer.concat([sub, Buffer.from('/inside.txt')]), 'x');
    const storage = createFolderStorage({ root });
    await expect(collect(storage.list('c/u/j1/'))).rejects.toMatchObject({
      code: 'UNSAFE_PATH',
      stage: 'resolve',
    });
  });

  it('stops with CANCELLED when the signal is aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    const storage = createFolderStorage({ root });
    await expect(collect(storage.list('', { signal: controller.signal }))).rejects.toMatchObject({
      code: 'CANCELLED',
    });
  });

  it('ping fails clearly when the root is not a folder', async () => {
    await expect(createFolderStorage({ root }).ping?.()).resolves.toBeUndefined();
    await expect(createFolderStorage({ root: join(base, 'secret.txt') }).ping?.()).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
    });
    await expect(createFolderStorage({ root: join(base, 'missing') }).ping?.()).rejects.toMatchObject({
      code: 'STORAGE_ERROR',
    });
  });
});

testStorage({
  name: 'folder (fs)',
  create: async (files) => {
    const folder = await mkdtemp(join(tmpdir(), 'ncr-fs-storage-contract-'));
    for (const [key, content] of Object.entries(files)) {
      await mkdir(dirname(join(folder, key)), { recursive: true });
      await writeFile(join(folder, key), content);
    }
    return {
      storage: createFolderStorage({ root: folder }),
      cleanup: () => rm(folder, { recursive: true, force: true }),
    };
  },
});
