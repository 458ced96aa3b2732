import type { TaskRecord } from '../job.js';
import type { CreateTaskResult, StatusStore } from './status-store.js';

/** What travels through the queue: ids only, the status store holds the rest. */
export interface QueueItem {
  task_id: string;
  /** Higher runs first where the queue supports priorities. Default 0. */
  priority?: number;
}

/** Options of `JobQueue.add()`. */
export interface QueueAddOptions {
  /**
   * The item's task was created just now, so no earlier entry of it can be in
   * the queue: a queue may skip what it does to re-add a task whose earlier
   * entry ended (BullMQ: one round trip to Redis less per submission). Default false.
   */
  created?: boolean;
}

export interface QueueHandlerContext {
  /** Aborted when the consumer stops (or the queue closes) past its timeout: hand the item back. */
  signal: AbortSignal;
}

export type QueueHandler = (item: QueueItem, context: QueueHandlerContext) => Promise<void>;

export interface QueueCounts {
  /** Waiting for a free slot. */
  waiting: number;
  /** Being processed right now (by this process or, for shared queues, any). */
  active: number;
  /** Scheduled for later (e.g. backoff). */
  delayed: number;
  paused: boolean;
  /** Per-worker figures when the queue knows them. */
  workers?: { id: string; active: number; concurrency: number; last_job_at: string | null }[];
}

export interface QueueProcessOptions {
  /** Jobs processed at once by this process. */
  concurrency: number;
  /**
   * Called when the queue gives up on an item without the handler finishing it:
   * the handler threw, or (shared queues) the item stalled too many times
   * because its workers kept dying. The task worker ends the task (`WORKER_CRASHED`).
   */
  onFailed?: (item: QueueItem, error: Error) => void;
}

export interface QueueCloseOptions {
  /** How long to wait for active jobs before aborting them and handing them back. Default 30000. */
  timeoutMs?: number;
}

/** Options of `QueueConsumer.stop()`. */
export type QueueStopOptions = QueueCloseOptions;

/**
 * What `process()` returns: this process's consumption of the queue. Stopping it
 * leaves the queue itself open (items can still be added; a shared queue keeps
 * them for other workers); `JobQueue.close()` releases the connection.
 */
export interface QueueConsumer {
  /**
   * Stop taking items; wait for active ones up to `timeoutMs`; then abort their
   * handler signals (the handler hands the task back) and wait for the handlers
   * to return. Waiting items stay queued. Idempotent: later calls return the same promise.
   */
  stop(options?: QueueStopOptions): Promise<void>;
}

/**
 * Runs queued items with bounded concurrency: an item is taken only when a slot
 * is free. Implementations: in-process p-queue (core), BullMQ
 * (`@ncr-upload/redis-store`). Producing (`add`) and consuming (`process`, which
 * returns a `QueueConsumer`) are apart, as in BullMQ's `Queue` and `Worker`.
 * The handler never throws for job failures (the task worker records them); a
 * thrown error means the worker could not run it.
 */
export interface JobQueue {
  /**
   * True when items outlive this process (a shared queue such as BullMQ): items
   * added while this process's consumer stops still run, elsewhere or later. An
   * in-process queue leaves it unset: its items die with the process.
   */
  readonly durable?: boolean;
  /**
   * Enqueue an item. An item whose `task_id` is already waiting or running is not
   * added again; one whose earlier entry ended runs again.
   */
  add(item: QueueItem, options?: QueueAddOptions): Promise<void>;
  /** Start consuming with `handler`. Call once. API-only processes never call it. */
  process(handler: QueueHandler, options: QueueProcessOptions): QueueConsumer;
  pause(): Promise<void>;
  resume(): Promise<void>;
  counts(): Promise<QueueCounts>;
  /**
   * Release what the queue opened (connections); for whoever created the queue.
   * Stops a consumer still running first (as `QueueConsumer.stop`, same timeout).
   */
  close(options?: QueueCloseOptions): Promise<void>;
  /**
   * Optional: create `record` in `store` and enqueue `item` (its task id) in one
   * round trip, the task first, so no consumer finds the item before its task.
   * When one of the two fails, it completes or takes back the other before it
   * answers, or throws (the caller then ends the task, a no-op when it was not
   * written). Resolves `undefined`, having written nothing, when this queue
   * cannot do that with that store (another kind of store, another
   * connection): the caller then calls `store.createTask` and `add`. When an
   * active task already holds the job (`created: false`, the existing task
   * returned), `item` is not left queued. BullMQ does it with the Redis status
   * store on the same ioredis client.
   */
  createAndAdd?(
    store: StatusStore,
    record: TaskRecord,
    item: QueueItem,
  ): Promise<CreateTaskResult | undefined>;
  /** Optional: drop a waiting item (cancel before it starts). True if it was waiting. */
  remove?(taskId: string): Promise<boolean>;
  /** Optional: change concurrency while running (memory-aware runners). */
  setConcurrency?(concurrency: number): void;
  /** Optional health check. */
  ping?(): Promise<void>;
  /** Optional: waiting items per priority (highest first), for the console's queue view. */
  waitingByPriority?(): Promise<{ priority: number; waiting: number }[]>;
  /** Optional: true while this process takes items (process() called, not paused or closing, connected). */
  isConsuming?(): boolean;
}
