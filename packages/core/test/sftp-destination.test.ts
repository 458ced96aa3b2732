import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { UploadError } from '@ncr-upload/core';
import { describe, expect, it } from 'vitest';
import { listFiles, randomContent, readOrNull, useSftpServer } from './sftp-helpers.js';

const sftp = useSftpServer();
const destination = sftp.destination;

describe('sftp destination: delivery', () => {
  it('delivers a file atomically under remoteDir, creating folders, and leaves no .partial', async () => {
    const content = randomContent(300_000);
    const source = await sftp.local.file('a.zip', content);
    const progress: number[] = [];
    const target = destination({ remoteDir: 'inbox/deep' });
    const receipt = await target.upload(source, 'campaign/user/job-1.zip', {
      onProgress: (done, total) => {
        expect(total).toBe(content.length);
        progress.push(done);
      },
    });
    expect(receipt).toEqual({ remote_path: 'inbox/deep/campaign/user/job-1.zip', bytes: content.length });
    expect(await readFile(join(sftp.server.root, 'inbox/deep/campaign/user/job-1.zip'))).toEqual(content);
    expect(await listFiles(join(sftp.server.root, 'inbox'))).toEqual(['deep/campaign/user/job-1.zip']);
    expect(progress.at(-1)).toBe(content.length);
    expect(progress.length).toBeGreaterThan(1);
  });

  it('discardPartial removes a leftover .partial and never the final file', async () => {
    const target = destination({ remoteDir: 'leftovers' });
    const source = await sftp.local.file('final.zip', 'complete');
    await target.upload(source, 'c/u/job.zip');
    await writeFile(join(sftp.server.root, 'leftovers/c/u/job.zip.partial'), 'half');
    await target.discardPartial('c/u/job.zip');
    expect(await listFiles(join(sftp.server.root, 'leftovers'))).toEqual(['c/u/job.zip']);
    expect(await readFile(join(sftp.server.root, 'leftovers/c/u/job.zip'), 'utf8')).toBe('complete');
    await target.discardPartial('c/u/missing.zip');
  });

  it('accepts an absolute remoteDir', async () => {
    const source = await sftp.local.file('abs.txt', 'absolute');
    const receipt = await destination({ remoteDir: join(sftp.server.root, 'abs-dir') }).upload(
      source,
      'x.txt',
    );
    expect(receipt.remote_path).toBe(join(sftp.server.root, 'abs-dir', 'x.txt'));
    expect(await readFile(join(sftp.server.root, 'abs-dir/x.txt'), 'utf8')).toBe('absolute');
  });

  it('delivers an empty file and names starting with a dot', async () => {
    const source = await sftp.local.file('empty.bin', Buffer.alloc(0));
    await destination({ remoteDir: 'dots' }).upload(source, '.hidden/.empty');
    expect(await readFile(join(sftp.server.root, 'dots/.hidden/.empty'))).toEqual(Buffer.alloc(0));
    expect(await listFiles(join(sftp.server.root, 'dots'))).toEqual(['.hidden/.empty']);
  });

  it('refuses an unsafe remote path before connecting', async () => {
    const source = await sftp.local.file('unsafe.txt', 'x');
    const target = destination();
    await expect(target.upload(source, '../escape.txt')).rejects.toMatchObject({
      code: 'UNSAFE_PATH',
      stage: 'deliver',
    });
    expect(target.stats().created).toBe(0);
  });

  it('delivers a folder tree, each file under its final name', async () => {
    const files = { 'a.txt': 'alpha', 'sub/b.txt': 'bravo', 'sub/deeper/c.txt': 'charlie' };
    const folder = join(sftp.local.dir, 'tree');
    for (const [path, content] of Object.entries(files)) {
      await mkdir(join(folder, path, '..'), { recursive: true });
      await writeFile(join(folder, path), content);
    }
    const entries = Object.keys(files).map((path) => ({ file: { key: path }, path }));
    const size = Object.values(files).reduce((sum, content) => sum + content.length, 0);
    const receipt = await destination({ remoteDir: 'folders' }).upload(
      { kind: 'folder', path: folder, entries, size },
      'job-tree',
    );
    expect(receipt).toEqual({ remote_path: 'folders/job-tree', bytes: size });
    expect(await listFiles(join(sftp.server.root, 'folders'))).toEqual([
      'job-tree/a.txt',
      'job-tree/sub/b.txt',
      'job-tree/sub/deeper/c.txt',
    ]);
    expect(await readFile(join(sftp.server.root, 'folders/job-tree/sub/deeper/c.txt'), 'utf8')).toBe(
      'charlie',
    );
  });

  it('stops promptly on abort, with CANCELLED, and leaves neither the file nor its .partial', async () => {
    const source = await sftp.local.file('abort.bin', randomContent(64 * 1024 * 1024));
    const controller = new AbortController();
    const target = destination({ remoteDir: 'aborted' });
    const attempt = target.upload(source, 'big.bin', {
      signal: controller.signal,
      onProgress: (done) => {
        if (done > 4 * 1024 * 1024) controller.abort();
      },
    });
    await expect(attempt).rejects.toMatchObject({ code: 'CANCELLED', retryable: false });
    expect(await listFiles(join(sftp.server.root, 'aborted'))).toEqual([]);
    // The dropped connection is not reused: the next upload gets a fresh one.
    const small = await sftp.local.file('after-abort.txt', 'fine');
    await target.upload(small, 'after.txt');
    expect(await readFile(join(sftp.server.root, 'aborted/after.txt'), 'utf8')).toBe('fine');
  });

  it.each([
    ['on the upload thread', true],
    ['on the main thread', false],
  ])(
    'a streamed upload %s stops on abort with CANCELLED and leaves nothing',
    async (_label, uploadThread) => {
      const controller = new AbortController();
      const target = destination({ remoteDir: `stream-aborted-${uploadThread}`, uploadThread });
      const session = await target.beginUpload('big.bin', { signal: controller.signal });
      const chunk = randomContent(1024 * 1024);
      const error = await (async () => {
        for (let written = 0; written < 256 * 1024 * 1024; written += chunk.length) {
          if (written === 4 * 1024 * 1024) controller.abort();
          await session.write(chunk);
        }
      })().catch((caught: unknown) => caught);
      expect(error).toMatchObject({ code: 'CANCELLED', retryable: false });
      await session.abort();
      expect(await listFiles(join(sftp.server.root, `stream-aborted-${uploadThread}`))).toEqual([]);
    },
  );

  it('rejects an already aborted signal with its reason', async () => {
    const source = await sftp.local.file('pre-abort.txt', 'x');
    const controller = new AbortController();
    controller.abort();
    await expect(
      destination().upload(source, 'pre.txt', { signal: controller.signal }),
    ).rejects.toMatchObject({
      code: 'CANCELLED',
    });
    expect(await readOrNull(join(sftp.server.root, 'pre.txt'))).toBeNull();
  });
});

