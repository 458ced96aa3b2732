import type { Stage } from '../errors.js';
import type { BatchStatus, TaskRecord, TaskState } from '../job.js';

/**
 * Optional capabilities of a `StatusStore` for an operations console: paged
 * task queries served by indexes, a per-task timeline, time buckets of metrics
 * that survive a restart of the API, the batch list, and a worker directory
 * with controls that reach workers on other machines. The in-memory and the
 * Redis stores implement all of them; `testStatusStore` checks them when present.
 */

/** Columns the task list can be sorted by. */
export const TASK_SORT_FIELDS = [
  'created_at',
  'started_at',
  'finished_at',
  'duration',
  'attempts',
  'size',
  'state',
  'job_id',
  'username',
  'campaign',
  'worker',
] as const;
export type TaskSortField = (typeof TASK_SORT_FIELDS)[number];

/** Most tasks one query returns. */
export const MAX_TASK_PAGE = 500;
/** Most matches a search collects before the other filters apply. */
export const MAX_SEARCH_MATCHES = 10_000;

export interface TaskQuery {
  /** Tasks in any of these states. Default: every state. */
  states?: TaskState[];
  /** Tasks last run by this worker id. */
  worker?: string;
  /** Created at or after this time (ms since epoch). */
  from?: number;
  /** Created at or before this time (ms since epoch). */
  to?: number;
  /** Case-insensitive prefix of the job_id, username or campaign. */
  search?: string;
  /** Default `created_at`. Text columns sort by their first 6 characters, then by task id. */
  sort?: TaskSortField;
  /** Default `desc`. */
  order?: 'asc' | 'desc';
  /** Default 0. */
  offset?: number;
  /** Default 50, at most `MAX_TASK_PAGE`. */
  limit?: number;
}

export interface TaskPage {
  items: TaskRecord[];
  /** Every task matching the query (before offset and limit). */
  total: number;
}

/** One stage of one attempt of a task, as the store saw it. */
export interface StageSpan {
  attempt: number;
  state: TaskState;
  stage: Stage | null;
  started_at: string;
  /** Null while the task is still in this span. */
  ended_at: string | null;
  worker: string | null;
  /** Highest progress seen in the span. */
  files_done: number;
  files_total: number;
  bytes_done: number;
  bytes_total: number;
  /** The task's error when the span began (retrying, failed, ...). */
  error: { code: string; message: string } | null;
}

export type MetricResolution = 'minute' | 'hour';

/** Upper bounds (ms) of the job duration histogram kept per bucket; the last bucket is open. */
export const DURATION_BOUNDS_MS = [
  100, 250, 500, 1000, 2000, 5000, 10_000, 30_000, 60_000, 120_000, 300_000, 600_000, 1_800_000,
] as const;

export const BUCKET_STATES = ['created', 'succeeded', 'failed', 'rejected', 'cancelled'] as const;
export type BucketState = (typeof BUCKET_STATES)[number];

/** What happened in one minute (or hour). */
export interface MetricBucket {
  /** Start of the bucket, ms since epoch. */
  start: number;
  counts: Record<BucketState, number>;
  /** Bytes delivered (archive size of the tasks that succeeded). */
  bytes: number;
  /** Job durations (started to finished), counted per `DURATION_BOUNDS_MS` slot (one more for the rest). */
  durations: number[];
  /** Time spent per stage (ms) and how many stage spans ended. */
  stage_ms: Partial<Record<Stage, number>>;
  stage_count: Partial<Record<Stage, number>>;
  /** The last queue depth sampled in the bucket, or null. */
  queue_waiting: number | null;
  queue_active: number | null;
}

/** What a worker reports about itself on every heartbeat. */
export interface WorkerHeartbeat {
  id: string;
  host: string;
  pid: number;
  started_at: string;
  /** The concurrency it was started with (or that an operator set). */
  concurrency: number;
  /** The concurrency it runs with now (memory may lower it). */
  concurrency_current: number;
  /** Jobs running now. */
  active: number;
  /** Resident memory of the worker (bytes). */
  memory_rss: number;
  /** System memory used, percent. */
  memory_percent: number;
  /** True while it takes no new job. */
  paused: boolean;
  /** Why: an operator, the memory threshold, or null. */
  pause_reason: 'operator' | 'memory' | null;
  /** True once it is stopping. */
  draining: boolean;
}

/** What operators asked a worker (or every worker) to do. Persisted, so a restarted API or a late worker sees it. */
export interface WorkerControl {
  paused: boolean;
  /** Concurrency to run with, or null for the worker's own. */
  concurrency: number | null;
  /** Drain and stop (as SIGTERM does). */
  stop: boolean;
  updated_at: string | null;
}

export interface WorkerView extends WorkerHeartbeat {
  seen_at: string;
  /** A heartbeat arrived within its time to live. */
  online: boolean;
  /** Tasks that ended on this worker (any terminal state) and those that ended `failed`. */
  processed: number;
  failed: number;
  last_task_id: string | null;
  last_task_at: string | null;
  /** The control in force for it (its own merged with the one for every worker). */
  control: WorkerControl;
}

export type WorkerControlChange = Partial<Pick<WorkerControl, 'paused' | 'concurrency' | 'stop'>>;

/** Optional `StatusStore` methods for the operations console. */
export interface TaskInsights {
  /** A page of tasks, filtered and sorted by the store's indexes. */
  queryTasks?(query: TaskQuery): Promise<TaskPage>;
  /** Every stage span of every attempt, oldest first; empty for an unknown task. */
  taskTimeline?(taskId: string): Promise<StageSpan[]>;
  /** Buckets from `from` to `to` (ms since epoch) that hold data, oldest first. */
  readMetrics?(options: { from: number; to: number; resolution: MetricResolution }): Promise<MetricBucket[]>;
  /** Record a queue depth sample in the current buckets. */
  recordQueueDepth?(sample: { at: number; waiting: number; active: number }): Promise<void>;
  /** Batches, newest first. */
  listBatches?(page: { offset: number; limit: number }): Promise<{ items: BatchStatus[]; total: number }>;
  /** Store a worker's heartbeat; returns the control in force for it. */
  reportWorker?(heartbeat: WorkerHeartbeat, options: { ttlMs: number }): Promise<WorkerControl>;
  /** Every worker seen within the last day, online ones first. */
  listWorkers?(): Promise<WorkerView[]>;
  /** Change the control of one worker, or of every worker with `'*'` (which also clears per-worker values of the changed fields). */
  controlWorkers?(target: string, change: WorkerControlChange): Promise<WorkerControl>;
  /** Forget a worker (it stopped). */
  removeWorker?(workerId: string): Promise<void>;
}

/** The control for a worker that nobody changed. */
export const defaultWorkerControl = (): WorkerControl => ({
  paused: false,
  concurrency: null,
  stop: false,
  updated_at: null,
});

/** The control in force for a worker: its own, with the one for every worker underneath. */
export function mergeWorkerControl(all: WorkerControl | null, own: WorkerControl | null): WorkerControl {
  const base = all ?? defaultWorkerControl();
  if (!own) return { ...base };
  return {
    paused: base.paused || own.paused,
    concurrency: own.concurrency ?? base.concurrency,
    stop: base.stop || own.stop,
    updated_at:
      (own.updated_at ?? '') > (base.updated_at ?? '') ? own.updated_at : (base.updated_at ?? own.updated_at),
  };
}
