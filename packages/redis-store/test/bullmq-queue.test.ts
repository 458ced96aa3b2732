import { randomUUID } from 'node:crypto';
import { testJobQueue } from '@ncr-upload/core/testing';
import { startRedisServer } from '@ncr-upload/test-kit/redis-server';
import { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { createBullmqQueue } from '../src/index.js';

let server: Awaited<ReturnType<typeof startRedisServer>>;
let shared: Redis;

beforeAll(async () => {
  server = await startRedisServer();
  shared = new Redis(server.url);
});

afterAll(async () => {
  await shared?.quit();
  await server?.dispose();
});

const fast = { stalledIntervalMs: 1000, lockDurationMs: 2000, heartbeatMs: 500 };

testJobQueue({
  name: 'bullmq (connection options)',
  create: async () =>
    createBullmqQueue({
      connection: { host: '127.0.0.1', port: server.port },
      name: `q${randomUUID()}`,
      ...fast,
    }),
});

testJobQueue({
  name: 'bullmq (injected client)',
  create: async () => createBullmqQueue({ connection: shared, name: `q${randomUUID()}`, ...fast }),
  cleanup: async () => {
    await shared.ping();
  },
});
