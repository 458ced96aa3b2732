import type { CreateTaskResult, StatusStore, TaskRecord } from '@ncr-upload/core';
import type { ChainableCommander, Redis } from 'ioredis';
import type { RedisClient } from './redis-client.js';
import { CREATE_TASK_LUA } from './status-scripts.js';

/**
 * A Redis status store's task creation as a command that another part can
 * send in its own transaction on the store's connection: the BullMQ queue
 * sends it with the job's add in one MULTI/EXEC (`createAndAdd`), so a
 * submission is one round trip and the task never exists without its job.
 */
export interface TaskCreation {
  /** The store's client: only a transaction on this connection is one round trip with the store's write. */
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

const COMMAND = 'ncrCreateTask';

/**
 * Define the create script as an ioredis command of `client`, once: ioredis
 * sends a script's source (EVAL) on a connection's first use and its hash
 * after, so a restarted Redis gets the source again. Call it before `multi()`:
 * a transaction takes the commands its client has when it is made.
 */
export function defineCreateCommand(client: Redis): void {
  if (!(COMMAND in client)) client.defineCommand(COMMAND, { numberOfKeys: 1, lua: CREATE_TASK_LUA });
}

/** Queue the create script with `args` (from `prepare`) on a transaction of a client given to `defineCreateCommand`. */
export function queueCreate(transaction: ChainableCommander, args: (string | number)[]): void {
  const send = (transaction as unknown as Record<string, (...values: (string | number)[]) => unknown>)[
    COMMAND
  ];
  if (typeof send !== 'function') throw new Error('defineCreateCommand was not called before multi().');
  send.call(transaction, `${String(args[0])}:tasks`, ...args);
}
