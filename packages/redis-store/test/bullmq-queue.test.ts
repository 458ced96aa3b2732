import { randomUUID } from 'node:crypto';
import { testJobQueue } from '@ncr-upload/core/testing';
import { expect, it } from 'vitest';
import { workerConnection } from '../src/bullmq-worker.js';
import { createBullmqQueue } from '../src/index.js';
import { useSharedRedis } from './fixtures/shared-redis.js';

const redis = useSharedRedis();

const fast = { stalledIntervalMs: 1000, lockDurationMs: 2000, heartbeatMs: 500 };

testJobQueue({
  name: 'bullmq (connection options)',
  create: async () =>
    createBullmqQueue({
      connection: { host: '127.0.0.1', port: redis.server.port },
      name: `q${randomUUID()}`,
      ...fast,
    }),
});

testJobQueue({
  name: 'bullmq (injected client)',
  create: async () => createBullmqQueue({ connection: redis.shared, name: `q${randomUUID()}`, ...fast }),
  cleanup: async () => {
    await redis.shared.ping();
  },
});

it('reconnects the queue and its worker at most 2 s apart when given connection options (BullMQ alone waits up to 20 s)', async () => {
  const queue = createBullmqQueue({
    connection: { host: '127.0.0.1', port: redis.server.port },
    name: `q${randomUUID()}`,
    ...fast,
  });
  const delays = async (client: { options: { retryStrategy?: (attempt: number) => unknown } }) =>
    [1, 5, 10, 30].map((attempt) => client.options.retryStrategy?.(attempt));
  expect(await delays((await queue.queue.client) as never)).toEqual([50, 250, 500, 1500]);
  // The worker's connection: the same options, adjusted for blocking.
  const { connection } = workerConnection({ host: '127.0.0.1', port: redis.server.port }, null);
  expect(await delays({ options: connection as never })).toEqual([50, 250, 500, 1500]);
  await queue.close();
  // A caller's own strategy is kept.
  const own = createBullmqQueue({
    connection: { host: '127.0.0.1', port: redis.server.port, retryStrategy: () => 123 },
    name: `q${randomUUID()}`,
  });
  expect(await delays((await own.queue.client) as never)).toEqual([123, 123, 123, 123]);
  await own.close();
});
