import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type JobRequest, newTaskRecord } from '@ncr-upload/core';
import { testCreateAndAdd } from '@ncr-upload/core/testing';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { createBullmqQueue, createRedisStatusStore } from '../src/index.js';
import { CREATE_TASK_LUA } from '../src/status-scripts.js';
import { createSharedPipeline, seedJobs } from './fixtures/pipeline-setup.js';
import { useSharedRedis } from './fixtures/shared-redis.js';

const redis = useSharedRedis();
const createSha = createHash('sha1').update(CREATE_TASK_LUA).digest('hex');

testCreateAndAdd({
  name: 'BullMQ and the Redis status store on one client',
  create: async () => {
    const client = new Redis(redis.server.url);
    const prefix = `t${randomUUID().slice(0, 8)}`;
    const store = createRedisStatusStore({ client, prefix });
    const queue = createBullmqQueue({ connection: client, name: `q${randomUUID()}`, prefix: `{${prefix}}` });
    return {
      queue,
      store,
      close: async () => {
        await queue.close();
        await store.close?.();
        await client.quit();
      },
    };
  },
});
const opened: { close?: () => Promise<unknown> }[] = [];

afterEach(async () => {
  for (const part of opened.splice(0).reverse()) await part.close?.();
});

const job = (jobId = randomUUID()): JobRequest => ({ campaign: 'c', username: 'u', job_id: jobId });

const recordOf = (request: JobRequest) =>
  newTaskRecord(request, { taskId: randomUUID(), batchId: null, maxAttempts: 3 });

/** A store and a queue on one client (their own prefix and queue name), as the CLI builds them. */
function pair(client: Redis, storeClient: Redis = client) {
  const prefix = `t${randomUUID().slice(0, 8)}`;
  const store = createRedisStatusStore({ client: storeClient, prefix });
  const queue = createBullmqQueue({ connection: client, name: `q${randomUUID()}`, prefix: `{${prefix}}` });
  opened.push(store, queue);
  return { store, queue };
}

/** Counts the writes on `client`'s socket (the real socket's own method, wrapped) until `stop()`. */
function countWrites(client: Redis): { count(): number; stop(): number } {
  const socket = client.stream;
  const write = socket.write.bind(socket);
  let writes = 0;
  socket.write = ((...parts: Parameters<typeof write>) => {
    writes += 1;
    return write(...parts);
  }) as typeof socket.write;
  return {
    count: () => writes,
    stop: () => {
      socket.write = write;
      return writes;
    },
  };
}

/** The commands `client`'s connection sends while `action` runs (Redis's MONITOR, filtered by its address). */
async function commandsOf(client: Redis, action: () => Promise<unknown>): Promise<string[]> {
  await client.ping();
  const address = `${client.stream.localAddress}:${client.stream.localPort}`;
  const base = new Redis(redis.server.url);
  const monitor = await base.monitor();
  const seen: string[] = [];
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    if (source === address) seen.push(String(args[0]).toLowerCase());
  });
  try {
    await action();
    // MONITOR relays what it saw after the reply: a marker command closes the window.
    await client.echo('done');
    for (let waited = 0; !seen.includes('echo') && waited < 2000; waited += 20) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  } finally {
    monitor.disconnect();
    base.disconnect();
  }
  return seen.slice(0, seen.indexOf('echo'));
}

