export {
  type BullmqJobQueue,
  type BullmqQueueOptions,
  createBullmqQueue,
  type WorkerHealth,
} from './bullmq-queue.js';
export type { RedisClient } from './redis-client.js';
export { createRedisStatusStore, type RedisStatusStoreOptions } from './redis-status-store.js';
