import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  createFolderStorage,
  createPrefixCatalog,
  createStaticCatalog,
  defaultJobPrefix,
} from '../src/fs/index.js';
import type { JobRequest } from '../src/job.js';
import type { Storage } from '../src/ports/storage.js';
import { testCatalog } from '../src/testing/index.js';

const job = (job_id: string, extra: Partial<JobRequest> = {}): JobRequest => ({
  job_id,
  username: 'alice',
  campaign: 'spring',
  ...extra,
});

let root: string;

async function put(key: string, content: string): Promise<void> {
  await mkdir(dirname(join(root, key)), { recursive: true });
  await writeFile(join(root, key), content);
}

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'ncr-fs-catalog-'));
  await put('spring/alice/j1/cover.pdf', 'cover');
  await put('spring/alice/j1/images/front/1.jpg', 'one');
  await put('spring/alice/j1/images/2.jpg', 'two!');
  await put('spring/alice/j10/not-mine.txt', 'x');
  await put('spring/bob/j1/bob.txt', 'bob');
  await put('custom/j1/x.txt', 'custom');
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('createPrefixCatalog', () => {
  it('lists a job’s files under {campaign}/{username}/{job_id}/, keeping sub-folders', async () => {
    const catalog = createPrefixCatalog({ storage: createFolderStorage({ root }) });
    expect(await catalog.listFiles(job('j1'))).toEqual([
      { key: 'spring/alice/j1/cover.pdf', name: 'cover.pdf', size: 5 },
      { key: 'spring/alice/j1/images/2.jpg', name: '2.jpg', folder: 'images', size: 4 },
      { key: 'spring/alice/j1/images/front/1.jpg', name: '1.jpg', folder: 'images/front', size: 3 },
    ]);
  });

  it('refuses a job folder that is a symbolic link to another job (never lists its files)', async () => {
    await symlink(join(root, 'spring/alice/j1'), join(root, 'spring/alice/job-a'));
    const catalog = createPrefixCatalog({ storage: createFolderStorage({ root }) });
    await expect(catalog.listFiles(job('job-a'))).rejects.toMatchObject({
      code: 'UNSAFE_PATH',
      stage: 'resolve',
    });
  });

  it('fails the listing for a file name that is not valid UTF-8 rather than returning fewer files', async () => {
    await writeFile(
      Buffer.concat([Buffer.from(join(root, 'spring/alice/j1/')), Buffer.from([0x80, 0x2e, 0x70])]),
      'x',
    );
    const catalog = createPrefixCatalog({ storage: createFolderStorage({ root }) });
    await expect(catalog.listFiles(job('j1'))).rejects.toMatchObject({ code: 'UNSAFE_PATH' });
  });

  it('returns an empty list for a job with no files', async () => {
    const catalog = createPrefixCatalog({ storage: createFolderStorage({ root }) });
    expect(await catalog.listFiles(job('nothing'))).toEqual([]);
  });

  it('uses a custom prefix and adds the missing trailing slash', async () => {
    const catalog = createPrefixCatalog({
      storage: createFolderStorage({ root }),
      prefix: (request) => `custom/${request.job_id}`,
    });
    expect(await catalog.listFiles(job('j1'))).toEqual([{ key: 'custom/j1/x.txt', name: 'x.txt', size: 6 }]);
  });

  it('refuses job fields that are not single path segments in the default prefix', async () => {
    const catalog = createPrefixCatalog({ storage: createFolderStorage({ root }) });
    for (const bad of [
      job('../bob/j1'),
      job('j1', { username: 'alice/../bob' }),
      job('j1', { campaign: '..' }),
    ]) {
      await expect(catalog.listFiles(bad)).rejects.toMatchObject({ code: 'UNSAFE_PATH', stage: 'resolve' });
    }
    expect(() => defaultJobPrefix(job('a/b'))).toThrow(expect.objectContaining({ code: 'UNSAFE_PATH' }));
  });

  it('skips folder markers and keys outside the prefix a storage may return', async () => {
    const storage: Storage = {
      open: () => Promise.reject(new Error('not used')),
      async *list() {
        yield { key: 'spring/alice/j1/', size: 0 };
        yield { key: 'spring/alice/j1/sub/', size: 0 };
        yield { key: 'spring/alice/j1/sub/a.txt', size: 1, metadata: { etag: 'e' } };
        yield { key: 'elsewhere/b.txt', size: 1 };
      },
    };
    const catalog = createPrefixCatalog({ storage });
    expect(await catalog.listFiles(job('j1'))).toEqual([
      { key: 'spring/alice/j1/sub/a.txt', name: 'a.txt', folder: 'sub', size: 1, metadata: { etag: 'e' } },
    ]);
  });

  it('throws CONFIG_INVALID when the storage cannot list', () => {
    const storage: Storage = { open: () => Promise.reject(new Error('not used')) };
    expect(() => createPrefixCatalog({ storage })).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID', message: expect.stringContaining('list') }),
    );
  });

  it('stops with CANCELLED on an aborted signal', async () => {
    const controller = new AbortController();
    controller.abort();
    const catalog = createPrefixCatalog({ storage: createFolderStorage({ root }) });
    await expect(catalog.listFiles(job('j1'), { signal: controller.signal })).rejects.toMatchObject({
      code: 'CANCELLED',
    });
  });
});

describe('createStaticCatalog', () => {
  it('returns copies of the files for a job id, and nothing for unknown ids', async () => {
    const files = [{ key: 'a.txt', size: 1 }];
    const catalog = createStaticCatalog({ j1: files });
    const listed = await catalog.listFiles(job('j1'));
    expect(listed).toEqual(files);
    listed[0]!.key = 'changed';
    expect(files[0]!.key).toBe('a.txt');
    expect(await catalog.listFiles(job('j2'))).toEqual([]);
  });

  it('does not read inherited properties as job ids', async () => {
    const catalog = createStaticCatalog({});
    for (const id of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
      expect(await catalog.listFiles(job(id))).toEqual([]);
    }
  });

  it('accepts a function, sync or async', async () => {
    const sync = createStaticCatalog((request) => [{ key: `${request.job_id}.txt` }]);
    const async = createStaticCatalog(async (request) => [{ key: `${request.campaign}.txt` }]);
    expect(await sync.listFiles(job('j9'))).toEqual([{ key: 'j9.txt' }]);
    expect(await async.listFiles(job('j9'))).toEqual([{ key: 'spring.txt' }]);
  });
});

testCatalog({
  name: 'prefix over a folder (fs)',
  create: async (fixtures) => {
    const folder = await mkdtemp(join(tmpdir(), 'ncr-fs-catalog-contract-'));
    for (const fixture of fixtures) {
      for (const file of fixture.files) {
        await mkdir(dirname(join(folder, file.key)), { recursive: true });
        await writeFile(join(folder, file.key), Buffer.alloc(file.size, 1));
      }
    }
    return {
      catalog: createPrefixCatalog({ storage: createFolderStorage({ root: folder }) }),
      cleanup: () => rm(folder, { recursive: true, force: true }),
    };
  },
});

testCatalog({
  name: 'static map (fs)',
  create: async (fixtures) => ({
    catalog: createStaticCatalog(
      Object.fromEntries(fixtures.map((fixture) => [fixture.job.job_id, fixture.files])),
    ),
  }),
});
