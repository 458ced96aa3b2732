import { randomUUID } from 'node:crypto';
import { testStatusStore } from '@ncr-upload/core/testing';
import { startRedisServer } from '@ncr-upload/test-kit/redis-server';
import { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { createRedisStatusStore } from '../src/index.js';

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

// The store opens and closes its own client (url) ...
testStatusStore({
  name: 'redis (own client)',
  create: async () => createRedisStatusStore({ url: server.url, prefix: `t-${randomUUID()}` }),
});

// ... or uses an injected one, which it never closes.
testStatusStore({
  name: 'redis (injected client)',
  create: async () => createRedisStatusStore({ client: shared, prefix: `t-${randomUUID()}` }),
  cleanup: async () => {
    await shared.ping();
  },
});
