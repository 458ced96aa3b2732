import type { BatchStatus, JobRequest, TaskPatch, TaskRecord, TaskState } from '../job.js';
import type { TaskInsights } from './task-insights.js';

/** A change to a task, for live views (dashboard, SSE, `submit --wait`). Kept small. */
export interface TaskEvent {
  type: 'task.created' | 'task.updated';
  task_id: string;
  job_id: string;
  batch_id: string | null;
  state: TaskState;
  stage: TaskRecord['stage'];
  progress: TaskRecord['progress'];
  error_code: string | null;
  at: string;
}

export interface TaskFilter {
  job_id?: string;
  username?: string;
  campaign?: string;
  state?: TaskState;
  /** Default 100. */
  limit?: number;
}

export interface CreateTaskResult {
  record: TaskRecord;
  /** False when a queued, running or retrying task for the same job already existed and was returned instead. */
  created: boolean;
}

/** What `StatusStore.startAttempt` returns for a known task. */
export interface StartedAttempt {
  record: TaskRecord;
  /** True when the task now runs the new attempt on the given worker. */
  started: boolean;
}

/** What identifies a job for idempotency: the same `job_id` from another username or campaign is another job. */
export type JobKey = Pick<JobRequest, 'campaign' | 'username' | 'job_id'>;

/**
 * Tasks, batches, the active set and live events. Implementations: in-memory
 * (core), Redis (`@ncr-upload/redis-store`). Run `testStatusStore` from
 * `@ncr-upload/core/testing` against any new implementation. The optional
 * console capabilities (task queries, timelines, metric buckets, workers) are
 * described in `task-insights.ts`.
 */
export interface StatusStore extends TaskInsights {
  /**
   * Store a new task unless a task for the same job (campaign, username and
   * job_id) is still queued, running or retrying; then return that one with
   * `created: false`. Atomic, and one round trip where the store has them.
   */
  createTask(record: TaskRecord): Promise<CreateTaskResult>;
  getTask(taskId: string): Promise<TaskRecord | null>;
  /**
   * Merge `patch` into the task and bump `updated_at` (never backwards);
   * returns the new record, or null if unknown. Only the fields in the patch
   * are written; one round trip where the store has them.
   */
  updateTask(taskId: string, patch: TaskPatch): Promise<TaskRecord | null>;
  /**
   * Optional: start the task's next attempt in one step (one round trip where
   * the store has them) unless it ended or a stop was requested
   * (`cancel_requested`): state `running`, stage `resolve`, `attempts` + 1,
   * `started_at` kept or set, `worker`, no `error`. Returns the record after it
   * (`started: true`), the record as it is (`started: false`), or null when the
   * task is unknown. A task already running on the same `worker` is returned
   * as started without a second increment, so a call repeated after a lost
   * reply starts nothing twice. A task worker uses it instead of `getTask` then
   * `updateTask` when a queue hands it a task.
   */
  startAttempt?(taskId: string, start: { worker: string }): Promise<StartedAttempt | null>;
  /** The queued, running or retrying task of a job (campaign, username, job_id), if any. */
  findActiveByJob(job: JobKey): Promise<TaskRecord | null>;
  /** Every queued, running or retrying task, oldest first. */
  listActive(): Promise<TaskRecord[]>;
  /** Tasks matching every given field, newest first. */
  listTasks(filter?: TaskFilter): Promise<TaskRecord[]>;
  /** Record a batch over existing task ids. */
  createBatch(batch: { batch_id: string; task_ids: string[]; created_at: string }): Promise<void>;
  /** Aggregate status: counts per state, percent, done. Null if unknown. */
  getBatch(batchId: string): Promise<BatchStatus | null>;
  /** Optional: live task events (from every process sharing the store). Returns an unsubscribe function. */
  subscribe?(listener: (event: TaskEvent) => void): () => void;
  /** Optional health check used by `/health`. */
  ping?(): Promise<void>;
  /** Release what the store opened itself (never an injected client). */
  close?(): Promise<void>;
}
