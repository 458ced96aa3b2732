import { describe, expect, it } from 'vitest';
import { isUploadError } from '../src/errors.js';
import { createMemoryQueue } from '../src/memory-queue.js';
import type { QueueItem } from '../src/ports/job-queue.js';
import { settle, uniqueId, waitFor } from '../src/testing/helpers.js';
import { testJobQueue } from '../src/testing/job-queue-contract.js';

testJobQueue({ name: 'memory', create: async () => createMemoryQueue() });
testJobQueue({
  name: 'memory, concurrency set at creation',
  create: async () => createMemoryQueue({ concurrency: 1 }),
});

const item = (priority?: number): QueueItem => ({
  task_id: uniqueId('task'),
  ...(priority === undefined ? {} : { priority }),
});

function errorCode(action: () => unknown): string | undefined {
  try {
    action();
  } catch (error) {
    return isUploadError(error) ? error.code : String(error);
  }
  return undefined;
}

describe('createMemoryQueue', () => {
  it('runs higher priorities first and equal priorities in order', async () => {
    const queue = createMemoryQueue();
    const items = [item(), item(0), item(5), item(), item(5), item(-1), item(1)];
    for (const next of items) await queue.add(next);
    const order: string[] = [];
    queue.process(
      async (next) => {
        order.push(next.task_id);
      },
      { concurrency: 1 },
    );
    await waitFor(() => order.length === items.length);
    const expected = [2, 4, 6, 0, 1, 3, 5].map((index) => items[index]!.task_id);
    expect(order).toEqual(expected);
    await queue.close();
  });

  it('takes more items at once after setConcurrency raises the limit', async () => {
    const queue = createMemoryQueue();
    const release: (() => void)[] = [];
    let running = 0;
    queue.process(
      async () => {
        running += 1;
        await new Promise<void>((resolve) => release.push(resolve));
        running -= 1;
      },
      { concurrency: 1 },
    );
    for (let index = 0; index < 4; index += 1) await queue.add(item());
    await waitFor(() => running === 1);
    await settle();
    expect(running).toBe(1);
    queue.setConcurrency!(3);
    await waitFor(() => running === 3);
    expect((await queue.counts()).workers).toEqual([
      expect.objectContaining({ active: 3, concurrency: 3, last_job_at: expect.any(String) }),
    ]);
    for (const open of release.splice(0)) open();
    await waitFor(() => release.length === 1);
    release[0]!();
    await waitFor(async () => (await queue.counts()).active === 0);
    await queue.close();
  });

  it('reports no workers before process() and one worker after', async () => {
    const queue = createMemoryQueue({ workerId: 'worker-a' });
    expect((await queue.counts()).workers).toEqual([]);
    queue.process(async () => {}, { concurrency: 2 });
    expect((await queue.counts()).workers).toEqual([
      { id: 'worker-a', active: 0, concurrency: 2, last_job_at: null },
    ]);
    await queue.close();
  });

  it('drops waiting items on close and refuses new ones', async () => {
    const queue = createMemoryQueue();
    const seen: string[] = [];
    let releaseFirst = () => {};
    queue.process(
      async (next) => {
        seen.push(next.task_id);
        if (seen.length === 1) await new Promise<void>((resolve) => (releaseFirst = resolve));
      },
      { concurrency: 1 },
    );
    const first = item();
    await queue.add(first);
    await queue.add(item());
    await waitFor(() => seen.length === 1);
    const closing = queue.close({ timeoutMs: 10_000 });
    expect(queue.close()).toBe(closing);
    expect((await queue.counts()).waiting).toBe(0);
    releaseFirst();
    await closing;
    await settle();
    expect(seen).toEqual([first.task_id]);
    await expect(queue.add(item())).rejects.toMatchObject({ code: 'NOT_ACCEPTING' });
    await expect(queue.ping!()).rejects.toMatchObject({ code: 'NOT_ACCEPTING' });
  });

  it('does not start items while paused before process(), until resumed', async () => {
    const queue = createMemoryQueue();
    const seen: string[] = [];
    await queue.pause();
    await queue.add(item());
    queue.process(
      async (next) => {
        seen.push(next.task_id);
      },
      { concurrency: 1 },
    );
    await settle();
    expect(seen).toEqual([]);
    await queue.resume();
    await waitFor(() => seen.length === 1);
    await queue.close();
  });

  it('leaves no unhandled rejection when a handler throws', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const queue = createMemoryQueue();
      let calls = 0;
      queue.process(
        async () => {
          calls += 1;
          throw new Error('boom');
        },
        { concurrency: 2 },
      );
      for (let index = 0; index < 5; index += 1) await queue.add(item());
      await waitFor(() => calls === 5);
      await settle();
      expect(unhandled).toEqual([]);
      expect(await queue.counts()).toMatchObject({ waiting: 0, active: 0 });
      await queue.close();
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('rejects a bad concurrency and a second process() call', () => {
    expect(errorCode(() => createMemoryQueue({ concurrency: 0 }))).toBe('CONFIG_INVALID');
    const queue = createMemoryQueue();
    expect(errorCode(() => queue.setConcurrency!(1.5))).toBe('CONFIG_INVALID');
    queue.process(async () => {}, { concurrency: 1 });
    expect(errorCode(() => queue.process(async () => {}, { concurrency: 1 }))).toBe('INVALID_STATE');
  });
});
