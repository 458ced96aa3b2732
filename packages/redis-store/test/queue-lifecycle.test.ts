import { randomUUID } from 'node:crypto';
import type { QueueItem } from '@ncr-upload/core';
import { waitFor } from '@ncr-upload/core/testing';
import { startRedisServer } from '@ncr-upload/test-kit/redis-server';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type BullmqQueueOptions, createBullmqQueue } from '../src/index.js';
import { closeMidJobAndRerun } from './fixtures/hand-back.js';

let server: Awaited<ReturnType<typeof startRedisServer>>;
let inspector: Redis;
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  server = await startRedisServer();
  inspector = new Redis(server.url);
  await inspector.client('SETNAME', 'inspector');
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});
afterAll(async () => {
  await inspector?.quit();
  await server?.dispose();
});

const item = (): QueueItem => ({ task_id: `task-${randomUUID()}` });
const clientCount = async () =>
  String(await inspector.client('LIST'))
    .trim()
    .split('\n').length;

function open(options: Partial<BullmqQueueOptions> & { name: string }) {
  const queue = createBullmqQueue({
    connection: { host: '127.0.0.1', port: server.port },
    stalledIntervalMs: 300,
    lockDurationMs: 1000,
    heartbeatMs: 200,
    ...options,
  });
  cleanups.push(() => queue.close({ timeoutMs: 1000 }));
  return queue;
}

