import { randomUUID } from 'node:crypto';
import { testJobQueue } from '@ncr-upload/core/testing';
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
