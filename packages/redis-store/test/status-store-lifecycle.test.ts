import { randomUUID } from 'node:crypto';
import { type StatusStore, type TaskEvent, UploadError } from '@ncr-upload/core';
import { makeJob, makeTask, settle, waitFor } from '@ncr-upload/core/testing';
import { freePort } from '@ncr-upload/test-kit/net';
import { startRedisServer } from '@ncr-upload/test-kit/redis-server';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createRedisStatusStore } from '../src/index.js';

let server: Awaited<ReturnType<typeof startRedisServer>>;
let inspector: Redis;
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  server = await startRedisServer();
  inspector = new Redis(server.url);
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});
afterAll(async () => {
  await inspector?.quit();
  await server?.dispose();
});

function open(prefix: string, options: { retentionMs?: number; url?: string } = {}): StatusStore {
  const store = createRedisStatusStore({
    url: options.url ?? server.url,
    prefix,
    retentionMs: options.retentionMs,
  });
  cleanups.push(async () => store.close?.());
  return store;
}

/** Every key of a prefix that mentions `text`. */
const keysWith = async (prefix: string, text: string) =>
  (await inspector.keys(`{${prefix}}:*`)).filter((key) => key.includes(text));

describe('Redis status store: retention and lifecycle', () => {
  it('gives a batch that is done when created (empty, or over finished tasks) its retention TTL', async () => {
    const prefix = `t-${randomUUID()}`;
    const store = open(prefix, { retentionMs: 60_000 });
    await store.createBatch({ batch_id: 'empty', task_ids: [], created_at: new Date().toISOString() });
    expect((await store.getBatch('empty'))?.done).toBe(true);
    expect(await inspector.pttl(`{${prefix}}:batch:empty`)).toBeGreaterThan(0);

    const { record } = await store.createTask(makeTask());
    await store.updateTask(record.task_id, { state: 'succeeded' });
    await store.createBatch({
      batch_id: 'finished',
      task_ids: [record.task_id],
      created_at: new Date().toISOString(),
    });
    expect((await store.getBatch('finished'))?.done).toBe(true);
    expect(await inspector.pttl(`{${prefix}}:batch:finished`)).toBeGreaterThan(0);

    // A running batch keeps no TTL.
    const { record: open_ } = await store.createTask(makeTask());
    await store.createBatch({
      batch_id: 'running',
      task_ids: [open_.task_id],
      created_at: new Date().toISOString(),
    });
    expect(await inspector.pttl(`{${prefix}}:batch:running`)).toBe(-1);
  });

  it('a finished task keeps its keys until the sweep removes them from every index, however long no write comes', async () => {
    const prefix = `t-${randomUUID()}`;
    const store = open(prefix, { retentionMs: 50 });
    const job = makeJob();
    const { record } = await store.createTask(makeTask({ job, job_id: job.job_id }));
    await store.createBatch({
      batch_id: 'b',
      task_ids: [record.task_id],
      created_at: new Date().toISOString(),
    });
    await store.updateTask(record.task_id, { state: 'failed' });
    // Redis may not expire the record on its own: the sweep reads its index fields from it.
    expect(await inspector.pttl(`{${prefix}}:task:${record.task_id}`)).toBe(-1);
    expect(await inspector.pttl(`{${prefix}}:task-batches:${record.task_id}`)).toBe(-1);
    await settle(5, 20);
    await store.createTask(makeTask());
    expect(await store.getTask(record.task_id)).toBeNull();
    expect(await keysWith(prefix, record.task_id)).toEqual([]);
    expect(await keysWith(prefix, job.job_id)).toEqual([]);
    for (const key of [
      `idx:username:${job.username}`,
      `idx:campaign:${job.campaign}`,
      'idx:state:failed',
      'tasks',
      'finished',
    ]) {
      expect(await inspector.zscore(`{${prefix}}:${key}`, record.task_id)).toBeNull();
    }
  });

  it('round-trips unicode and large records through every script', async () => {
    const prefix = `t-${randomUUID()}`;
    const store = open(prefix);
    const job = makeJob({ username: 'jürgen-日本-🚀', campaign: 'camp\u00e9 "quoted" \\ back' });
    const { record } = await store.createTask(makeTask({ job, job_id: job.job_id }));
    const message = `élan 🚀 \u2028 ${'x'.repeat(1_000_000)}`;
    const updated = await store.updateTask(record.task_id, {
      state: 'failed',
      error: new UploadError('INTERNAL', message, { stage: 'deliver' }).toJSON(),
    });
    expect((await store.getTask(record.task_id))?.error).toEqual(updated?.error);
    await store.createBatch({
      batch_id: 'ü-batch',
      task_ids: [record.task_id],
      created_at: '2000-01-01T00:00:00.000Z',
    });
    expect(await store.getBatch('ü-batch')).toMatchObject({ done: true, updated_at: updated?.updated_at });
    expect((await store.listTasks({ username: job.username })).map((task) => task.task_id)).toEqual([
      record.task_id,
    ]);
    expect((await store.listTasks({ campaign: job.campaign })).length).toBe(1);
  });
});

