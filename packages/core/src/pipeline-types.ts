import type { Stage, UploadError } from './errors.js';
import type { BatchStatus, JobRequest, TaskRecord } from './job.js';
import type { MemoryMonitor, MemorySnapshot } from './memory-types.js';
import type { Catalog } from './ports/catalog.js';
import type { Destination } from './ports/destination.js';
import type { FileRef, LayoutEntry } from './ports/file-ref.js';
import type { JobQueue, QueueCounts, QueueItem } from './ports/job-queue.js';
import type { StatusStore, TaskEvent, TaskFilter } from './ports/status-store.js';
import type { Storage } from './ports/storage.js';
import type { Validator } from './ports/validator.js';
import type { TaskExecutor, TaskWorker } from './task-worker.js';

/** Turns a job's files into paths. Returned paths are made safe and checked for duplicates. */
export type OrganizeFunction = (job: JobRequest, files: FileRef[]) => LayoutEntry[] | Promise<LayoutEntry[]>;

export interface RetryPolicy {
  /** Attempts in all, the first included. Default 3. */
  attempts?: number;
  /** Delay before the second attempt. Default 1000 ms. */
  baseDelayMs?: number;
  /** Upper bound of a delay. Default 30000 ms. */
  maxDelayMs?: number;
  /** Growth per attempt. Default 2. */
  factor?: number;
  /** Full jitter: a random delay between 0 and the computed one. Default true. */
  jitter?: boolean;
}

/** Minimal structured logger (pino-compatible). */
export interface Logger {
  debug(object: object, message?: string): void;
  info(object: object, message?: string): void;
  warn(object: object, message?: string): void;
  error(object: object, message?: string): void;
}

