import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isTerminal } from '@ncr-upload/core';
import { randomBytesOf, waitFor } from '@ncr-upload/core/testing';
import { startRedisServer } from '@ncr-upload/test-kit/redis-server';
import { afterEach, describe, expect, it } from 'vitest';
import { createSharedPipeline } from './fixtures/pipeline-setup.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

describe('the pipeline on Redis + BullMQ when Redis restarts mid-run', () => {
  it('every job still reaches a terminal state, none stays running, each zip is delivered once', async () => {
    const server = await startRedisServer({ appendOnly: true });
    cleanups.push(() => server.dispose());
    const root = await mkdtemp(join(tmpdir(), 'ncr-redis-restart-'));
    cleanups.push(() => rm(root, { recursive: true, force: true }));
    const setup = {
      redisPort: server.port,
      prefix: `r${randomUUID().slice(0, 8)}`,
      queueName: `q${randomUUID().slice(0, 8)}`,
      storageRoot: join(root, 'storage'),
      destinationRoot: join(root, 'outbox'),
      workDir: join(root, 'work'),
      workerId: 'restart-worker',
      // Deterministic: the worker keeps its jobs' locks through the outage (else a stalled check may run a
      // job a second time beside the first, in the same task folder), and retries outlast it.
      lockDurationMs: 15_000,
    };
    const jobs = Array.from({ length: 60 }, (_, index) => ({
      job_id: `r-${index}`,
      username: 'u',
      campaign: 'c',
    }));
    for (const job of jobs) {
      const folder = join(setup.storageRoot, 'c', 'u', job.job_id);
      await mkdir(folder, { recursive: true });
      await writeFile(join(folder, 'data.bin'), randomBytesOf(256 * 1024));
    }
    const pipeline = createSharedPipeline(setup, {
      retry: { attempts: 6, baseDelayMs: 500, maxDelayMs: 2000 },
    });
    cleanups.push(async () => {
      await pipeline.close({ timeoutMs: 2000 });
      await pipeline.statusStore.close?.();
    });
    const taskIds: string[] = [];
    for (const job of jobs) taskIds.push((await pipeline.submit(job)).task_id);
    await pipeline.start();

    const finished = async () => {
      const records = await Promise.all(taskIds.map((taskId) => pipeline.getTask(taskId)));
      return records.filter((record) => record && isTerminal(record.state)).length;
    };
    await waitFor(async () => (await finished()) >= 10, {
      message: 'first jobs',
      timeoutMs: 30_000,
      intervalMs: 50,
    });
    await server.stop();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    await server.start();

    await waitFor(async () => (await finished()) === jobs.length, {
      message: 'every job terminal after the restart',
      timeoutMs: 90_000,
      intervalMs: 250,
    });
    const records = await Promise.all(taskIds.map((taskId) => pipeline.getTask(taskId)));
    const states = records.map((record) => record?.state);
    expect(
      states.filter((state) => state === 'running' || state === 'queued' || state === 'retrying'),
    ).toEqual([]);
    expect(states.every((state) => state === 'succeeded')).toBe(true);
    const delivered = (await readdir(join(setup.destinationRoot, 'c', 'u'))).sort();
    expect(delivered).toEqual(jobs.map((job) => `${job.job_id}.zip`).sort());
  }, 150_000);
});
