import { randomUUID } from 'node:crypto';
import { isTerminal, type StatusStore, type TaskEvent } from '@ncr-upload/core';
import { makeTask, settle, waitFor } from '@ncr-upload/core/testing';
import { startFaultProxy } from '@ncr-upload/test-kit/fault-proxy';
import { startRedisServer } from '@ncr-upload/test-kit/redis-server';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createRedisStatusStore } from '../src/index.js';

let server: Awaited<ReturnType<typeof startRedisServer>>;
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  server = await startRedisServer();
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});
afterAll(async () => {
  await server?.dispose();
});

function open(prefix: string): StatusStore {
  const store = createRedisStatusStore({ url: server.url, prefix });
  cleanups.push(async () => store.close?.());
  return store;
}

/** The terminal events of a task, as a listener of `store` sees them. */
function terminalEvents(store: StatusStore, taskId: string): TaskEvent[] {
  const seen: TaskEvent[] = [];
  const unsubscribe = store.subscribe?.((event) => {
    if (event.task_id === taskId && isTerminal(event.state)) seen.push(event);
  });
  cleanups.push(async () => unsubscribe?.());
  return seen;
}

const later = (ms: number) => new Date(Date.now() + ms).toISOString();

describe('Redis status store: exactly one terminal write per attempt', () => {
  it('a terminal write repeated after a lost reply changes nothing and publishes no second event', async () => {
    const prefix = `t-${randomUUID()}`;
    const writer = open(prefix);
    const observer = open(prefix);
    const { record } = await writer.createTask(makeTask());
    const taskId = record.task_id;
    const seenByObserver = terminalEvents(observer, taskId);
    const seenByWriter = terminalEvents(writer, taskId);
    await settle(10); // the observer's subscription is live
    await writer.updateTask(taskId, { state: 'running', stage: 'resolve', attempts: 1, worker: 'w1' });

    const first = await writer.updateTask(taskId, {
      state: 'succeeded',
      stage: 'cleanup',
      finished_at: later(0),
      result: { remote_path: 'a.zip', size: 10, sha256: 'x', files: 1 },
    });
    // The same write again (the caller never saw the first reply), then another terminal state.
    const repeated = await writer.updateTask(taskId, {
      state: 'succeeded',
      stage: 'cleanup',
      finished_at: later(1000),
      result: { remote_path: 'b.zip', size: 20, sha256: 'y', files: 2 },
    });
    const other = await writer.updateTask(taskId, { state: 'failed', finished_at: later(2000) });

    expect(repeated).toEqual(first);
    expect(other).toEqual(first);
    expect(await observer.getTask(taskId)).toEqual(first);
    await waitFor(() => seenByObserver.length >= 1);
    await settle(15);
    expect(seenByObserver.map((event) => event.state)).toEqual(['succeeded']);
    expect(seenByWriter.map((event) => event.state)).toEqual(['succeeded']);
    // The console counted the outcome once.
    const buckets = await writer.readMetrics?.({
      from: Date.now() - 120_000,
      to: Date.now() + 60_000,
      resolution: 'minute',
    });
    const succeeded = (buckets ?? []).reduce((sum, bucket) => sum + bucket.counts.succeeded, 0);
    const failed = (buckets ?? []).reduce((sum, bucket) => sum + bucket.counts.failed, 0);
    expect([succeeded, failed]).toEqual([1, 0]);
  });

  it('writes the terminal state of a later attempt after a retry, and a terminal write naming another attempt', async () => {
    const prefix = `t-${randomUUID()}`;
    const store = open(prefix);
    const { record } = await store.createTask(makeTask());
    const taskId = record.task_id;
    const seen = terminalEvents(store, taskId);
    await store.updateTask(taskId, { state: 'running', attempts: 1 });
    await store.updateTask(taskId, { state: 'failed', finished_at: later(0) });
    // A retry of the failed task: a new attempt may end again.
    await store.updateTask(taskId, { state: 'queued', finished_at: null, error: null });
    await store.updateTask(taskId, { state: 'running', attempts: 2 });
    const second = await store.updateTask(taskId, { state: 'succeeded', finished_at: later(10) });
    expect(second?.state).toBe('succeeded');
    expect(second?.attempts).toBe(2);
    // A terminal write that names another attempt is not a repeat: it is written.
    const corrected = await store.updateTask(taskId, { state: 'failed', attempts: 3 });
    expect(corrected?.state).toBe('failed');
    expect(seen.map((event) => event.state)).toEqual(['failed', 'succeeded', 'failed']);
  });

  it('a terminal write whose reply was lost is delivered once to this process when the retry finds it done', async () => {
    const prefix = `t-${randomUUID()}`;
    const proxy = await startFaultProxy({ port: server.port });
    cleanups.push(() => proxy.close());
    // Requests go through the proxy (whose replies the test holds back); events come straight from Redis.
    const client = new Redis({
      host: proxy.host,
      port: proxy.port,
      commandTimeout: 300,
      maxRetriesPerRequest: 0,
    });
    const subscriber = new Redis(server.url);
    const inspector = new Redis(server.url);
    cleanups.push(async () => {
      client.disconnect();
      subscriber.disconnect();
      inspector.disconnect();
    });
    const writer = createRedisStatusStore({ client, subscriber, prefix });
    cleanups.push(async () => writer.close?.());
    const observer = open(prefix);
    const { record } = await writer.createTask(makeTask());
    const taskId = record.task_id;
    const seenByWriter = terminalEvents(writer, taskId);
    const seenByObserver = terminalEvents(observer, taskId);
    await settle(10);
    await writer.updateTask(taskId, { state: 'running', attempts: 1 });

    proxy.stall();
    const patch = { state: 'succeeded' as const, finished_at: later(0) };
    await expect(writer.updateTask(taskId, patch)).rejects.toThrow();
    proxy.flow();
    // The write reaches Redis after its caller gave up on the reply.
    await waitFor(async () => (await inspector.hget(`{${prefix}}:task:${taskId}`, 'state')) === 'succeeded');
    const retried = await writer.updateTask(taskId, patch);
    expect(retried?.state).toBe('succeeded');
    await waitFor(() => seenByObserver.length >= 1 && seenByWriter.length >= 1);
    await settle(15);
    expect(seenByWriter.map((event) => event.state)).toEqual(['succeeded']);
    expect(seenByObserver.map((event) => event.state)).toEqual(['succeeded']);
  });
});