export interface UploadPipelineOptions {
  /** Which files belong to a job. */
  catalog: Catalog;
  /** Where the files are read from. */
  storage: Storage;
  /** Checks the zip before delivery. */
  validator: Validator;
  /** Where the zip (or folder) is delivered. */
  destination: Destination;
  /** Default: an in-memory store (`createMemoryStatusStore()`). */
  statusStore?: StatusStore;
  /** Default: an in-process queue on p-queue (`createMemoryQueue()`). */
  queue?: JobQueue;
  /** Default layout: `{campaign}/{username}/{job_id}/{folder?}/{name}`. */
  organize?: OrganizeFunction;
  /**
   * Remote path of the delivered zip (or folder), relative to the destination's root.
   * Default: `{campaign}/{username}/{job_id}.zip` (folder mode: `{campaign}/{username}/{job_id}`).
   */
  remotePath?: (job: JobRequest, taskId: string) => string;
  /** `zip` (default) delivers the archive; `folder` delivers the organised tree after the zip validated. */
  delivery?: 'zip' | 'folder';
  /**
   * Overlap the upload with validation: the zip streams to the destination's
   * `.partial` while it is produced and validated, and is renamed to its final
   * name only once the validator accepted (a rejection removes the
   * `.partial`). `false` uploads only after the validator accepted, for SFTP
   * inboxes that act on any file that arrives, even a `.partial`. Needs a
   * destination with `beginUpload` and `delivery: 'zip'`; otherwise the upload
   * always follows validation. Default true (`DELIVERY_OVERLAP`).
   */
  deliveryOverlap?: boolean;
  /**
   * Small jobs run in memory: when the catalog gives every file's size and
   * they add up to at most this many bytes, the files are read into memory,
   * zipped there, checked by the validator's `validateBuffer` and written to
   * the destination in one `beginUpload` write (after the verdict), with no
   * task folder, no local zip and no re-read. A retry of the same run reuses
   * the zip in memory (the local-file retry applies to larger jobs). Needs
   * `delivery: 'zip'`, a validator with `validateBuffer` (the built-in one)
   * and a destination with `beginUpload`; other jobs take the disk path.
   * Memory held at most: about 2 × this per running task. `0` turns it off.
   * Default 4 MiB (`IN_MEMORY_MAX_BYTES`).
   */
  inMemoryMaxBytes?: number;
  /** Temp folder root; each task uses `<workDir>/task-<task_id>`. Default: `<os tmpdir>/ncr-upload`. */
  workDir?: string;
  /** Jobs run at once by this process when it consumes the queue. Default 4. */
  concurrency?: number;
  /** Files fetched at once within a job. Default 4. */
  fetchConcurrency?: number;
  /** Zip compression level 0 (store) to 9. Default 0: zips are mostly already-compressed media. */
  compressionLevel?: number;
  /**
   * How zip entries are written: `store` (as they are), `deflate` (every entry
   * compressed at `compressionLevel`, 1 when it is 0) or `auto` (already
   * compressed types such as jpg, png, pdf, zip, gz, mp4 are stored, the rest
   * deflated). Default: `store` when `compressionLevel` is 0, else `deflate`.
   */
  compression?: 'store' | 'deflate' | 'auto';
  /** Retry policy for retryable errors. */
  retry?: RetryPolicy;
  /** Per-attempt job timeout. Default 1_800_000 (30 minutes). */
  jobTimeoutMs?: number;
  /** Jobs of a batch started together. Default 5 (`BATCH_SIZE`). */
  batchSize?: number;
  /** Time a batch chunk may run before its unfinished jobs time out. Default 300_000 (`BATCH_TIMEOUT`). */
  batchTimeoutMs?: number;
  /** Default: `createMemoryMonitor({ maxMemoryPercent })`. */
  memoryMonitor?: MemoryMonitor;
  /** Refuse submissions above this system memory percent. Default 80 (`MAX_MEMORY_USAGE_PERCENT`). */
  maxMemoryPercent?: number;
  /** Refuse submissions (QUEUE_FULL) when this many tasks wait. Default: no limit. */
  maxQueued?: number;
  /**
   * How long a submission or a read waits for the status store or the queue
   * before it fails with `DEPENDENCY_UNAVAILABLE` (HTTP 503 with `Retry-After`)
   * instead of hanging; `stats()` waits at most 1000 ms for queue counts. A
   * store that is down fails at once when its client does not queue commands
   * while disconnected (the CLI's do not); this bounds one that is connected but
   * does not answer. Long enough for a connected Redis on a busy host: a 503
   * there is an outage for the client. Default 5000.
   */
  dependencyTimeoutMs?: number;
  /** Identifies this worker in task records. Default `<hostname>:<pid>`. */
  workerId?: string;
  /** Structured logger. Default: silent. */
  logger?: Logger;
  /**
   * Least time between stage/progress writes to the status store per task: stage
   * changes and progress are coalesced, the first write comes one interval after
   * the `running` write, and the terminal write carries the last. Default 250 ms.
   */
  progressIntervalMs?: number;
  /**
   * How often a running task re-reads its record for a stop (cancel, batch
   * timeout) requested by another process. A store with live events
   * (`subscribe`, e.g. Redis) delivers such a request at once and this poll is
   * only the fallback for a lost event. Default 5000 with such a store, 1000
   * without.
   */
  cancelCheckIntervalMs?: number;
  /** Remove stale `task-*` folders older than this at `start()`. Default 3_600_000 (1 hour). */
  staleTempMs?: number;
  /**
   * At `start()`, enqueue again every queued, retrying or running task of the
   * status store: the tasks a stopped or crashed process left. For a persistent
   * status store (Redis) with the in-process queue and a single consuming
   * process; BullMQ recovers its own jobs. Default false.
   */
  recoverOnStart?: boolean;
}

export interface SubmitResult {
  task_id: string;
  state: TaskRecord['state'];
  /** False when an active task for the same job_id was returned instead. */
  created: boolean;
}

export interface BatchItemResult {
  index: number;
  job_id: string | null;
  task_id: string | null;
  created: boolean;
  error: ReturnType<UploadError['toJSON']> | null;
}

export interface SubmitBatchResult {
  batch_id: string;
  task_ids: string[];
  items: BatchItemResult[];
}

