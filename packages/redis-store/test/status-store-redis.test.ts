import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { emptyCounts, type StatusStore, type TaskEvent } from '@ncr-upload/core';
import { makeJob, makeTask, waitFor } from '@ncr-upload/core/testing';
import { startRedisServer } from '@ncr-upload/test-kit/redis-server';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createRedisStatusStore } from '../src/index.js';
import { walkTasks } from './fixtures/walk-tasks.js';

const writerFile = fileURLToPath(new URL('./fixtures/store-writer.ts', import.meta.url));
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

let server: Awaited<ReturnType<typeof startRedisServer>>;
let inspector: Redis;
const stores: StatusStore[] = [];

beforeAll(async () => {
  server = await startRedisServer();
  inspector = new Redis(server.url);
});
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close?.();
});
afterAll(async () => {
  await inspector?.quit();
  await server?.dispose();
});

const open = (prefix: string, retentionMs?: number) => {
  const store = createRedisStatusStore({ url: server.url, prefix, retentionMs });
  stores.push(store);
  return store;
};

/** Create `count` tasks in one batch; returns their ids. */
async function seedBatch(store: StatusStore, count: number): Promise<{ batchId: string; taskIds: string[] }> {
  const batchId = `batch-${randomUUID()}`;
  const taskIds: string[] = [];
  for (let index = 0; index < count; index++) {
    const { record } = await store.createTask(makeTask({ batch_id: batchId }));
    taskIds.push(record.task_id);
  }
  await store.createBatch({ batch_id: batchId, task_ids: taskIds, created_at: new Date().toISOString() });
  return { batchId, taskIds };
}

/** The batch counts agree with the tasks' actual states, and so do the state indexes. */
async function expectConsistent(store: StatusStore, prefix: string, batchId: string, taskIds: string[]) {
  const expected = emptyCounts();
  for (const id of taskIds) {
    const task = await store.getTask(id);
    expect(task).not.toBeNull();
    expected[task!.state] += 1;
    expect(await inspector.zscore(`{${prefix}}:idx:state:${task!.state}`, id)).not.toBeNull();
  }
  const batch = await store.getBatch(batchId);
  expect(batch?.counts).toEqual(expected);
  expect(batch?.completed).toBe(taskIds.length - expected.queued - expected.running - expected.retrying);
  expect(batch?.done).toBe(batch?.completed === taskIds.length);
}

