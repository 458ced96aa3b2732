import type { CreateTaskResult, QueueItem, StatusStore, TaskRecord } from '@ncr-upload/core';
import { Job, type JobsOptions, type Queue } from 'bullmq';
import { isCluster, type RedisClient } from './redis-client.js';
import { isNoScript } from './status-scripts.js';
import { loadCreate, sendCreate, taskCreationOf } from './task-creation.js';

interface CreateAndAddSettings {
  queue: Queue<QueueItem>;
  /** The queue's injected client, or null when the queue opened its own connection. */
  client: RedisClient | null;
  jobOptions: (item: QueueItem) => JobsOptions;
  /** `add` with its look-up of an earlier job (`created` unset): the job may exist or may have run. */
  add: (item: QueueItem) => Promise<void>;
}

/**
 * Create the task in a Redis status store and add its BullMQ job in one round
 * trip: both scripts are written in the same loop turn on the client they
 * share, the create first, before either reply is read (one socket write
 * with auto-pipelining, two without), so Redis runs them in that order and
 * a worker never finds the job before its task. No MULTI: ioredis builds a
 * pipeline object per transaction that copies every script defined on the
 * client (BullMQ defines dozens), which cost 40 % more client CPU per
 * submission than the two round trips did.
 *
 * Undefined, with nothing written, when the store is not a Redis status store
 * on the queue's own injected client, or on a Redis Cluster (the two-step
 * path routes each call to its node).
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
  // BullMQ defines its scripts on the client once it is ready; ours is loaded into Redis once.
  const bullClient = await queue.client;
  await loadCreate(client);
  const { args, settle } = creation.prepare(record);
  const [created, added] = await Promise.allSettled([
    sendCreate(client, args),
    new Job(queue, 'task', item, settings.jobOptions(item), item.task_id).addJob(bullClient as never),
  ]);
  if (created.status === 'rejected') {
    if (!isNoScript(created.reason)) {
      if (added.status === 'fulfilled') await removeJob(queue, item.task_id);
      throw created.reason;
    }
    // Redis lost the create script: create the usual way (which loads it again). A job added for the
    // task id meanwhile is the task's own; `add` with its look-up queues it again if a worker took it
    // before its task existed (and skipped it).
    const result = await store.createTask(record);
    if (result.created) await settings.add(item);
    else if (added.status === 'fulfilled') await removeJob(queue, item.task_id);
    return result;
  }
  // Throws when the task id is taken (status 2, never for a fresh id): the job then belongs to that task.
  const result = settle(created.value);
  if (!result.created) {
    // An active task holds the job: the job added for this record's id has no task.
    if (added.status === 'fulfilled') await removeJob(queue, item.task_id);
    return result;
  }
  // The task is there but its add failed: add it the usual way (a failure reaches the caller, who ends the task).
  if (added.status === 'rejected') await settings.add(item);
  return result;
}

/** Remove a job that has no task (best effort: a worker that took it meanwhile finds no task and skips it). */
async function removeJob(queue: Queue<QueueItem>, jobId: string): Promise<void> {
  await queue.remove(jobId).catch(() => undefined);
}
