import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { backoffDelay, defaultOrganize, type JobRequest, type Storage, UploadError } from '@ncr-upload/core';
import { createFolderStorage } from '@ncr-upload/core/fs';
import { randomBytesOf, sha256 } from '@ncr-upload/core/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ProgressTracker } from '../src/progress.js';
import { archiveFiles } from '../src/steps/archive.js';
import type { StepContext } from '../src/steps/context.js';
import { fetchFiles } from '../src/steps/fetch.js';
import { layoutFiles } from '../src/steps/layout.js';
import { sweepStaleTaskDirs } from '../src/steps/temp-dir.js';
import { readZip, sha256OfFile } from './support/zip.js';

const job: JobRequest = { job_id: 'j1', username: 'bob', campaign: 'c1' };
const quietProgress = { stage() {}, totals() {}, advance() {} };

describe('layout', () => {
  it('puts files at {campaign}/{username}/{job_id}/{folder}/{name} by default', async () => {
    const entries = await layoutFiles(job, [
      { key: 'x/y/a.jpg' },
      { key: 'x/y/b.jpg', name: 'renamed.jpg', folder: 'images/front' },
    ]);
    expect(entries.map((entry) => entry.path)).toEqual([
      'c1/bob/j1/a.jpg',
      'c1/bob/j1/images/front/renamed.jpg',
    ]);
  });

  it('refuses an organize result that climbs out of the root', async () => {
    await expect(
      layoutFiles(job, [{ key: 'a' }], () => [{ file: { key: 'a' }, path: '../../etc/passwd' }]),
    ).rejects.toMatchObject({
      code: 'UNSAFE_PATH',
      stage: 'layout',
    });
  });

  it('refuses two files that land on the same path after Unicode and case folding', async () => {
    const files = [{ key: 'p/Cafe\u0301.txt' }, { key: 'q/CAFÉ.txt' }];
    await expect(layoutFiles(job, files)).rejects.toMatchObject({ code: 'DUPLICATE_PATH' });
  });

  it('makes a hostile catalog name safe or refuses it', async () => {
    await expect(layoutFiles(job, [{ key: 'k', name: '..' }])).rejects.toMatchObject({ code: 'UNSAFE_PATH' });
    const entries = await layoutFiles(job, [{ key: 'k', name: 'a\\b.txt' }]);
    expect(entries[0]?.path).toBe('c1/bob/j1/a/b.txt');
    expect(defaultOrganize(job, [{ key: 'only/key.bin' }])).toEqual([
      { file: { key: 'only/key.bin' }, path: 'c1/bob/j1/key.bin' },
    ]);
  });
});

describe('progress', () => {
  it('moves forward through the stages and never goes back', () => {
    const tracker = new ProgressTracker(() => {});
    const seen: number[] = [];
    tracker.stage('fetch');
    tracker.totals(2, 1000);
    tracker.advance(0, 500);
    seen.push(tracker.snapshot().percent);
    tracker.advance(2, 500);
    const fetched = tracker.snapshot();
    seen.push(fetched.percent);
    expect(fetched).toMatchObject({ files_done: 2, files_total: 2, bytes_done: 1000, bytes_total: 1000 });
    tracker.stage('archive');
    seen.push(tracker.snapshot().percent);
    tracker.stage('deliver');
    tracker.totals(1, 10);
    tracker.advance(1, 10);
    seen.push(tracker.snapshot().percent);
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
    expect(seen.at(-1)).toBeLessThan(100);
    expect(seen[0]).toBeGreaterThan(0);
  });

  it("reports the job's files and bytes, not the last stage's own counts", () => {
    const tracker = new ProgressTracker(() => {});
    tracker.stage('fetch');
    tracker.totals(3, 300);
    tracker.advance(3, 300);
    tracker.stage('archive');
    tracker.totals(3, 300);
    tracker.advance(3, 300);
    tracker.stage('deliver');
    // Delivery counts one zip of its own size; the job had 3 files of 300 bytes.
    tracker.totals(1, 719);
    tracker.advance(0, 360);
    expect(tracker.snapshot()).toMatchObject({ files_total: 3, bytes_total: 300, bytes_done: 150 });
    tracker.advance(1, 359);
    expect(tracker.snapshot()).toMatchObject({
      files_done: 3,
      files_total: 3,
      bytes_done: 300,
      bytes_total: 300,
    });
  });
});

