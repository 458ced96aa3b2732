import type { JobQueue, QueueItem } from '@ncr-upload/core';
import type { ConnectionOptions, KeepJobs, Queue } from 'bullmq';
import type { RedisClient } from './redis-client.js';

export interface BullmqQueueOptions {
  /**
   * An ioredis client (`Redis` or `Cluster`), or options to open one. An injected
   * client is used by the queue side and never closed; the worker side opens
   * duplicates with `maxRetriesPerRequest: null` (BullMQ requires it) and closes them.
   * Options without a `retryStrategy` reconnect as ioredis does by default (at most
   * 2 s between attempts), not with BullMQ's default (up to 20 s).
   */
  connection: RedisClient | ConnectionOptions;
  /** BullMQ queue name (no `:`). Default `'ncr-upload'`. */
  name?: string;
  /**
   * BullMQ key prefix; hash-tagged so the queue's keys share one cluster slot.
   * On a Redis Cluster (an injected `Cluster`) a prefix without a hash tag is
   * wrapped in one: `'ncr'` becomes `'{ncr}'`. Default `'{ncr}'`.
   */
  prefix?: string;
  /** This worker's name, shown in counts and stored on jobs. Default `<hostname>:<pid>`. */
  workerId?: string;
  /**
   * How often a worker looks for jobs whose worker died (stalled), in ms. A
   * killed worker's job runs again within about `lockDurationMs` plus one
   * to two of these (the check is shared by all workers). Default 3000.
   */
  stalledIntervalMs?: number;
  /** How many times a stalled job is put back before it is failed. Default 2. */
  maxStalledCount?: number;
  /**
   * Lock time of a running job in ms, renewed at half of it while the worker
   * lives. Shorter finds dead workers sooner; a live worker that cannot renew
   * for this long (blocked event loop, Redis unreachable) loses the job to
   * another worker and it runs twice. Default 6000.
   */
  lockDurationMs?: number;
  /** Which finished BullMQ jobs to keep (the status store keeps the task history). Default `true` (remove at once). */
  removeOnComplete?: boolean | number | KeepJobs;
  /** Which failed BullMQ jobs (the handler threw, or stalled too often) to keep. Default `{ count: 1000 }`. */
  removeOnFail?: boolean | number | KeepJobs;
  /** How often a consuming worker refreshes its entry in the worker registry, in ms. Default 5000. */
  heartbeatMs?: number;
  /**
   * Called in a worker process when BullMQ fails a job by itself: it stalled more
   * than `maxStalledCount` times (its workers kept dying) or the handler threw.
   * The status store does not know: mark the task failed here (e.g. `WORKER_CRASHED`).
   * Default: none.
   */
  onFailed?: (item: QueueItem, error: Error) => void;
}

/** Health of this process's worker, for a health check. */
export interface WorkerHealth {
  /** True when this process consumes: the worker runs, is not paused or closing, and its connection is ready. */
  consuming: boolean;
  /** The worker's Redis connection is ready. */
  connected: boolean;
  /** Jobs running in this process. */
  active: number;
  /** When a job last started or finished here, ISO time, or null. */
  last_job_at: string | null;
}

export interface BullmqJobQueue extends JobQueue {
  /** True while this process's worker takes jobs. False before `process()`, when paused, closing or disconnected. */
  isConsuming(): boolean;
  health(): WorkerHealth;
  /** Pause the whole queue: no worker anywhere takes jobs until `resumeAll()`. */
  pauseAll(): Promise<void>;
  resumeAll(): Promise<void>;
  /** The underlying BullMQ queue (read-only use: dashboards, metrics). */
  readonly queue: Queue;
}