describe('createAndAdd: the task and its BullMQ job in one round trip', () => {
  it('sends both scripts at once on the shared client, the create first, and reads both replies', async () => {
    const client = new Redis(redis.server.url, { enableAutoPipelining: true });
    const { store, queue } = pair(client);
    opened.push({ close: () => client.quit() });
    const record = recordOf(job());
    // The first use on a connection sends the scripts' source; measure the second.
    await queue.createAndAdd?.(store, recordOf(job()), { task_id: randomUUID() });
    let result: Awaited<ReturnType<NonNullable<typeof queue.createAndAdd>>>;
    let writes = 0;
    const commands = await commandsOf(client, async () => {
      const counter = countWrites(client);
      try {
        result = await queue.createAndAdd?.(store, record, { task_id: record.task_id });
      } finally {
        writes = counter.stop();
      }
    });
    expect(writes).toBe(1);
    // One write (auto-pipelining) of the two scripts: Redis runs the create, then BullMQ's add.
    expect(commands).toEqual(['evalsha', 'evalsha']);
    expect(result).toMatchObject({ created: true, record: { task_id: record.task_id, state: 'queued' } });
    expect(await store.getTask(record.task_id)).toMatchObject({ task_id: record.task_id, state: 'queued' });
    expect(await queue.queue.getJob(record.task_id)).toMatchObject({
      id: record.task_id,
      data: { task_id: record.task_id },
    });
    expect(await queue.queue.getJobState(record.task_id)).toBe('prioritized');
  });

  it('without auto-pipelining, writes both scripts before reading either reply', async () => {
    const client = new Redis(redis.server.url);
    const { store, queue } = pair(client);
    opened.push({ close: () => client.quit() });
    await queue.createAndAdd?.(store, recordOf(job()), { task_id: randomUUID() });
    const record = recordOf(job());
    const counter = countWrites(client);
    let replied = false;
    client.stream.once('data', () => {
      replied = true;
    });
    try {
      const pending = queue.createAndAdd?.(store, record, { task_id: record.task_id });
      // Microtasks only: no socket data can be read before these hops end.
      for (let hop = 0; hop < 20; hop += 1) await Promise.resolve();
      expect({ writes: counter.count(), replied }).toEqual({ writes: 2, replied: false });
      expect(await pending).toMatchObject({ created: true });
    } finally {
      counter.stop();
    }
    expect(await queue.queue.getJob(record.task_id)).toBeDefined();
  });

  it("loads the create script before a client's first submission: no fallback even when Redis holds no script", async () => {
    await redis.shared.script('FLUSH');
    const client = new Redis(redis.server.url);
    const { store, queue } = pair(client);
    opened.push({ close: () => client.quit() });
    await queue.queue.client;
    const record = recordOf(job());
    const commands = await commandsOf(client, async () => {
      expect(await queue.createAndAdd?.(store, record, { task_id: record.task_id })).toMatchObject({
        created: true,
      });
    });
    // SCRIPT LOAD of ours, then our create by its hash, then BullMQ's add (its source: the connection's first use).
    expect(commands).toEqual(['script', 'evalsha', 'eval']);
  });

  it("gives the job the item's priority, as add does", async () => {
    const { store, queue } = pair(redis.shared);
    const urgent = recordOf(job());
    await queue.createAndAdd?.(store, urgent, { task_id: urgent.task_id, priority: 5 });
    const plain = recordOf(job());
    await queue.add({ task_id: plain.task_id });
    const priorityOf = async (id: string) => (await queue.queue.getJob(id))?.priority;
    // BullMQ runs the lowest number first; ours runs the highest first.
    expect(await priorityOf(urgent.task_id)).toBe(((await priorityOf(plain.task_id)) ?? 0) - 5);
  });

  it('answers undefined and writes nothing when the store is on another connection', async () => {
    const other = new Redis(redis.server.url);
    opened.push({ close: () => other.quit() });
    const { store, queue } = pair(redis.shared, other);
    const record = recordOf(job());
    expect(await queue.createAndAdd?.(store, record, { task_id: record.task_id })).toBeUndefined();
    expect(await store.getTask(record.task_id)).toBeNull();
    expect(await queue.queue.getJob(record.task_id)).toBeUndefined();
  });

  it('answers undefined when the queue opened its own connection', async () => {
    const prefix = `t${randomUUID().slice(0, 8)}`;
    const store = createRedisStatusStore({ client: redis.shared, prefix });
    const queue = createBullmqQueue({
      connection: { host: '127.0.0.1', port: redis.server.port },
      name: `q${randomUUID()}`,
      prefix: `{${prefix}}`,
    });
    opened.push(store, queue);
    const record = recordOf(job());
    expect(await queue.createAndAdd?.(store, record, { task_id: record.task_id })).toBeUndefined();
    expect(await store.getTask(record.task_id)).toBeNull();
  });

  it('after Redis lost its scripts (SCRIPT FLUSH), the next submission still ends with its task and its job', async () => {
    const client = new Redis(redis.server.url);
    const { store, queue } = pair(client);
    opened.push({ close: () => client.quit() });
    const warm = recordOf(job());
    await queue.createAndAdd?.(store, warm, { task_id: warm.task_id });
    await redis.shared.script('FLUSH');
    const record = recordOf(job());
    // The create is refused (NOSCRIPT) while BullMQ's add is sent again by ioredis: the task is then
    // created the usual way (loading the script again) and keeps the job.
    expect(await queue.createAndAdd?.(store, record, { task_id: record.task_id })).toMatchObject({
      created: true,
    });
    expect(await store.getTask(record.task_id)).toMatchObject({ state: 'queued' });
    expect(await queue.queue.getJob(record.task_id)).toBeDefined();
    expect(await redis.shared.script('EXISTS', createSha)).toEqual([1]);
    // Then one round trip again.
    const next = recordOf(job());
    expect(await queue.createAndAdd?.(store, next, { task_id: next.task_id })).toMatchObject({
      created: true,
    });
    expect(await queue.queue.getJob(next.task_id)).toBeDefined();
  });

  it('refuses once the queue is closed', async () => {
    const { store, queue } = pair(redis.shared);
    await queue.close();
    const record = recordOf(job());
    await expect(queue.createAndAdd?.(store, record, { task_id: record.task_id })).rejects.toMatchObject({
      code: 'INVALID_STATE',
    });
  });
});

describe('a pipeline whose store and queue share a client', () => {
  it('submits in one round trip; the job runs, and the same job again while queued is the same task', async () => {
    const root = await mkdtemp(join(tmpdir(), 'ncr-create-add-'));
    opened.push({ close: () => rm(root, { recursive: true, force: true }) });
    const setup = {
      redisPort: redis.server.port,
      prefix: `p${randomUUID().slice(0, 8)}`,
      queueName: `q${randomUUID().slice(0, 8)}`,
      storageRoot: join(root, 'storage'),
      destinationRoot: join(root, 'outbox'),
      workDir: join(root, 'work'),
      workerId: 'one',
    };
    const [request] = await seedJobs(setup.storageRoot, ['one-trip']);
    const pipeline = createSharedPipeline(setup);
    opened.push({ close: () => pipeline.close({ timeoutMs: 1000 }) });
    const calls: string[] = [];
    const createAndAdd = pipeline.queue.createAndAdd?.bind(pipeline.queue);
    expect(createAndAdd).toBeDefined();
    pipeline.queue.createAndAdd = async (...args) => {
      const result = await createAndAdd?.(...args);
      calls.push(result ? 'one round trip' : 'two steps');
      return result;
    };
    const first = await pipeline.submit(request);
    const again = await pipeline.submit(request);
    expect(again).toEqual({ task_id: first.task_id, state: 'queued', created: false });
    expect(calls).toEqual(['one round trip', 'one round trip']);
    await pipeline.start();
    expect((await pipeline.waitFor(first.task_id, { timeoutMs: 20_000 })).state).toBe('succeeded');
    expect(await pipeline.queue.counts()).toMatchObject({ waiting: 0, active: 0 });
  });
});
