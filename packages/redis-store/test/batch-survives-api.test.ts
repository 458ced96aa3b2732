import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { UploadPipeline } from '@ncr-upload/core';
import { waitFor } from '@ncr-upload/core/testing';
import { startRedisServer } from '@ncr-upload/test-kit/redis-server';
import { afterEach, expect, it } from 'vitest';
import { createSharedPipeline, seedJobs } from './fixtures/pipeline-setup.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

it('a batch runs every chunk even when the API process that accepted it stops at once', async () => {
  const server = await startRedisServer();
  cleanups.push(() => server.stop());
  const root = await mkdtemp(join(tmpdir(), 'ncr-batch-api-'));
  cleanups.push(() => rm(root, { recursive: true, force: true }));
  const prefix = `b${randomUUID().slice(0, 8)}`;
  const name = `q${randomUUID().slice(0, 8)}`;
  const jobs = await seedJobs(
    join(root, 'storage'),
    Array.from({ length: 12 }, (_, index) => `bj-${index}`),
  );
  const make = (workerId: string): UploadPipeline => {
    const pipeline = createSharedPipeline(
      {
        redisPort: server.port,
        prefix,
        queueName: name,
        storageRoot: join(root, 'storage'),
        destinationRoot: join(root, 'outbox'),
        workDir: join(root, `work-${workerId}`),
        workerId,
      },
      { batchSize: 4 },
    );
    cleanups.push(async () => {
      await pipeline.close({ timeoutMs: 2000 });
      await pipeline.statusStore.close?.();
    });
    return pipeline;
  };

  const api = make('api');
  const { batch_id, task_ids } = await api.submitBatch(jobs);
  await api.close({ timeoutMs: 0 });

  const worker = make('worker');
  await worker.start();
  await waitFor(async () => (await worker.getBatch(batch_id))?.done === true, {
    message: 'every chunk of the batch to run',
    timeoutMs: 60_000,
    intervalMs: 100,
  });
  const batch = await worker.getBatch(batch_id);
  expect(batch).toMatchObject({ total: 12, completed: 12, counts: { succeeded: 12 } });
  const records = await Promise.all(task_ids.map((taskId) => worker.getTask(taskId)));
  expect(records.every((record) => record?.worker === 'worker' && record.attempts === 1)).toBe(true);
  expect((await readdir(join(root, 'outbox', 'c', 'u'))).sort()).toEqual(
    jobs.map((job) => `${job.job_id}.zip`).sort(),
  );
});