describe('BullMQ queue lifecycle', () => {
  it('close past its timeout hands back a job whose handler rejects on abort: never failed, run again elsewhere', async () => {
    const name = `q${randomUUID()}`;
    const failed: string[] = [];
    const first = open({ name, onFailed: (entry) => failed.push(entry.task_id) });
    const second = open({ name });
    // A handler that gives up by rejecting with the abort reason (signal.throwIfAborted() style).
    const { job, runs } = await closeMidJobAndRerun(first, () => second, { onAbort: 'reject' });
    expect(runs).toEqual([`first ${job.task_id}`, `second ${job.task_id}`]);
    expect(failed).toEqual([]);
    expect(await second.queue.getFailedCount()).toBe(0);
  }, 60_000);

  it('hands a job back with an injected client too (the worker connection is a duplicate it closes)', async () => {
    const name = `q${randomUUID()}`;
    const shared = new Redis(server.url);
    cleanups.push(() => shared.quit());
    const first = createBullmqQueue({
      connection: shared,
      name,
      stalledIntervalMs: 300,
      lockDurationMs: 1000,
    });
    const { job, runs } = await closeMidJobAndRerun(first, () => open({ name }), {
      onAbort: 'resolve',
      afterClose: async () => {
        expect(await shared.ping()).toBe('PONG');
      },
    });
    expect(runs).toEqual([`first ${job.task_id}`, `second ${job.task_id}`]);
  }, 60_000);

  it('pause() before process() then resume() consumes; pause() stops taking new jobs, running ones finish', async () => {
    const queue = open({ name: `q${randomUUID()}` });
    await queue.pause();
    const first = item();
    await queue.add(first);
    const done: string[] = [];
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    queue.process(
      async (entry) => {
        if (entry.task_id === first.task_id) await gate;
        done.push(entry.task_id);
      },
      { concurrency: 2 },
    );
    expect(queue.isConsuming()).toBe(false);
    expect((await queue.counts()).paused).toBe(true);
    await queue.resume();
    await waitFor(async () => (await queue.counts()).active === 1, { message: 'the first job to start' });
    await queue.pause();
    const second = item();
    await queue.add(second);
    release();
    await waitFor(() => done.includes(first.task_id), { message: 'the running job to finish while paused' });
    // A fetch already under way when pause() ran may take the second job for a moment; it gives it
    // back untouched (and the first job is still being moved to completed right after its handler).
    await waitFor(
      async () => {
        const counts = await queue.counts();
        return counts.waiting === 1 && counts.active === 0 && counts.paused;
      },
      { message: 'the second job to wait while paused, nothing active' },
    );
    expect(done).toEqual([first.task_id]);
    await queue.resume();
    await waitFor(() => done.includes(second.task_id), { message: 'the waiting job after resume()' });
  });

  it('maps priorities: the highest runs first, the default in the middle', async () => {
    const queue = open({ name: `q${randomUUID()}` });
    const low = { ...item(), priority: -5 };
    const middle = item();
    const high = { ...item(), priority: 10 };
    for (const entry of [low, middle, high]) await queue.add(entry);
    const order: string[] = [];
    queue.process(async (entry) => void order.push(entry.task_id), { concurrency: 1 });
    await waitFor(() => order.length === 3);
    expect(order).toEqual([high.task_id, middle.task_id, low.task_id]);
  });

  it('remove() drops a waiting job only', async () => {
    const queue = open({ name: `q${randomUUID()}` });
    const waiting = item();
    await queue.add(waiting);
    expect(await queue.remove?.(waiting.task_id)).toBe(true);
    expect(await queue.remove?.(waiting.task_id)).toBe(false);
    expect((await queue.counts()).waiting).toBe(0);
    const running = item();
    await queue.add(running);
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const started: string[] = [];
    queue.process(
      async (entry) => {
        started.push(entry.task_id);
        await gate;
      },
      { concurrency: 1 },
    );
    await waitFor(() => started.length === 1);
    expect(await queue.remove?.(running.task_id)).toBe(false);
    release();
    await waitFor(async () => (await queue.counts()).active === 0);
  });

  it('lists live workers and drops the entry of a worker that stopped beating', async () => {
    const name = `q${randomUUID()}`;
    const worker = open({ name, workerId: 'worker-a' });
    worker.process(async () => undefined, { concurrency: 3 });
    const api = open({ name, workerId: 'api' });
    await waitFor(async () => (await api.counts()).workers?.length === 1);
    expect((await api.counts()).workers).toEqual([
      { id: 'worker-a', active: 0, concurrency: 3, last_job_at: null },
    ]);
    worker.setConcurrency?.(5);
    await waitFor(async () => (await api.counts()).workers?.[0]?.concurrency === 5);
    // A crashed worker's entry: written once, never refreshed.
    await inspector.hset(`{ncr}:${name}:ncr-workers`, {
      crashed: JSON.stringify({ id: 'crashed', active: 1, concurrency: 1, last_job_at: null, expires_at: 1 }),
    });
    expect((await api.counts()).workers?.map((entry) => entry.id)).toEqual(['worker-a']);
    expect(await inspector.hexists(`{ncr}:${name}:ncr-workers`, 'crashed')).toBe(0);
    await worker.close();
    expect((await api.counts()).workers).toEqual([]);
  });

  it('leaves no Redis connection open after many queues are created, used and closed', async () => {
    const before = await clientCount();
    const shared = new Redis(server.url);
    await shared.ping();
    for (let index = 0; index < 8; index++) {
      const name = `q${randomUUID()}`;
      const connection = index % 2 === 0 ? shared : { host: '127.0.0.1', port: server.port };
      const queue = createBullmqQueue({ connection, name, heartbeatMs: 50 });
      const job = item();
      await queue.add(job);
      const ran: string[] = [];
      queue.process(async (entry) => void ran.push(entry.task_id), { concurrency: 2 });
      await waitFor(() => ran.length === 1);
      await queue.pause();
      await queue.resume();
      await queue.counts();
      await queue.close({ timeoutMs: 1000 });
      // A closed queue refuses work with a typed error.
      await expect(queue.add(item())).rejects.toMatchObject({ code: 'INVALID_STATE' });
    }
    expect(await shared.ping()).toBe('PONG');
    await shared.quit();
    await waitFor(async () => (await clientCount()) <= before, { message: 'connections left open' });
  }, 60_000);
});
