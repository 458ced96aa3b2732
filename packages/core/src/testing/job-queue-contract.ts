import { describe, expect, it } from 'vitest';
import type { JobQueue, QueueHandler, QueueItem } from '../ports/job-queue.js';
import { settle, uniqueId, waitFor } from './helpers.js';

export interface JobQueueContractOptions {
  /** Shown in the describe block. */
  name: string;
  /** A fresh, empty queue for one test, not yet processing. */
  create: () => Promise<JobQueue>;
  /** Called after each test with the queue it used (after `queue.close()`). */
  cleanup?: (queue: JobQueue) => Promise<void>;
}

const makeItem = (): QueueItem => ({ task_id: uniqueId('task') });

/** A handler whose items stay running until the test releases them. */
function gatedHandler() {
  const started: string[] = [];
  const finished: string[] = [];
  const signals = new Map<string, AbortSignal>();
  const gates = new Map<string, () => void>();
  let inFlight = 0;
  let maxInFlight = 0;
  const handler: QueueHandler = async (item, context) => {
    inFlight += 1;
    maxInFlight = Math.max(maxInFlight, inFlight);
    started.push(item.task_id);
    signals.set(item.task_id, context.signal);
    try {
      await new Promise<void>((resolve) => {
        gates.set(item.task_id, resolve);
        context.signal.addEventListener('abort', () => resolve(), { once: true });
      });
    } finally {
      inFlight -= 1;
      finished.push(item.task_id);
    }
  };
  const release = (taskId: string) => {
    const open = gates.get(taskId);
    if (!open) throw new Error(`item ${taskId} is not running`);
    open();
  };
  const waitStarted = (count: number) =>
    waitFor(() => started.length >= count, { message: `expected ${count} items to start` });
  return {
    handler,
    started,
    finished,
    signals,
    release,
    waitStarted,
    inFlight: () => inFlight,
    maxInFlight: () => maxInFlight,
  };
}

/**
 * The behaviour every `JobQueue` must have. Call it at the top level of a test
 * file: `testJobQueue({ name: 'bullmq', create: async () => createBullQueue(...) })`.
 */
