export { createBullmqQueue } from './bullmq-queue.js';
export type { BullmqJobQueue, BullmqQueueOptions, WorkerHealth } from './bullmq-queue-options.js';
export type { RedisClient } from './redis-client.js';
export { createRedisStatusStore, type RedisStatusStoreOptions } from './redis-status-store.js';