describe('Redis status store: listing while others write', () => {
  it('listActive() returns every task that stays active while other tasks finish between its pages', async () => {
    const prefix = `t-${randomUUID()}`;
    const store = open(prefix);
    const writer = open(prefix);
    const createdAt = Date.now() - 60_000;
    const ids: string[] = [];
    for (let index = 0; index < 1500; index++) {
      const at = new Date(createdAt + index).toISOString();
      const { record } = await writer.createTask(makeTask({ created_at: at, updated_at: at }));
      ids.push(record.task_id);
    }
    // The oldest 600 finish while the listing pages through the active set.
    const finishing = ids.slice(0, 600);
    const staying = ids.slice(600);
    let done = false;
    const listing = store.listActive().finally(() => {
      done = true;
    });
    for (const id of finishing) {
      if (done) break;
      await writer.updateTask(id, { state: 'succeeded' });
    }
    const listed = (await listing).map((record) => record.task_id);
    const seen = new Set(listed);
    expect(staying.filter((id) => !seen.has(id))).toEqual([]);
    expect(seen.size).toBe(listed.length);
  }, 60_000);

  it('listTasks() pages past the first page without repeating or skipping tasks while new ones arrive', async () => {
    const prefix = `t-${randomUUID()}`;
    const store = open(prefix);
    const writer = open(prefix);
    const job = makeJob();
    const base = Date.now() - 60_000;
    const ids: string[] = [];
    for (let index = 0; index < 700; index++) {
      const at = new Date(base + index).toISOString();
      const state = index % 2 === 0 ? 'queued' : 'running';
      const { record } = await writer.createTask(
        makeTask({
          job: { ...job, job_id: `j-${index}` },
          job_id: `j-${index}`,
          state,
          created_at: at,
          updated_at: at,
        }),
      );
      ids.push(record.task_id);
    }
    let done = false;
    const listing = store.listTasks({ username: job.username, state: 'queued', limit: 340 }).finally(() => {
      done = true;
    });
    while (!done) {
      await writer.createTask(
        makeTask({ job: { ...job, job_id: `late-${randomUUID()}` }, state: 'running' }),
      );
    }
    const listed = (await listing).map((record) => record.task_id);
    const queued = ids.filter((_, index) => index % 2 === 0).reverse();
    expect(listed).toEqual(queued.slice(0, 340));
  }, 60_000);
});

describe('Redis status store: equal scores', () => {
  it('pages through tasks created at the same instant by two processes, each once', async () => {
    const prefix = `t-${randomUUID()}`;
    const first = open(prefix);
    const second = open(prefix);
    const job = makeJob();
    const base = Date.now() - 60_000;
    const ids = new Set<string>();
    const add = async (store: StatusStore, at: string) => {
      const jobId = `j-${randomUUID()}`;
      const task = makeTask({
        job: { ...job, job_id: jobId },
        job_id: jobId,
        created_at: at,
        updated_at: at,
      });
      ids.add((await store.createTask(task)).record.task_id);
    };
    // Both stores count their own sequence from 0: pairs of equal scores, one pair split by a page boundary.
    await add(first, new Date(base + 10_000).toISOString());
    for (let index = 0; index < 600; index++) {
      const at = new Date(base + index).toISOString();
      await add(first, at);
      await add(second, at);
    }
    const listed = (await first.listTasks({ username: job.username, limit: 5000 })).map(
      (task) => task.task_id,
    );
    expect(listed.length).toBe(ids.size);
    expect(new Set(listed)).toEqual(ids);
    const active = (await second.listActive()).map((task) => task.task_id);
    expect(active.length).toBe(ids.size);
    expect(new Set(active)).toEqual(ids);
  }, 60_000);
});