describe('sftp destination: onExisting policies', () => {
  it('overwrite (default) replaces the existing file', async () => {
    const target = destination({ remoteDir: 'policy-overwrite' });
    await target.upload(await sftp.local.file('o1.txt', 'first version'), 'same.txt');
    const receipt = await target.upload(await sftp.local.file('o2.txt', 'second'), 'same.txt');
    expect(receipt.skipped).toBeUndefined();
    expect(await readFile(join(sftp.server.root, 'policy-overwrite/same.txt'), 'utf8')).toBe('second');
    expect(await listFiles(join(sftp.server.root, 'policy-overwrite'))).toEqual(['same.txt']);
  });

  it('fail refuses with DESTINATION_EXISTS and keeps the old content', async () => {
    const target = destination({ remoteDir: 'policy-fail', onExisting: 'fail' });
    await target.upload(await sftp.local.file('f1.txt', 'original'), 'same.txt');
    const error = (await target
      .upload(await sftp.local.file('f2.txt', 'intruder'), 'same.txt')
      .catch((caught: unknown) => caught)) as UploadError;
    expect(error).toMatchObject({ code: 'DESTINATION_EXISTS', retryable: false, stage: 'deliver' });
    expect(error.message).toContain('policy-fail/same.txt');
    expect(await readFile(join(sftp.server.root, 'policy-fail/same.txt'), 'utf8')).toBe('original');
    expect(await listFiles(join(sftp.server.root, 'policy-fail'))).toEqual(['same.txt']);
  });

  it('skip-if-same skips an identical file and replaces a different one of the same size', async () => {
    const target = destination({ remoteDir: 'policy-skip', onExisting: 'skip-if-same' });
    const path = join(sftp.server.root, 'policy-skip/same.txt');
    await target.upload(await sftp.local.file('s1.txt', 'AAAA'), 'same.txt');
    const before = await stat(path);
    const skipped = await target.upload(await sftp.local.file('s2.txt', 'AAAA'), 'same.txt');
    expect(skipped).toEqual({ remote_path: 'policy-skip/same.txt', bytes: 0, skipped: true });
    expect((await stat(path)).ino).toBe(before.ino);
    const replaced = await target.upload(await sftp.local.file('s3.txt', 'BBBB'), 'same.txt');
    expect(replaced).toEqual({ remote_path: 'policy-skip/same.txt', bytes: 4 });
    expect(await readFile(path, 'utf8')).toBe('BBBB');
    const longer = await target.upload(await sftp.local.file('s4.txt', 'BBBBB'), 'same.txt');
    expect(longer.bytes).toBe(5);
    expect(await readFile(path, 'utf8')).toBe('BBBBB');
    expect(await listFiles(join(sftp.server.root, 'policy-skip'))).toEqual(['same.txt']);
  });
});

describe('sftp destination: pool and ping', () => {
  it('shares a bounded pool between concurrent uploads', async () => {
    const before = await sftp.server.acceptedConnections();
    const target = destination({ remoteDir: 'pooled', pool: { max: 2 } });
    const sources = await Promise.all(
      Array.from({ length: 8 }, (_, index) =>
        sftp.local.file(`pool-${index}.bin`, randomContent(200_000 + index)),
      ),
    );
    const receipts = await Promise.all(
      sources.map((source, index) => target.upload(source, `file-${index}.bin`)),
    );
    expect(receipts.map((receipt) => receipt.bytes)).toEqual(sources.map((source) => source.size));
    expect(await listFiles(join(sftp.server.root, 'pooled'))).toHaveLength(8);
    const stats = target.stats();
    expect(stats.created).toBe(2);
    expect(stats).toMatchObject({ open: 2, idle: 2, busy: 0, waiting: 0 });
    expect((await sftp.server.acceptedConnections()) - before).toBe(2);
    await target.close();
    expect(target.stats().open).toBe(0);
    await expect(target.upload(sources[0] as never, 'closed.bin')).rejects.toMatchObject({
      code: 'DESTINATION_ERROR',
    });
  });

  it('ping succeeds for an existing remoteDir and fails clearly for a missing one', async () => {
    await destination().ping();
    await expect(destination({ remoteDir: 'no/such/dir' }).ping()).rejects.toMatchObject({
      code: 'DESTINATION_ERROR',
      retryable: false,
    });
  });
});
