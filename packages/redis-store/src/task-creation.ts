import type { CreateTaskResult, StatusStore, TaskRecord } from '@ncr-upload/core';
import type { Redis } from 'ioredis';
import type { RedisClient } from './redis-client.js';
import { CREATE_TASK_LUA, createTaskByHash, isNoScript } from './status-scripts.js';

/**
 * A Redis status store's task creation as a command that another part sends
 * on the store's own connection: the BullMQ queue writes it with the job's
 * add in the same loop turn (`createAndAdd`), so a submission is one round trip.
 */
export interface TaskCreation {
  /** The store's client: only on this connection are the create and the add one round trip, in order. */
  client: RedisClient;
  /** The create script's arguments for `record`, and how to read its reply (events, errors) as `createTask` does. */
  prepare(record: TaskRecord): { args: (string | number)[]; settle(reply: unknown): CreateTaskResult };
}

const creations = new WeakMap<StatusStore, TaskCreation>();

/** Called by `createRedisStatusStore` for the store it returns. */
export function registerTaskCreation(store: StatusStore, creation: TaskCreation): void {
  creations.set(store, creation);
}

/** The creation of a Redis status store, or undefined for any other store (or a wrapper around one). */
export function taskCreationOf(store: StatusStore): TaskCreation | undefined {
  return creations.get(store);
}

/** Per client: the create script's load into Redis, made once (again after Redis answered NOSCRIPT). */
const loads = new WeakMap<Redis, Promise<void>>();

/**
 * Load the create script into Redis before a client's first `sendCreate`, so
 * the first submissions of a process do not all take the fallback path.
 * Never rejects: a failed load is tried again on the next call (meanwhile
 * `sendCreate` answers NOSCRIPT and the caller falls back).
 */
export function loadCreate(client: Redis): Promise<void> {
  let load = loads.get(client);
  if (!load) {
    load = client.script('LOAD', CREATE_TASK_LUA).then(
      () => undefined,
      () => {
        loads.delete(client);
      },
    );
    loads.set(client, load);
  }
  return load;
}

/**
 * Send the create script by its hash with `args` (from `prepare`). Rejects
 * with NOSCRIPT when Redis lacks it (after a restart or `SCRIPT FLUSH`): the
 * caller then knows the create did not run (`createTask` loads it again), and
 * the next `loadCreate` loads it again.
 */
export function sendCreate(client: Redis, args: (string | number)[]): Promise<unknown> {
  return createTaskByHash(client, args).catch((error: unknown) => {
    if (isNoScript(error)) loads.delete(client);
    throw error;
  });
}