describe('backoff', () => {
  const retry = { attempts: 5, baseDelayMs: 100, maxDelayMs: 1000, factor: 2, jitter: false };
  it('grows exponentially up to the cap', () => {
    expect([1, 2, 3, 4, 5, 6].map((attempt) => backoffDelay(attempt, retry))).toEqual([
      100, 200, 400, 800, 1000, 1000,
    ]);
  });
  it('applies full jitter within [0, delay]', () => {
    expect(backoffDelay(3, { ...retry, jitter: true }, () => 0.5)).toBe(200);
    expect(backoffDelay(3, { ...retry, jitter: true }, () => 0)).toBe(0);
  });
});

describe('fetch and archive', () => {
  let root: string;
  let context: StepContext;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'ncr-steps-'));
    await mkdir(join(root, 'task'), { recursive: true });
    context = {
      job,
      taskId: 't',
      dir: join(root, 'task'),
      signal: new AbortController().signal,
      progress: quietProgress,
    };
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('refuses a file shorter than the catalog said with a retryable SIZE_MISMATCH', async () => {
    await mkdir(join(root, 'store'), { recursive: true });
    await writeFile(join(root, 'store', 'short.bin'), Buffer.alloc(5));
    const storage = createFolderStorage({ root: join(root, 'store') });
    const entries = [{ file: { key: 'short.bin', size: 10 }, path: 'short.bin' }];
    const error = await fetchFiles(storage, entries, context, 2).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(UploadError);
    expect(error).toMatchObject({ code: 'SIZE_MISMATCH', retryable: true, stage: 'fetch' });
  });

  it('fails with the first real error, not the cancellations it caused in sibling downloads', async () => {
    const storage: Storage = {
      async open(file, options) {
        if (file.key === 'bad') {
          await new Promise((resolve) => setTimeout(resolve, 20));
          throw new UploadError('SIZE_MISMATCH', 'cut short', { retryable: true });
        }
        // Never ends by itself: only the abort stops it.
        const stream = new PassThrough();
        options?.signal?.addEventListener('abort', () => stream.destroy(options.signal?.reason));
        return { stream };
      },
    };
    const entries = [
      { file: { key: 'slow-1' }, path: 'a' },
      { file: { key: 'slow-2' }, path: 'b' },
      { file: { key: 'bad' }, path: 'c' },
    ];
    const error = await fetchFiles(storage, entries, context, 3).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'SIZE_MISMATCH', retryable: true });
  });

  it('writes a deterministic zip with the sha256 and size of the bytes written', async () => {
    await mkdir(join(root, 'store'), { recursive: true });
    const files = { 'a.bin': randomBytesOf(300_000), 'b.txt': Buffer.from('text '.repeat(1000)) };
    for (const [name, bytes] of Object.entries(files)) await writeFile(join(root, 'store', name), bytes);
    const storage = createFolderStorage({ root: join(root, 'store') });
    const entries = Object.keys(files).map((name) => ({ file: { key: name }, path: `out/${name}` }));
    const fetched = await fetchFiles(storage, entries, context, 2);
    const first = await archiveFiles(fetched, context, { compression: 'store', level: 1 });
    expect(first.sha256).toBe(await sha256OfFile(first.path));
    const zipped = await readZip(first.path);
    expect(sha256(zipped.get('out/a.bin') as Buffer)).toBe(sha256(files['a.bin']));
    expect(zipped.get('out/b.txt')?.toString()).toBe(files['b.txt'].toString());
    const again = await archiveFiles(fetched, context, { compression: 'store', level: 1 });
    expect(again.sha256).toBe(first.sha256);
    const deflated = await archiveFiles(fetched, context, { compression: 'deflate', level: 6 });
    expect(deflated.size).toBeLessThan(first.size);
    expect((await readZip(deflated.path)).get('out/b.txt')?.toString()).toBe(files['b.txt'].toString());
  });
});

describe('stale temp sweep', () => {
  it('removes only old task-* folders', async () => {
    const workDir = await mkdtemp(join(tmpdir(), 'ncr-sweep-'));
    try {
      for (const name of ['task-old', 'task-new', 'keep-me']) await mkdir(join(workDir, name));
      const old = new Date(Date.now() - 2 * 3600_000);
      await utimes(join(workDir, 'task-old'), old, old);
      await utimes(join(workDir, 'keep-me'), old, old);
      expect(await sweepStaleTaskDirs(workDir, 3600_000)).toBe(1);
      expect((await readdir(workDir)).sort()).toEqual(['keep-me', 'task-new']);
      expect(await sweepStaleTaskDirs(join(workDir, 'missing'), 0)).toBe(0);
    } finally {
      await rm(workDir, { recursive: true, force: true });
    }
  });
});
