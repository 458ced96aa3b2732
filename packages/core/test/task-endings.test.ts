import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Catalog, createUploadPipeline, type JobOutcome, type UploadPipeline } from '@ncr-upload/core';
import { createBuiltinValidator, createFolderStorage, createPrefixCatalog } from '@ncr-upload/core/fs';
import { createSftpDestination, type SftpDestination } from '@ncr-upload/core/sftp';
import { freePort } from '@ncr-upload/test-kit/redis-server';
import { type SshdServer, startSshd } from '@ncr-upload/test-kit/sshd';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { listFiles, sftpOptions } from './sftp-helpers.js';

/**
 * Every ending of a task goes through one path, against the real SFTP server:
 * the `.partial` a killed delivery left is removed, the task folder is removed,
 * the catalog hears of the outcome, then the terminal state is written.
 */
describe('task endings (real SFTP server)', () => {
  let sshd: SshdServer;
  let dir: string;
  const cleanups: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    sshd = await startSshd();
  });
  afterAll(async () => {
    await sshd?.stop();
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function build(destinationPort = sshd.port) {
    dir = await mkdtemp(join(tmpdir(), 'task-endings-'));
    const storage = createFolderStorage({ root: join(dir, 'storage') });
    const reported: (JobOutcome & { job_id: string })[] = [];
    const prefix = createPrefixCatalog({ storage });
    const catalog: Catalog = {
      listFiles: (job, options) => prefix.listFiles(job, options),
      async reportResult(job, outcome) {
        reported.push({ ...outcome, job_id: job.job_id });
      },
    };
    const destination: SftpDestination = createSftpDestination(
      sftpOptions(sshd, { port: destinationPort, remoteDir: '.', readyTimeoutMs: 2000 }),
    );
    const pipeline: UploadPipeline = createUploadPipeline({
      catalog,
      storage,
      validator: createBuiltinValidator(),
      destination,
      workDir: join(dir, 'work'),
      retry: { attempts: 2, baseDelayMs: 10, jitter: false },
      maxMemoryPercent: 100,
    });
    cleanups.push(async () => {
      await pipeline.close({ timeoutMs: 1000 });
      await destination.close?.();
      await rm(dir, { recursive: true, force: true });
    });
    return { pipeline, reported, work: join(dir, 'work') };
  }

  async function seed(jobId: string) {
    const folder = join(dir, 'storage', 'c', 'u', jobId);
    await mkdir(folder, { recursive: true });
    await writeFile(join(folder, 'a.txt'), `content of ${jobId}`);
    return { job_id: jobId, username: 'u', campaign: 'c' };
  }

  it('a task the queue gave up on leaves no .partial on the server and no task folder', async () => {
    const { pipeline, reported, work } = await build();
    const job = await seed(`give-up-${process.pid}`);
    const { task_id } = await pipeline.submit(job);
    // What a worker killed mid-delivery leaves: the task running at attempt 1, a 4 MB
    // `.partial` on the SFTP server and its task folder in WORK_DIR.
    await pipeline.statusStore.updateTask(task_id, {
      state: 'running',
      stage: 'deliver',
      attempts: 1,
      worker: 'killed',
    });
    await mkdir(join(sshd.root, 'c', 'u'), { recursive: true });
    await writeFile(join(sshd.root, 'c', 'u', `${job.job_id}.zip.partial`), Buffer.alloc(4 * 1024 * 1024));
    await mkdir(join(work, `task-${task_id}`, 'files'), { recursive: true });
    await writeFile(join(work, `task-${task_id}`, 'archive.zip'), 'half a zip');

    // What BullMQ's 'failed' event (too many stalls) calls through the consumer's onFailed.
    await pipeline.worker.giveUp(task_id, new Error('job stalled more than allowable limit'));

    const record = await pipeline.getTask(task_id);
    expect(record?.state).toBe('failed');
    expect(record?.error?.code).toBe('WORKER_CRASHED');
    expect((await listFiles(sshd.root)).filter((name) => name.includes(job.job_id))).toEqual([]);
    expect(await readdir(work)).toEqual([]);
    expect(reported).toEqual([
      expect.objectContaining({ job_id: job.job_id, task_id, state: 'failed', result: null }),
    ]);
    expect(reported[0]?.error?.code).toBe('WORKER_CRASHED');
  });

  it('a task cancelled before it started reaches the catalog write-back', async () => {
    const { pipeline, reported } = await build();
    const job = await seed(`cancel-early-${process.pid}`);
    const { task_id } = await pipeline.submit(job);
    const record = await pipeline.cancel(task_id);
    expect(record.state).toBe('cancelled');
    expect(reported).toEqual([expect.objectContaining({ task_id, state: 'cancelled' })]);
  });

  it('a failed task never promises a retry that will not come', async () => {
    const closed = await freePort();
    const { pipeline, reported } = await build(closed);
    await pipeline.start();
    const job = await seed(`refused-${process.pid}`);
    const { task_id } = await pipeline.submit(job);
    const record = await pipeline.waitFor(task_id, { timeoutMs: 30_000 });
    expect(record.state).toBe('failed');
    expect(record.attempts).toBe(2);
    expect(record.error?.code).toBe('CONNECTION_ERROR');
    expect(record.error?.message).toMatch(/^Could not connect to the SFTP server/);
    expect(record.error?.message).not.toMatch(/retried/);
    expect(record.error?.message).toMatch(
      /Gave up after 2 attempts; retry the task once the cause is fixed\.$/,
    );
    expect(reported[0]?.error?.message).toBe(record.error?.message);
  });
});
