import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  createMemoryMonitor,
  createMemoryQueue,
  createMemoryStatusStore,
  type TaskEvent,
  UploadError,
} from '@ncr-upload/core';
import {
  createBuiltinValidator,
  createFolderDestination,
  createFolderStorage,
  createStaticCatalog,
} from '@ncr-upload/core/fs';
import { sha256 } from '@ncr-upload/core/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { flakyDestination, slowStorage } from './support/faults.js';
import { createFixture, type Fixture, sampleFiles } from './support/fixture.js';
import { readZip, sha256OfFile } from './support/zip.js';

const job = (job_id: string, extra: Record<string, unknown> = {}) => ({
  job_id,
  username: 'alice',
  campaign: 'spring',
  ...extra,
});

async function listOutbox(outbox: string): Promise<string[]> {
  const entries = await readdir(outbox, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name).slice(outbox.length + 1))
    .sort();
}

describe('pipeline end to end on the embedded adapters', () => {
  let fixture: Fixture;
  beforeEach(async () => {
    fixture = await createFixture();
  });
  afterEach(async () => {
    await fixture.cleanup();
  });

  it('delivers a zip whose entries equal the stored files, byte for byte', async () => {
    const files = sampleFiles();
    await fixture.seed(job('job-1'), files);
    // Every progress call written (no coalescing), so each stage shows in the events.
    const pipeline = fixture.pipeline({ progressIntervalMs: 0 });
    await pipeline.start();
    const events: TaskEvent[] = [];
    pipeline.subscribe((event) => events.push(event));
    const submitted = await pipeline.submit({ ...job('job-1'), row_id: 123 });
    expect(submitted.created).toBe(true);
    const record = await pipeline.waitFor(submitted.task_id);

    expect(record.state).toBe('succeeded');
    expect(record.attempts).toBe(1);
    expect(record.progress.percent).toBe(100);
    // The terminal path removed the task folder.
    expect(await fixture.tempEntries()).toEqual([]);
    // Job-level totals: the job's 4 files and their bytes, not the last stage's one zip.
    const jobBytes = Object.values(files).reduce((sum, bytes) => sum + bytes.length, 0);
    expect(record.progress).toMatchObject({
      files_done: 4,
      files_total: 4,
      bytes_done: jobBytes,
      bytes_total: jobBytes,
    });
    expect(record.result?.remote_path).toBe('spring/alice/job-1.zip');
    expect(record.result?.files).toBe(4);
    const delivered = join(fixture.outbox, 'spring/alice/job-1.zip');
    expect(await sha256OfFile(delivered)).toBe(record.result?.sha256);
    const entries = await readZip(delivered);
    expect([...entries.keys()].sort()).toEqual(
      Object.keys(files)
        .map((name) => `spring/alice/job-1/${name}`)
        .sort(),
    );
    for (const [name, bytes] of Object.entries(files)) {
      expect(sha256(entries.get(`spring/alice/job-1/${name}`) as Buffer)).toBe(sha256(bytes));
    }
    expect(await listOutbox(fixture.outbox)).toEqual(['spring/alice/job-1.zip']);
    expect(await fixture.tempEntries()).toEqual([]);
    const states = events.filter((event) => event.task_id === submitted.task_id).map((event) => event.state);
    expect(states).toContain('running');
    expect(states.at(-1)).toBe('succeeded');
    const stages = new Set(events.map((event) => event.stage));
    for (const stage of ['fetch', 'archive', 'validate', 'deliver']) expect(stages).toContain(stage);
  });

  it('coalesces stage and progress writes: a job shorter than progressIntervalMs writes running and its end only', async () => {
    const files = sampleFiles();
    await fixture.seed(job('job-quick'), files);
    const pipeline = fixture.pipeline({ progressIntervalMs: 60_000 });
    await pipeline.start();
    const events: TaskEvent[] = [];
    pipeline.subscribe((event) => events.push(event));
    const { task_id } = await pipeline.submit(job('job-quick'));
    const record = await pipeline.waitFor(task_id);
    expect(record.state).toBe('succeeded');
    const mine = events.filter((event) => event.task_id === task_id);
    expect(mine.map((event) => [event.type, event.state])).toEqual([
      ['task.created', 'queued'],
      ['task.updated', 'running'],
      ['task.updated', 'succeeded'],
    ]);
    // The end is flushed with the job's final progress.
    expect(mine.at(-1)?.progress).toMatchObject({ files_done: 4, files_total: 4, percent: 100 });
    // ... and with when each stage began, so the console's timeline shows every stage.
    const stages = record.stages?.map((mark) => mark.stage);
    expect(stages?.[0]).toBe('resolve');
    expect(stages?.at(-1)).toBe('deliver');
    expect(stages).toEqual(expect.arrayContaining(['layout', 'fetch', 'archive', 'validate']));
    const timeline = await pipeline.statusStore.taskTimeline!(task_id);
    expect(timeline.filter((span) => span.state === 'running').map((span) => span.stage)).toEqual(stages);
  });

  it('fails with FILE_NOT_FOUND when a listed file is missing, without retrying', async () => {
    const storage = createFolderStorage({ root: fixture.storageRoot });
    const pipeline = fixture.pipeline({
      storage,
      catalog: createStaticCatalog({ 'job-missing': [{ key: 'nowhere/ghost.bin', size: 10 }] }),
    });
    await pipeline.start();
    const { task_id } = await pipeline.submit(job('job-missing'));
    const record = await pipeline.waitFor(task_id);
    expect(record.state).toBe('failed');
    expect(record.error).toMatchObject({ code: 'FILE_NOT_FOUND', stage: 'fetch', retryable: false });
    expect(record.error?.message).toContain('nowhere/ghost.bin');
    expect(record.attempts).toBe(1);
    expect(await listOutbox(fixture.outbox)).toEqual([]);
    expect(await fixture.tempEntries()).toEqual([]);
  });

  it('fails with NO_FILES when the catalog finds nothing', async () => {
    const pipeline = fixture.pipeline();
    await pipeline.start();
    const { task_id } = await pipeline.submit(job('job-empty'));
    const record = await pipeline.waitFor(task_id);
    expect(record.error).toMatchObject({ code: 'NO_FILES', stage: 'resolve' });
    expect(await fixture.tempEntries()).toEqual([]);
  });

  it('marks a validator rejection as rejected and never retries or delivers it', async () => {
    await fixture.seed(job('job-bad'), sampleFiles());
    const pipeline = fixture.pipeline({ validator: createBuiltinValidator({ allowedExtensions: ['.pdf'] }) });
    await pipeline.start();
    const { task_id } = await pipeline.submit(job('job-bad'));
    const record = await pipeline.waitFor(task_id);
    expect(record.state).toBe('rejected');
    expect(record.attempts).toBe(1);
    expect(record.error).toMatchObject({ code: 'VALIDATION_REJECTED', stage: 'validate', retryable: false });
    expect(record.error?.message).toMatch(/jpg|extension/i);
    expect(await listOutbox(fixture.outbox)).toEqual([]);
    expect(await fixture.tempEntries()).toEqual([]);
  });

  it('retries a failing destination with backoff, then fails after the last attempt', async () => {
    await fixture.seed(job('job-flaky'), sampleFiles());
    const destination = flakyDestination(createFolderDestination({ root: fixture.outbox }), 100);
    const pipeline = fixture.pipeline({ destination });
    await pipeline.start();
    const { task_id } = await pipeline.submit(job('job-flaky'));
    const record = await pipeline.waitFor(task_id);
    expect(record.state).toBe('failed');
    expect(record.attempts).toBe(3);
    expect(destination.calls).toBe(3);
    expect(record.error).toMatchObject({ code: 'CONNECTION_ERROR', stage: 'deliver', retryable: true });
    expect(await listOutbox(fixture.outbox)).toEqual([]);
    expect(await fixture.tempEntries()).toEqual([]);
  });

  it('succeeds when the destination recovers before the attempts run out', async () => {
    const files = sampleFiles();
    await fixture.seed(job('job-recovers'), files);
    const destination = flakyDestination(createFolderDestination({ root: fixture.outbox }), 2);
    const pipeline = fixture.pipeline({ destination });
    await pipeline.start();
    const { task_id } = await pipeline.submit(job('job-recovers'));
    const record = await pipeline.waitFor(task_id);
    expect(record.state).toBe('succeeded');
    expect(record.attempts).toBe(3);
    expect(record.error).toBeNull();
    // Every attempt keeps its stage marks; each reached delivery.
    const lastStage = (attempt: number) =>
      record.stages?.filter((mark) => mark.attempt === attempt).at(-1)?.stage;
    expect([lastStage(1), lastStage(2), lastStage(3)]).toEqual(['deliver', 'deliver', 'deliver']);
    const entries = await readZip(join(fixture.outbox, 'spring/alice/job-recovers.zip'));
    expect(sha256(entries.get('spring/alice/job-recovers/front.jpg') as Buffer)).toBe(
      sha256(files['front.jpg']),
    );
    expect(await listOutbox(fixture.outbox)).toEqual(['spring/alice/job-recovers.zip']);
    expect(await fixture.tempEntries()).toEqual([]);
  });

  it('times out a job that runs too long and cleans its temp folder', async () => {
    await fixture.seed(job('job-slow'), sampleFiles());
    const storage = slowStorage(createFolderStorage({ root: fixture.storageRoot }), 20);
    const pipeline = fixture.pipeline({ storage, jobTimeoutMs: 300 });
    await pipeline.start();
    const { task_id } = await pipeline.submit(job('job-slow'));
    const record = await pipeline.waitFor(task_id);
    expect(record.state).toBe('failed');
    expect(record.error).toMatchObject({ code: 'TIMEOUT', stage: 'fetch', retryable: false });
    expect(await listOutbox(fixture.outbox)).toEqual([]);
    expect(await fixture.tempEntries()).toEqual([]);
  });

  it.each([
    { path: 'disk', inMemoryMaxBytes: 0, folders: 1 },
    { path: 'memory (a small job: no task folder at all)', inMemoryMaxBytes: undefined, folders: 0 },
  ])(
    'cancels a running task mid-fetch on the $path path: the signal stops the streams and the temp folder goes',
    async ({ inMemoryMaxBytes, folders }) => {
      await fixture.seed(job('job-cancel'), sampleFiles());
      const storage = slowStorage(createFolderStorage({ root: fixture.storageRoot }), 20);
      const pipeline = fixture.pipeline({
        storage,
        ...(inMemoryMaxBytes === undefined ? {} : { inMemoryMaxBytes }),
      });
      await pipeline.start();
      const { task_id } = await pipeline.submit(job('job-cancel'));
      for (let tries = 0; tries < 500; tries += 1) {
        const current = await pipeline.getTask(task_id);
        if (current?.stage === 'fetch' && current.progress.bytes_done > 0) break;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      expect((await pipeline.getTask(task_id))?.stage).toBe('fetch');
      expect((await fixture.tempEntries()).length).toBe(folders);
      await pipeline.cancel(task_id);
      const record = await pipeline.waitFor(task_id);
      expect(record.state).toBe('cancelled');
      expect(record.error).toMatchObject({ code: 'CANCELLED' });
      expect(await listOutbox(fixture.outbox)).toEqual([]);
      expect(await fixture.tempEntries()).toEqual([]);
      await expect(pipeline.cancel(task_id)).rejects.toMatchObject({ code: 'INVALID_STATE' });
    },
  );

  it('cancels a queued task before it starts', async () => {
    await fixture.seed(job('job-queued'), sampleFiles());
    const pipeline = fixture.pipeline();
    const { task_id } = await pipeline.submit(job('job-queued'));
    const cancelled = await pipeline.cancel(task_id);
    expect(cancelled.state).toBe('cancelled');
    await pipeline.start();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect((await pipeline.getTask(task_id))?.state).toBe('cancelled');
    expect(await listOutbox(fixture.outbox)).toEqual([]);
  });

  it('returns the same task for a duplicate submission while it is active, a new one after', async () => {
    await fixture.seed(job('job-dup'), sampleFiles());
    const pipeline = fixture.pipeline();
    const first = await pipeline.submit(job('job-dup'));
    const second = await pipeline.submit(job('job-dup', { row_id: 7 }));
    expect(second).toEqual({ task_id: first.task_id, state: 'queued', created: false });
    await pipeline.start();
    const record = await pipeline.waitFor(first.task_id);
    expect(record.state).toBe('succeeded');
    expect((await pipeline.queue.counts()).waiting).toBe(0);
    const third = await pipeline.submit(job('job-dup'));
    expect(third.created).toBe(true);
    expect(third.task_id).not.toBe(first.task_id);
    expect((await pipeline.waitFor(third.task_id)).state).toBe('succeeded');
    expect(await listOutbox(fixture.outbox)).toEqual(['spring/alice/job-dup.zip']);
    expect(await fixture.tempEntries()).toEqual([]);
  });

  it('runs a batch in chunks: one bad job and one invalid item never fail their siblings', async () => {
    for (const id of ['b-1', 'b-2', 'b-3', 'b-4']) await fixture.seed(job(id), sampleFiles());
    const pipeline = fixture.pipeline({ batchSize: 2 });
    await pipeline.start();
    const result = await pipeline.submitBatch([
      job('b-1'),
      job('b-2'),
      job('b-missing'),
      { job_id: '', username: 'x' },
      job('b-3'),
      job('b-4'),
    ]);
    expect(result.items).toHaveLength(6);
    const invalid = result.items[3];
    expect(invalid?.task_id).toBeNull();
    expect(invalid?.error?.code).toBe('INVALID_JOB');
    expect(JSON.stringify(invalid?.error?.details)).toMatch(/job_id.*campaign|campaign.*job_id/s);
    expect(result.task_ids).toHaveLength(5);

    let batch = await pipeline.getBatch(result.batch_id);
    for (let tries = 0; !batch?.done && tries < 200; tries += 1) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      batch = await pipeline.getBatch(result.batch_id);
    }
    expect(batch).toMatchObject({ total: 5, completed: 5, percent: 100, done: true });
    expect(batch?.counts).toMatchObject({ succeeded: 4, failed: 1, queued: 0, running: 0 });
    const failed = await pipeline.getTask(result.items[2]?.task_id as string);
    expect(failed?.error?.code).toBe('NO_FILES');
    expect(await listOutbox(fixture.outbox)).toEqual(
      ['b-1', 'b-2', 'b-3', 'b-4'].map((id) => `spring/alice/${id}.zip`),
    );
    expect(await fixture.tempEntries()).toEqual([]);
  });

  it('times out a batch chunk that takes longer than batchTimeoutMs, and still runs the next chunk', async () => {
    for (const id of ['t-1', 't-2']) await fixture.seed(job(id), sampleFiles());
    const storage = createFolderStorage({ root: fixture.storageRoot });
    const slow = slowStorage(storage, 30);
    const pipeline = fixture.pipeline({
      batchSize: 1,
      batchTimeoutMs: 300,
      storage: { open: (file, options) => (file.key.includes('t-1') ? slow : storage).open(file, options) },
      catalog: createStaticCatalog((request) => [{ key: `spring/alice/${request.job_id}/front.jpg` }]),
    });
    await pipeline.start();
    const result = await pipeline.submitBatch([job('t-1'), job('t-2')]);
    let batch = await pipeline.getBatch(result.batch_id);
    for (let tries = 0; !batch?.done && tries < 200; tries += 1) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      batch = await pipeline.getBatch(result.batch_id);
    }
    expect(batch?.counts).toMatchObject({ failed: 1, succeeded: 1 });
    expect((await pipeline.getTask(result.task_ids[0] as string))?.error?.code).toBe('TIMEOUT');
    expect(await fixture.tempEntries()).toEqual([]);
  });

  it('refuses an invalid job naming every bad field', async () => {
    const pipeline = fixture.pipeline();
    const error = await pipeline.submit({ job_id: 5, campaign: '' }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(UploadError);
    expect(error).toMatchObject({ code: 'INVALID_JOB', retryable: false });
    const message = (error as UploadError).message;
    for (const field of ['job_id', 'username', 'campaign']) expect(message).toContain(field);
  });

  it('refuses submissions with a retryable NOT_ACCEPTING while memory is above the threshold', async () => {
    let used = 90;
    const pipeline = fixture.pipeline({
      memoryMonitor: createMemoryMonitor({
        maxMemoryPercent: 80,
        probe: () => ({ total: 100, used, source: 'os' }),
      }),
    });
    await expect(pipeline.submit(job('job-mem'))).rejects.toMatchObject({
      code: 'NOT_ACCEPTING',
      retryable: true,
    });
    await expect(pipeline.submitBatch([job('job-mem')])).rejects.toMatchObject({ code: 'NOT_ACCEPTING' });
    expect(pipeline.memory().accepting_jobs).toBe(false);
    used = 50;
    await expect(pipeline.submit(job('job-mem'))).resolves.toMatchObject({ created: true });
  });

  it('refuses with QUEUE_FULL past maxQueued', async () => {
    const pipeline = fixture.pipeline({ maxQueued: 1 });
    await pipeline.submit(job('q-1'));
    await expect(pipeline.submit(job('q-2'))).rejects.toMatchObject({ code: 'QUEUE_FULL', retryable: true });
  });

  it('delivers the organised folder tree in folder mode', async () => {
    const files = sampleFiles();
    await fixture.seed(job('job-folder'), files);
    const pipeline = fixture.pipeline({ delivery: 'folder' });
    await pipeline.start();
    const { task_id } = await pipeline.submit(job('job-folder'));
    const record = await pipeline.waitFor(task_id);
    expect(record.state).toBe('succeeded');
    expect(record.result?.remote_path).toBe('spring/alice/job-folder');
    const delivered = await listOutbox(fixture.outbox);
    expect(delivered).toEqual(
      Object.keys(files)
        .map((name) => `spring/alice/job-folder/spring/alice/job-folder/${name}`)
        .sort(),
    );
    expect(await fixture.tempEntries()).toEqual([]);
  });

  it('retries a finished failed task as a new task', async () => {
    const pipeline = fixture.pipeline();
    await pipeline.start();
    const { task_id } = await pipeline.submit(job('job-later'));
    expect((await pipeline.waitFor(task_id)).state).toBe('failed');
    await fixture.seed(job('job-later'), sampleFiles());
    const again = await pipeline.retry(task_id);
    expect(again.task_id).not.toBe(task_id);
    expect((await pipeline.waitFor(again.task_id)).state).toBe('succeeded');
    await expect(pipeline.retry(again.task_id)).rejects.toMatchObject({ code: 'INVALID_STATE' });
    await expect(pipeline.retry('nope')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('hands a running task back on shutdown and runs it after a restart with recoverOnStart', async () => {
    const files = sampleFiles();
    await fixture.seed(job('job-restart'), files);
    const statusStore = createMemoryStatusStore();
    const storage = slowStorage(createFolderStorage({ root: fixture.storageRoot }), 20);
    const first = fixture.pipeline({ statusStore, storage });
    await first.start();
    const { task_id } = await first.submit(job('job-restart'));
    for (let tries = 0; tries < 500 && (await first.getTask(task_id))?.stage !== 'fetch'; tries += 1) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await first.close({ timeoutMs: 0 });
    const handedBack = await statusStore.getTask(task_id);
    expect(handedBack).toMatchObject({ state: 'queued', error: { code: 'INTERRUPTED' } });
    expect(await fixture.tempEntries()).toEqual([]);

    const second = fixture.pipeline({ statusStore, recoverOnStart: true });
    await second.start();
    const record = await second.waitFor(task_id);
    expect(record.state).toBe('succeeded');
    expect(record.attempts).toBe(2);
    const entries = await readZip(join(fixture.outbox, 'spring/alice/job-restart.zip'));
    expect(sha256(entries.get('spring/alice/job-restart/front.jpg') as Buffer)).toBe(
      sha256(files['front.jpg']),
    );
    expect(await listOutbox(fixture.outbox)).toEqual(['spring/alice/job-restart.zip']);
  });

  it('a task that ends without success removes the .partial an interrupted delivery left', async () => {
    await fixture.seed(job('job-partial'), sampleFiles());
    const leftover = join(fixture.outbox, 'spring/alice/job-partial.zip.partial');
    await mkdir(join(fixture.outbox, 'spring/alice'), { recursive: true });
    await writeFile(leftover, 'half an upload from a killed worker');
    const pipeline = fixture.pipeline({ validator: createBuiltinValidator({ allowedExtensions: ['.pdf'] }) });
    await pipeline.start();
    const { task_id } = await pipeline.submit(job('job-partial'));
    expect((await pipeline.waitFor(task_id)).state).toBe('rejected');
    expect(await listOutbox(fixture.outbox)).toEqual([]);
  });

  it('a batch chunk timeout stops a task running in another process with TIMEOUT', async () => {
    await fixture.seed(job('remote-slow'), sampleFiles());
    const statusStore = createMemoryStatusStore();
    const queue = createMemoryQueue();
    // The worker process runs the task; the API process coordinates the batch.
    const worker = fixture.pipeline({
      statusStore,
      queue,
      storage: slowStorage(createFolderStorage({ root: fixture.storageRoot }), 30),
    });
    const api = fixture.pipeline({ statusStore, queue, batchTimeoutMs: 400 });
    await worker.start();
    const { task_ids } = await api.submitBatch([job('remote-slow')]);
    const record = await api.waitFor(task_ids[0] as string, { timeoutMs: 30_000 });
    expect(record.state).toBe('failed');
    expect(record.error).toMatchObject({ code: 'TIMEOUT' });
    expect(await listOutbox(fixture.outbox)).toEqual([]);
    expect(await fixture.tempEntries()).toEqual([]);
  });

  it('refuses numeric options that cannot work, naming each', () => {
    const error = (() => {
      try {
        fixture.pipeline({ jobTimeoutMs: 30 * 86_400_000, concurrency: 0, compressionLevel: 12 });
      } catch (caught) {
        return caught;
      }
      return null;
    })();
    expect(error).toMatchObject({ code: 'CONFIG_INVALID' });
    const message = (error as Error).message;
    for (const name of ['jobTimeoutMs', 'concurrency', 'compressionLevel']) expect(message).toContain(name);
  });
});