describe('Redis status store: events', () => {
  it('ignores foreign messages on the events channel; listeners only see task events', async () => {
    const prefix = `t-${randomUUID()}`;
    const api = open(prefix);
    const worker = open(prefix);
    const events: unknown[] = [];
    api.subscribe?.((event) => events.push(event));
    const { record } = await worker.createTask(makeTask());
    await waitFor(async () => {
      await worker.updateTask(record.task_id, { stage: 'fetch' });
      return events.length > 0;
    });
    for (const raw of [
      '{"origin":"elsewhere"}',
      '{"origin":"x","event":{"type":"x"}}',
      '42',
      'null',
      'not json',
      '[]',
    ]) {
      await inspector.publish(`{${prefix}}:events`, raw);
    }
    await worker.updateTask(record.task_id, { stage: 'archive' });
    await waitFor(() => events.some((event) => (event as TaskEvent | undefined)?.stage === 'archive'));
    for (const event of events) {
      expect(event).toMatchObject({ task_id: record.task_id, state: 'queued' });
      expect(['task.created', 'task.updated']).toContain((event as TaskEvent).type);
    }
  });

  it('receives events again after Redis restarts', async () => {
    const own = await startRedisServer();
    cleanups.push(() => own.dispose());
    const prefix = `t-${randomUUID()}`;
    const api = open(prefix, { url: own.url });
    const worker = open(prefix, { url: own.url });
    const events: TaskEvent[] = [];
    api.subscribe?.((event) => events.push(event));
    const { record } = await worker.createTask(makeTask());
    await waitFor(async () => {
      await worker.updateTask(record.task_id, { stage: 'fetch' });
      return events.length > 0;
    });
    await own.stop();
    await own.start();
    const { record: after } = await worker.createTask(makeTask());
    await waitFor(
      async () => {
        await worker.updateTask(after.task_id, { stage: 'fetch' });
        return events.some((event) => event.task_id === after.task_id);
      },
      { message: 'an event after the restart', timeoutMs: 20_000, intervalMs: 100 },
    );
  }, 60_000);

  it('close() leaves an injected subscriber without its listener and still usable', async () => {
    const prefix = `t-${randomUUID()}`;
    const subscriber = new Redis(server.url);
    cleanups.push(() => subscriber.quit());
    const before = subscriber.listenerCount('message');
    const store = createRedisStatusStore({ url: server.url, prefix, subscriber });
    store.subscribe?.(() => undefined);
    expect(subscriber.listenerCount('message')).toBe(before + 1);
    await store.close?.();
    expect(subscriber.listenerCount('message')).toBe(before);
    expect(subscriber.listenerCount('error')).toBe(0);
  });

  it('close() ends its own connections at once when Redis does not answer (a QUIT would wait for it)', async () => {
    // Nothing listens on this port: the store's clients keep retrying.
    const url = `redis://127.0.0.1:${await freePort()}`;
    const store = createRedisStatusStore({ url, prefix: `t-${randomUUID()}` });
    store.subscribe?.(() => undefined);
    const ping = store.ping?.().catch(() => undefined);
    const outcome = await Promise.race([
      store.close?.().then(() => 'closed'),
      new Promise((resolve) => setTimeout(() => resolve('still waiting after 5 s'), 5000).unref()),
    ]);
    expect(outcome).toBe('closed');
    await ping;
  });

  it('close() closes the subscriber connection it opened', async () => {
    const name = `sub-${randomUUID()}`;
    const client = new Redis(server.url, { connectionName: name });
    cleanups.push(() => client.quit());
    const store = createRedisStatusStore({ client, prefix: `t-${randomUUID()}` });
    store.subscribe?.(() => undefined);
    const named = async () =>
      String(await inspector.client('LIST'))
        .split('\n')
        .filter((line) => line.includes(`name=${name}`)).length;
    await waitFor(async () => (await named()) === 2, { message: 'the subscriber to connect' });
    await store.close?.();
    await waitFor(async () => (await named()) === 1, { message: 'the subscriber to close' });
    expect(await client.ping()).toBe('PONG');
  });
});