export interface PipelineHealth {
  status: 'healthy' | 'degraded';
  /** Per part: its status; on error a message (may name hosts) and a code (`TIMEOUT`, `UNREACHABLE` or the `UploadError` code). */
  checks: Record<string, { status: 'ok' | 'error' | 'skipped'; message?: string; code?: string }>;
  timestamp: string;
}

export interface PipelineStats {
  queue: QueueCounts;
  /** Items this process is running now. */
  active: number;
  worker_id: string;
  consuming: boolean;
  /** When `start()` was called, or null. */
  consuming_since: string | null;
  /** What the queue says: taking items now (false when paused or disconnected); null when it cannot tell. */
  queue_consuming: boolean | null;
  draining: boolean;
  /** When this process last took a job, or null. */
  last_job_at: string | null;
  concurrency: number;
}

/** What `createUploadPipeline` returns. */
export interface UploadPipeline {
  /** Validate, admit (memory, queue limit) and enqueue a job. Throws `UploadError` (`INVALID_JOB`, `NOT_ACCEPTING`, `QUEUE_FULL`). */
  submit(job: unknown, options?: { priority?: number }): Promise<SubmitResult>;
  /** Submit many jobs as one batch; invalid items get a per-item error, valid ones run in chunks. */
  submitBatch(jobs: unknown[]): Promise<SubmitBatchResult>;
  getTask(taskId: string): Promise<TaskRecord | null>;
  getBatch(batchId: string): Promise<BatchStatus | null>;
  listActive(): Promise<TaskRecord[]>;
  listTasks(filter?: TaskFilter): Promise<TaskRecord[]>;
  /** Cancel a queued or running task. Throws `NOT_FOUND` or `INVALID_STATE` (already finished). */
  cancel(taskId: string): Promise<TaskRecord>;
  /** Resubmit a finished failed/rejected/cancelled task as a new task. */
  retry(taskId: string): Promise<SubmitResult>;
  /** Subscribe to task events (in-process, plus other processes when the store supports it). */
  subscribe(listener: (event: TaskEvent) => void): () => void;
  /**
   * Start consuming the queue (workers) through the pipeline's task worker.
   * API-only processes do not call it. Runs the stale temp sweep. `execute`
   * runs each item elsewhere (the runner passes one that runs it in a child
   * process); the worker still owns the task's retries and its end.
   */
  start(options?: { execute?: TaskExecutor }): Promise<void>;
  /**
   * Stop consuming (the submissions side stays open): running tasks get
   * `timeoutMs` (default 30000) to end, then are handed back. With a durable
   * queue (BullMQ) new submissions keep being queued for other workers; with
   * the in-process queue they are refused (`NOT_ACCEPTING`) before anything is
   * created.
   */
  stop(options?: { timeoutMs?: number }): Promise<void>;
  /** Run one queued item now in this process. Never throws for job failures. */
  runTask(item: QueueItem, options?: { signal?: AbortSignal }): Promise<TaskRecord | null>;
  /** Wait until a task is terminal (or the timeout passes) and return it. */
  waitFor(taskId: string, options?: { timeoutMs?: number }): Promise<TaskRecord>;
  health(): Promise<PipelineHealth>;
  stats(): Promise<PipelineStats>;
  memory(): MemorySnapshot;
  /**
   * Refuse new submissions, stop batches, stop consuming (as `stop`), and close
   * what the pipeline created itself (its default queue and status store). A
   * queue or store passed in is left open for its creator to close.
   */
  close(options?: { timeoutMs?: number }): Promise<void>;
  /** Effective settings (defaults applied). `workDir` is absolute. */
  readonly options: Readonly<
    Required<
      Pick<
        UploadPipelineOptions,
        'concurrency' | 'batchSize' | 'batchTimeoutMs' | 'maxMemoryPercent' | 'workDir'
      >
    >
  >;
  readonly statusStore: StatusStore;
  readonly queue: JobQueue;
  /** The task worker that consumes the queue and owns every task ending (see `createTaskWorker`). */
  readonly worker: TaskWorker;
}

export type { Stage };
