import { randomUUID } from 'node:crypto';
import { testStatusStore } from '@ncr-upload/core/testing';
import { createRedisStatusStore } from '../src/index.js';
import { useSharedRedis } from './fixtures/shared-redis.js';

const redis = useSharedRedis();

// The store opens and closes its own client (url) ...
testStatusStore({
  name: 'redis (own client)',
  create: async () => createRedisStatusStore({ url: redis.server.url, prefix: `t-${randomUUID()}` }),
  insights: true,
  startAttempt: true,
});

// ... or uses an injected one, which it never closes.
testStatusStore({
  name: 'redis (injected client)',
  create: async () => createRedisStatusStore({ client: redis.shared, prefix: `t-${randomUUID()}` }),
  cleanup: async () => {
    await redis.shared.ping();
  },
});
