export { createBullmqQueue } from './bullmq-queue.js';
export type { BullmqJobQueue, BullmqQueueOptions, WorkerHealth } from './bullmq-queue-options.js';
export { type EndableClient, endClient, type RedisClient } from './redis-client.js';
export { createRedisStatusStore } from './redis-status-store.js';
export type { RedisStatusStoreOptions } from './redis-status-store-options.js';
