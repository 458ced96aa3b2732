import { createMemoryQueue, createMemoryStatusStore, type QueueItem } from '@ncr-upload/core';
import { makeTask } from '@ncr-upload/core/testing';
import { describe, expect, it } from 'vitest';
import { advanceBatch, chunkIndexOf } from '../src/batch-runner.js';

describe('advanceBatch', () => {
  it('enqueues one chunk at a time, any number of times, and moves on when a chunk has ended', async () => {
    const store = createMemoryStatusStore();
    const queue = createMemoryQueue();
    const tasks = Array.from({ length: 5 }, () => makeTask({ batch_id: 'b1' }));
    for (const task of tasks) await store.createTask(task);
    await store.createBatch({
      batch_id: 'b1',
      task_ids: tasks.map((task) => task.task_id),
      created_at: new Date().toISOString(),
    });
    const settings = { store, queue, batchSize: 2 };

    expect((await advanceBatch(settings, 'b1'))?.chunk).toBe(0);
    expect((await advanceBatch(settings, 'b1'))?.chunk).toBe(0);
    expect((await queue.counts()).waiting).toBe(2);

    // The first chunk ends (one success, one failure): the next call starts the second chunk.
    await store.updateTask(tasks[0]!.task_id, { state: 'succeeded' });
    expect(
      (await advanceBatch(settings, 'b1', await chunkIndexOf(settings, 'b1', tasks[0]!.task_id)))?.chunk,
    ).toBe(0);
    await store.updateTask(tasks[1]!.task_id, { state: 'failed' });
    const next = await advanceBatch(settings, 'b1', await chunkIndexOf(settings, 'b1', tasks[1]!.task_id));
    expect(next?.chunk).toBe(1);
    expect((await queue.counts()).waiting).toBe(4);

    // A cancelled task is not enqueued; a chunk of only ended tasks is skipped.
    await store.updateTask(tasks[4]!.task_id, { cancel_requested: true });
    for (const task of tasks.slice(2, 4)) await store.updateTask(task.task_id, { state: 'succeeded' });
    expect((await advanceBatch(settings, 'b1', 1))?.chunk).toBe(2);
    expect((await queue.counts()).waiting).toBe(4);
    await store.updateTask(tasks[4]!.task_id, { state: 'cancelled' });
    expect(await advanceBatch(settings, 'b1', 2)).toBeNull();
    expect(await advanceBatch(settings, 'missing')).toBeNull();

    const ran: QueueItem[] = [];
    queue.process(
      async (item) => {
        ran.push(item);
      },
      { concurrency: 2 },
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(ran.map((item) => item.task_id).sort()).toEqual(
      tasks
        .slice(0, 4)
        .map((task) => task.task_id)
        .sort(),
    );
    await queue.close();
  });
});
