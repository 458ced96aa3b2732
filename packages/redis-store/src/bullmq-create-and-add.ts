import type { CreateTaskResult, QueueItem, StatusStore, TaskRecord } from '@ncr-upload/core';
import { Job, type JobsOptions, type Queue } from 'bullmq';
import type { ChainableCommander } from 'ioredis';
import { isCluster, type RedisClient } from './redis-client.js';
import { defineCreateCommand, queueCreate, taskCreationOf } from './task-creation.js';

interface CreateAndAddSettings {
  queue: Queue<QueueItem>;
  /** The queue's injected client, or null when the queue opened its own connection. */
  client: RedisClient | null;
  jobOptions: (item: QueueItem) => JobsOptions;
  /** The two-step path's add, to queue a task whose job the transaction did not add. */
  add: (item: QueueItem) => Promise<void>;
}

/** A reply of Redis to one command of a transaction: an error or the value. */
type Reply = [Error | null, unknown];

/**
 * Create the task in a Redis status store and add its BullMQ job in one
 * MULTI/EXEC on the client they share: one write and one read for a
 * submission, and no moment where the task exists without its job (a crash
 * between two round trips left a queued task that never ran until its client
 * retried). Undefined, with nothing written, when the store is not a Redis
 * status store on the queue's own injected client, or on a Redis Cluster
 * (two scripts on one connection need one node; the two-step path routes each).
 */
export async function createAndAddJob(
  settings: CreateAndAddSettings,
  store: StatusStore,
  record: TaskRecord,
  item: QueueItem,
): Promise<CreateTaskResult | undefined> {
  const creation = taskCreationOf(store);
  const { client, queue } = settings;
  if (!creation || !client || creation.client !== client || isCluster(client)) return undefined;
  // BullMQ defines its scripts on the client once it is ready; ours is defined here, before multi().
  const bullClient = await queue.client;
  defineCreateCommand(client);
  const { args, settle } = creation.prepare(record);
  const transaction = bullClient.multi() as unknown as ChainableCommander;
  queueCreate(transaction, args);
  // As BullMQ's own Job.createBulk: addJob on a transaction queues the add script and sends nothing.
  void new Job(queue, 'task', item, settings.jobOptions(item), item.task_id)
    .addJob(transaction as never)
    .catch(() => undefined);
  const replies = (await transaction.exec()) as Reply[] | null;
  const [created, added] = replies ?? [];
  if (!created || !added) throw new Error('Redis answered the transaction without its replies.');
  if (created[0]) {
    // The create failed inside Redis (e.g. its script flushed from Redis's cache): take back the job
    // added for it, then let the caller create and add in two steps (which reloads the scripts).
    if (!added[0]) await removeJob(queue, item.task_id);
    if (/NOSCRIPT/.test(created[0].message)) return undefined;
    throw created[0];
  }
  // Throws when the task id is taken (status 2, never for a fresh id): the job then belongs to that task.
  const result = settle(created[1]);
  if (!result.created) {
    // An active task holds the job: the job added for this record's id has no task.
    if (!added[0]) await removeJob(queue, item.task_id);
    return result;
  }
  // The task was created but its add failed inside Redis: add it the usual way (a failure there
  // reaches the caller, who ends the task).
  if (added[0]) await settings.add(item);
  return result;
}

/** Remove a job that has no task (best effort: a worker that took it meanwhile finds no task and skips it). */
async function removeJob(queue: Queue<QueueItem>, jobId: string): Promise<void> {
  await queue.remove(jobId).catch(() => undefined);
}