export function testJobQueue(options: JobQueueContractOptions): void {
  const withQueue = async (body: (queue: JobQueue) => Promise<void>) => {
    const queue = await options.create();
    try {
      await body(queue);
    } finally {
      await queue.close({ timeoutMs: 2_000 });
      await options.cleanup?.(queue);
    }
  };

  describe(`JobQueue contract: ${options.name}`, () => {
    it('processes every item exactly once, including items added before process()', () =>
      withQueue(async (queue) => {
        const seen = new Map<string, number>();
        const early = Array.from({ length: 10 }, makeItem);
        const late = Array.from({ length: 15 }, makeItem);
        for (const item of early) await queue.add(item);
        queue.process(
          async (item) => {
            seen.set(item.task_id, (seen.get(item.task_id) ?? 0) + 1);
            await new Promise((resolve) => setImmediate(resolve));
          },
          { concurrency: 3 },
        );
        for (const item of late) await queue.add(item);
        const all = [...early, ...late];
        await waitFor(() => all.every((item) => seen.has(item.task_id)), { message: 'not every item ran' });
        await waitFor(async () => {
          const counts = await queue.counts();
          return counts.waiting === 0 && counts.active === 0;
        });
        await settle();
        expect(seen.size).toBe(all.length);
        for (const item of all) expect(seen.get(item.task_id)).toBe(1);
      }));

    it('does not add an item again while it is waiting or running', () =>
      withQueue(async (queue) => {
        const runs = new Map<string, number>();
        let release: () => void = () => {};
        const gate = new Promise<void>((resolve) => {
          release = resolve;
        });
        const first = makeItem();
        const second = makeItem();
        await queue.add(first);
        await queue.add(first);
        await queue.add(second);
        queue.process(
          async (item) => {
            runs.set(item.task_id, (runs.get(item.task_id) ?? 0) + 1);
            if (item.task_id === first.task_id) await gate;
          },
          { concurrency: 2 },
        );
        await waitFor(() => runs.has(first.task_id) && runs.has(second.task_id), {
          message: 'items did not start',
        });
        await queue.add(first);
        await queue.add(second);
        release();
        await waitFor(async () => {
          const counts = await queue.counts();
          return counts.waiting === 0 && counts.active === 0;
        });
        await settle();
        expect(runs.get(first.task_id)).toBe(1);
      }));

    it('passes the item through unchanged', () =>
      withQueue(async (queue) => {
        const received: QueueItem[] = [];
        const item: QueueItem = { task_id: uniqueId('task'), priority: 0 };
        queue.process(
          async (next) => {
            received.push(next);
          },
          { concurrency: 1 },
        );
        await queue.add(item);
        await waitFor(() => received.length === 1);
        expect(received[0]!.task_id).toBe(item.task_id);
        expect(received[0]).toEqual(expect.objectContaining({ task_id: item.task_id }));
      }));

    it('never runs more items at once than its concurrency', () =>
      withQueue(async (queue) => {
        const gate = gatedHandler();
        const items = Array.from({ length: 6 }, makeItem);
        for (const item of items) await queue.add(item);
        queue.process(gate.handler, { concurrency: 2 });
        for (let round = 0; round < items.length; round += 1) {
          const running = Math.min(2, items.length - round);
          await waitFor(() => gate.inFlight() >= running, { message: `expected ${running} items running` });
          await settle(2, 5);
          expect(gate.inFlight()).toBe(running);
          const next = gate.started.find((id) => !gate.finished.includes(id));
          gate.release(next!);
          await waitFor(() => gate.finished.length === round + 1);
        }
        expect(gate.maxInFlight()).toBe(2);
        expect(new Set(gate.started).size).toBe(items.length);
      }));

    it('stops taking items while paused and continues on resume', () =>
      withQueue(async (queue) => {
        const gate = gatedHandler();
        queue.process(gate.handler, { concurrency: 1 });
        const first = makeItem();
        await queue.add(first);
        await gate.waitStarted(1);
        await queue.pause();
        const rest = [makeItem(), makeItem()];
        for (const item of rest) await queue.add(item);
        gate.release(first.task_id);
        await waitFor(() => gate.finished.length === 1);
        await settle();
        expect(gate.started).toEqual([first.task_id]);
        const paused = await queue.counts();
        expect(paused.paused).toBe(true);
        expect(paused.waiting).toBe(2);
        expect(paused.active).toBe(0);

        await queue.resume();
        expect((await queue.counts()).paused).toBe(false);
        await gate.waitStarted(2);
        gate.release(gate.started[1]!);
        await gate.waitStarted(3);
        gate.release(gate.started[2]!);
        await waitFor(() => gate.finished.length === 3);
        expect([...gate.started].sort()).toEqual([first, ...rest].map((item) => item.task_id).sort());
      }));

    it('counts waiting and active items', () =>
      withQueue(async (queue) => {
        const empty = await queue.counts();
        expect(empty).toMatchObject({ waiting: 0, active: 0, paused: false });
        expect(empty.delayed).toBeGreaterThanOrEqual(0);
        const gate = gatedHandler();
        const items = [makeItem(), makeItem(), makeItem()];
        for (const item of items) await queue.add(item);
        queue.process(gate.handler, { concurrency: 1 });
        await gate.waitStarted(1);
        await waitFor(async () => (await queue.counts()).active === 1);
        const busy = await queue.counts();
        expect(busy).toMatchObject({ waiting: 2, active: 1, paused: false });
        if (busy.workers && busy.workers.length > 0) {
          const active = busy.workers.reduce((sum, worker) => sum + worker.active, 0);
          expect(active).toBe(1);
          for (const worker of busy.workers) expect(worker.concurrency).toBeGreaterThanOrEqual(1);
        }
        for (let index = 0; index < items.length; index += 1) {
          await gate.waitStarted(index + 1);
          gate.release(gate.started[index]!);
        }
        await waitFor(async () => {
          const counts = await queue.counts();
          return counts.waiting === 0 && counts.active === 0;
        });
      }));

    it('counts waiting items per priority, highest first (when it implements waitingByPriority)', () =>
      withQueue(async (queue) => {
        if (!queue.waitingByPriority) return;
        expect(await queue.waitingByPriority()).toEqual([]);
        const gate = gatedHandler();
        const running = makeItem();
        await queue.add(running);
        queue.process(gate.handler, { concurrency: 1 });
        await gate.waitStarted(1);
        for (const priority of [5, 0, undefined, -3, 5, 5]) {
          await queue.add({ ...makeItem(), ...(priority === undefined ? {} : { priority }) });
        }
        // The running item is not waiting; an item without a priority counts as priority 0.
        expect(await queue.waitingByPriority()).toEqual([
          { priority: 5, waiting: 3 },
          { priority: 0, waiting: 2 },
          { priority: -3, waiting: 1 },
        ]);
        gate.release(running.task_id);
        for (let index = 1; index <= 6; index += 1) {
          await gate.waitStarted(index + 1);
          gate.release(gate.started[index]!);
        }
        await waitFor(async () => (await queue.waitingByPriority?.())?.length === 0);
      }));

    it('removes a waiting item, but not a running or unknown one', () =>
      withQueue(async (queue) => {
        if (!queue.remove) {
          expect(queue.remove).toBeUndefined();
          return;
        }
        const gate = gatedHandler();
        const [first, second, third] = [makeItem(), makeItem(), makeItem()];
        queue.process(gate.handler, { concurrency: 1 });
        await queue.add(first);
        await gate.waitStarted(1);
        await queue.add(second);
        await queue.add(third);
        expect(await queue.remove(second.task_id)).toBe(true);
        expect(await queue.remove(second.task_id)).toBe(false);
        expect(await queue.remove(first.task_id)).toBe(false);
        expect(await queue.remove(uniqueId('unknown'))).toBe(false);
        expect((await queue.counts()).waiting).toBe(1);
        gate.release(first.task_id);
        await gate.waitStarted(2);
        gate.release(third.task_id);
        await waitFor(() => gate.finished.length === 2);
        await settle();
        expect(gate.started).toEqual([first.task_id, third.task_id]);
      }));

    it('survives a handler that throws', () =>
      withQueue(async (queue) => {
        const done: string[] = [];
        const [bad, good] = [makeItem(), makeItem()];
        queue.process(
          async (item) => {
            if (item.task_id === bad.task_id) throw new Error('handler failure');
            done.push(item.task_id);
          },
          { concurrency: 1 },
        );
        await queue.add(bad);
        await queue.add(good);
        await waitFor(() => done.length === 1);
        expect(done).toEqual([good.task_id]);
      }));

    it('runs an item again when it is added again after its handler threw', () =>
      withQueue(async (queue) => {
        const item = makeItem();
        let runs = 0;
        queue.process(
          async () => {
            runs += 1;
            if (runs === 1) throw new Error('handler failure');
          },
          { concurrency: 1 },
        );
        await queue.add(item);
        await waitFor(() => runs === 1);
        await waitFor(async () => {
          const counts = await queue.counts();
          return counts.waiting === 0 && counts.active === 0;
        });
        await queue.add(item);
        await waitFor(() => runs === 2, { message: 'the item added again did not run' });
      }));

    it('runs an item added with `created: true` once, like any other', () =>
      withQueue(async (queue) => {
        const item = makeItem();
        const runs: string[] = [];
        queue.process(
          async (received) => {
            runs.push(received.task_id);
          },
          { concurrency: 1 },
        );
        await queue.add(item, { created: true });
        await waitFor(() => runs.length === 1);
        await settle();
        expect(runs).toEqual([item.task_id]);
      }));

    it('close waits for active items to finish', () =>
      withQueue(async (queue) => {
        const gate = gatedHandler();
        const item = makeItem();
        queue.process(gate.handler, { concurrency: 1 });
        await queue.add(item);
        await gate.waitStarted(1);
        let closed = false;
        const closing = queue.close({ timeoutMs: 30_000 }).then(() => {
          closed = true;
        });
        await settle();
        expect(closed).toBe(false);
        gate.release(item.task_id);
        await closing;
        expect(gate.finished).toEqual([item.task_id]);
        expect(gate.signals.get(item.task_id)!.aborted).toBe(false);
      }));

    it('close past its timeout aborts the running handler signal', () =>
      withQueue(async (queue) => {
        const gate = gatedHandler();
        const item = makeItem();
        queue.process(gate.handler, { concurrency: 1 });
        await queue.add(item);
        await gate.waitStarted(1);
        await queue.close({ timeoutMs: 100 });
        expect(gate.signals.get(item.task_id)!.aborted).toBe(true);
        await waitFor(() => gate.finished.length === 1, { message: 'the aborted handler did not end' });
      }));

    it('consumer.stop waits for active items, leaves waiting ones queued, and the queue still takes items', () =>
      withQueue(async (queue) => {
        const gate = gatedHandler();
        const [first, second] = [makeItem(), makeItem()];
        const consumer = queue.process(gate.handler, { concurrency: 1 });
        await queue.add(first);
        await gate.waitStarted(1);
        await queue.add(second);
        let stopped = false;
        const stopping = consumer.stop({ timeoutMs: 30_000 }).then(() => {
          stopped = true;
        });
        expect(consumer.stop()).toBe(consumer.stop());
        await settle();
        expect(stopped).toBe(false);
        gate.release(first.task_id);
        await stopping;
        expect(gate.signals.get(first.task_id)!.aborted).toBe(false);
        const third = makeItem();
        await queue.add(third);
        await settle();
        expect(gate.started).toEqual([first.task_id]);
        expect((await queue.counts()).waiting).toBe(2);
      }));

    it('consumer.stop past its timeout aborts the running handler and waits for it to return', () =>
      withQueue(async (queue) => {
        const gate = gatedHandler();
        const item = makeItem();
        const consumer = queue.process(gate.handler, { concurrency: 1 });
        await queue.add(item);
        await gate.waitStarted(1);
        await consumer.stop({ timeoutMs: 100 });
        expect(gate.signals.get(item.task_id)!.aborted).toBe(true);
        expect(gate.finished).toEqual([item.task_id]);
      }));
  });
}
