import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createUploadPipeline } from '@ncr-upload/core';
import {
  createBuiltinValidator,
  createFolderDestination,
  createFolderStorage,
  createPrefixCatalog,
} from '@ncr-upload/core/fs';
import { makeTask, testJobQueue, testStatusStore, waitFor } from '@ncr-upload/core/testing';
import { type RedisClusterHandle, startRedisCluster } from '@ncr-upload/test-kit/redis-cluster';
import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBullmqQueue, createRedisStatusStore } from '../src/index.js';
import { seedJobs } from './fixtures/pipeline-setup.js';

let cluster: RedisClusterHandle;
let shared: Cluster;

beforeAll(async () => {
  cluster = await startRedisCluster({ nodes: 3 });
  shared = new Cluster(cluster.nodes);
}, 60_000);

afterAll(async () => {
  await shared?.quit().catch(() => shared.disconnect());
  await cluster?.stop();
});

testStatusStore({
  name: 'redis cluster (injected Cluster)',
  create: async () => createRedisStatusStore({ client: shared, prefix: `t-${randomUUID()}` }),
  startAttempt: true,
  cleanup: async () => {
    await shared.ping();
  },
});

testJobQueue({
  name: 'bullmq on a redis cluster (injected Cluster, plain prefix)',
  create: async () =>
    createBullmqQueue({
      connection: shared,
      name: `q${randomUUID()}`,
      prefix: `p${randomUUID().slice(0, 8)}`,
      stalledIntervalMs: 1000,
      lockDurationMs: 2000,
      heartbeatMs: 500,
    }),
});

describe('redis cluster', () => {
  it('spreads keys over several nodes: the store and queue keys of one prefix share a slot', async () => {
    const masters = shared.nodes('master');
    expect(masters.length).toBe(3);
    const prefix = `s-${randomUUID()}`;
    const slot = await shared.cluster('KEYSLOT', `{${prefix}}:tasks`);
    expect(await shared.cluster('KEYSLOT', `{${prefix}}:task:x`)).toBe(slot);
    const plain = createBullmqQueue({ connection: shared, name: 'n', prefix });
    try {
      expect(plain.queue.opts.prefix).toBe(`{${prefix}}`);
    } finally {
      await plain.close();
    }
  });

  it('delivers events of another process over pub/sub on the cluster', async () => {
    const prefix = `e-${randomUUID()}`;
    const listener = createRedisStatusStore({ client: shared, prefix });
    const other = new Cluster(cluster.nodes);
    const writer = createRedisStatusStore({ client: other, prefix });
    const seen: string[] = [];
    try {
      listener.subscribe?.((event) => seen.push(`${event.type}:${event.task_id}`));
      // The subscription is set up asynchronously: write until an event arrives.
      await waitFor(
        async () => {
          await writer.createTask(makeTask());
          await new Promise((resolve) => setTimeout(resolve, 100));
          return seen.some((entry) => entry.startsWith('task.created:'));
        },
        { message: 'an event published by another client', timeoutMs: 10_000, intervalMs: 50 },
      );
    } finally {
      await listener.close?.();
      await writer.close?.();
      await other.quit().catch(() => other.disconnect());
    }
  });

  it('runs a batch end to end with the status store and the queue on the cluster', async () => {
    const root = await mkdtemp(join(tmpdir(), 'ncr-cluster-'));
    const prefix = `c${randomUUID().slice(0, 8)}`;
    const jobs = await seedJobs(
      join(root, 'storage'),
      Array.from({ length: 6 }, (_, index) => `cj-${index}`),
    );
    const storage = createFolderStorage({ root: join(root, 'storage') });
    const statusStore = createRedisStatusStore({ client: shared, prefix });
    const events: string[] = [];
    const unsubscribe = statusStore.subscribe?.((event) => events.push(`${event.task_id}:${event.state}`));
    const pipeline = createUploadPipeline({
      storage,
      catalog: createPrefixCatalog({ storage }),
      validator: createBuiltinValidator(),
      destination: createFolderDestination({ root: join(root, 'outbox') }),
      statusStore,
      queue: createBullmqQueue({ connection: shared, name: `q${randomUUID().slice(0, 8)}`, prefix }),
      workDir: join(root, 'work'),
      workerId: 'cluster-worker',
      batchSize: 4,
      maxMemoryPercent: 100,
    });
    try {
      await pipeline.start();
      const { batch_id, task_ids } = await pipeline.submitBatch(jobs);
      await waitFor(async () => (await pipeline.getBatch(batch_id))?.done === true, {
        message: 'the batch to finish on the cluster',
        timeoutMs: 60_000,
        intervalMs: 100,
      });
      expect(await pipeline.getBatch(batch_id)).toMatchObject({
        total: 6,
        completed: 6,
        counts: { succeeded: 6 },
      });
      const records = await Promise.all(task_ids.map((taskId) => pipeline.getTask(taskId)));
      expect(records.map((record) => record?.state)).toEqual(task_ids.map(() => 'succeeded'));
      expect((await readdir(join(root, 'outbox', 'c', 'u'))).sort()).toEqual(
        jobs.map((job) => `${job.job_id}.zip`).sort(),
      );
      for (const taskId of task_ids) expect(events).toContain(`${taskId}:succeeded`);
    } finally {
      unsubscribe?.();
      await pipeline.close({ timeoutMs: 2000 });
      await statusStore.close?.();
      await rm(root, { recursive: true, force: true });
    }
  }, 90_000);
});
