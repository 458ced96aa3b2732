import type { QueueItem, StatusStore, TaskRecord } from '@ncr-upload/core';

/**
 * Messages between the runner and its child processes (`child_process.fork`
 * with `serialization: 'advanced'`). Children without a shared store (Redis)
 * use the parent's status store through `store` requests.
 */
export type ParentMessage =
  | { type: 'run'; item: QueueItem }
  | { type: 'abort'; task_id: string }
  | { type: 'shutdown' }
  | { type: 'store-reply'; id: number; ok: true; value: unknown }
  | { type: 'store-reply'; id: number; ok: false; error: { name: string; message: string; code?: string } };

export type ChildMessage =
  | { type: 'ready'; pid: number }
  | { type: 'start-failed'; message: string }
  | { type: 'done'; task_id: string; state: TaskRecord['state'] | null; rss: number }
  | { type: 'rss'; rss: number }
  | { type: 'store'; id: number; method: StoreMethod; args: unknown[] };

/** Status store methods a child may call on its parent's store. */
export const STORE_METHODS = [
  'createTask',
  'getTask',
  'updateTask',
  'findActiveByJob',
  'listActive',
  'listTasks',
  'createBatch',
  'getBatch',
] as const satisfies readonly (keyof StatusStore)[];
export type StoreMethod = (typeof STORE_METHODS)[number];

export const isStoreMethod = (value: unknown): value is StoreMethod =>
  typeof value === 'string' && (STORE_METHODS as readonly string[]).includes(value);

/** Environment variables the runner sets for its children. */
export const CHILD_ENV = {
  /** Marks a runner child process. */
  child: 'NCR_UPLOAD_CHILD',
  /** The module exporting `createPipeline()`; empty: build from the environment configuration. */
  pipelineModule: 'NCR_UPLOAD_PIPELINE_MODULE',
  /** The env file the parent's configuration was read from (absolute); empty: none. */
  envFile: 'NCR_UPLOAD_ENV_FILE',
  /**
   * The parent's worker id: task records name the worker that took the task
   * from the queue (the console's per-worker counts), not the child process.
   */
  workerId: 'NCR_UPLOAD_WORKER_ID',
} as const;
