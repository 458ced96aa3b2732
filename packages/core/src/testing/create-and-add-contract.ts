import { afterEach, describe, expect, it } from 'vitest';
import type { JobQueue, QueueItem } from '../ports/job-queue.js';
import type { StatusStore } from '../ports/status-store.js';
import { makeJob, makeTask, settle, waitFor } from './helpers.js';

export interface CreateAndAddContractOptions {
  /** Shown in the describe block. */
  name: string;
  /**
   * A fresh, empty queue (not yet processing) with `createAndAdd`, and a status
   * store it creates tasks in with one round trip. `close` releases both.
   */
  create: () => Promise<{ queue: JobQueue; store: StatusStore; close: () => Promise<void> }>;
}

/** Consume `queue` until one item ran, then a moment more: the task ids it ran. */
async function runOnce(queue: JobQueue): Promise<string[]> {
  const runs: string[] = [];
  queue.process(
    async (item: QueueItem) => {
      runs.push(item.task_id);
    },
    { concurrency: 1 },
  );
  await waitFor(() => runs.length === 1, { message: 'the item did not run' });
  await settle();
  return runs;
}

/**
 * The behaviour of the optional `JobQueue.createAndAdd` with a store it can
 * do it with: the task and its item are both there, the item runs once, and
 * a job already held by an active task leaves no second item. Call it at the
 * top level of a test file.
 */
export function testCreateAndAdd(options: CreateAndAddContractOptions): void {
  describe(`JobQueue.createAndAdd contract: ${options.name}`, () => {
    let close: (() => Promise<void>) | undefined;
    afterEach(async () => {
      await close?.();
      close = undefined;
    });
    const setup = async () => {
      const made = await options.create();
      close = made.close;
      if (!made.queue.createAndAdd) throw new Error('The queue has no createAndAdd.');
      return { ...made, createAndAdd: made.queue.createAndAdd.bind(made.queue) };
    };

    it('creates the task and queues its item: the item runs once', async () => {
      const { queue, store, createAndAdd } = await setup();
      const record = makeTask();
      const result = await createAndAdd(store, record, { task_id: record.task_id });
      expect(result).toMatchObject({ created: true, record: { task_id: record.task_id, state: 'queued' } });
      expect(await store.getTask(record.task_id)).toMatchObject({ task_id: record.task_id, state: 'queued' });
      expect((await queue.counts()).waiting).toBe(1);
      expect(await runOnce(queue)).toEqual([record.task_id]);
    });

    it('returns the active task that holds the job, and queues nothing for the new record', async () => {
      const { queue, store, createAndAdd } = await setup();
      const job = makeJob();
      const first = makeTask({ job, job_id: job.job_id });
      await createAndAdd(store, first, { task_id: first.task_id });
      const second = makeTask({ job, job_id: job.job_id });
      const again = await createAndAdd(store, second, { task_id: second.task_id });
      expect(again).toMatchObject({ created: false, record: { task_id: first.task_id } });
      expect(await store.getTask(second.task_id)).toBeNull();
      expect((await queue.counts()).waiting).toBe(1);
      expect(await runOnce(queue)).toEqual([first.task_id]);
    });
  });
}