describe('Redis status store', () => {
  it('keeps batch counts exact with 3 clients writing the same tasks at once', async () => {
    const prefix = `t-${randomUUID()}`;
    const writers = [open(prefix), open(prefix), open(prefix)];
    const { batchId, taskIds } = await seedBatch(writers[0]!, 20);
    await Promise.all(
      writers.map((store, index) =>
        walkTasks(store, taskIds, (['succeeded', 'failed', 'rejected'] as const)[index]!),
      ),
    );
    await expectConsistent(writers[0]!, prefix, batchId, taskIds);
    expect((await writers[1]!.getBatch(batchId))?.done).toBe(true);
    expect(await writers[2]!.listActive()).toEqual([]);
  });

  it('keeps batch counts exact with 3 OS processes writing the same tasks at once', async () => {
    const prefix = `t-${randomUUID()}`;
    const store = open(prefix);
    const { batchId, taskIds } = await seedBatch(store, 20);
    const exits = [0, 1, 2].map(
      (writer) =>
        new Promise<number | null>((resolve) => {
          const child = spawn(process.execPath, ['--import', 'tsx', writerFile], {
            cwd: repoRoot,
            env: {
              ...process.env,
              REDIS_URL: server.url,
              PREFIX: prefix,
              TASK_IDS: taskIds.join(','),
              WRITER: String(writer),
            },
            stdio: ['ignore', 'ignore', 'inherit'],
          });
          child.once('exit', resolve);
        }),
    );
    expect(await Promise.all(exits)).toEqual([0, 0, 0]);
    await expectConsistent(store, prefix, batchId, taskIds);
    expect((await store.getBatch(batchId))?.done).toBe(true);
  }, 60_000);

  it('keeps every key of a deployment under its hash-tagged prefix', async () => {
    const prefix = `t-${randomUUID()}`;
    const store = open(prefix);
    const { taskIds } = await seedBatch(store, 3);
    await store.updateTask(taskIds[0]!, { state: 'succeeded' });
    const keys = await inspector.keys(`*${prefix}*`);
    expect(keys.length).toBeGreaterThan(5);
    for (const key of keys) expect(key.startsWith(`{${prefix}}:`)).toBe(true);
  });

  it('keeps task records until the sweep removes them from every index after retention', async () => {
    const prefix = `t-${randomUUID()}`;
    const store = open(prefix, 200);
    const job = makeJob();
    const { record: first } = await store.createTask(makeTask({ job, job_id: job.job_id }));
    expect(await inspector.pttl(`{${prefix}}:task:${first.task_id}`)).toBe(-1);
    await store.updateTask(first.task_id, { state: 'succeeded', finished_at: new Date().toISOString() });
    // No TTL once finished either: the sweep needs the record to find its index entries.
    expect(await inspector.pttl(`{${prefix}}:task:${first.task_id}`)).toBe(-1);
    expect(await store.findActiveByJob(job)).toBeNull();
    expect((await store.listTasks({ username: job.username })).map((task) => task.task_id)).toEqual([
      first.task_id,
    ]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    // A create (or a write that finishes a task) sweeps tasks whose retention ended.
    const { record: second } = await store.createTask(makeTask({ job, job_id: job.job_id }));
    expect(second.task_id).not.toBe(first.task_id);
    expect(await store.getTask(first.task_id)).toBeNull();
    expect((await store.listTasks({ username: job.username })).map((task) => task.task_id)).toEqual([
      second.task_id,
    ]);
    expect(await inspector.zscore(`{${prefix}}:idx:campaign:${job.campaign}`, first.task_id)).toBeNull();
  });

  it('sweeps tasks whose retention ended when another task finishes, and not on its other writes', async () => {
    const prefix = `t-${randomUUID()}`;
    const store = open(prefix, 200);
    const { record: first } = await store.createTask(makeTask());
    const { record: second } = await store.createTask(makeTask());
    await store.updateTask(first.task_id, { state: 'succeeded', finished_at: new Date().toISOString() });
    await new Promise((resolve) => setTimeout(resolve, 300));
    // Not finishing: the ended task stays until a write that finishes one (or a create).
    await store.startAttempt?.(second.task_id, { worker: 'host:1' });
    await store.updateTask(second.task_id, { stage: 'fetch' });
    expect(await inspector.exists(`{${prefix}}:task:${first.task_id}`)).toBe(1);
    await store.updateTask(second.task_id, { state: 'failed', finished_at: new Date().toISOString() });
    expect(await store.getTask(first.task_id)).toBeNull();
    expect(await inspector.zscore(`{${prefix}}:tasks`, first.task_id)).toBeNull();
    expect(await inspector.zscore(`{${prefix}}:cx:expire`, first.task_id)).toBeNull();
    expect(await inspector.exists(`{${prefix}}:cx:last:${first.task_id}`)).toBe(0);
  });

  it('delivers events written by another process (another client) to a subscriber', async () => {
    const prefix = `t-${randomUUID()}`;
    const api = open(prefix);
    const worker = open(prefix);
    const events: TaskEvent[] = [];
    api.subscribe?.((event) => events.push(event));
    // The subscription is live once a PUBLISH reaches it; keep writing until one does.
    const { record } = await worker.createTask(makeTask());
    await waitFor(async () => {
      await worker.updateTask(record.task_id, { stage: 'fetch' });
      return events.some((event) => event.task_id === record.task_id);
    });
    await worker.updateTask(record.task_id, { state: 'running', stage: 'archive' });
    await waitFor(() => events.some((event) => event.state === 'running' && event.stage === 'archive'));
    expect(events.every((event) => event.type === 'task.updated' || event.type === 'task.created')).toBe(
      true,
    );
  });

  it('never closes an injected client, and closes its own', async () => {
    const injected = new Redis(server.url);
    const store = createRedisStatusStore({ client: injected, prefix: `t-${randomUUID()}` });
    store.subscribe?.(() => undefined);
    await store.ping?.();
    await store.close?.();
    expect(await injected.ping()).toBe('PONG');
    await injected.quit();
    const own = createRedisStatusStore({ url: server.url, prefix: `t-${randomUUID()}` });
    await own.ping?.();
    const before = Number((await inspector.info('clients')).match(/connected_clients:(\d+)/)?.[1]);
    await own.close?.();
    await waitFor(
      async () => Number((await inspector.info('clients')).match(/connected_clients:(\d+)/)?.[1]) < before,
    );
  });

  it('rejects a bad configuration with a typed error', () => {
    expect(() => createRedisStatusStore({})).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    expect(() => createRedisStatusStore({ url: server.url, prefix: 'a{b}' })).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID' }),
    );
  });
});
